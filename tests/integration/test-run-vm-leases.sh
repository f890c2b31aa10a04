#!/bin/bash
# SPDX-License-Identifier: MIT
# A real QEMU guest end to end through `hosttune run`, everything it uses leased from hosttuned
# (running in a network namespace this test makes, on a private bus): its memory is the hugepage
# lease (memory-backend-memfd,hugetlb=on, as cloud-hypervisor's hugepages=on maps it), its disk a
# file in the snapshot lease's directory (a btrfs on a loop file), its NIC the tap lease. The guest
# (Debian's cloud kernel, busybox init; TCG where KVM runs no guest, KVM where the judge's guest
# reaches init) sets up eth0, pings the host end of the tap (an address in a private /30 on the
# bridge, inside the namespace only: nothing leaves this machine) and writes a token to its disk.
# Checked from the host, not from hosttune: /proc/meminfo's HugePages_Free while QEMU runs, the
# tap's counters in /sys/class/net/<tap>/statistics, the token in the disk file in the lease
# directory, and that the lease and its directory are gone afterwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
. "$(dirname "$0")/vm.sh"
need_root
need_cmd ip truncate
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
need_pool_2m
vm_kernel
kernel_lock

b_nr=$(cat $hp)
defer "echo $b_nr > $hp"
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
make_btrfs 512M
ns=hosttune-vm-$$
ip netns add "$ns" || skip "cannot create a network namespace"
defer "ip netns del $ns"
in_ns() { ip netns exec "$ns" "$@"; }

# 128M of guest memory is 64 pages: the pool holds exactly that.
policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = run-vm
[hugepages]
size = 2M
pool = 128M
max = 128M
[snapshots]
root = $BTRFS/snapshots
slots = 1
[net]
bridge = vmbr0
taps = 1
tap-prefix = vmtap
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
EOF
start_bus open
start_notify_listener
AGENT_PREFIX="ip netns exec $ns"
start_agent --policy "$policy"
assert_eq "pool after the first apply (nr_hugepages)" 64 "$(cat $hp)"
# The host end: a private /30 on the bridge, in the namespace only.
in_ns ip addr add 10.251.7.1/30 dev vmbr0
in_ns ip link set vmbr0 up

# KVM where a guest really runs on it (as the QEMU judge sees it), else TCG.
vm_accel
accel=$VM_BEST_ACCEL
ok "accelerator: $accel"

token=hosttune-vm-$RANDOM$RANDOM
# The guest's virtio drivers, in the order their dependencies want.
virtio="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk failover
net_failover virtio_net"
cat >"$T_TMP/case.sh" <<EOF
for m in $(echo $virtio); do
	insmod /lib/modules/\$m.ko || echo "insmod-failed \$m"
done
i=0
while { [ ! -b /dev/vda ] || [ ! -e /sys/class/net/eth0 ]; } && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
echo "memtotal \$(awk '\$1 == "MemTotal:" {print \$2}' /proc/meminfo)"
ip link set eth0 up
ip addr add 10.251.7.2/30 dev eth0
ping -c 3 -w 20 10.251.7.1 >/tmp/ping 2>&1
echo "ping-rc \$?"
sed 's/^/ping /' /tmp/ping
echo "$token" | dd of=/dev/vda conv=fsync 2>/dev/null
echo "dd-rc \$?"
EOF
VM_MODULES=$virtio vm_initrd "$T_TMP/case.sh"
VM_QEMU_ARGS=(-object memory-backend-memfd,id=m,hugetlb=on,hugetlbsize=2M,size=128M,prealloc=on)
VM_ACCEL=$accel VM_MACHINE=memory-backend=m vm_argv 128

# What runs under the lease: QEMU with the leased tap and a disk in the leased directory, and the
# host's readings while the lease lasts (the directory is deleted when it ends).
out=$T_TMP/out
mkdir -p "$out"
# QEMU is killed at the end even if the test fails while it runs.
defer 'if [ -s "$out/qemu.pid" ]; then kill -KILL "$(cat "$out/qemu.pid")" 2>/dev/null || true; fi'
{
	echo 'set -u'
	echo "out=$out ns=$ns"
	printf 'argv=(%s)\n' "$(printf '%q ' "${VM_ARGV[@]}")"
	cat <<'EOF'
env | grep '^HOSTTUNE_' >"$out/env"
tap=${HOSTTUNE_TAPS%% *}
disk=$HOSTTUNE_SNAPSHOT_DIR/disk.img
truncate -s 4M "$disk"
ip netns exec "$ns" ip link set "$tap" up
hfree() { awk '$1 == "HugePages_Free:" {print $2}' /proc/meminfo; }
hfree >"$out/free-before"
ip netns exec "$ns" "${argv[@]}" -drive "file=$disk,format=raw,if=virtio" \
	-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" -device virtio-net-pci,netdev=n0 \
	</dev/null >"$out/qemu.log" 2>&1 &
qemu=$!
echo $qemu >"$out/qemu.pid"
for ((i = 0; i < 1200; i++)); do
	kill -0 $qemu 2>/dev/null || break
	hfree >>"$out/free-during"
	sleep 0.1
done
kill $qemu 2>/dev/null
wait $qemu
echo $? >"$out/qemu-rc"
rm "$out/qemu.pid"
head -c 64 "$disk" | tr -d '\0' >"$out/disk-head"
echo "$HOSTTUNE_SNAPSHOT_DIR" >"$out/dir"
EOF
} >"$T_TMP/in-lease.sh"

free_before_run=$(meminfo HugePages_Free)
tapstat() { in_ns cat "/sys/class/net/vmtap0/statistics/$1"; }
rx0=$(tapstat rx_packets) tx0=$(tapstat tx_packets)
rc=0
ht_run --hugepages 128M --snapshot "" --taps 1 --label vm -- bash "$T_TMP/in-lease.sh" || rc=$?
vm_console
grep -v '^ping ' "$T_TMP/vm.out" || true
sed 's/^/qemu: /' "$out/qemu.log"
assert_eq "hosttune run's exit status" 0 $rc
assert_eq "QEMU's exit status (the guest powered off)" 0 "$(cat "$out/qemu-rc")"
assert_eq "the guest's script ran to its end" 0 "$(vm_line vm-exit)"
[ -z "$(vm_line insmod-failed)" ] || fail "insmod failed in the guest: $(vm_line insmod-failed)"
tap=$(sed -n 's/^HOSTTUNE_TAPS=//p' "$out/env")
assert_eq "the leased tap" vmtap0 "$tap"

# --- memory: the lease's pages were QEMU's while it ran (/proc/meminfo)
assert_eq "HugePages_Free before the run" 64 "$free_before_run"
min=$(sort -n "$out/free-during" | head -n1)
assert_eq "HugePages_Free at its lowest while QEMU ran (all 64 pages the guest's)" 0 "$min"
ok "HugePages_Free: $(cat "$out/free-before") before, $min while QEMU ran ($(wc -l <"$out/free-during") samples), $(meminfo HugePages_Free) after"
assert_eq "HugePages_Free after the run" 64 "$(meminfo HugePages_Free)"
mem=$(vm_line memtotal)
[ "$mem" -gt 65536 ] && [ "$mem" -le 131072 ] || fail "the guest's MemTotal $mem kB is not its 128M"

# --- network: the guest's pings crossed the tap (the kernel's counters, the guest's ping)
assert_eq "the guest's ping of the host end" 0 "$(vm_line ping-rc)"
vm_line ping | grep_all -q '3 packets transmitted, 3 packets received' ||
	fail "ping: $(vm_line ping | tail -n 2)"
rx=$(tapstat rx_packets) tx=$(tapstat tx_packets)
[ $((rx - rx0)) -ge 3 ] && [ $((tx - tx0)) -ge 3 ] || fail "tap counters: rx $rx0 -> $rx, tx $tx0 -> $tx packets"
ok "tap $tap counted rx $rx0 -> $rx, tx $tx0 -> $tx packets (/sys/class/net/$tap/statistics)"

# --- disk: what the guest wrote is in the file in the lease's directory
assert_eq "the guest's dd to /dev/vda" 0 "$(vm_line dd-rc)"
assert_eq "the disk file in the lease directory starts with the guest's token" "$token" \
	"$(head -n1 "$out/disk-head")"
dir=$(cat "$out/dir")
case "$dir" in "$BTRFS/snapshots/"*) ok "lease directory $dir is under the snapshot root" ;;
*) fail "lease directory $dir is not under $BTRFS/snapshots" ;; esac

# --- the lease ended with the command
wait_for "the lease to end" '[ "$(lease_count)" = 0 ]'
wait_for "the lease directory to go" '[ ! -e "$dir" ]'
ok "the lease and its directory are gone"
finish_agent
