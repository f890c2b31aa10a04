#!/bin/bash
# SPDX-License-Identifier: MIT
# The agent's memory after a flood of waiting lease requests: 10,000 AcquireLease calls that may
# wait (from 200 bus connections of one helper, max-waiting-per-uid raised to let them all in)
# against a 2 MiB pool that a held lease fills. They wait (the queue gauge of the metrics says
# 10,000), then their caller leaves; the agent's VmRSS (/proc/PID/status, not the agent's own
# account) must come back near where it was before the flood: within 2 MiB, or a tenth of what
# the flood added. Before the agent trimmed its heap once the queue drained, it stayed up
# (issue 14: 4 MB to 52 MB, for good).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
# ASan's allocator quarantines freed memory and never gives it back by malloc_trim: VmRSS says
# nothing about the agent's heap in a sanitizer build.
[ -z "${HOSTTUNE_SANITIZE:-}" ] || skip "a sanitizer build: ASan's allocator keeps freed memory in quarantine"
need_pool_2m
kernel_lock
N=${LEASE_WAITERS:-10000}
b_nr=$(cat $hp)
defer "echo $b_nr > $hp"
echo 0 >$hp

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF2
[policy]
name = lease-queue-memory
[hugepages]
size = 2M
pool = 4M
max = 4M
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
max-waiting-per-uid = $N
EOF2
start_bus open
start_notify_listener
start_agent --policy "$policy"
PS='page_size_bytes="2097152"'
metric() { prom_metric "$@"; }
rss() { awk '$1 == "VmRSS:" {print $2}' "/proc/$AGENT_PID/status"; }

full=$(acquire_id --hugepages 4M --label fills-the-pool)
# One small round first, so that what every later request reuses (bus buffers, the metrics
# text) is in the starting figure.
"$HELPERS/lease-cycle" --address "$BUS_ADDR" --waiters 100 --wait 600 --hugepages 2097152 \
	>"$T_TMP/warm.log" &
warm=$!
defer "kill $warm 2>/dev/null"
wait_for "100 warm-up requests to wait" '[ "$(metric "hosttune_lease_requests_waiting{$PS}")" = 100 ]'
kill $warm
wait $warm 2>/dev/null || true
wait_for "the warm-up requests to leave" '[ "$(metric "hosttune_lease_requests_waiting{$PS}")" = 0 ]'
start_rss=$(rss)

"$HELPERS/lease-cycle" --address "$BUS_ADDR" --waiters "$N" --wait 600 --hugepages 2097152 \
	>"$T_TMP/flood.log" 2>&1 &
flood=$!
defer "kill $flood 2>/dev/null"
# Not wait_for: sending and queueing 10,000 calls takes longer than its bound on a loaded machine.
for ((i = 0; i < 6000; i++)); do
	[ "$(metric "hosttune_lease_requests_waiting{$PS}")" = "$N" ] && break
	kill -0 $flood 2>/dev/null || fail "the flood helper exited: $(cat "$T_TMP/flood.log")"
	sleep 0.1
done
assert_eq "requests waiting (metrics)" "$N" "$(metric "hosttune_lease_requests_waiting{$PS}")"
peak_rss=$(rss)
kill $flood
wait $flood 2>/dev/null || true
wait_for "the queue to drain" '[ "$(metric "hosttune_lease_requests_waiting{$PS}")" = 0 ]'
assert_eq "abandoned requests (metrics)" $((N + 100)) \
	"$(metric "hosttune_lease_requests_abandoned_total{$PS}")"
end_rss=$(rss)
echo "VmRSS: $start_rss KiB before, $peak_rss KiB with $N waiting, $end_rss KiB after"
grown=$((peak_rss - start_rss))
allowed=$((grown / 10 > 2048 ? grown / 10 : 2048))
[ "$grown" -gt 0 ] || fail "the flood did not grow the agent ($start_rss -> $peak_rss KiB)"
[ $((end_rss - start_rss)) -le $allowed ] ||
	fail "VmRSS stayed up: $start_rss -> $peak_rss -> $end_rss KiB (allowed +$allowed KiB)"
ok "VmRSS back near its start: $start_rss -> $peak_rss -> $end_rss KiB"
ht_lease release "$full" >/dev/null
finish_agent
