#!/bin/bash
# Benchmark (not a test: no thresholds): reserving N 2 MiB hugepages, side by side in one run,
#   plain      sh -c 'echo N > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages'
#   hugeadm    hugeadm --pool-pages-min 2MB:N                       (libhugetlbfs-bin)
#   hosttune   the hugepage applier through the executor `hosttune apply` runs
#              (tests/helpers/apply-steps), reclaim=compact and reclaim=drop-caches
# on a clean host (caches dropped, memory compacted) and on a host this script fragments:
# anonymous memory with one 4 KiB page kept per 2 MiB, millions of cached dentries, and page
# cache filling most of RAM. Reports pages obtained and wall time; prints a Markdown table.
# Usage: bench/apply-hugepages.sh [BUILD_DIR]  (as root)
# Environment: BENCH_PAGES (default: a third of RAM), BENCH_RUNS (clean-host runs, default 5),
# BENCH_DIR (scratch directory on a disk file system, default /var/tmp/hosttune-bench).
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
runs=${BENCH_RUNS:-5}
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
	rm -rf "$HOSTTUNE_RUNTIME_DIR" "$scratch/dentries" "$scratch/cache.img"
}
trap cleanup EXIT
# The journal on tmpfs, as /run/hosttune is in production.
export HOSTTUNE_RUNTIME_DIR=/run/hosttune-bench-$$

now_ns() { date +%s%N; }

clean_host() {
	echo 0 >$nr
	sync
	echo 3 >/proc/sys/vm/drop_caches
	echo 1 >/proc/sys/vm/compact_memory
}

# Fragment: anonymous memory first (most of what is free), dentries, then holes punched into
# the anonymous memory, then page cache that fills the holes.
fragmented_host() {
	local free_kib anon_mib cache_gib
	clean_host
	free_kib=$(mem_kib MemFree)
	anon_mib=$((free_kib * 45 / 100 / 1024))
	cache_gib=$((total_kib * 75 / 100 / 1024 / 1024))
	[ -f "$scratch/cache.img" ] || fallocate -l "${cache_gib}G" "$scratch/cache.img"
	mkdir -p "$scratch/dentries"
	coproc FRAG { "$scratch/fragment-memory" "$anon_mib" 3000000 "$scratch/dentries"; }
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
	rm -rf "$HOSTTUNE_RUNTIME_DIR"
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
echo "# Hugepage reservation: $pages x 2 MiB ($((pages * 2 / 1024)) GiB) on $(nproc) CPUs, $((total_kib / 1024 / 1024)) GiB RAM, kernel $(uname -r)"
echo
echo "## Clean host (caches dropped, memory compacted), median of $runs runs"
echo
echo "| method | pages obtained | median ms | runs (ms) |"
echo "|---|---|---|---|"
for m in $methods; do
	times=()
	gots=()
	for _ in $(seq "$runs"); do
		clean_host
		run "$m"
		times+=("$ms")
		gots+=("$got")
	done
	median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
	echo "| $m | $(printf '%s\n' "${gots[@]}" | sort -n | uniq | xargs | tr ' ' '/') of $pages | $median | ${times[*]} |"
done
echo
echo "## Fragmented host, one run per method, each from a freshly fragmented state"
echo
echo "| method | pages obtained | % | ms | state before | result |"
echo "|---|---|---|---|---|---|"
for m in $methods; do
	fragmented_host
	run "$m"
	unfragment
	echo "| $m | $got of $pages | $((got * 100 / pages)) | $ms | $state | $note |"
done
clean_host
