#!/bin/bash
# SPDX-License-Identifier: MIT
# Snapshot appliers on a real btrfs (a loop file this test makes): the snapshot root subvolume
# with slots/, templates/, prepared/; NOCOW with the compression property removed; empty slot
# subvolumes; a prepared snapshot of a template. Compared with `btrfs subvolume list/show`,
# `btrfs property get` and lsattr; applied again (unchanged); reverted (what hosttune created is
# gone, the template the test made is kept). Then the plain-directory fallback on ext4.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd mkfs.btrfs btrfs lsattr mount umount cmp
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || true
grep -qw btrfs /proc/filesystems || skip "kernel without btrfs"

helper=$HOSTTUNE_BUILD/tests/helpers/apply-steps
export HOSTTUNE_RUNTIME_DIR=$T_TMP/run
mnt=$T_TMP/mnt
truncate -s 1G "$T_TMP/btrfs.img"
mkfs.btrfs -q "$T_TMP/btrfs.img"
mkdir "$mnt"
mount -o loop,compress=zstd "$T_TMP/btrfs.img" "$mnt"
defer "umount $mnt"

subvols() { btrfs subvolume list "$mnt" | awk '{print $NF}' | sort | xargs; }
has_C() { lsattr -d "$1" | awk '{print $1}' | grep_all -q C; }
compression() { btrfs property get "$1" compression 2>/dev/null | sed -n 's/^compression=//p'; }

root=$mnt/snapshots
cat >"$T_TMP/steps" <<STEPS
snapshot-root knob=snapshots path=$root
nocow knob=snapshots path=$root
snapshot-slot knob=slot path=$root/slots
snapshot-slot knob=slot path=$root/slots
snapshot-slot knob=slot path=$root/slots
STEPS
out=$("$helper" "$T_TMP/steps") || true
echo "$out"
assert_eq "outcomes" "applied applied applied applied applied" "$(echo "$out" | cut -f1 | xargs)"
assert_eq "subvolumes (btrfs subvolume list)" \
	"snapshots snapshots/slots/slot-0 snapshots/slots/slot-1 snapshots/slots/slot-2" "$(subvols)"
for d in "$root" "$root/slots" "$root/templates" "$root/prepared" "$root/slots/slot-0" "$root/slots/slot-2"; do
	has_C "$d" || fail "lsattr: $d lacks NOCOW (C): $(lsattr -d "$d")"
	assert_eq "compression property of $d" "" "$(compression "$d")"
done
ok "NOCOW on the root, its directories and the slots"
# A file created in a slot inherits NOCOW: that is what the flag on the directory is for.
touch "$root/slots/slot-1/disk.img"
has_C "$root/slots/slot-1/disk.img" || fail "a new file in a slot is not NOCOW"
ok "new file in a slot inherits NOCOW"
rm "$root/slots/slot-1/disk.img"

# An existing directory with the compression property: removed before NOCOW is set (the
# kernel refuses the two together).
mkdir "$mnt/images"
btrfs property set "$mnt/images" compression zstd
out=$(echo "nocow path=$mnt/images" | "$helper" -) || true
assert_eq "outcome for images" applied "$(echo "$out" | cut -f1)"
has_C "$mnt/images" || fail "images lacks NOCOW"
assert_eq "compression property of images" "" "$(compression "$mnt/images")"

# A template (made by the test, so never removed by revert) and a prepared snapshot of it.
btrfs -q subvolume create "$root/templates/base"
head -c 8M /dev/urandom >"$root/templates/base/disk.img"
out=$(echo "snapshot-prepared knob=prepared path=$root/prepared/base template=base" | "$helper" -) || true
echo "$out"
assert_eq "outcome for the prepared snapshot" applied "$(echo "$out" | cut -f1)"
snap=$root/prepared/base/snap-0
cmp "$root/templates/base/disk.img" "$snap/disk.img" || fail "snapshot content differs"
tmpl_uuid=$(btrfs subvolume show "$root/templates/base" | awk '$1 == "UUID:" {print $2}')
assert_eq "parent UUID of the snapshot (btrfs subvolume show)" "$tmpl_uuid" \
	"$(btrfs subvolume show "$snap" | awk '$1 == "Parent" && $2 == "UUID:" {print $3}')"

# Again: the root and its NOCOW are as wanted.
out=$(head -n 2 "$T_TMP/steps" | "$helper" -) || true
assert_eq "outcomes again" "unchanged unchanged" "$(echo "$out" | cut -f1 | xargs)"

tmpl_sum=$(sha256sum <"$root/templates/base/disk.img")
"$HOSTTUNE" revert | tee "$T_TMP/revert.out"
assert_eq "subvolumes after revert" "snapshots snapshots/templates/base" "$(subvols)"
[ ! -e "$root/slots" ] && [ ! -e "$root/prepared" ] || fail "slots/ or prepared/ left behind"
assert_eq "template content after revert" "$tmpl_sum" "$(sha256sum <"$root/templates/base/disk.img")"
grep -q "kept" "$T_TMP/revert.out" || fail "revert does not say what it kept"
has_C "$mnt/images" && fail "images still NOCOW after revert"
assert_eq "compression property of images after revert" zstd "$(compression "$mnt/images")"
ok "revert removed what hosttune created and kept the template"

# Off btrfs: plain directories with a warning; a prepared "snapshot" is a copy.
plain=$T_TMP/plain/snapshots
mkdir -p "$T_TMP/plain"
out=$(printf '%s\n' "snapshot-root path=$plain" "snapshot-slot path=$plain/slots" | "$helper" -) || true
echo "$out"
assert_eq "fallback outcomes" "applied applied" "$(echo "$out" | cut -f1 | xargs)"
head -n1 <<<"$out" | cut -f5 | grep_all -q "not on btrfs" || fail "no warning for the fallback"
[ -d "$plain/slots/slot-0" ] || fail "no slot directory"
mkdir "$plain/templates/base" && echo hello >"$plain/templates/base/file"
out=$(echo "snapshot-prepared path=$plain/prepared/base template=base" | "$helper" -) || true
assert_eq "fallback prepared outcome" applied "$(echo "$out" | cut -f1)"
assert_eq "copied file" hello "$(cat "$plain/prepared/base/snap-0/file")"
"$HOSTTUNE" revert
assert_eq "fallback tree after revert" "$plain $plain/templates $plain/templates/base $plain/templates/base/file" \
	"$(find "$plain" | sort | xargs)"
