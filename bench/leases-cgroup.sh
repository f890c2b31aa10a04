#!/bin/bash
# SPDX-License-Identifier: MIT
# Hugepage lease acquire + release over D-Bus with and without enforcement (a cgroup made, the
# caller moved in, the cgroup removed once it left), and the same over the lease socket
# (lease.sock: one connection per lease), side by side: docs/bench/leases.md, "Enforced hugepage
# leases" and "Over the lease socket". Needs root, cgroup v2 with the hugetlb controller and a 2 MiB pool the
# machine can give 16 MiB to; run it alone (the shared lock of the tests): it sets the pool and
# turns hugetlb on, and puts both back.
#
#   bench/leases-cgroup.sh [BUILD_DIR]    (BENCH_ROUNDS, default 400)
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
cycle=$build/tests/helpers/lease-cycle
rounds=${BENCH_ROUNDS:-400}
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
[ -x "$cycle" ] && [ -x "$build/hosttuned" ] || { echo "build first: make all unit-bins" >&2; exit 1; }
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
b_nr=$(cat $hp)
work=$(mktemp -d /dev/shm/hosttune-bench-cgroup.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "$b_nr" >$hp
	rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$work/bus.socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$work/bus.conf" --nofork --nopidfile --print-address=3 3>"$work/address" &
pids+=($!)
while [ ! -s "$work/address" ]; do sleep 0.05; done
addr=$(head -n1 "$work/address")
printf '[policy]\nname = bench-cgroup\n[hugepages]\nsize = 2M\npool = 16M\nmax = 16M\n[agent]\nreprobe-interval = 0\n' \
	>"$work/policy.ini"
mkdir "$work/run"
"$build/hosttuned" --bus "$addr" --runtime-dir "$work/run" --policy "$work/policy.ini" \
	>"$work/agent.log" 2>&1 &
agent=$!
pids+=($agent)
for _ in $(seq 200); do
	busctl --address="$addr" get-property org.hosttune.Agent1 /org/hosttune/Agent1 \
		org.hosttune.Agent1 Ready >/dev/null 2>&1 && break
	sleep 0.05
done
grep -q "enforced by the cgroups" "$work/agent.log" || { cat "$work/agent.log" >&2; exit 1; }

field() { echo "$1" | tr ' ' '\n' | awk -v k="$2" 'prev == k { print; exit } { prev = $0 }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
# Alternate the kinds in blocks, so drift of the machine meets all of them.
sock=$work/run/lease.sock
for turn in 1 2; do
	plain[$turn]=$("$cycle" --address "$addr" --count "$rounds" --hugepages 2M)
	enforced[$turn]=$("$cycle" --address "$addr" --count "$rounds" --hugepages 2M --enforce)
	sock_plain[$turn]=$("$cycle" --socket "$sock" --count "$rounds" --hugepages 2M)
	sock_enforced[$turn]=$("$cycle" --socket "$sock" --count "$rounds" --hugepages 2M --enforce)
done
echo "| kind | turn | acquire median | acquire p99 | acquire+release median | acquire+release p99 |"
echo "|---|---|---|---|---|---|"
for turn in 1 2; do
	for kind in plain enforced sock_plain sock_enforced; do
		declare -n out=$kind
		echo "| $kind | $turn | $(ms "$(field "${out[$turn]}" acquire_median_usec)") ms | $(ms "$(field "${out[$turn]}" acquire_p99_usec)") ms | $(ms "$(field "${out[$turn]}" cycle_median_usec)") ms | $(ms "$(field "${out[$turn]}" cycle_p99_usec)") ms |"
	done
done
kill -TERM "$agent"
wait "$agent" 2>/dev/null || true
echo "agent log: $(grep -c 'limited to its hugepages' "$work/agent.log") enforced grants;" \
	"lease cgroups left: $(find /sys/fs/cgroup -path '*hosttune*' -type d | wc -l)"
