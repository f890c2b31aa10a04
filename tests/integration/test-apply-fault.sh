#!/bin/bash
# SPDX-License-Identifier: MIT
# Revert after SIGKILL in the middle of an apply. The fault points, set through the executor's and
# the journal's test seams by the apply-steps helper (the shipped binaries have none):
# --fault-after-step N (killed once step N finished) and --fault-after-record N (killed right
# after the N-th journal entry reached the disk, before the change it announces). Either way `hosttune revert`
# must restore every original: a sysctl, THP, and a bridge and tap (created objects, in a
# network namespace this test creates) are compared with readings taken before.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd sysctl ip
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
thp=/sys/kernel/mm/transparent_hugepage/enabled
[ -w $thp ] || skip "no transparent hugepages"
kernel_lock

helper=$HOSTTUNE_BUILD/tests/helpers/apply-steps
export HOSTTUNE_RUNTIME_DIR=$T_TMP/run
journal=$HOSTTUNE_RUNTIME_DIR/journal.json
ns=hosttune-fault-$$
ip netns add "$ns" || skip "cannot create a network namespace"
defer "ip netns del $ns"
in_ns() { ip netns exec "$ns" "$@"; }
selected() { sed 's/.*\[\(.*\)\].*/\1/' "$1"; }
links() { in_ns ip -o link show | awk -F': ' '{print $2}' | sort | xargs; }

b_swap=$(sysctl -n vm.swappiness)
b_thp=$(selected $thp)
b_links=$(links)
defer "sysctl -qw vm.swappiness=$b_swap"
defer "echo $b_thp > $thp"
w_swap=$((b_swap == 41 ? 42 : 41))
w_thp=$([ "$b_thp" = never ] && echo madvise || echo never)

cat >"$T_TMP/steps" <<STEPS
sysctl knob=vm.swappiness wanted=$w_swap
bridge name=hbr0
tap name=htap0 vnet_hdr=1
tap-master name=htap0 master=hbr0
sysfs path=$thp wanted=$w_thp
STEPS

# Killed after step 3 finished: steps 1-3 are done, 4-5 are not.
rc=0
in_ns "$helper" --fault-after-step 3 "$T_TMP/steps" || rc=$?
assert_eq "exit status (SIGKILL)" 137 $rc
assert_eq "swappiness changed before the kill" "$w_swap" "$(sysctl -n vm.swappiness)"
assert_eq "THP not reached" "$b_thp" "$(selected $thp)"
in_ns ip link show htap0 >/dev/null || fail "htap0 was not created before the kill"
[ -z "$(in_ns ip -o link show htap0 | grep -o 'master hbr0')" ] || fail "step 4 ran"
in_ns "$HOSTTUNE" revert
assert_eq "swappiness after revert" "$b_swap" "$(sysctl -n vm.swappiness)"
assert_eq "links after revert" "$b_links" "$(links)"
[ ! -e "$journal" ] || fail "journal left after revert"

# Killed between journaling the bridge and creating it: revert finds nothing to remove there
# and still restores the sysctl.
rc=0
in_ns "$helper" --fault-after-record 2 "$T_TMP/steps" || rc=$?
assert_eq "exit status (SIGKILL after the 2nd record)" 137 $rc
grep -q '"object":"hbr0"' "$journal" || fail "the bridge is not in the journal"
in_ns ip link show hbr0 >/dev/null 2>&1 && fail "the bridge was created after all"
out=$(in_ns "$HOSTTUNE" revert)
echo "$out"
grep -q "hbr0 is already gone" <<<"$out" || fail "revert does not account for the bridge"
assert_eq "swappiness after the second revert" "$b_swap" "$(sysctl -n vm.swappiness)"
assert_eq "links after the second revert" "$b_links" "$(links)"

# A completed apply after a kill: the journal still holds the first originals.
rc=0
in_ns "$helper" --fault-after-step 1 "$T_TMP/steps" || rc=$?
assert_eq "exit status (SIGKILL after step 1)" 137 $rc
out=$(in_ns "$helper" "$T_TMP/steps") || true
assert_eq "outcomes of the apply after the kill" "unchanged applied applied applied applied" \
	"$(echo "$out" | cut -f1 | xargs)"
grep -q "\"original\":\"$b_swap\"" "$journal" || fail "the original swappiness was lost"
in_ns "$HOSTTUNE" revert
assert_eq "swappiness after the last revert" "$b_swap" "$(sysctl -n vm.swappiness)"
assert_eq "THP after the last revert" "$b_thp" "$(selected $thp)"
assert_eq "links after the last revert" "$b_links" "$(links)"
