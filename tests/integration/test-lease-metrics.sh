#!/bin/bash
# SPDX-License-Identifier: MIT
# The capacity signals of leases in the metrics file (docs/readiness-outputs.md, "Lease capacity
# signals"), read with the Prometheus client's own parser (prom.py), against what this test did
# and what the kernel says: hosttuned on a private bus with a 2 MiB pool of 2 pages that leases
# may grow to 4. Grants counted against the grants made here; a growth's pages obtained against
# HugePages_Total in /proc/meminfo; refusals by reason (a request that would not wait, one larger
# than the pool may ever hold, one past max-waiting-per-uid); a waiting request in the queue
# gauge and, once served, in the wait summary; one whose caller left counted as abandoned.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_cmd gdbus
/usr/bin/python3 -c "import prometheus_client" 2>/dev/null || skip "needs python3-prometheus-client"
need_pool_2m
kernel_lock
b_nr=$(cat $hp)
defer "echo $b_nr > $hp"
echo 0 >$hp

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF2
[policy]
name = lease-metrics
[hugepages]
size = 2M
pool = 4M
max = 8M
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
max-waiting-per-uid = 1
EOF2
start_bus open
start_notify_listener
start_agent --policy "$policy"
M=1048576
PS='page_size_bytes="2097152"'
prom() { /usr/bin/python3 "$(dirname "$0")/prom.py" "$AGENT_RUN/metrics.prom"; }
metric() { prom_metric "$@"; }
# expect_metric SAMPLE VALUE: wait until the file (written when the agent is idle) says so.
expect_metric() {
	em_sample=$1 em_want=$2 # globals: wait_for evaluates the code with its own $1 and $2
	wait_for "$em_sample = $em_want" '[ "$(metric "$em_sample")" = "$em_want" ]' ||
		fail "$em_sample: $(metric "$em_sample"), not $em_want"
	ok "$1 = $2"
}
meminfo_total() { awk '$1 == "HugePages_Total:" {print $2}' /proc/meminfo; }

prom >/dev/null || fail "the metrics file does not parse: $(cat "$AGENT_RUN/metrics.prom")"
ok "the metrics file parses with prometheus_client and follows the naming conventions"
assert_eq "HugePages_Total after the first apply" 2 "$(meminfo_total)"
[ -z "$(metric "hosttune_lease_requests_granted_total{$PS}")" ] ||
	fail "a page size shows before any request for it"

# --- a grant inside the pool, then one that grows it from 2 to 4 pages
a=$(acquire_id --hugepages 2M --label a)
expect_metric "hosttune_lease_requests_granted_total{$PS}" 1
expect_metric "hosttune_lease_pool_growths_total{$PS,result=\"ok\"}" 0
b=$(acquire_id --hugepages 6M --label b)
expect_metric "hosttune_lease_requests_granted_total{$PS}" 2
assert_eq "HugePages_Total after the growth" 4 "$(meminfo_total)"
expect_metric "hosttune_lease_pool_growths_total{$PS,result=\"ok\"}" 1
expect_metric "hosttune_lease_pool_growths_total{$PS,result=\"fell_short\"}" 0
expect_metric "hosttune_lease_pool_growth_pages_requested_total{$PS}" 2
expect_metric "hosttune_lease_pool_growth_pages_obtained_total{$PS}" $(($(meminfo_total) - 2))
expect_metric "hosttune_lease_pool_growth_duration_seconds_count{$PS}" 1
expect_metric "hosttune_lease_pool_growth_reclaims_total{$PS}" 0
python3 -c 'import sys; v = float(sys.argv[1]); sys.exit(not 0 < v < 60)' \
	"$(metric "hosttune_lease_pool_growth_duration_seconds_sum{$PS}")" ||
	fail "growth duration: $(metric "hosttune_lease_pool_growth_duration_seconds_sum{$PS}")"
ok "the growth took $(metric "hosttune_lease_pool_growth_duration_seconds_sum{$PS}") s"

# --- refusals: no room and no wait; more than the pool may ever hold
expect_error org.hosttune.Error.InsufficientHugePages gacq "{'hugepages': <uint64 $((2 * M))>}"
expect_metric "hosttune_lease_requests_refused_total{$PS,reason=\"insufficient_hugepages\"}" 1
expect_error org.hosttune.Error.ExceedsPool gacq "{'hugepages': <uint64 $((16 * M))>}"
expect_metric "hosttune_lease_requests_refused_total{$PS,reason=\"exceeds_pool\"}" 1
# b waited for the growth; the refused ones waited for nothing
expect_metric "hosttune_lease_requests_waited_total{$PS}" 1

# --- a request that waits: in the queue, then served when a lease ends
# (the command, not ht_lease: a function run with & is a subshell, and $! would be its pid)
"$HOSTTUNE" lease acquire --bus "$BUS_ADDR" --hugepages 2M --wait 60 --label waiter \
	>"$T_TMP/waiter.log" 2>&1 &
waiter=$!
defer "kill $waiter 2>/dev/null"
expect_metric "hosttune_lease_requests_waiting{$PS}" 1
expect_metric "hosttune_lease_requests_queued{$PS}" 1
expect_metric "hosttune_lease_requests_waited_total{$PS}" 2
# root's one waiting request is its cap (max-waiting-per-uid = 1)
expect_error org.hosttune.Error.LimitExceeded gacq "{'hugepages': <uint64 $((2 * M))>, 'wait': <uint32 60>}"
expect_metric "hosttune_lease_requests_refused_total{$PS,reason=\"limit_exceeded\"}" 1
sleep 0.3 # a wait long enough to see in the sum
ht_lease release "$a" >/dev/null
wait_for "the waiter's grant" 'grep -q "^lease " "$T_TMP/waiter.log"'
expect_metric "hosttune_lease_requests_granted_total{$PS}" 3
expect_metric "hosttune_lease_requests_waiting{$PS}" 0
expect_metric "hosttune_lease_requests_queued{$PS}" 0
# every answered request is in the summary: 3 granted + 3 refused
expect_metric "hosttune_lease_wait_seconds_count{$PS}" 6
python3 -c 'import sys; sys.exit(not float(sys.argv[1]) >= 0.3)' \
	"$(metric "hosttune_lease_wait_seconds_sum{$PS}")" ||
	fail "wait sum $(metric "hosttune_lease_wait_seconds_sum{$PS}") s: less than the waiter waited"
ok "wait time summed: $(metric "hosttune_lease_wait_seconds_sum{$PS}") s"

# --- a waiting request whose caller leaves (the waiter's lease keeps the pool full): abandoned
"$HOSTTUNE" lease acquire --bus "$BUS_ADDR" --hugepages 2M --wait 60 --label leaver \
	>/dev/null 2>&1 &
leaver=$!
defer "kill $leaver 2>/dev/null"
expect_metric "hosttune_lease_requests_waiting{$PS}" 1
kill -9 $leaver # (a caller that dies, not one that asks to go)
wait $leaver 2>/dev/null || true
expect_metric "hosttune_lease_requests_abandoned_total{$PS}" 1
expect_metric "hosttune_lease_requests_waiting{$PS}" 0
expect_metric "hosttune_lease_requests_waited_total{$PS}" 3
# counters never go down, the sums did not count the abandoned request
expect_metric "hosttune_lease_wait_seconds_count{$PS}" 6
prom >/dev/null || fail "the metrics file does not parse at the end"
kill $waiter 2>/dev/null || true
wait $waiter 2>/dev/null || true
ht_lease release "$b" >/dev/null
finish_agent
