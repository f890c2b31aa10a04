#!/bin/bash
# SPDX-License-Identifier: MIT
# sysctl and sysfs appliers on the live kernel: apply, compare with sysctl(8) and the kernel's
# files, apply again (nothing changes, the journal stays byte for byte), apply other values
# (revert still goes back to the state before the FIRST apply), revert, compare with the
# readings taken before. Plus a knob outside vm./kernel./net. that must be refused.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd sysctl cmp
kernel_lock

helper=$HOSTTUNE_BUILD/tests/helpers/apply-steps
export HOSTTUNE_RUNTIME_DIR=$T_TMP/run
journal=$HOSTTUNE_RUNTIME_DIR/journal.json
thp=/sys/kernel/mm/transparent_hugepage/enabled
ksm=/sys/kernel/mm/ksm/run
[ -w $thp ] || skip "no transparent hugepages on this kernel"
[ -w $ksm ] || skip "no KSM on this kernel"

selected() { sed 's/.*\[\(.*\)\].*/\1/' "$1"; }
words() { echo $1; } # fold tabs and runs of spaces

b_swap=$(sysctl -n vm.swappiness)
b_thp=$(selected $thp)
b_ksm=$(cat $ksm)
b_range=$(words "$(sysctl -n net.ipv4.ip_local_port_range)")
b_filemax=$(sysctl -n fs.file-max)
# Undo steps that do not depend on hosttune's revert working.
defer "sysctl -qw vm.swappiness=$b_swap"
defer "echo $b_thp > $thp"
defer "echo $b_ksm > $ksm"
defer "sysctl -qw net.ipv4.ip_local_port_range='$b_range'"

w_swap=$((b_swap == 37 ? 38 : 37))
w_thp=$([ "$b_thp" = never ] && echo madvise || echo never)
w_ksm=$((b_ksm == 1 ? 0 : 1))
lo=${b_range% *} hi=${b_range#* }
w_range="$lo $((hi - 1))"

cat >"$T_TMP/steps" <<STEPS
sysctl knob=vm.swappiness path=/proc/sys/vm/swappiness wanted=$w_swap
sysfs knob=thp path=$thp wanted=$w_thp
sysfs knob=ksm path=$ksm wanted=$w_ksm
sysctl knob=net.ipv4.ip_local_port_range wanted="$w_range"
STEPS

out=$("$helper" "$T_TMP/steps")
echo "$out"
assert_eq "outcomes of the first apply" "applied applied applied applied" "$(echo "$out" | cut -f1 | xargs)"
assert_eq "vm.swappiness (sysctl)" "$w_swap" "$(sysctl -n vm.swappiness)"
assert_eq "THP enabled" "$w_thp" "$(selected $thp)"
assert_eq "KSM run" "$w_ksm" "$(cat $ksm)"
assert_eq "ip_local_port_range (sysctl)" "$w_range" "$(words "$(sysctl -n net.ipv4.ip_local_port_range)")"
[ -f "$journal" ] || fail "no journal at $journal"
grep -q "\"original\":\"$b_swap\"" "$journal" || fail "journal lacks the original swappiness"
ok "journal holds the originals"
cp "$journal" "$T_TMP/journal.first"

# Again: nothing to do, and the journal is not rewritten.
out=$("$helper" "$T_TMP/steps")
assert_eq "outcomes of the second apply" "unchanged unchanged unchanged unchanged" "$(echo "$out" | cut -f1 | xargs)"
cmp -s "$journal" "$T_TMP/journal.first" || fail "the journal changed on an apply that changed nothing"
ok "journal unchanged by the second apply"

# Other values: the journal keeps the values from before the first apply.
w2_swap=$((w_swap + 2))
echo "sysctl knob=vm.swappiness wanted=$w2_swap" >"$T_TMP/steps2"
out=$("$helper" "$T_TMP/steps2")
assert_eq "outcome of the apply with another value" applied "$(echo "$out" | cut -f1)"
assert_eq "vm.swappiness after the other apply" "$w2_swap" "$(sysctl -n vm.swappiness)"
cmp -s "$journal" "$T_TMP/journal.first" || fail "a later apply overwrote the first originals"
ok "first originals kept"

# Outside vm./kernel./net.: refused, nothing written, exit 1 with the reason.
rc=0
out=$(echo "sysctl knob=fs.file-max wanted=12345" | "$helper" -) || rc=$?
assert_eq "exit status for a refused knob" 1 $rc
assert_eq "outcome for fs.file-max" failed "$(echo "$out" | cut -f1)"
cut -f4 <<<"$out" | grep_all -q "vm., kernel. and net. only" || fail "no reason for the refusal"
assert_eq "fs.file-max untouched" "$b_filemax" "$(sysctl -n fs.file-max)"

# A value the kernel rejects: failed, with the kernel's word, and the value stays.
rc=0
out=$(echo "sysfs path=$thp wanted=sometimes" | "$helper" -) || rc=$?
assert_eq "exit status for a rejected value" 1 $rc
cut -f4 <<<"$out" | grep_all -q "refused 'sometimes'" || fail "no reason for the rejected value: $out"
assert_eq "THP after the rejected value" "$w_thp" "$(selected $thp)"

"$HOSTTUNE" revert
assert_eq "vm.swappiness after revert" "$b_swap" "$(sysctl -n vm.swappiness)"
assert_eq "THP after revert" "$b_thp" "$(selected $thp)"
assert_eq "KSM after revert" "$b_ksm" "$(cat $ksm)"
assert_eq "ip_local_port_range after revert" "$b_range" "$(words "$(sysctl -n net.ipv4.ip_local_port_range)")"
[ ! -e "$journal" ] || fail "journal still there after a complete revert"
ok "journal removed after a complete revert"

out=$("$HOSTTUNE" revert)
grep -q "Nothing to revert" <<<"$out" || fail "second revert: $out"
ok "second revert has nothing to do"
