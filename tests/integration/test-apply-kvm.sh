#!/bin/bash
# SPDX-License-Identifier: MIT
# Device mode applier on a /dev/kvm node this test makes with mknod under its own root (there is
# no /dev/kvm on this machine, and the host's real nodes are never changed): chmod, compare with
# stat(1), apply again, revert; a path that is not a character device is refused.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd mknod stat

helper=$HOSTTUNE_BUILD/tests/helpers/apply-steps
export HOSTTUNE_RUNTIME_DIR=$T_TMP/run
root=$T_TMP/root
mkdir -p "$root/dev"
mknod -m 0660 "$root/dev/kvm" c 10 232
chgrp 0 "$root/dev/kvm"

out=$(echo "device-mode knob=kvm path=/dev/kvm mode=0666" | "$helper" --root "$root" -) || true
echo "$out"
assert_eq "outcome" applied "$(echo "$out" | cut -f1)"
assert_eq "mode and node (stat)" "666 character special file 10 232" "$(stat -c '%a %F %Hr %Lr' "$root/dev/kvm")"

out=$(echo "device-mode knob=kvm path=/dev/kvm mode=0666" | "$helper" --root "$root" -) || true
assert_eq "outcome again" unchanged "$(echo "$out" | cut -f1)"

touch "$root/dev/notadevice"
rc=0
out=$(echo "device-mode path=/dev/notadevice mode=0666" | "$helper" --root "$root" -) || rc=$?
assert_eq "exit status for a regular file" 1 $rc
cut -f4 <<<"$out" | grep_all -q "not a character device" || fail "no reason: $out"
assert_eq "regular file untouched" 644 "$(stat -c %a "$root/dev/notadevice")"

# A step the plan marks manual is never executed: it falls short with its note.
rc=0
out=$(echo "device-mode path=/dev/kvm mode=0600 manual=yes note=\"do it by hand\"" | "$helper" --root "$root" -) || rc=$?
assert_eq "exit status for a manual step" 1 $rc
assert_eq "outcome and note of the manual step" "manual /dev/kvm: do it by hand" "$(echo "$out" | cut -f1,4 | tr '\t' ' ')"
assert_eq "mode after the manual step" 666 "$(stat -c %a "$root/dev/kvm")"

"$HOSTTUNE" revert --root "$root"
assert_eq "mode after revert" 660 "$(stat -c %a "$root/dev/kvm")"
