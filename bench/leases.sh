#!/bin/bash
# SPDX-License-Identifier: MIT
# Benchmark (not a test: no thresholds): take and give back a writable directory holding a
# 2 GiB template, the way a test run needs one, on a btrfs file system in a loop file:
#   hosttune lease   AcquireLease(snapshot=base) + ReleaseLease over D-Bus (a private
#                    dbus-daemon) from one client connection (tests/helpers/lease-cycle), the
#                    agent's prepared set of snapshots given time to refill between rounds
#                    (--pause-ms; outside the timed part) — what a test driver sees
#   hosttune lease, no pause
#                    the same back to back: the prepared set runs dry and most rounds wait for
#                    a snapshot made on demand (a transaction commit)
#   hosttune run     `hosttune run --snapshot base -- true`: the whole command (two process
#                    starts, a bus connection, the lease, the child)
#   btrfs commands   `btrfs subvolume snapshot` + `btrfs subvolume delete`
#   cp --reflink     `cp -a --reflink=always` + `rm -rf`
# Prints a Markdown table (per round: median and 99th percentile, in milliseconds).
# Usage: bench/leases.sh [BUILD_DIR]  (as root)
# Environment: BENCH_ROUNDS (default 200; the commands run a quarter of that), BENCH_DIR
# (scratch directory for the loop file, default /var/tmp/hosttune-bench).
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
cycle=$build/tests/helpers/lease-cycle
rounds=${BENCH_ROUNDS:-200}
cmd_rounds=$((rounds / 4 > 10 ? rounds / 4 : 10))
scratch=${BENCH_DIR:-/var/tmp/hosttune-bench}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x "$cycle" ] && [ -x "$build/hosttuned" ] || { echo "build first: make all unit-bins" >&2; exit 1; }
command -v dbus-daemon >/dev/null || { echo "needs dbus-daemon" >&2; exit 1; }

mkdir -p "$scratch"
work=$(mktemp -d "$scratch/leases.XXXXXX")
img=$work/btrfs.img
mnt=$work/mnt
# The runtime directory is a tmpfs, as /run is on a real host (the lease file and the outputs
# are written on every lease change).
run=$(mktemp -d /dev/shm/hosttune-bench-leases.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	umount "$mnt" 2>/dev/null || true
	rm -rf "$work" "$run"
}
trap cleanup EXIT
truncate -s 8G "$img"
mkfs.btrfs -q "$img" >/dev/null
mkdir -p "$mnt"
mount -o loop "$img" "$mnt"
root=$mnt/snapshots

. "$(dirname "$0")/private-bus.inc"
private_bus "$work"

cat >"$work/policy.ini" <<EOF
[policy]
name = bench-leases
[snapshots]
root = $root
slots = 2
templates = base
prepared = 4
[agent]
reprobe-interval = 0
EOF
"$build/hosttuned" --bus "$addr" --runtime-dir "$run" --policy "$work/policy.ini" \
	>"$work/agent.log" 2>&1 &
pids+=($!)
busctl() { command busctl --address="$addr" "$@"; }
for _ in $(seq 200); do
	busctl get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Ready \
		>/dev/null 2>&1 && break
	sleep 0.05
done

# The template: a 2 GiB image and a few hundred small files, like a VM's root file system.
btrfs -q subvolume create "$root/templates/base"
dd if=/dev/urandom of="$root/templates/base/rootfs.img" bs=1M count=2048 status=none
mkdir -p "$root/templates/base/etc"
for i in $(seq 200); do echo "$i" >"$root/templates/base/etc/file$i"; done
sync
busctl call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Apply b false >/dev/null
mkdir -p "$mnt/copies"

ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'prev == k { print; exit } { prev = $0 }'; }
# stats FILE: "median p99" in milliseconds of the microsecond values in FILE
stats() {
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = v[int((NR + 1) / 2)]; p = v[int((NR - 1) * 99 / 100) + 1]
		printf "%.2f %.2f", m / 1000, p / 1000 }'
}
# Microseconds, from the shell itself (no `date` process inside the timed part).
now_us() {
	local t=$EPOCHREALTIME
	echo "${t/./}"
}

lease_paced=$("$cycle" --address "$addr" --count "$rounds" --snapshot base --pause-ms 50)
lease_burst=$("$cycle" --address "$addr" --count "$rounds" --snapshot base)
sleep 1 # the prepared set refills

: >"$work/run.us"
for _ in $(seq "$cmd_rounds"); do
	t0=$(now_us)
	"$build/hosttune" run --bus "$addr" --snapshot base -- true
	echo $(($(now_us) - t0)) >>"$work/run.us"
	sleep 0.05
done
: >"$work/btrfs.us"
for i in $(seq "$cmd_rounds"); do
	t0=$(now_us)
	btrfs -q subvolume snapshot "$root/templates/base" "$mnt/copies/c$i"
	btrfs -q subvolume delete "$mnt/copies/c$i" >/dev/null
	echo $(($(now_us) - t0)) >>"$work/btrfs.us"
done
: >"$work/reflink.us"
for i in $(seq "$cmd_rounds"); do
	t0=$(now_us)
	cp -a --reflink=always "$root/templates/base" "$mnt/copies/r$i"
	rm -rf "$mnt/copies/r$i"
	echo $(($(now_us) - t0)) >>"$work/reflink.us"
done

read -r run_med run_p99 <<<"$(stats "$work/run.us")"
read -r btrfs_med btrfs_p99 <<<"$(stats "$work/btrfs.us")"
read -r ref_med ref_p99 <<<"$(stats "$work/reflink.us")"
paced_med=$(ms "$(field "$lease_paced" cycle_median_usec)")
echo "| method | rounds | acquire + release, median (ms) | p99 (ms) | vs btrfs commands |"
echo "|---|---:|---:|---:|---:|"
row() { # row NAME ROUNDS MEDIAN P99
	echo "| $1 | $2 | $3 | $4 | $(awk -v a="$btrfs_med" -v b="$3" 'BEGIN { printf "%.1fx", a / b }') |"
}
row "hosttune lease (D-Bus), prepared set refilled between rounds" "$rounds" "$paced_med" \
	"$(ms "$(field "$lease_paced" cycle_p99_usec)")"
row "hosttune lease (D-Bus), back to back" "$rounds" \
	"$(ms "$(field "$lease_burst" cycle_median_usec)")" "$(ms "$(field "$lease_burst" cycle_p99_usec)")"
row "hosttune run --snapshot base -- true" "$cmd_rounds" "$run_med" "$run_p99"
row "btrfs subvolume snapshot + delete (commands)" "$cmd_rounds" "$btrfs_med" "$btrfs_p99"
row "cp -a --reflink=always + rm -rf" "$cmd_rounds" "$ref_med" "$ref_p99"
echo
echo "AcquireLease alone, refilled: median $(ms "$(field "$lease_paced" acquire_median_usec)") ms;" \
	"back to back: median $(ms "$(field "$lease_burst" acquire_median_usec)") ms," \
	"$(field "$lease_burst" slow_acquires) of $rounds acquires over 5 ms (a snapshot made on demand)."
echo "Machine: $(nproc) CPUs, $(uname -r), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)."
