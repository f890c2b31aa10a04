#!/bin/bash
# SPDX-License-Identifier: MIT
# Many leases held at once: what each acquire and release costs when the lease table holds
# thousands (the lease file lists them all), for one hosttuned build or two side by side:
# docs/bench/leases.md, "Many leases at once". Leases are empty snapshot slots in a plain
# directory under /tmp (the one scratch place the policy allows a snapshot root; a mkdir each:
# what is measured is the agent's bookkeeping, not a file system), on a private dbus-daemon.
# The runtime directory (the lease file, agent.state, ready.json, the metrics) is on a tmpfs,
# /dev/shm, as /run is on a real host: on a disk the outputs' fsync calls would measure the disk
# (BENCH_RUNTIME_PARENT chooses another place). Touches no kernel setting.
#
#   bench/leases-many.sh [BUILD_DIR [AGENT_BINARY...]]    (BENCH_LEASES, default 3000)
#
# The helper (tests/helpers/lease-cycle --hold) comes from BUILD_DIR; each AGENT_BINARY (default
# BUILD_DIR/hosttuned) is measured in turn, e.g. an older build's hosttuned against this one.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
shift || true
agents=("$@")
[ ${#agents[@]} -gt 0 ] || agents=("$build/hosttuned")
cycle=$build/tests/helpers/lease-cycle
n=${BENCH_LEASES:-3000}
[ -x "$cycle" ] || { echo "build first: make all unit-bins" >&2; exit 1; }
work=$(mktemp -d /tmp/hosttune-bench-many.XXXXXX)
rt_parent=${BENCH_RUNTIME_PARENT:-/dev/shm}
[ -d "$rt_parent" ] && [ -w "$rt_parent" ] || rt_parent=$work
rt=$(mktemp -d "$rt_parent/hosttune-bench-run.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work" "$rt"
}
trap cleanup EXIT
# shellcheck source=bench/private-bus.inc
. "$(dirname "$0")/private-bus.inc"
private_bus "$work"

field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'prev == k { print; exit } { prev = $0 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
s() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000000 }'; }
echo "| agent | leases | acquire median | last acquire | all acquires | release median | all releases |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for agent in "${agents[@]}"; do
	rm -rf "$rt/run" "$work/snapshots"
	mkdir -p "$rt/run" "$work/snapshots"
	printf '[policy]\nname = bench-many\n[snapshots]\nroot = %s\n[agent]\nreprobe-interval = 0\nmax-leases-per-uid = 0\n' \
		"$work/snapshots" >"$work/policy.ini"
	"$agent" --bus "$addr" --runtime-dir "$rt/run" --policy "$work/policy.ini" \
		>"$work/agent.log" 2>&1 &
	pid=$!
	pids+=($pid)
	for _ in $(seq 600); do
		busctl --address="$addr" get-property org.hosttune.Agent1 /org/hosttune/Agent1 \
			org.hosttune.Agent1 Ready >/dev/null 2>&1 && break
		sleep 0.05
	done
	out=$("$cycle" --address "$addr" --count "$n" --snapshot "" --hold) || {
		cat "$work/agent.log" >&2
		exit 1
	}
	echo "| $agent | $n | $(ms "$(field "$out" acquire_median_usec)") ms | $(ms "$(field "$out" acquire_last_usec)") ms | $(s "$(field "$out" acquire_total_usec)") s | $(ms "$(field "$out" release_median_usec)") ms | $(s "$(field "$out" release_total_usec)") s |"
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null || true
done
