#!/bin/bash
# SPDX-License-Identifier: MIT
# Benchmark (not a test: no thresholds): reserving N 2 MiB hugepages, side by side in one run,
#   plain      sh -c 'echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
#   hugeadm    hugeadm --pool-pages-min 2MB:N                       (libhugetlbfs-bin)
#   hosttune   the hugepage applier through the executor `hosttune apply` runs
#              (tests/helpers/apply-steps), reclaim=compact and reclaim=drop-caches
# on a clean host (caches dropped, memory compacted) and on a host this script fragments:
# anonymous memory with one 4 KiB page kept per 2 MiB, millions of cached dentries, and page
# cache filling most of RAM (bench/fragment-memory.c). Reports pages obtained and wall time;
# prints a Markdown table.
# Usage: bench/apply-hugepages.sh [BUILD_DIR]  (as root)
# Environment: BENCH_PAGES (clean host, default: a third of RAM), BENCH_FRAG_PAGES (fragmented
# host, default: 55% of RAM, more than is free there), BENCH_RUNS (clean-host runs per method,
# default 15), BENCH_DIR (scratch directory on a disk file system, default
# /var/tmp/hosttune-bench), BENCH_ONLY (clean or fragmented: run one half).
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
helper=$build/tests/helpers/apply-steps
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
scratch=${BENCH_DIR:-/var/tmp/hosttune-bench}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x "$helper" ] || { echo "build first: make all unit-bins" >&2; exit 1; }
command -v hugeadm >/dev/null || { echo "needs hugeadm (libhugetlbfs-bin)" >&2; exit 1; }

mem_kib() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
total_kib=$(mem_kib MemTotal)
pages=${BENCH_PAGES:-$((total_kib / 3 / 2048))}
frag_pages=${BENCH_FRAG_PAGES:-$((total_kib * 55 / 100 / 2048))}
runs=${BENCH_RUNS:-15}
command -v hyperfine >/dev/null || { echo "needs hyperfine" >&2; exit 1; }
mkdir -p "$scratch"
cc -O2 -o "$scratch/fragment-memory" "$src/bench/fragment-memory.c"

# Other sessions' tests change the pool too: hold the same lock they do.
exec 9>/run/lock/hosttune-tests.lock
flock 9
orig=$(cat $nr)
frag_pid=""
cleanup() {
	[ -n "$frag_pid" ] && kill "$frag_pid" 2>/dev/null || true
	echo "$orig" >$nr
	umount "$HOSTTUNE_RUNTIME_DIR" 2>/dev/null || true
	rm -rf "$HOSTTUNE_RUNTIME_DIR" "$scratch/dentries" "$scratch/cache.img"
}
trap cleanup EXIT
# The journal on a tmpfs of its own, as /run is on a systemd host (here /run may be on disk,
# where the journal's two fsyncs alone cost a millisecond).
export HOSTTUNE_RUNTIME_DIR=$scratch/run
mkdir -p "$HOSTTUNE_RUNTIME_DIR"
mount -t tmpfs -o size=1M,mode=0755 tmpfs "$HOSTTUNE_RUNTIME_DIR"
# `hosttune apply --policy` once the planner is built in.
with_cli=no
"$build/hosttune" apply --help >/dev/null 2>&1 && with_cli=yes

now_ns() { date +%s%N; }

clean_host() {
	echo 0 >$nr
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo 1 >/proc/sys/vm/compact_memory
}

# Fragment: anonymous memory first (45% of what is free) with holes punched into it (one page
# kept per 2 MiB), 6 million dentries whose unmovable slab pages land in those holes, then page
# cache from a file of 75% of RAM.
fragmented_host() {
	local free_kib anon_mib cache_gib
	clean_host
	free_kib=$(mem_kib MemFree)
	anon_mib=$((free_kib * 45 / 100 / 1024))
	cache_gib=$((total_kib * 75 / 100 / 1024 / 1024))
	[ -f "$scratch/cache.img" ] || fallocate -l "${cache_gib}G" "$scratch/cache.img"
	mkdir -p "$scratch/dentries"
	coproc FRAG { "$scratch/fragment-memory" "$anon_mib" 6000000 "$scratch/dentries"; }
	frag_pid=$FRAG_PID
	read -r _ <&"${FRAG[0]}"
	cat "$scratch/cache.img" >/dev/null
	state="MemFree $(($(mem_kib MemFree) / 1024)) MiB, Cached $(($(mem_kib Cached) / 1024)) MiB, SReclaimable $(($(mem_kib SReclaimable) / 1024)) MiB, anon held $((anon_mib / 512)) MiB in ${anon_mib} MiB"
}

unfragment() {
	[ -n "$frag_pid" ] && kill "$frag_pid" 2>/dev/null || true
	wait "$frag_pid" 2>/dev/null || true
	frag_pid=""
}

# run METHOD: reserve $pages; sets got, ms, note
run() {
	local t0 t1 out rc=0
	note=""
	rm -rf "$HOSTTUNE_RUNTIME_DIR"/*
	t0=$(now_ns)
	case $1 in
	plain) sh -c "echo $pages > $nr" ;;
	hugeadm) out=$(hugeadm --pool-pages-min "2MB:$pages" 2>&1) || rc=$? ;;
	hosttune-compact | hosttune-drop-caches)
		out=$(echo "hugepages knob=hugepages-2048kB page_size=2M pages=$pages reclaim=${1#hosttune-} timeout=30s" |
			"$helper" - 2>/dev/null) || rc=$?
		;;
	esac
	t1=$(now_ns)
	got=$(cat $nr)
	ms=$(((t1 - t0) / 1000000))
	case $1 in
	hugeadm) note="exit $rc${out:+: $(echo "$out" | head -n1 | cut -c1-80)}" ;;
	hosttune-*) note="exit $rc, $(echo "$out" | cut -f1): $(echo "$out" | cut -f4 | sed 's/^hugepages-2048kB: //')" ;;
	esac
}

methods="plain hugeadm hosttune-compact hosttune-drop-caches"
echo "# Hugepage reservation, $(nproc) CPUs, $((total_kib / 1024 / 1024)) GiB RAM, kernel $(uname -r)"
only=${BENCH_ONLY:-}
if [ "$only" != fragmented ]; then
echo
echo "## Clean host: $pages x 2 MiB ($((pages * 2 / 1024)) GiB), $runs runs per method"
echo
echo "Before every run (hyperfine --prepare): pool emptied, caches dropped, memory compacted, the"
echo "programs run once so none is timed loading from disk. Wall time of the whole command."
echo
# Each command as hyperfine runs it (no shell: -N); the steps file stands for a planned policy.
echo "hugepages knob=hugepages-2048kB page_size=2M pages=$pages reclaim=compact timeout=30s" >"$scratch/compact.steps"
echo "hugepages knob=hugepages-2048kB page_size=2M pages=$pages reclaim=drop-caches timeout=30s" >"$scratch/drop.steps"
: >"$scratch/empty.steps"
printf '[policy]\nname = bench\n[hugepages]\npool = %s\nreclaim = compact\n' "$pages" >"$scratch/policy.ini"
prepare="sh -c 'echo 0 > $nr; sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory; rm -rf $HOSTTUNE_RUNTIME_DIR/*; hugeadm --pool-list >/dev/null; $build/hosttune --version >/dev/null; $helper $scratch/empty.steps; rm -rf $HOSTTUNE_RUNTIME_DIR/*'"
cli=()
[ $with_cli = yes ] && cli=(-n "hosttune apply --policy" "$build/hosttune apply --policy $scratch/policy.ini")
hyperfine -N -r "$runs" --prepare "$prepare" --export-json "$scratch/clean.json" --style none \
	-n plain "sh -c 'echo $pages > $nr'" \
	-n hugeadm "hugeadm --pool-pages-min 2MB:$pages" \
	-n hosttune-compact "$helper $scratch/compact.steps" \
	-n hosttune-drop-caches "$helper $scratch/drop.steps" "${cli[@]}" >/dev/null 2>&1
got=$(cat $nr)
python3 - "$scratch/clean.json" "$pages" "$got" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["results"]
plain = d[0]["median"]
print("| method | median ms | mean ± sd ms | vs plain (median) |")
print("|---|---|---|---|")
for r in d:
    print("| %s | %.1f | %.1f ± %.1f | %.2fx |" % (r["command"], r["median"] * 1e3, r["mean"] * 1e3, r["stddev"] * 1e3, r["median"] / plain))
print()
print("Pages in the pool after the last run: %s of %s." % (sys.argv[3], sys.argv[2]))
PY
fi
[ "$only" = clean ] && exit 0
echo
echo "## Fragmented host: $frag_pages x 2 MiB ($((frag_pages * 2 / 1024)) GiB), one run per method, each from a freshly fragmented state"
echo
echo "| method | pages obtained | % | ms | state before | result |"
echo "|---|---|---|---|---|---|"
pages=$frag_pages
for m in $methods; do
	fragmented_host
	run "$m"
	unfragment
	echo "| $m | $got of $pages | $((got * 100 / pages)) | $ms | $state | $note |"
done
clean_host
