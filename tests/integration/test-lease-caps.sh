#!/bin/bash
# SPDX-License-Identifier: MIT
# The per-uid caps of leases ([agent] max-leases-per-uid, max-waiting-per-uid), with hosttuned on
# a private bus and a 2 MiB pool of 4 pages: a uid at its lease cap, and one at its cap of waiting
# requests, get org.hosttune.Error.LimitExceeded naming the key, while another uid is served;
# a request larger than the pool may ever hold gets org.hosttune.Error.ExceedsPool, and
# `hosttune run` exits 125 for it (not 75: asking again cannot help).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_cmd gdbus
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -w $hp ] || skip "no 2 MiB hugepage pool on this kernel"
kernel_lock
b_nr=$(cat $hp)
defer "echo $b_nr > $hp"

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = lease-caps
[hugepages]
size = 2M
pool = 8M
max = 8M
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
max-leases-per-uid = 2
max-waiting-per-uid = 1
EOF
start_bus open
start_notify_listener
start_agent --policy "$policy"
M=1048576

# --- root: two leases, then the cap
a=$(acquire_id --hugepages 2M --label a)
b=$(acquire_id --hugepages 2M --label b)
expect_error org.hosttune.Error.LimitExceeded gacq "{'hugepages': <uint64 $((2 * M))>}"
out=$(gacq "{'hugepages': <uint64 $((2 * M))>}" 2>&1 || true)
grep -q "uid 0 holds 2 leases: \[agent\] max-leases-per-uid = 2" <<<"$out" || fail "message: $out"
ok "a third lease of uid 0 is refused, naming max-leases-per-uid"

# --- uid daemon: one request waits (6M, 2 pages free); a second one is refused
# (the array, not the function: $! must be the command's pid, not a subshell's)
"${AS_MEMBER[@]}" "$HOSTTUNE" lease acquire --bus "$BUS_ADDR" --hugepages 6M --wait 30 \
	--label waiter >"$T_TMP/waiter.log" 2>&1 &
waiter=$!
defer "kill $waiter 2>/dev/null"
wait_for "the agent to log the waiting request" 'grep -q "waits" "$T_TMP/agent.log"'
rc=0
out=$(as_member "$HOSTTUNE" lease acquire --bus "$BUS_ADDR" --hugepages 2M --wait 30 2>&1) || rc=$?
grep -q "uid $(id -u daemon) has 1 request waiting: \[agent\] max-waiting-per-uid = 1" <<<"$out" ||
	fail "the second waiting request of daemon: rc $rc: $out"
assert_eq "hosttune lease acquire past the waiting cap: exit status" 1 $rc
# Root is under its own caps, not daemon's: releasing one of its leases is fine, and the
# waiting request of daemon gets the pages.
ht_lease release "$a" >/dev/null
ht_lease release "$b" >/dev/null
wait_for "daemon's waiting request to be granted" 'grep -q "^lease " "$T_TMP/waiter.log"'
ok "the waiting request was served once pages came back"
kill $waiter
wait $waiter 2>/dev/null || true

# --- more than the pool may ever hold: ExceedsPool, and hosttune run exits 125
expect_error org.hosttune.Error.ExceedsPool gacq "{'hugepages': <uint64 $((16 * M))>}"
rc=0
out=$(ht_run --hugepages 16M -- true 2>&1) || rc=$?
assert_eq "hosttune run asking more than the pool may ever hold: exit status" 125 $rc
grep -q "more than the pool may ever hold" <<<"$out" || fail "hosttune run: $out"
finish_agent
