#!/bin/bash
# SPDX-License-Identifier: MIT
# Benchmark: what the KVM smoke guest costs `hosttune check` on a host with /dev/kvm. One
# hyperfine run, commands alternating in blocks, side by side: /bin/true, `hosttune check` with
# the agent running (it uses the agent's published verdict: no guest), `hosttune check --offline`
# (runs root's and the build user's guests itself), `hosttune --version`, and the peers
# virt-host-validate qemu and kvm-ok's test (/dev/kvm exists), and the floor under check's
# probing (bench/read-floor.c: the files check reads, read by a program that does nothing else,
# and the same static program with no files). Then the guests' own times from
# `hosttune probe --json` (smoke_root.usec, smoke_build.usec). Replaces the section between the
# kvm-smoke markers of docs/bench/check.md (bench/check.sh keeps it when it rewrites the file).
# No thresholds: it reports. Needs root (the build user's guest) and /dev/kvm.
# With the agent, check takes its probe facts (check.facts, docs/check-facts.md): the script
# checks that it did (no /proc/cpuinfo opened) before measuring.
# Usage: bench/check-kvm.sh BUILD_DIR   (RUNS=, BLOCKS= override the run counts; BASELINE=BINARY
# adds `BINARY check` with the same agent running, e.g. a build of the commit before a change)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
out=$src/docs/bench/check.md
runs=${RUNS:-1000}
blocks=${BLOCKS:-10}
hosttune=$build/hosttune
hosttuned=$build/hosttuned
for c in hyperfine virt-host-validate python3 dbus-daemon strace cc; do
	command -v $c >/dev/null || { echo "bench/check-kvm.sh: needs $c (scripts/deps.sh bench)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench/check-kvm.sh: run as root" >&2; exit 1; }
[ -c /dev/kvm ] || { echo "bench/check-kvm.sh: no /dev/kvm here: nothing to measure"; exit 0; }

tmp=$(mktemp -d /tmp/hosttune-bench-kvm.XXXXXX)
pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

# The binaries measured are installed copies (install(1), as `make install` and packages put
# them), not the files the linker wrote: on this kind of host a linker-written executable ran
# measurably slower than a copy of the same bytes, with the same page faults and system calls
# (docs/bench/check.md, "Copies"), and users run installed copies.
mkdir -p "$tmp/bin"
install -m 0755 "$hosttune" "$tmp/bin/hosttune"
hosttune=$tmp/bin/hosttune
if [ -n "${BASELINE:-}" ]; then
	install -m 0755 "$BASELINE" "$tmp/bin/baseline-hosttune"
	export BASELINE_SOURCE=$BASELINE
	BASELINE=$tmp/bin/baseline-hosttune
fi

# The agent on a private bus, its runtime dir where check looks ($HOSTTUNE_RUNTIME_DIR).
. "$src/bench/private-bus.inc"
private_bus "$tmp"
export HOSTTUNE_RUNTIME_DIR=$tmp/run
mkdir -p "$HOSTTUNE_RUNTIME_DIR"
printf '[policy]\nname = bench-kvm\n\n[readiness]\nrequire = kvm\n\n[agent]\nreprobe-interval = 60s\n' \
	>"$tmp/policy.ini"
"$hosttuned" --bus "$addr" --runtime-dir "$HOSTTUNE_RUNTIME_DIR" \
	--policy "$tmp/policy.ini" 2>"$tmp/agent.log" &
pids+=($!)
for _ in $(seq 200); do grep -qs '^kvm-smoke-root=' "$HOSTTUNE_RUNTIME_DIR/agent.state" && break; sleep 0.05; done
for _ in $(seq 200); do [ -s "$HOSTTUNE_RUNTIME_DIR/check.facts" ] && break; sleep 0.05; done
grep -q '^kvm-smoke-root=' "$HOSTTUNE_RUNTIME_DIR/agent.state" ||
	{ echo "bench/check-kvm.sh: the agent published no smoke verdict" >&2; cat "$tmp/agent.log" >&2; exit 1; }
{ "$hosttune" check --json || true; } | python3 -c '
import json, sys
k = [p for p in json.load(sys.stdin)["probes"] if p["id"] == "kvm"][0]
assert k["facts"]["smoke_source"] == "agent", (k["facts"]["smoke_source"], k["reason"])' ||
	{ echo "bench/check-kvm.sh: check does not use the agent's verdict" >&2; cat "$HOSTTUNE_RUNTIME_DIR/agent.state" >&2; exit 1; }

strace -f -e trace=openat,openat2 -o "$tmp/facts.txt" "$hosttune" check >/dev/null 2>&1 || true
if grep -q 'proc/cpuinfo' "$tmp/facts.txt"; then
	echo "bench/check-kvm.sh: check does not use the agent's probe facts" >&2
	exit 1
fi

# The floor under the probing: the files `check` reads (taken from strace: every file it opens
# for reading, regular files only), opened, read to EOF and closed by a static program that does
# nothing else (bench/read-floor.c). Next to the same program with no files (a static
# process's start-up) it gives the kernel's share of check's probing.
cc -O2 -static -o "$tmp/read-floor" "$src/bench/read-floor.c"
strace -f -e trace=openat,openat2 -o "$tmp/opens.txt" "$hosttune" check >/dev/null 2>&1 || true
mapfile -t files < <(python3 - "$tmp/opens.txt" <<'PY'
import re, sys
for l in open(sys.argv[1]):
    if "= -1" in l or "O_DIRECTORY" in l or "O_RDWR" in l or "/proc/self/fd/" in l:
        continue
    m = re.search(r'openat2\(\d+, "([^"]+)"', l) or re.search(r'openat\(AT_FDCWD, "([^"]+)"', l)
    if m:
        print(m.group(1) if l.find("openat2(") < 0 else "/" + m.group(1))
PY
)
args=()
for b in $(seq "$blocks"); do
	args+=(--command-name "true#$b" /bin/true
		--command-name "hosttune check (agent)#$b" "$hosttune check"
		--command-name "hosttune check --offline#$b" "$hosttune check --offline"
		--command-name "hosttune --version#$b" "$hosttune --version"
		--command-name "static empty program#$b" "$tmp/read-floor"
		--command-name "check's files read alone#$b" "$tmp/read-floor ${files[*]}"
		--command-name "kvm-ok's test#$b" "test -c /dev/kvm")
	[ -z "${BASELINE:-}" ] || args+=(--command-name "baseline check (agent)#$b" "$BASELINE check")
done
hyperfine -N -i --style basic --warmup 50 --runs $((runs / blocks)) "${args[@]}" \
	--export-json "$tmp/fast.json" >"$tmp/fast.txt" 2>&1
args=()
for b in $(seq "$blocks"); do
	args+=(--command-name "true#$b" /bin/true
		--command-name "hosttune check (agent)#$b" "$hosttune check"
		--command-name "hosttune check --offline#$b" "$hosttune check --offline"
		--command-name "virt-host-validate qemu#$b" "virt-host-validate qemu")
done
hyperfine -N -i --style basic --warmup 5 --runs $((runs / blocks / 5)) "${args[@]}" \
	--export-json "$tmp/peers.json" >"$tmp/peers.txt" 2>&1
# The guests themselves, as the probe times them.
for _ in $(seq 50); do "$hosttune" probe --json || true; done | python3 -c '
import json, sys
dec = json.JSONDecoder()
text = sys.stdin.read()
i = 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i >= len(text):
        break
    d, i = dec.raw_decode(text, i)
    f = [p for p in d["probes"] if p["id"] == "kvm"][0]["facts"]
    b = f["smoke_build"]
    print(f["smoke_root"]["usec"], b["usec"] if b else 0, f["smoke_root"]["step"] or "hlt",
          (b["step"] or "hlt") if b else "-")' >"$tmp/guests.txt"

N_FILES=${#files[@]} python3 - "$tmp" "$out" "$runs" "$blocks" <<'PY'
import json, os, platform, re, statistics, sys, time
tmp, out, runs, blocks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def load(name):
    pooled = {}
    for r in json.load(open(os.path.join(tmp, name)))["results"]:
        p = pooled.setdefault(r["command"].split("#")[0], {"times": []})
        p["times"] += r["times"]
    for p in pooled.values():
        p["median"] = statistics.median(p["times"])
        p["min"] = min(p["times"])
    return pooled

def table(res, n):
    base = res["true"]["median"]
    rows = ["| command | median ms | min ms | median / true |", "|---|---:|---:|---:|"]
    for name, p in res.items():
        rows.append(f"| `{name}` | {p['median']*1e3:.3f} | {p['min']*1e3:.3f} | {p['median']/base:.2f}x |")
    return "\n".join(rows)

fast, peers = load("fast.json"), load("peers.json")
baseline = ""
if "baseline check (agent)" in fast:
    b = fast["baseline check (agent)"]["median"]
    baseline = (f"`baseline check (agent)` is `$BASELINE check` (`{os.environ.get('BASELINE_SOURCE', os.environ.get('BASELINE'))}`, "
                f"the build to compare with) with the same agent: this build's `check` differs from "
                f"it by {(fast['hosttune check (agent)']['median'] - b)*1e3:+.3f} ms at the median, "
                f"{(fast['hosttune check (agent)']['min'] - fast['baseline check (agent)']['min'])*1e3:+.3f} ms "
                f"at the minimum.\n")
guests = [l.split() for l in open(os.path.join(tmp, "guests.txt"))]
root_us = statistics.median(int(g[0]) for g in guests)
build_us = statistics.median(int(g[1]) for g in guests)
steps = sorted({(g[2], g[3]) for g in guests})
kvm_mod = next((m for m in ("kvm_intel", "kvm_amd", "kvm_pvm") if os.path.isdir(f"/sys/module/{m}")), "?")
agent = fast["hosttune check (agent)"]["median"]
offline = fast["hosttune check --offline"]["median"]
true = fast["true"]["median"]
version = fast["hosttune --version"]["median"]
empty = fast["static empty program"]["median"]
reads = fast["check's files read alone"]["median"] - empty
n_files = int(os.environ.get("N_FILES", "0"))
floor = f"""
**The floor.** `check's files read alone` opens, reads to EOF and closes the {n_files} files
`check` reads with the agent running (from strace: agent.state, check.facts, the policy, the
volatile /proc and /sys files) in a static program that does nothing else (bench/read-floor.c);
`static empty program` is the same program with no files. The kernel's work for those files
alone costs {reads*1e3:.3f} ms ({reads/true:.2f}x of `true`'s median); `hosttune --version`
(hosttune's start-up, no probing) is {version/true:.2f}x. So a `check` that only started and
read its files would take about {(version+reads)*1e3:.3f} ms, **{(version+reads)/true:.2f}x
`true`**; 1.2x leaves {(1.2*true-version)*1e3:.3f} ms above start-up. What `check` adds above
start-up plus those reads ({(agent-version-reads)*1e3:.3f} ms) is its other system calls (the
stamps' `stat`s, the mount table's `listmount`, the agent's lock, the policy's `O_PATH` look),
the page faults of its own data, and its parsing and printing.
"""
section = f"""<!-- kvm-smoke -->
## With /dev/kvm: the smoke guest (bench/check-kvm.sh)

Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on `{platform.node()}`, Linux
{platform.release()}, /dev/kvm from `{kvm_mod}`, load average at the start {os.getloadavg()[0]:.2f}.
`hosttune check` with hosttuned running takes the agent's published probe facts
(docs/check-facts.md: its KVM smoke verdict among them, so no guest) and probes only the volatile
facts itself; `--offline` probes everything and runs root's guest and the build user's (a fork,
setuid, the same guest). {runs} runs per command in {blocks}
alternating blocks.

{table(fast, runs)}

**`hosttune check` with the agent / `/bin/true` (median): {agent/fast['true']['median']:.2f}x.**
`hosttune check --offline` / `/bin/true`: {offline/fast['true']['median']:.2f}x
({(offline-agent)*1e3:.2f} ms more than with the agent: the guests).
{baseline}{floor}
Against the peers ({runs // 5} runs per command):

{table(peers, runs // 5)}

The guests alone, as `hosttune probe --json` times them (50 runs, median): root's
{root_us:.0f} µs, the build user's {build_us:.0f} µs (timed inside the child; its fork comes on top); where they stopped
(root, build user): {', '.join(f'{a}/{b}' for a, b in steps)}. A guest that stops early (a
refused ioctl) costs less than one that runs to hlt: one that runs every step also runs its
timed loop (4 million iterations) three times in the guest and three times natively. The agent runs the guests at start, when /dev/kvm or the module
changes, and once per re-probe interval (60 s by default): about {(root_us+build_us)/60e6*100:.4f}%
of one CPU.
<!-- /kvm-smoke -->
"""
text = open(out).read() if os.path.exists(out) else ""
text = re.sub(r"\n?<!-- kvm-smoke -->.*?<!-- /kvm-smoke -->\n", "", text, flags=re.S)
open(out, "w").write(text.rstrip("\n") + "\n\n" + section)
print(section)
PY
