#!/bin/bash
# SPDX-License-Identifier: MIT
# Benchmark (not a test: no thresholds): making a writable copy of a 2 GiB template on btrfs,
#   hosttune   the prepared-snapshot applier (libbtrfsutil, in-process) through the executor
#              `hosttune apply` runs (tests/helpers/apply-steps): the step's own time and the
#              whole process
#   btrfs      btrfs subvolume snapshot TEMPLATE DEST
#   reflink    cp -a --reflink=always TEMPLATE DEST
#   copy       cp -a --reflink=never TEMPLATE DEST
# on a btrfs file system in a loop file this script makes. Prints a Markdown table.
# Usage: bench/apply-snapshots.sh [BUILD_DIR]  (as root)
# Environment: BENCH_RUNS (default 10; the full copy runs 3 times), BENCH_DIR (scratch
# directory, default /var/tmp/hosttune-bench).
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
helper=$build/tests/helpers/apply-steps
scratch=${BENCH_DIR:-/var/tmp/hosttune-bench}
runs=${BENCH_RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x "$helper" ] || { echo "build first: make all unit-bins" >&2; exit 1; }

mkdir -p "$scratch"
img=$scratch/snap-bench.img
mnt=$scratch/snap-bench.mnt
export HOSTTUNE_RUNTIME_DIR=/run/hosttune-bench-snap-$$
cleanup() {
	umount "$mnt" 2>/dev/null || true
	rm -rf "$img" "$mnt" "$HOSTTUNE_RUNTIME_DIR"
}
trap cleanup EXIT
truncate -s 8G "$img"
mkfs.btrfs -q "$img"
mkdir -p "$mnt"
mount -o loop "$img" "$mnt"
root=$mnt/snapshots
mkdir -p "$root/prepared/base" "$root/templates" "$root/copies"
btrfs -q subvolume create "$root/templates/base"
dd if=/dev/urandom of="$root/templates/base/disk.img" bs=1M count=2048 status=none
mkdir -p "$root/templates/base/etc"
for i in $(seq 200); do echo "$i" >"$root/templates/base/etc/file$i"; done
sync

now_ns() { date +%s%N; }
median() { sort -n | sed -n "$((($1 + 1) / 2))p"; }

declare -A wall step
for m in hosttune btrfs reflink copy; do
	n=$runs
	[ $m = copy ] && n=3
	w=() s=()
	for _ in $(seq "$n"); do
		sync
		t0=$(now_ns)
		case $m in
		hosttune)
			out=$(echo "snapshot-prepared path=$root/prepared/base template=base" | "$helper" -)
			;;
		btrfs) btrfs -q subvolume snapshot "$root/templates/base" "$root/copies/c" ;;
		reflink) cp -a --reflink=always "$root/templates/base" "$root/copies/c" ;;
		copy) cp -a --reflink=never "$root/templates/base" "$root/copies/c" ;;
		esac
		t1=$(now_ns)
		w+=($(((t1 - t0) / 1000)))
		if [ $m = hosttune ]; then
			[ "$(echo "$out" | cut -f1)" = applied ] || { echo "hosttune: $out" >&2; exit 1; }
			s+=("$(echo "$out" | cut -f6)")
			btrfs -q subvolume delete "$root/prepared/base/snap-0"
			rm -rf "$HOSTTUNE_RUNTIME_DIR"
		elif [ $m = btrfs ]; then
			btrfs -q subvolume delete "$root/copies/c"
		else
			rm -rf "$root/copies/c"
		fi
	done
	wall[$m]="$(printf '%s\n' "${w[@]}" | median "$n") (${#w[@]} runs)"
	step[$m]=$([ $m = hosttune ] && printf '%s\n' "${s[@]}" | median "$n" || echo "-")
done

echo "# Snapshot of a 2 GiB template (2 GiB file + 200 small files), btrfs in a loop file, $(nproc) CPUs, kernel $(uname -r)"
echo
echo "| method | median wall time, µs | in-process step, µs |"
echo "|---|---|---|"
echo "| hosttune (libbtrfsutil snapshot via the executor) | ${wall[hosttune]} | ${step[hosttune]} |"
echo "| btrfs subvolume snapshot | ${wall[btrfs]} | - |"
echo "| cp -a --reflink=always | ${wall[reflink]} | - |"
echo "| cp -a --reflink=never | ${wall[copy]} | - |"
