#!/bin/bash
# SPDX-License-Identifier: MIT
# Hugepage leases on this machine's 2 MiB pool, with hosttuned on a private bus: a consumer that
# maps its leased bytes the way Firecracker maps guest memory (MAP_HUGETLB | MAP_NORESERVE) and
# touches every page gets them (no SIGBUS; /proc/meminfo shows them in use); 16 `hosttune run`
# compete for a pool that fits 8 and all finish with --wait, never more than 8 at once (counted
# by the commands themselves under flock) and never more leased than the pool holds (sampled
# against /proc/meminfo); the pool grows on demand up to max and shrinks back when idle; requests
# that cannot be met fail with the numbers; the agent killed with SIGKILL keeps its accounting.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_cmd flock
need_pool_2m
kernel_lock

b_nr=$(cat $hp)
defer "echo $b_nr > $hp"
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
used() { echo $(($(meminfo HugePages_Total) - $(meminfo HugePages_Free))); }
leased() { agent_prop HugePagesLeased | awk '{print $2}'; }
out=$T_TMP/out
mkdir -m 0777 "$out"

# A pool of 4 pages that leases may grow to 16: 8 leases of 2 pages at most.
policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = lease-hugepages
[hugepages]
size = 2M
pool = 8M
max = 32M
reclaim = compact
timeout = 20s
shrink-after = 1s
[agent]
reprobe-interval = 0
EOF
start_bus open
start_notify_listener
start_agent --policy "$policy"
assert_eq "pool after the first apply (nr_hugepages)" 4 "$(cat $hp)"

# --- a consumer that really uses the pages
used0=$(used)
touch "$out/hold"
"$HOSTTUNE" run --bus "$BUS_ADDR" --hugepages 16M --label guest -- \
	"$HELPERS/hugepage-touch" --ready "$out/ready" --hold "$out/hold" >"$out/guest.log" 2>&1 &
guest=$!
wait_for "the consumer to touch its pages" 'test -e "$out/ready"'
assert_eq "pool grown for the lease (nr_hugepages)" 8 "$(cat $hp)"
assert_eq "pages in use while it runs (/proc/meminfo Total - Free)" $((used0 + 8)) "$(used)"
assert_eq "HugePagesLeased while it runs" 16777216 "$(leased)"
assert_eq "HugePagesTotal (bytes) = /proc/meminfo" $(($(meminfo HugePages_Total) * 2097152)) \
	"$(agent_prop HugePagesTotal | awk '{print $2}')"
rm "$out/hold"
rc=0
wait $guest || rc=$?
assert_eq "exit status of the consumer (135 would be SIGBUS)" 0 $rc
grep -q "touched 8 pages of 2097152 bytes" "$out/guest.log" || fail "consumer: $(cat "$out/guest.log")"
assert_eq "pages in use after it ended" "$used0" "$(used)"
assert_eq "HugePagesLeased after it ended" 0 "$(leased)"
wait_for "the idle pool to shrink back to its 4 pages" '[ "$(cat '$hp')" = 4 ]'
ok "pool shrank back after shrink-after"

# --- an Apply asked for while a lease job grows the pool runs after it, not beside it: the job
# waits here for the revert journal, which another process holds for a moment
flock "$AGENT_RUN/journal.lock" sleep 2 &
holder=$!
wait_for "the journal lock to be held" '! flock -n "$AGENT_RUN/journal.lock" true'
"$HOSTTUNE" run --bus "$BUS_ADDR" --hugepages 12M -- true &
grower=$!
wait_for "the growth to wait for the journal" 'grep -q "growing hugepages-2048kB from 4 to 6 pages" "$T_TMP/agent.log"'
plan=$(agent_doc Apply b false)
assert_eq "Apply(false) during the growth: steps it ran" 0 "$(echo "$plan" | jq_py 'len(d["plan"])')"
rc=0
wait $grower || rc=$?
assert_eq "exit status of the run the pool grew for" 0 $rc
wait $holder
grep -q "Apply() waits for its turn: a lease resize is under way" "$T_TMP/agent.log" ||
	fail "Apply() did not wait for the lease job: $(tail -n 5 "$T_TMP/agent.log")"
ok "Apply() waited for the lease job's journal"
wait_for "the idle pool to shrink back again" '[ "$(cat '$hp')" = 4 ]'

# --- 16 runs compete for 8 places
c=$out/count
echo 0 >"$c"
echo 0 >"$c.max"
cat >"$T_TMP/vm.sh" <<EOF
set -e
exec 8>"$c.lock"
flock 8
n=\$((\$(cat "$c") + 1)); echo \$n >"$c"
[ \$n -le \$(cat "$c.max") ] || echo \$n >"$c.max"
flock -u 8
echo "\$HOSTTUNE_HUGEPAGES \$HOSTTUNE_HUGEPAGE_SIZE" >>"$c.env"
"$HELPERS/hugepage-touch" --hold-ms 300 >/dev/null
flock 8
echo \$((\$(cat "$c") - 1)) >"$c"
EOF
touch "$out/sampling"
(
	while [ -e "$out/sampling" ]; do
		t1=$(meminfo HugePages_Total)
		l=$(leased)
		t2=$(meminfo HugePages_Total)
		echo "$l $t1 $t2" >>"$out/samples"
	done
) &
sampler=$!
pids=()
for i in $(seq 1 16); do
	"$HOSTTUNE" run --bus "$BUS_ADDR" --hugepages 4M --wait 120 --label "vm$i" -- bash "$T_TMP/vm.sh" &
	pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
rm "$out/sampling"
wait $sampler
assert_eq "runs that failed" 0 $failed
assert_eq "environment of every run" "16 x 4194304 2097152" "$(sort "$c.env" | uniq -c | awk '{print $1 " x " $2 " " $3}')"
max=$(cat "$c.max")
[ "$max" -le 8 ] || fail "$max runs held hugepages at once; the pool fits 8"
ok "at most 8 at once (the commands counted $max under flock)"
python3 - "$out/samples" <<'PY' || fail "leased more than the pool held: $(sort -n "$out/samples" | tail -n 3)"
import sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
assert rows, "no samples"
bad = [r for r in rows if r[0] > max(r[1], r[2]) * 2097152]
assert not bad, bad[:5]
print(f"ok - {len(rows)} samples: HugePagesLeased <= HugePages_Total x 2M in each, up to {max(r[0] for r in rows) >> 20} MiB leased")
PY
assert_eq "HugePagesLeased after the runs" 0 "$(leased)"

# --- what cannot be had: errors with the numbers
rc=0
err=$(ht_run --hugepages 64M -- true 2>&1) || rc=$?
assert_eq "exit status for more than max (not 75: asking again cannot help)" 125 $rc
grep -q "32 pages of 2M) requested; the pool has .* may ever hold" <<<"$err" || fail "message: $err"
expect_error org.hosttune.Error.ExceedsPool gacq "{'hugepages': <uint64 67108864>}"
big=$(acquire_id --hugepages 24M --label big)
rc=0
err=$(ht_run --hugepages 16M -- true 2>&1) || rc=$?
assert_eq "exit status while 24M of 32M are leased" 75 $rc
grep -q "12 promised to leases" <<<"$err" || fail "message: $err"
expect_error org.hosttune.Error.InsufficientHugePages gacq "{'hugepages': <uint64 16777216>}"

# --- the agent killed with SIGKILL: the lease and its pages stay accounted, once
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=
start_agent --policy "$policy"
assert_eq "leases after the restart" "$big big" "$(list_ids)"
assert_eq "HugePagesLeased after the restart" 25165824 "$(leased)"
small=$(acquire_id --hugepages 8M --label small)
assert_eq "pool holding both leases (nr_hugepages)" 16 "$(cat $hp)"
expect_error org.hosttune.Error.InsufficientHugePages gacq "{'hugepages': <uint64 2097152>}"
ht_lease release "$big" >/dev/null
ht_lease release "$small" >/dev/null
assert_eq "HugePagesLeased at the end" 0 "$(leased)"
wait_for "the pool to shrink back to 4 pages" '[ "$(cat '$hp')" = 4 ]'
finish_agent
