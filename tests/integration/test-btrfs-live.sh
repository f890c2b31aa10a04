#!/bin/bash
# SPDX-License-Identifier: MIT
# The btrfs probe on a loop-backed btrfs this test makes, compared with btrfs-progs, findmnt
# and lsattr: mount options, subvolume, NOCOW, compression property, prepared slots.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd mkfs.btrfs btrfs losetup findmnt lsattr chattr python3
helper=$HOSTTUNE_BUILD/tests/helpers/probe-btrfs
[ -x "$helper" ] || fail "missing $helper (make unit-bins)"
grep -qw btrfs /proc/filesystems || modprobe btrfs 2>/dev/null || skip "kernel without btrfs"

img=$T_TMP/btrfs.img
mnt=$T_TMP/mnt
truncate -s 256M "$img"
mkfs.btrfs -q "$img" >/dev/null
loop=$(losetup --find --show "$img")
defer "losetup -d $loop"
mkdir -p "$mnt"
mount -o compress=zstd:3,noatime,discard=async "$loop" "$mnt"
defer "umount $mnt"

# A NOCOW subvolume as snapshot root with two prepared slots, and a compressed plain directory.
btrfs -q subvolume create "$mnt/snapshots"
chattr +C "$mnt/snapshots"
mkdir "$mnt/snapshots/slots"
btrfs -q subvolume create "$mnt/snapshots/slots/0"
btrfs -q subvolume snapshot "$mnt/snapshots/slots/0" "$mnt/snapshots/slots/1"
mkdir "$mnt/images"
btrfs property set "$mnt/images" compression zstd

field() { echo "$1" | jq_py "$2"; }
mount_of() { # the probe's mount entry for our mount point
	echo "$1" | jq_py "next(m for m in d['facts']['mounts'] if m['target']=='$mnt')$2"
}

out=$("$helper" "$mnt/snapshots")
echo "$out"
assert_eq "status" ok "$(field "$out" "d['status']")"
# findmnt: the options the kernel shows for the mount
opts=$(findmnt -n -o OPTIONS --target "$mnt")
echo "findmnt: $opts"
case ",$opts," in *,compress=zstd:3,*) want=zstd:3 ;; *) fail "findmnt shows no compress=zstd:3: $opts" ;; esac
assert_eq "mount compress (findmnt)" "$want" "$(mount_of "$out" "['compress']")"
case ",$opts," in *,noatime,*) want=True ;; *) want=False ;; esac
assert_eq "mount noatime (findmnt)" "$want" "$(mount_of "$out" "['noatime']")"
case ",$opts," in *,discard=async,*) want=True ;; *) want=False ;; esac
assert_eq "mount discard=async (findmnt)" "$want" "$(mount_of "$out" "['discard_async']")"
case ",$opts," in *,space_cache=v2,*) want=True ;; *) want=False ;; esac
assert_eq "mount space_cache=v2 (findmnt)" "$want" "$(mount_of "$out" "['space_cache_v2']")"
assert_eq "mount source (findmnt)" "$(findmnt -n -o SOURCE --target "$mnt")" "$(mount_of "$out" "['source']")"
# btrfs filesystem show: our loop device carries the file system the probe lists
btrfs filesystem show "$mnt" | grep_all -q "path $loop\$" || fail "btrfs filesystem show does not list $loop"
ok "btrfs filesystem show lists $loop"

# btrfs subvolume show / lsattr: the snapshot root
if btrfs subvolume show "$mnt/snapshots" >/dev/null 2>&1; then want=True; else want=False; fi
assert_eq "snapshot root subvolume (btrfs subvolume show)" "$want" "$(field "$out" "d['facts']['snapshot_root']['subvolume']")"
if lsattr -d "$mnt/snapshots" | awk '{print $1}' | grep_all -q C; then want=True; else want=False; fi
assert_eq "snapshot root NOCOW (lsattr)" "$want" "$(field "$out" "d['facts']['snapshot_root']['nocow']")"
assert_eq "snapshot root on btrfs (stat -f)" "$([ "$(stat -f -c %T "$mnt/snapshots")" = btrfs ] && echo True || echo False)" \
	"$(field "$out" "d['facts']['snapshot_root']['on_btrfs']")"
assert_eq "free slots (ls)" "$(ls "$mnt/snapshots/slots" | wc -l)" "$(field "$out" "d['facts']['free_slots']")"

# A plain directory with the compression property: not a subvolume, copy-on-write (warn).
out=$("$helper" "$mnt/images")
assert_eq "images subvolume (btrfs subvolume show)" \
	"$(btrfs subvolume show "$mnt/images" >/dev/null 2>&1 && echo True || echo False)" \
	"$(field "$out" "d['facts']['snapshot_root']['subvolume']")"
prop=$(btrfs property get "$mnt/images" compression | sed -n 's/^compression=//p')
assert_eq "compression property (btrfs property get)" "$prop" "$(field "$out" "d['facts']['snapshot_root']['compression']")"
assert_eq "copy-on-write root warns" warn "$(field "$out" "d['status']")"

# A root that is not on btrfs.
mkdir "$T_TMP/plain"
out=$("$helper" "$T_TMP/plain")
assert_eq "on_btrfs for $(stat -f -c %T "$T_TMP/plain")" False "$(field "$out" "d['facts']['snapshot_root']['on_btrfs']")"
assert_eq "plain root warns" warn "$(field "$out" "d['status']")"
