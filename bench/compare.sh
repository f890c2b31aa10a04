#!/bin/bash
# SPDX-License-Identifier: MIT
# Two builds side by side in one run, on the figures issue 13 says a redesign must not make
# worse (docs/bench/redesign.md):
#   check         `hosttune check` (no agent), and with an agent running (it reads agent.state):
#                 hyperfine, the two builds alternating in blocks so the machine's drift meets both
#   agent start   hosttuned until READY=1 (tests/helpers/bus-bench start --ready), check-only
#                 policy as in bench/agent.sh; VmRSS at that moment
#   Check         round trip in-process over one connection (bus-bench call, empty a{sv})
#   lease cycle   AcquireLease(hugepages 2M) + ReleaseLease over D-Bus (tests/helpers/lease-cycle)
#                 with a 16 MiB pool of 2 MiB pages; VmRSS of the agent after that burst
# The agents run on a private dbus-daemon, their runtime directories on a tmpfs. The measuring
# helpers are NEW's for both builds (the same ruler). Prints a Markdown table of medians with the
# ratio new/base (above 1: new is slower or bigger) and writes it to docs/bench/redesign.md.
# Usage: flock /tmp/hosttune-kernel.lock bench/compare.sh BASE_BUILD NEW_BUILD   (as root)
# It sets the 2 MiB hugepage pool and puts it back. TURNS (3), RUNS_START (20), CALLS (2000),
# ROUNDS (400), CHECK_RUNS (1000) override the counts; OUT= another report path, OUT=- none.
set -euo pipefail
[ $# = 2 ] || { echo "usage: bench/compare.sh BASE_BUILD NEW_BUILD" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
base=$(cd "$1" && pwd)
new=$(cd "$2" && pwd)
declare -A build=([base]=$base [new]=$new)
out=${OUT:-$src/docs/bench/redesign.md}
turns=${TURNS:-3}
runs_start=${RUNS_START:-20}
calls=${CALLS:-2000}
rounds=${ROUNDS:-400}
check_runs=${CHECK_RUNS:-1000}
bench=$new/tests/helpers/bus-bench
cycle=$new/tests/helpers/lease-cycle
for b in "$base" "$new"; do
	for p in hosttune hosttuned; do
		[ -x "$b/$p" ] || { echo "bench/compare.sh: $b/$p not built (make all unit-bins)" >&2; exit 1; }
	done
done
for h in "$bench" "$cycle"; do
	[ -x "$h" ] || { echo "bench/compare.sh: $h not built (make unit-bins)" >&2; exit 1; }
done
for c in dbus-daemon hyperfine python3; do
	command -v $c >/dev/null || { echo "bench/compare.sh: needs $c (scripts/deps.sh bench)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/compare.sh: run as root (hugepage pool, tmpfs)" >&2; exit 1; }
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -w $hp ] || { echo "bench/compare.sh: no 2 MiB hugepage pool on this kernel" >&2; exit 1; }

tmp=$(mktemp -d /tmp/hosttune-bench-compare.XXXXXX)
nr_before=$(cat $hp)
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	umount "$tmp/run" 2>/dev/null
	echo "$nr_before" >$hp
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/private-bus.inc"
private_bus "$tmp"

# Runtime directories on a tmpfs, as /run is (the outputs are fsync'ed).
mkdir -p "$tmp/run"
mount -t tmpfs -o size=16m hosttune-bench "$tmp/run"
printf '[policy]\nname = bench\n\n[readiness]\nrequire = rng, tun\n\n[agent]\nreprobe-interval = 60s\n' \
	>"$tmp/check-only.ini"
printf '[policy]\nname = bench-leases\n[hugepages]\nsize = 2M\npool = 16M\nmax = 16M\n[agent]\nreprobe-interval = 0\nrevert-on-stop = yes\n' \
	>"$tmp/leases.ini"

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
field() { tr ' ' '\n' <<<"$1" | awk -v k="$2" 'prev == k { print; exit } { prev = $0 }'; }
stop_pid() {
	kill "$1" 2>/dev/null || true
	while kill -0 "$1" 2>/dev/null; do sleep 0.01; done
}
# start_agent BUILD POLICY RUNDIR: prints "usec rss pid" (bus-bench start --ready).
start_agent() {
	rm -rf "$3" && mkdir -p "$3"
	"$bench" start --ready -- "$1/hosttuned" --bus "$addr" --runtime-dir "$3" --policy "$2" \
		2>>"$tmp/agent.log"
}
# progress WHAT: a line on stderr with the seconds since the start.
progress() { echo "compare: ${SECONDS}s: $*" >&2; }
# note KEY BUILD VALUE: one sample of a figure.
note() { echo "$3" >>"$tmp/$1.$2"; }

# --- agent start and RSS at READY=1: the builds alternate start by start
progress "agent starts"
for _ in $(seq "$runs_start"); do
	for b in base new; do
		read -r usec rss pid < <(start_agent "${build[$b]}" "$tmp/check-only.ini" "$tmp/run/$b")
		note start $b "$usec"
		note rss_start $b "$rss"
		stop_pid "$pid"
	done
done

# --- Check round trip, lease cycle and RSS after the burst: one agent at a time (both would own
# the bus name), turn by turn, the order swapped each turn
for t in $(seq "$turns"); do
	order="base new"
	[ $((t % 2)) = 0 ] && order="new base"
	for b in $order; do
		progress "turn $t: $b: Check round trips, lease cycles"
		read -r _ _ pid < <(start_agent "${build[$b]}" "$tmp/leases.ini" "$tmp/run/$b")
		pids+=("$pid")
		read -r _ _ _ med _ < <("$bench" call --address "$addr" --calls "$calls" --empty-dict \
			org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Check)
		note check_rtt $b "$med"
		res=$("$cycle" --address "$addr" --count "$rounds" --hugepages 2M)
		note lease_cycle $b "$(field "$res" cycle_median_usec)"
		note rss_leases $b "$("$bench" rss "$pid")"
		stop_pid "$pid"
		unset 'pids[-1]'
	done
done

# --- hosttune check: without an agent (an empty runtime directory), and with one running
mkdir -p "$tmp/run/none"
hyper_check() { # hyper_check NAME RUNTIME_DIR: medians in ms to $tmp/check-NAME.{base,new}
	local args=() blocks=10 b
	for b in $(seq $blocks); do
		args+=(--command-name "base#$b" "$base/hosttune check" --command-name "new#$b" "$new/hosttune check")
	done
	HOSTTUNE_RUNTIME_DIR=$2 hyperfine -N -i --style none --warmup 50 --runs $((check_runs / blocks)) \
		"${args[@]}" --export-json "$tmp/h.json" >/dev/null 2>"$tmp/hyperfine.err" ||
		{ cat "$tmp/hyperfine.err" >&2; return 1; }
	python3 - "$tmp/h.json" "$tmp/check_$1" <<'EOF'
import json, statistics, sys
times = {"base": [], "new": []}
for r in json.load(open(sys.argv[1]))["results"]:
    times[r["command"].split("#")[0]] += r["times"]
for b, t in times.items():
    open(f"{sys.argv[2]}.{b}", "w").write("%d\n" % round(statistics.median(t) * 1e6))
EOF
}
progress "hosttune check"
hyper_check none "$tmp/run/none"
read -r _ _ pid < <(start_agent "$new" "$tmp/check-only.ini" "$tmp/run/agent")
pids+=("$pid")
hyper_check agent "$tmp/run/agent"
stop_pid "$pid"
unset 'pids[-1]'

# --- the report
row() { # row LABEL KEY UNIT(us|kib)
	local b n
	b=$(median <"$tmp/$2.base")
	n=$(median <"$tmp/$2.new")
	awk -v l="$1" -v b="$b" -v n="$n" -v u="$3" 'BEGIN {
		if (u == "us") f = "%.3f ms"; else f = "%.1f MiB"
		d = (u == "us") ? 1000 : 1024
		printf "| %s | " f " | " f " | %.2f |\n", l, b / d, n / d, (b > 0 ? n / b : 0) }'
}
report=$(
	cat <<EOF
Base: \`$base\` ($(git -C "$base" describe --always --dirty 2>/dev/null || echo "not a git tree")),
new: \`$new\` ($(git -C "$new" describe --always --dirty 2>/dev/null || echo "not a git tree")).
Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)),
kernel $(uname -r), load average before the run $(cut -d' ' -f1-3 /proc/loadavg).
Medians: agent start over $runs_start starts each; Check over $calls calls and the lease cycle over
$rounds rounds, in each of $turns turns (median of the turns); check over $check_runs runs each.

| figure | base | new | new/base |
|---|---:|---:|---:|
$(row "hosttune check (no agent)" check_none us)
$(row "hosttune check (agent running: agent.state)" check_agent us)
$(row "hosttuned start until READY=1 (check-only policy)" start us)
$(row "hosttuned RSS at READY=1" rss_start kib)
$(row "Check() round trip, in-process, one connection" check_rtt us)
$(row "hugepage lease acquire + release (2M, D-Bus)" lease_cycle us)
$(row "hosttuned RSS after $calls Check calls and $rounds lease cycles" rss_leases kib)
EOF
)
echo "$report"
if [ "$out" != - ]; then
	{
		cat <<'EOF'
# Benchmark: the issue 13 redesign, before and after

Issue 13 (one work queue, one assessment, runtime/ out of policies/) must leave behaviour
unchanged and the bench figures no worse. `bench/compare.sh BASE_BUILD NEW_BUILD` measures both
builds side by side in one run (run it under the shared kernel lock; it sets the 2 MiB pool and
puts it back): `hosttune check` with hyperfine, the builds alternating in blocks; hosttuned's
start until READY=1 and its RSS then (bus-bench, check-only policy, the builds alternating start
by start); Check() round trips and hugepage lease cycles against one agent at a time on a private
dbus-daemon, turn by turn in swapped order, and the agent's RSS after them. The measuring helpers
are the new build's for both. A ratio above 1 means the new build is slower or bigger; on this
shared 2-CPU machine differences within about 10% are noise (other sessions' jobs run alongside).

EOF
		echo "$report"
	} >"$out"
	echo "(written to $out)" >&2
fi
