#!/bin/bash
# SPDX-License-Identifier: MIT
# zram applier on the live kernel, on a device this test hot-adds (zram0 is never touched):
# configure algorithm and size, swap header, swapon with a priority; compare with zramctl,
# swapon --show and blkid; apply again (unchanged); ask for another size while it is swap
# (refused, contents kept); revert (swapoff, reset); and a device that does not exist yet is
# hot-added by the applier and hot-removed by revert.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd zramctl swapon blkid
[ -w /sys/class/zram-control/hot_add ] || skip "no zram-control (zram module not loaded)"
kernel_lock

helper=$HOSTTUNE_BUILD/tests/helpers/apply-steps
export HOSTTUNE_RUNTIME_DIR=$T_TMP/run

id=$(cat /sys/class/zram-control/hot_add)
dev=zram$id
defer "swapoff /dev/$dev 2>/dev/null; echo $id > /sys/class/zram-control/hot_remove 2>/dev/null || true"
[ "$dev" != zram0 ] || fail "hot_add gave zram0"
for i in $(seq 50); do [ -b /dev/$dev ] && break; sleep 0.1; done
[ -b /dev/$dev ] || fail "/dev/$dev did not appear"

# An algorithm other than the default, when the kernel has one.
default=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/block/$dev/comp_algorithm)
alg=$(tr -d '[]' </sys/block/$dev/comp_algorithm | tr ' ' '\n' | grep -v "^$default\$" | grep . | head -n1)
alg=${alg:-$default}
zram0_before=$(cat /sys/block/zram0/disksize 2>/dev/null || echo none)

steps="zram knob=$dev disksize=64M algorithm=$alg priority=77"
out=$(echo "$steps" | "$helper" -) || true
echo "$out"
assert_eq "outcome" applied "$(echo "$out" | cut -f1)"
assert_eq "zramctl disksize and algorithm" "64M $alg" "$(zramctl --noheadings -o DISKSIZE,ALGORITHM /dev/$dev | xargs)"
assert_eq "swapon --show" "/dev/$dev 77 partition" "$(swapon --show=NAME,PRIO,TYPE --noheadings --raw | grep "^/dev/$dev " | xargs)"
assert_eq "blkid TYPE" swap "$(blkid -p -o value -s TYPE /dev/$dev)"
assert_eq "blkid LABEL" hosttune "$(blkid -p -o value -s LABEL /dev/$dev)"
uuid=$(blkid -p -o value -s UUID /dev/$dev)
[[ $uuid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] || fail "UUID '$uuid' is not a random UUID"
ok "blkid UUID $uuid"

out=$(echo "$steps" | "$helper" -) || true
assert_eq "outcome again" unchanged "$(echo "$out" | cut -f1)"

# Resizing a device in use would lose its contents: refused, with the way out named.
rc=0
out=$(echo "zram knob=$dev disksize=128M algorithm=$alg priority=77" | "$helper" -) || rc=$?
echo "$out"
assert_eq "exit status of a resize while swapped on" 1 $rc
assert_eq "outcome of the resize" failed "$(echo "$out" | cut -f1)"
cut -f4 <<<"$out" | grep_all -q "swapoff /dev/$dev" || fail "the refusal does not say how to free it"
assert_eq "size after the refused resize" 64M "$(zramctl --noheadings -o DISKSIZE /dev/$dev | xargs)"
swapon --show=NAME --noheadings | grep_all -qx "/dev/$dev" || fail "no longer swap after the refused resize"

"$HOSTTUNE" revert
swapon --show=NAME --noheadings | grep_all -qx "/dev/$dev" && fail "/dev/$dev still swap after revert"
assert_eq "disksize after revert" 0 "$(cat /sys/block/$dev/disksize)"
assert_eq "zram0 untouched" "$zram0_before" "$(cat /sys/block/zram0/disksize 2>/dev/null || echo none)"

# A device that does not exist: the applier hot-adds it (the kernel hands out the lowest free
# number, so name that one) and revert removes it.
echo "$id" >/sys/class/zram-control/hot_remove
next=0
while [ -e /sys/block/zram$next ]; do next=$((next + 1)); done
defer "swapoff /dev/zram$next 2>/dev/null; [ -e /sys/block/zram$next ] && echo $next > /sys/class/zram-control/hot_remove || true"
out=$(echo "zram knob=zram$next disksize=32M priority=5" | "$helper" -) || true
echo "$out"
assert_eq "outcome for an absent device" applied "$(echo "$out" | cut -f1)"
assert_eq "swapon --show for the hot-added device" "/dev/zram$next 5" "$(swapon --show=NAME,PRIO --noheadings --raw | grep "^/dev/zram$next " | xargs)"
"$HOSTTUNE" revert
[ ! -e /sys/block/zram$next ] || fail "zram$next still there after revert"
ok "hot-added device removed by revert"
