#!/bin/bash
# SPDX-License-Identifier: MIT
# `hosttune apply --policy` end to end on the live kernel: a policy with memory knobs, a
# hugepage pool, a snapshot tree on a loop btrfs and a tap pool (in a network namespace this
# test creates). Compared with sysctl, /proc/meminfo, btrfs subvolume list and ip -d link;
# a second apply plans nothing; a manual step makes apply exit 1 with its reason; a bad policy
# exits 2; revert puts back the readings taken before.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd sysctl mkfs.btrfs btrfs ip python3
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
grep -qw btrfs /proc/filesystems || skip "kernel without btrfs"
kernel_lock

export HOSTTUNE_RUNTIME_DIR=$T_TMP/run
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
meminfo_total() { awk '/^HugePages_Total:/ {print $2}' /proc/meminfo; }
ns=hosttune-policy-$$
ip netns add "$ns" || skip "cannot create a network namespace"
defer "ip netns del $ns"
in_ns() { ip netns exec "$ns" "$@"; }

truncate -s 1G "$T_TMP/btrfs.img"
mkfs.btrfs -q "$T_TMP/btrfs.img"
mkdir "$T_TMP/mnt"
mount -o loop "$T_TMP/btrfs.img" "$T_TMP/mnt"
defer "umount $T_TMP/mnt"

b_swap=$(sysctl -n vm.swappiness)
b_nr=$(cat $nr)
b_total=$(meminfo_total)
defer "sysctl -qw vm.swappiness=$b_swap"
defer "echo $b_nr > $nr"
w_swap=$((b_swap == 23 ? 24 : 23))
w_pages=$((b_nr + 64))

cat >"$T_TMP/policy.ini" <<INI
[policy]
name = apply-policy-test
[memory]
swappiness = $w_swap
[hugepages]
pool = $w_pages
reclaim = compact
timeout = 10s
[snapshots]
root = $T_TMP/mnt/snapshots
slots = 2
[net]
bridge = hbr0
taps = 2
owner = 1000
INI

"$HOSTTUNE" policy validate "$T_TMP/policy.ini"
out=$(in_ns "$HOSTTUNE" apply --policy "$T_TMP/policy.ini" --dry-run)
echo "$out"
grep -q "^Plan: 11 steps" <<<"$out" || fail "dry run does not show the plan"
assert_eq "dry run changes nothing" "$b_swap" "$(sysctl -n vm.swappiness)"

in_ns "$HOSTTUNE" apply --policy "$T_TMP/policy.ini"
assert_eq "vm.swappiness (sysctl)" "$w_swap" "$(sysctl -n vm.swappiness)"
assert_eq "HugePages_Total" "$w_pages" "$(meminfo_total)"
assert_eq "subvolumes" "snapshots snapshots/slots/slot-0 snapshots/slots/slot-1" \
	"$(btrfs subvolume list "$T_TMP/mnt" | awk '{print $NF}' | sort | xargs)"
assert_eq "taps on the bridge (ip -d link)" "htap0 hbr0 True htap1 hbr0 True" \
	"$(in_ns ip -d -j link show type tun | python3 -c "import json,sys; print(' '.join('%s %s %s' % (l['ifname'], l.get('master'), l['linkinfo']['info_data']['vnet_hdr']) for l in sorted(json.load(sys.stdin), key=lambda l: l['ifname'])))")"

out=$(in_ns "$HOSTTUNE" apply --policy "$T_TMP/policy.ini")
assert_eq "second apply" "Plan: nothing to change." "$out"

json=$(in_ns "$HOSTTUNE" apply --policy "$T_TMP/policy.ini" --json)
assert_eq "JSON: schema, plan, fell_short" "hosttune.apply/1 0 0" \
	"$(echo "$json" | jq_py "d['schema'], len(d['plan']), d['fell_short']" | tr -d "(),'")"

# A template that is not there is a step for a person: exit 1, with the reason.
printf '[snapshots]\nroot = %s\ntemplates = base\nprepared = 1\n' "$T_TMP/mnt/snapshots" >"$T_TMP/manual.ini"
rc=0
out=$(in_ns "$HOSTTUNE" apply --policy "$T_TMP/manual.ini") || rc=$?
echo "$out"
assert_eq "exit status with a manual step" 1 $rc
grep -q "^  MANUAL .*put template base at" <<<"$out" || fail "the manual step's reason is missing"

printf '[memory]\nswappiness = lots\n' >"$T_TMP/bad.ini"
rc=0
"$HOSTTUNE" apply --policy "$T_TMP/bad.ini" 2>"$T_TMP/err" || rc=$?
assert_eq "exit status for a bad policy" 2 $rc
grep -q "bad.ini:2" "$T_TMP/err" || fail "no file:line for the bad policy: $(cat "$T_TMP/err")"

in_ns "$HOSTTUNE" revert
assert_eq "vm.swappiness after revert" "$b_swap" "$(sysctl -n vm.swappiness)"
assert_eq "HugePages_Total after revert" "$b_total" "$(meminfo_total)"
assert_eq "subvolumes after revert" "" "$(btrfs subvolume list "$T_TMP/mnt" | awk '{print $NF}' | xargs)"
assert_eq "links after revert" "lo" "$(in_ns ip -o link show | awk -F': ' '{print $2}' | xargs)"
