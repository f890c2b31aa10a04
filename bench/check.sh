#!/bin/bash
# SPDX-License-Identifier: MIT
# Benchmark: how much does `hosttune check` (full probe set, human output, as a test driver
# runs it before every test) cost next to starting any process at all, and next to its peers?
# One hyperfine run, side by side: /bin/true (the process floor), hosttune check and hosttune
# --version (the static binary's own start-up); then one with virt-host-validate qemu
# (libvirt-clients) and hugeadm --explain (libhugetlbfs-bin). Then a
# per-probe breakdown (tests/helpers/probe-timer, cold, in fresh processes) and the page faults
# and system calls of one run. Writes docs/bench/check.md. No thresholds: it reports.
# Usage: bench/check.sh BUILD_DIR   (RUNS=, PEER_RUNS=, BLOCKS= override the run counts)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/docs/bench/check.md
runs=${RUNS:-2000}
peer_runs=${PEER_RUNS:-200}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
hosttune=$build/hosttune
for c in hyperfine virt-host-validate hugeadm python3 perf strace; do
	command -v $c >/dev/null || { echo "bench/check.sh: needs $c (scripts/deps.sh bench)" >&2; exit 1; }
done

# hyperfine -N: no shell in between; -i: `check` exits 1 on a host that is not ready, and the
# peers exit non-zero on a host without KVM. Warm-up runs put every binary in the page cache.
# The commands alternate in BLOCKS blocks within the one hyperfine run (true, check, true,
# check, ...) and each command's samples are pooled: on a shared machine the load drifts, and
# two long back-to-back series would measure the drift as much as the commands.
blocks=${BLOCKS:-10}
args=()
for b in $(seq "$blocks"); do
	args+=(--command-name "true#$b" /bin/true --command-name "hosttune check#$b" "$hosttune check"
		--command-name "hosttune --version#$b" "$hosttune --version")
done
hyperfine -N -i --style basic --warmup 100 --runs $((runs / blocks)) "${args[@]}" \
	--export-json "$tmp/fast.json" >"$tmp/fast.txt" 2>&1
# The peers take tens of milliseconds: fewer runs give the same precision.
args=()
for b in $(seq "$blocks"); do
	args+=(--command-name "true#$b" /bin/true --command-name "hosttune check#$b" "$hosttune check"
		--command-name "virt-host-validate qemu#$b" "virt-host-validate qemu"
		--command-name "hugeadm --explain#$b" "hugeadm --explain")
done
hyperfine -N -i --style basic --warmup 10 --runs $((peer_runs / blocks)) "${args[@]}" \
	--export-json "$tmp/peers.json" >"$tmp/peers.txt" 2>&1

# Per probe, cold: each run is a fresh process; medians over 300 runs.
for _ in $(seq 300); do "$build/tests/helpers/probe-timer"; done >"$tmp/timer.txt"
# `check` exits 1 on a host that is not ready: ignore exit statuses of the measured commands.
faults() { perf stat -x, -r 50 -e page-faults "$@" 2>&1 >/dev/null | cut -d, -f1 || true; }
syscalls() { strace -f -c -o "$tmp/strace.txt" "$@" >/dev/null 2>&1 || true; awk '/total/ {print $4}' "$tmp/strace.txt"; }
faults_true=$(faults /bin/true)
faults_version=$(faults "$hosttune" --version)
faults_check=$(faults "$hosttune" check)
syscalls_true=$(syscalls /bin/true)
syscalls_check=$(syscalls "$hosttune" check)
# How hosttune is linked (Makefile STATIC_CLI): the start-up cost differs.
case "$(readelf -lh "$hosttune" 2>/dev/null)" in
*"Type:"*"EXEC"*) link="static (non-PIE)" ;;
*INTERP*) link="dynamically linked" ;;
*) link="static-pie" ;;
esac

python3 - "$tmp" "$out" "$runs" "$peer_runs" "$faults_true" "$faults_version" "$faults_check" \
	"$syscalls_true" "$syscalls_check" "$blocks" "$link" <<'PY'
import json, os, platform, statistics, subprocess, sys, time
tmp, out, runs, peer_runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
faults_true, faults_version, faults_check, sc_true, sc_check, blocks, link = sys.argv[5:12]

def load(name):
    """Pool the samples of each command's blocks ("true#1", "true#2", ...)."""
    pooled = {}
    for r in json.load(open(os.path.join(tmp, name)))["results"]:
        p = pooled.setdefault(r["command"].split("#")[0], {"times": [], "user": [], "system": []})
        p["times"] += r["times"]
        p["user"].append(r["user"])
        p["system"].append(r["system"])
    for p in pooled.values():
        p["median"] = statistics.median(p["times"])
        p["mean"] = statistics.fmean(p["times"])
        p["min"] = min(p["times"])
        p["user"] = statistics.fmean(p["user"])
        p["system"] = statistics.fmean(p["system"])
    return pooled
fast, peers = load("fast.json"), load("peers.json")
ms = lambda s: "%.3f" % (s * 1e3)

def table(res, floor):
    rows = ["| command | median ms | mean ms | min ms | user ms | system ms | median / true |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in res.items():
        rows.append("| `%s` | %s | %s | %s | %s | %s | %.2fx |" % (
            name, ms(r["median"]), ms(r["mean"]), ms(r["min"]), ms(r["user"]), ms(r["system"]),
            r["median"] / floor))
    return "\n".join(rows)

ft, fc = fast["true"]["median"], fast["hosttune check"]["median"]
pt, pc = peers["true"]["median"], peers["hosttune check"]["median"]
vhv, hug = peers["virt-host-validate qemu"]["median"], peers["hugeadm --explain"]["median"]

probes = {}
for line in open(os.path.join(tmp, "timer.txt")):
    w = line.split()
    probes.setdefault(w[0], []).append((float(w[1]), int(w[3])))
prow = ["| step | median µs | median faults |", "|---|---:|---:|"]
for k, v in probes.items():
    prow.append("| %s | %.1f | %d |" % (k, statistics.median(x[0] for x in v),
                                        statistics.median(x[1] for x in v)))

def first_line(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip().splitlines()[0]
    except Exception:
        return "?"
cpu = first_line("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-").strip()
load = open("/proc/loadavg").read().split()[:3]
doc = f"""# `hosttune check` speed

Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on `{platform.node()}`: {cpu},
{os.cpu_count()} CPUs, Linux {platform.release()}, {first_line('. /etc/os-release; echo $PRETTY_NAME')}
(a Firecracker VM. On the hosts of the earlier measurements a page fault exited to the host and
cost 10–20 µs; on the PVM host of December 2026 a fresh page costs about 2 µs to fault, 1.6 µs to
populate: see the notes. A system call about 1 µs, opening a sysfs/procfs file 3–5 µs). Load
average at the start: {' '.join(load)}.

Reproduce: `make bench` (or `bench/check.sh build`; `RUNS=` and `PEER_RUNS=` change the
number of runs). The numbers below are this run's; other machines differ, and a busy machine
(other test runs) moves medians by milliseconds, so compare ratios from one run only.

## Against the process floor ({runs} runs each, in {blocks} alternating blocks of one hyperfine run)

{table(fast, ft)}

**`hosttune check` / `/bin/true` (median): {fc / ft:.2f}x.** Target: at most 1.2x.

`/bin/true` is linked dynamically: its start-up maps ld.so and libc.so; this `hosttune` is {link}. `hosttune --version` (the same binary, start-up only, no probing) is the
stricter floor: **`hosttune check` / `hosttune --version` (median):
{fc / fast["hosttune --version"]["median"]:.2f}x** — the whole cost of probing.

## Against the peers ({peer_runs} runs each, in {blocks} alternating blocks of one hyperfine run)

{table(peers, pt)}

**`virt-host-validate qemu` / `hosttune check` (median): {vhv / pc:.1f}x** (target: at least
10x); `hugeadm --explain` / `hosttune check`: {hug / pc:.1f}x. Both peers check less:
virt-host-validate looks at /dev/kvm, /dev/net/tun, /dev/vhost-net, cgroups and IOMMU;
hugeadm --explain lists pools and mounts.

## Where `hosttune check`'s time goes

Page faults per run (perf stat): `/bin/true` {faults_true}, `hosttune --version` {faults_version}
(the {link} binary's start-up), `hosttune check` {faults_check}. System calls per run
(strace -c): `/bin/true` {sc_true}, `hosttune check` {sc_check}.

Each probe run cold in a fresh process (tests/helpers/probe-timer, 300 processes; the helper
is linked dynamically, so its start-up differs from `hosttune`'s; the per-probe numbers are
what matters):

{chr(10).join(prow)}
"""
notes = os.path.join(os.path.dirname(out), "..", "..", "bench", "check-notes.md")
if os.path.exists(notes):
    doc += "\n" + open(notes).read()
# bench/check-kvm.sh's section (the smoke guest's cost) is another run's: keep it.
import re
old = open(out).read() if os.path.exists(out) else ""
kept = re.search(r"<!-- kvm-smoke -->.*?<!-- /kvm-smoke -->\n", old, flags=re.S)
if kept:
    doc = doc.rstrip("\n") + "\n\n" + kept.group(0)
with open(out, "w") as f:
    f.write(doc)
print(doc)
PY
