#!/bin/bash
# SPDX-License-Identifier: MIT
# hosttuned when the memory cannot hold the hugepage pool, on a real kernel: in a 256M virtual
# machine (tests/integration/vm.sh; on this host a real shortfall would take all of its free
# memory) with its own dbus-daemon.
#   G: the policy's pool is 1G: the first apply falls short; the agent must start, say not ready
#      (Ready, ready.json), name obtained vs requested (LastError, the log), count the apply as
#      fallen short (metrics), and hold what HugePages_Total says. With reapply-on-drift and a
#      1 s re-probe, it must not grab the memory again at every re-probe (the kernel's
#      htlb_buddy_alloc_success counter stays put) and says once why it leaves the pool alone.
#   H: the pool is 32M and leases may grow it to 1G: a 200M lease needs a growth MemAvailable
#      cannot cover, so it fails at once with InsufficientHugePages saying so, and the kernel
#      allocates no hugepage for it (htlb_buddy_alloc_success); a 64M lease makes the pool grow
#      and fits; once no lease holds pages, the pool shrinks back to 32M (shrink-after).
#   I: a 64M lease with `wait` while a 70M tmpfs file holds the memory waits (no lease event will
#      come); once the file is gone it is granted without any other call.
# Every number is compared with the VM kernel's /proc/meminfo.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
need_root
need_cmd dbus-daemon busctl python3
vm_kernel

cat >"$T_TMP/case.sh" <<'EOF'
mi() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
# Hugepages the kernel's buddy allocator handed to the pool, ever.
alloc() { awk '$1 == "htlb_buddy_alloc_success" {print $2}' /proc/vmstat; }
echo 'root:x:0:0:root:/root:/bin/sh' >/etc/passwd
echo 'root:x:0:' >/etc/group
# A bus that lets everyone talk to everyone (the VM has root only).
printf '%s' '<busconfig><type>session</type><listen>unix:path=/run/bus</listen>
<auth>EXTERNAL</auth><policy context="default"><allow send_destination="*" eavesdrop="true"/>
<allow eavesdrop="true"/><allow own="*"/></policy></busconfig>' >/tmp/bus.conf
dbus-daemon --config-file=/tmp/bus.conf --fork >/dev/null || echo "dbus-daemon failed"
bus() { busctl --address=unix:path=/run/bus "$@"; }
prop() { bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 "$1"; }
export HOSTTUNE_RUNTIME_DIR=/run/ht
# start POLICY: hosttuned, returning once its first apply ended ("started:" in its log).
start() {
	: >/tmp/agent.log
	hosttuned --policy "$1" --bus unix:path=/run/bus >/tmp/agent.log 2>&1 &
	agent=$!
	i=0
	while ! grep -q 'started:' /tmp/agent.log && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
}
stop() { kill "$agent"; wait "$agent"; echo "$1-agent-rc $?"; }
# lease NAME REQUEST...: AcquireLease; reports "NAME-rc" and the reply or error as "NAME". The
# lease ends when busctl leaves the bus (its default expiry, client-exit).
lease() {
	name=$1
	shift
	bus --timeout=60 call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 \
		AcquireLease 'a{sv}' "$@" >"/tmp/$name.out" 2>&1
	echo "$name-rc $?"
	echo "$name $(tr -d '\n' <"/tmp/$name.out")"
}

# G
printf '[hugepages]\npool = 1G\nreclaim = compact\ntimeout = 2s\n[agent]\nreapply-on-drift = yes\nreprobe-interval = 1s\n' >/tmp/g.ini
start /tmp/g.ini
echo "g-total $(mi HugePages_Total)"
echo "g-alloc-before $(alloc)"
sleep 4
echo "g-alloc-after $(alloc)"
echo "g-total-after $(mi HugePages_Total)"
echo "g-ready $(prop Ready)"
echo "g-last-error $(prop LastError)"
echo "g-ready-json $(tr -d '\n' </run/ht/ready.json)"
echo "g-metric $(grep '^hosttune_applies_total{result="fell_short"}' /run/ht/metrics.prom)"
sed 's/^/g-log /' /tmp/agent.log
stop g
hosttune revert >/dev/null
echo "g-reverted $(mi HugePages_Total)"

# H
printf '[hugepages]\npool = 32M\nmax = 1G\nreclaim = compact\ntimeout = 2s\nshrink-after = 1s\n' >/tmp/h.ini
start /tmp/h.ini
echo "h-start-total $(mi HugePages_Total)"
echo "h-ready $(prop Ready)"
echo "h-alloc-before $(alloc)"
lease h-big 1 hugepages t 209715200
echo "h-big-total $(mi HugePages_Total)"
echo "h-alloc-after $(alloc)"
echo "h-available $(mi MemAvailable)"
lease h-small 1 hugepages t 67108864
echo "h-small-total $(mi HugePages_Total)"
i=0
while [ "$(mi HugePages_Total)" != 16 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
echo "h-shrunk-total $(mi HugePages_Total)"

# I
dd if=/dev/zero of=/run/ballast bs=1M count=70 2>/dev/null
echo "i-available $(mi MemAvailable)"
lease i-grant 2 hugepages t 67108864 wait u 30 &
caller=$!
sleep 3
kill -0 "$caller" 2>/dev/null && echo "i-waiting yes" || echo "i-waiting no"
echo "i-total-while $(mi HugePages_Total)"
rm /run/ballast
wait "$caller"
grep -c 'waits up to 30 s: .*the memory cannot hold the growth' /tmp/agent.log | sed 's/^/i-logged /'
stop h
hosttune revert >/dev/null
echo "h-reverted $(mi HugePages_Total)"
EOF
vm_run 256 "$T_TMP/case.sh" "$HOSTTUNE" "$HOSTTUNE_BUILD/hosttuned" "$(command -v dbus-daemon)" \
	"$(command -v busctl)"
cat "$T_TMP/vm.out"

assert_eq "the VM's script ran to its end" 0 "$(vm_line vm-exit)"

# --- G
got=$(vm_line g-total)
[ "$got" -gt 0 ] && [ "$got" -lt 512 ] || fail "G: HugePages_Total $got is not between 0 and 512"
ok "G: the kernel gave $got of 512 pages"
assert_eq "G: Ready is false" "b false" "$(vm_line g-ready)"
case "$(vm_line g-last-error)" in
*"apply: 1 of 1 steps fell short; hugepages-2048kB: obtained $got of 512 2M pages after compaction; the memory is not there"*)
	ok "G: LastError names obtained $got (= HugePages_Total) of 512 and why" ;;
*) fail "G: LastError: $(vm_line g-last-error)" ;;
esac
[[ "$(vm_line g-last-error)" != *"hugepages-2048kB: hugepages-2048kB"* ]] || fail "G: the knob is said twice"
assert_eq "G: ready.json: ready, the reason names the pool, the pool's total" \
	"False True $got" \
	"$(vm_line g-ready-json | jq_py "d['ready'], 'hugepages-2048kB is $got pages, wants 512 pages' in d['reason'], d['hugepages'][0]['total']" | tr -d "(),'")"
assert_eq "G: metrics count the apply as fallen short" 'hosttune_applies_total{result="fell_short"} 1' "$(vm_line g-metric)"
grep -q "^g-log hosttuned: short hugepages-2048kB: obtained $got of 512" "$T_TMP/vm.out" ||
	fail "G: no log line of the short step"
ok "G: the log has the short step with obtained vs requested"
assert_eq "G: four re-probes later the kernel allocated no hugepage again (htlb_buddy_alloc_success)" \
	"$(vm_line g-alloc-before)" "$(vm_line g-alloc-after)"
assert_eq "G: the pool is as the first apply left it" "$got" "$(vm_line g-total-after)"
assert_eq "G: the log says once that re-apply leaves the pool alone, and why" 1 \
	"$(grep -c '^g-log hosttuned: re-apply on drift leaves a pool alone while the memory cannot hold it: hugepages-2048kB: .* more needed, .* available, 64M kept free$' "$T_TMP/vm.out")"
assert_eq "G: hosttuned stops cleanly" 0 "$(vm_line g-agent-rc)"
assert_eq "G: revert of the agent's journal empties the pool" 0 "$(vm_line g-reverted)"

# --- H
assert_eq "H: the agent reserved the policy's pool (HugePages_Total)" 16 "$(vm_line h-start-total)"
assert_eq "H: Ready is true" "b true" "$(vm_line h-ready)"
assert_eq "H: the 200M lease fails" 1 "$(vm_line h-big-rc)"
case "$(vm_line h-big)" in
*"200M of hugepages (100 pages of 2M) requested"*"the memory cannot hold the growth: 168M more needed, "*" available, 64M kept free"*)
	ok "H: InsufficientHugePages says the memory cannot hold the growth, with the numbers" ;;
*) fail "H: the 200M lease's error: $(vm_line h-big)" ;;
esac
assert_eq "H: the pool did not grow (HugePages_Total)" 16 "$(vm_line h-big-total)"
assert_eq "H: the kernel allocated no hugepage for it (htlb_buddy_alloc_success)" \
	"$(vm_line h-alloc-before)" "$(vm_line h-alloc-after)"
assert_eq "H: the 64M lease is granted (MemAvailable was $(vm_line h-available) kB)" 0 "$(vm_line h-small-rc)"
case "$(vm_line h-small)" in
*'"hugepage-pages" t 32'*) ok "H: the grant holds 32 pages" ;;
*) fail "H: the 64M grant: $(vm_line h-small)" ;;
esac
assert_eq "H: the pool grew for it (HugePages_Total)" 32 "$(vm_line h-small-total)"
assert_eq "H: with no lease left the pool shrinks back to its 32M" 16 "$(vm_line h-shrunk-total)"
assert_eq "H: hosttuned stops cleanly" 0 "$(vm_line h-agent-rc)"
assert_eq "H: revert empties the pool" 0 "$(vm_line h-reverted)"

# --- I: waiting for memory that no lease gives back
echo "MemAvailable with the 70M file: $(vm_line i-available) kB"
assert_eq "I: the request still waits while the memory is held" yes "$(vm_line i-waiting)"
assert_eq "I: the pool did not grow meanwhile" 16 "$(vm_line i-total-while)"
assert_eq "I: the agent logged why it waits" 1 "$(vm_line i-logged)"
assert_eq "I: granted once the file was gone" 0 "$(vm_line i-grant-rc)"
case "$(vm_line i-grant)" in
*'"hugepage-pages" t 32'*) ok "I: the grant holds 32 pages" ;;
*) fail "I: the grant: $(vm_line i-grant)" ;;
esac
