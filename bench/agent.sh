#!/bin/bash
# SPDX-License-Identifier: MIT
# Benchmark of the agent against TuneD, side by side in one run on this machine (docs/bench/agent.md):
#  - start: hosttuned until READY=1 vs TuneD until its bus name appears
#  - RSS of both once up
#  - Check round trip through busctl (a process per call) and in-process (one connection),
#    vs TuneD's verify_profile the same two ways
#  - Check throughput with 1, 8 and 64 concurrent clients (a connection each)
#  - Reload latency with an unchanged and with a changed policy
#  - hosttune check with the agent running (reads agent.state) vs --offline vs /bin/true
# Both daemons run on a private dbus-daemon with an open policy. Both get a policy that changes
# nothing (hosttune: check-only; TuneD: an empty profile written for this run), so what is
# measured is the daemons themselves, not the tuning they do.
# Usage: bench/agent.sh [BUILD_DIR]   (as root; prints a Markdown report)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
hosttuned=$build/hosttuned
hosttune=$build/hosttune
bench=$build/tests/helpers/bus-bench
for b in "$hosttuned" "$hosttune" "$bench"; do
	[ -x "$b" ] || { echo "bench/agent.sh: $b not built (make all unit-bins)" >&2; exit 1; }
done
for c in dbus-daemon busctl hyperfine python3 tuned; do
	command -v $c >/dev/null || { echo "bench/agent.sh: needs $c (scripts/deps.sh bench)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/agent.sh: run as root (TuneD needs it)" >&2; exit 1; }

RUNS_START=${RUNS_START:-20}
RUNS_TUNED=${RUNS_TUNED:-5}
CALLS=${CALLS:-2000}

tmp=$(mktemp -d /tmp/hosttune-bench-agent.XXXXXX)
pids=()
tuned_profile_dir=/etc/tuned/hosttune-bench-empty
tuned_saved=$tmp/tuned-etc
mkdir -p "$tuned_saved"
for f in active_profile profile_mode post_loaded_profile; do
	[ -e /etc/tuned/$f ] && cp -a /etc/tuned/$f "$tuned_saved/"
done
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for f in active_profile profile_mode post_loaded_profile; do
		if [ -e "$tuned_saved/$f" ]; then cp -a "$tuned_saved/$f" /etc/tuned/$f; else rm -f /etc/tuned/$f; fi
	done
	umount "$tmp/run" 2>/dev/null
	rm -rf "$tuned_profile_dir" "$tmp"
}
trap cleanup EXIT

# --- a private bus that lets everyone do everything
. "$(dirname "$0")/private-bus.inc"
private_bus "$tmp"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.2f ms", u/1000}'; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB (%d KiB)", k/1024, k}'; }

policy=$tmp/bench.ini
printf '[policy]\nname = bench\n\n[readiness]\nrequire = rng, tun\n\n[agent]\nreprobe-interval = 60s\n' >"$policy"
printf '[policy]\nname = bench-b\n\n[readiness]\nrequire = rng, tun, userns\n\n[agent]\nreprobe-interval = 60s\n' >"$tmp/bench-b.ini"
cp "$policy" "$tmp/bench-a.ini"
# The runtime dir on tmpfs, as /run is on a systemd host (the outputs are fsync'ed: on a disk
# that would be what is measured).
run=$tmp/run
mkdir -p "$run"
mount -t tmpfs -o size=16m hosttune-bench "$run"

start_agent() { # prints "usec rss pid"
	"$bench" start --ready -- "$hosttuned" --bus "$addr" --runtime-dir "$run" --policy "$policy" \
		2>>"$tmp/agent.log"
}
stop_pid() { kill "$1" 2>/dev/null; while kill -0 "$1" 2>/dev/null; do sleep 0.01; done; }

# --- start to READY=1, and RSS
: >"$tmp/agent-start"
for _ in $(seq "$RUNS_START"); do
	read -r usec rss pid < <(start_agent)
	echo "$usec $rss" >>"$tmp/agent-start"
	stop_pid "$pid"
done
agent_start=$(cut -d' ' -f1 "$tmp/agent-start" | median)
agent_rss_start=$(cut -d' ' -f2 "$tmp/agent-start" | median)

# --- TuneD: an empty profile, start to bus name, and RSS
mkdir -p "$tuned_profile_dir"
printf '[main]\nsummary=hosttune benchmark: changes nothing\n' >"$tuned_profile_dir/tuned.conf"
: >"$tmp/tuned-start"
for _ in $(seq "$RUNS_TUNED"); do
	read -r usec rss pid < <("$bench" start --name com.redhat.tuned --address "$addr" -- \
		env DBUS_SYSTEM_BUS_ADDRESS="$addr" tuned --profile hosttune-bench-empty --no-socket \
		--log "$tmp/tuned.log" --pid "$tmp/tuned.pid" 2>>"$tmp/tuned.err")
	sleep 1 # let it finish applying the profile before measuring its settled RSS
	echo "$usec $rss $("$bench" rss "$pid")" >>"$tmp/tuned-start"
	stop_pid "$pid"
done
tuned_start=$(cut -d' ' -f1 "$tmp/tuned-start" | median)
tuned_rss=$(cut -d' ' -f3 "$tmp/tuned-start" | median)

# --- both running: round trips, throughput, reloads
read -r _ _ agent_pid < <(start_agent)
pids+=("$agent_pid")
read -r _ _ tuned_pid < <("$bench" start --name com.redhat.tuned --address "$addr" -- \
	env DBUS_SYSTEM_BUS_ADDRESS="$addr" tuned --profile hosttune-bench-empty --no-socket \
	--log "$tmp/tuned.log" --pid "$tmp/tuned.pid" 2>>"$tmp/tuned.err")
pids+=("$tuned_pid")
sleep 1

A=(org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1)
T=(com.redhat.tuned /Tuned com.redhat.tuned.control)
hyper() { # median ms of a command run repeatedly
	hyperfine -N -i --warmup 5 --runs "$1" --export-json "$tmp/h.json" "${@:2}" >"$tmp/hyperfine.log" 2>&1 ||
		{ echo "bench: hyperfine failed for: ${*:2}" >&2; tail -n 5 "$tmp/hyperfine.log" >&2; return 1; }
	python3 -c 'import json,sys; print("%.2f ms" % (json.load(open(sys.argv[1]))["results"][0]["median"]*1000))' "$tmp/h.json"
}
busctl_check=$(hyper 200 "busctl --address=$addr call ${A[*]} Check a{sv} 0")
busctl_verify=$(hyper 50 "busctl --address=$addr call ${T[*]} verify_profile")
read -r _ _ _ check_med check_p99 < <("$bench" call --address "$addr" --calls "$CALLS" --empty-dict "${A[@]}" Check)
read -r _ _ _ verify_med verify_p99 < <("$bench" call --address "$addr" --calls 200 "${T[@]}" verify_profile)
thr=""
for n in 1 8 64; do
	per=$((CALLS * 4 / n))
	[ $per -lt 100 ] && per=100
	read -r calls secs cps med p99 < <("$bench" call --address "$addr" --clients $n --calls $per --empty-dict "${A[@]}" Check)
	thr="$thr| $n | $calls | $cps | $(ms "$med") | $(ms "$p99") |"$'\n'
done
agent_rss_busy=$("$bench" rss "$agent_pid")
read -r _ _ _ reload_same_med reload_same_p99 < <("$bench" call --address "$addr" --calls 200 "${A[@]}" Reload)
read -r _ _ _ reload_chg_med reload_chg_p99 < <("$bench" call --address "$addr" --calls 200 \
	--swap "$policy" "$tmp/bench-b.ini" "$tmp/bench-a.ini" "${A[@]}" Reload)
tuned_switch=$(hyper 5 "busctl --address=$addr --timeout=60 call ${T[*]} switch_profile s hosttune-bench-empty")

# --- hosttune check: with the agent's state, without, and the process floor
export HOSTTUNE_RUNTIME_DIR=$run
check_agent=$(hyper 300 "$hosttune check")
check_offline=$(hyper 300 "$hosttune check --offline")
true_floor=$(hyper 300 "/bin/true")
unset HOSTTUNE_RUNTIME_DIR

cat <<EOF
Measured $(date -u +%Y-%m-%d) on $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)),
kernel $(uname -r), $(tuned --version 2>&1 | head -n1), systemd/libsystemd $(pkg-config --modversion libsystemd).
Medians; start over $RUNS_START runs (TuneD $RUNS_TUNED), in-process calls over $CALLS.

| what | hosttuned | TuneD |
|---|---|---|
| start until ready (hosttuned: READY=1; TuneD: bus name owned) | $(ms "$agent_start") | $(ms "$tuned_start") |
| RSS once up | $(mib "$agent_rss_start") | $(mib "$tuned_rss") (1 s after its name) |
| RSS after $((CALLS * 13)) Check calls | $(mib "$agent_rss_busy") | |
| round trip through busctl (process per call): Check / verify_profile | $busctl_check | $busctl_verify |
| round trip in-process, one connection: Check / verify_profile (median, p99) | $(ms "$check_med"), $(ms "$check_p99") | $(ms "$verify_med"), $(ms "$verify_p99") |
| Reload, unchanged policy (median, p99) / TuneD switch_profile to the same profile | $(ms "$reload_same_med"), $(ms "$reload_same_p99") | $tuned_switch |
| Reload, changed policy (median, p99) | $(ms "$reload_chg_med"), $(ms "$reload_chg_p99") | |

Check throughput (each client its own connection, calls one after the other):

| clients | calls | calls/s | median | p99 |
|---|---|---|---|---|
${thr}
\`hosttune check\` (static binary) with the agent running (reads agent.state), with --offline,
and the process floor:

| command | median |
|---|---|
| /bin/true | $true_floor |
| hosttune check (agent's state: policy, leases) | $check_agent |
| hosttune check --offline | $check_offline |
EOF
