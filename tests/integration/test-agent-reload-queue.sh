#!/bin/bash
# SPDX-License-Identifier: MIT
# Reload() calls that arrive while an apply runs are answered by the reload that runs after that
# apply, with that reload's own result: a broken policy queued behind a reload's apply gets
# org.hosttune.Error.InvalidPolicy (not the earlier reload's generation), a broken policy queued
# behind an Apply() call the same, and two valid Reload()s queued together both get the one new
# generation. An apply is kept running, without timing, by freezing (fsfreeze) the file system
# that holds the policy's snapshot root: the step that makes a slot directory blocks in mkdir
# until the thaw, while the agent's event loop, which only reads there, keeps answering the bus.
# (A hugepage pool kept short by a loop writing 0 to nr_hugepages does not hold an apply: the
# kernel fills the pool within the agent's write, and its read right after sees it full.)
# Replies are read by gdbus (it shows error names), the slot directories by find, the counters
# from the agent's metrics file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd gdbus fsfreeze mkfs.ext4 mount umount

# A file system of our own to freeze (tmpfs cannot be frozen).
mnt=$T_TMP/mnt
truncate -s 64M "$T_TMP/fs.img"
mkfs.ext4 -q "$T_TMP/fs.img"
mkdir "$mnt"
mount -o loop,noatime "$T_TMP/fs.img" "$mnt" || skip "cannot mount an ext4 loop file here"
defer "umount $mnt"

policy=$T_TMP/policy.ini
write_policy() { # NAME SLOTS
	cat >"$policy" <<EOF
[policy]
name = $1

[snapshots]
root = $mnt/snapshots
slots = $2
nocow = no

[agent]
reprobe-interval = 0
EOF
}
# A key [snapshots] does not have, on line 5.
write_broken_policy() {
	printf '[policy]\nname = broken\n\n[snapshots]\nno-such-key = 1\n' >"$policy"
}
slots() { find "$mnt/snapshots/slots" -mindepth 1 -maxdepth 1 | wc -l; }
metric() { awk -v k="$1" '$1 == k {print $2}' "$AGENT_RUN/metrics.prom"; }
rejected() { metric 'hosttune_reloads_total{result="rejected"}'; }
accepted() { metric 'hosttune_reloads_total{result="accepted"}'; }

frozen=0
freeze() {
	fsfreeze -f "$mnt"
	frozen=1
}
thaw() {
	[ $frozen = 0 ] || fsfreeze -u "$mnt"
	frozen=0
}

# call_bg NAME METHOD [ARGS]: the call in the background, its reply (or error) in $T_TMP/NAME.out;
# its pid in PIDS[NAME]. gdbus itself runs with &, not this function, so $! is gdbus's pid.
declare -A PIDS
call_bg() {
	gdbus call --address "$BUS_ADDR" --dest org.hosttune.Agent1 --object-path /org/hosttune/Agent1 \
		--timeout 600 --method "org.hosttune.Agent1.$2" "${@:3}" >"$T_TMP/$1.out" 2>&1 &
	PIDS[$1]=$!
	defer "kill ${PIDS[$1]} 2>/dev/null || true"
}
# reply NAME: wait for that call to end; $REPLY_TEXT is "ok REPLY" or "error MESSAGE". Not for
# $(...): a subshell cannot wait for this shell's children.
reply() {
	local rc=0
	wait "${PIDS[$1]}" || rc=$?
	REPLY_TEXT="$([ $rc = 0 ] && echo ok || echo error) $(cat "$T_TMP/$1.out")"
}
pending() { kill -0 "${PIDS[$1]}" 2>/dev/null; }

start_bus open
start_notify_listener
# The method calls the bus routes to the agent, so the test knows when a call reached it.
start_monitor "type='method_call',path='/org/hosttune/Agent1'" "$T_TMP/calls.json"
calls() { grep -c "\"member\":\"$1\"" "$T_TMP/calls.json" || true; }

write_policy q-1 1
start_agent --policy "$policy"
# Once the monitor shows a Get, it shows every later call.
wait_for "the monitor" 'agent_prop Generation >/dev/null && [ "$(calls Get)" -ge 1 ]'
# From here on the file system may be frozen: thaw before the agent is stopped (it finishes its
# apply first) and before the umount.
defer thaw
assert_eq "Generation after start" "t 1" "$(agent_prop Generation)"
assert_eq "slots after the first apply (find)" 1 "$(slots)"

# received NAME N: wait until the bus routed the Nth NAME call to the agent, then make one round
# trip: the agent reads its connection in order, so it has handled that call when the Get is
# answered.
received() {
	local member=$1 n=$2
	wait_for "$n $member calls routed to the agent" '[ "$(calls "$member")" -ge "$n" ]'
	agent_prop Generation >/dev/null
}

# --- a broken policy queued behind a reload's apply: its own InvalidPolicy, not A's generation
write_policy q-2 2
rejected_before=$(rejected)
freeze
call_bg A Reload
wait_for "reload A to switch to generation 2" '[ "$(agent_prop Generation)" = "t 2" ]'
wait_for "reload A's apply to start (STATUS=)" 'grep -q "STATUS=Applying policy q-2" "$NOTIFY_LOG"'
write_broken_policy
call_bg B Reload
received Reload 2
pending A || fail "reload A was answered while its apply could not end: $(cat "$T_TMP/A.out")"
assert_eq "slots while A's apply is blocked (find)" 1 "$(slots)"
ok "reload B reached the agent while reload A's apply was under way"
thaw
reply A
assert_eq "reply to reload A (its generation)" "ok (uint64 2,)" "$REPLY_TEXT"
reply B
case "$REPLY_TEXT" in
"error "*org.hosttune.Error.InvalidPolicy*"$policy:5"*) ok "reply to reload B: ${REPLY_TEXT:0:160}" ;;
*) fail "reload B: expected org.hosttune.Error.InvalidPolicy naming $policy:5; got: $REPLY_TEXT" ;;
esac
assert_eq "slots after A's apply (find)" 2 "$(slots)"
assert_eq "Generation unchanged by B" "t 2" "$(agent_prop Generation)"
assert_eq "PolicyName unchanged by B" 's "q-2"' "$(agent_prop PolicyName)"
wait_for "the rejection in the metrics" '[ "$(rejected)" = $((rejected_before + 1)) ]'
ok "hosttune_reloads_total{result=\"rejected\"} went up by one: $(rejected)"
# The log: A's policy loaded, B queued, A's slot made, then B's policy rejected.
line() { grep -n -m1 -e "$1" "$T_TMP/agent.log" | cut -d: -f1; }
l_loaded=$(line "policy q-2 .* loaded, generation 2")
l_queued=$(line "reload queued")
l_applied=$(line "applied snapshot slot 2 of 2")
l_rejected=$(line "policy rejected: $policy:5")
[ -n "$l_loaded" ] && [ -n "$l_queued" ] && [ -n "$l_applied" ] && [ -n "$l_rejected" ] &&
	[ "$l_loaded" -lt "$l_queued" ] && [ "$l_queued" -lt "$l_applied" ] &&
	[ "$l_applied" -lt "$l_rejected" ] ||
	fail "agent log order (loaded $l_loaded, queued $l_queued, applied $l_applied, rejected $l_rejected): $(cat "$T_TMP/agent.log")"
ok "the agent's log: q-2 loaded (line $l_loaded), B queued ($l_queued), A's slot made ($l_applied), B rejected ($l_rejected)"

# --- a broken policy queued behind an Apply() call: answered by its own reload too
rmdir "$mnt/snapshots/slots/slot-1"
applying=$(grep -c "STATUS=Applying policy q-2" "$NOTIFY_LOG")
freeze
call_bg apply Apply false
wait_for "the Apply() call's apply to start (STATUS=)" \
	'[ "$(grep -c "STATUS=Applying policy q-2" "$NOTIFY_LOG")" -gt "$applying" ]'
call_bg C Reload
received Reload 3
pending apply || fail "Apply() was answered while its apply could not end: $(cat "$T_TMP/apply.out")"
thaw
reply apply
case "$REPLY_TEXT" in "ok ('"*) ok "Apply() returned its document" ;; *) fail "Apply(): $REPLY_TEXT" ;; esac
reply C
case "$REPLY_TEXT" in
"error "*org.hosttune.Error.InvalidPolicy*"$policy:5"*) ok "reply to reload C: ${REPLY_TEXT:0:160}" ;;
*) fail "reload C: expected org.hosttune.Error.InvalidPolicy naming $policy:5; got: $REPLY_TEXT" ;;
esac
assert_eq "slots after the Apply() (find)" 2 "$(slots)"
assert_eq "Generation unchanged by C" "t 2" "$(agent_prop Generation)"
wait_for "the second rejection in the metrics" '[ "$(rejected)" = $((rejected_before + 2)) ]'

# --- two valid reloads queued behind a reload's apply: one reload serves both
write_policy q-3 3
freeze
call_bg A3 Reload
wait_for "reload A3 to switch to generation 3" '[ "$(agent_prop Generation)" = "t 3" ]'
wait_for "reload A3's apply to start (STATUS=)" 'grep -q "STATUS=Applying policy q-3" "$NOTIFY_LOG"'
write_policy q-4 3
call_bg B1 Reload
call_bg B2 Reload
received Reload 6
pending A3 || fail "reload A3 was answered while its apply could not end: $(cat "$T_TMP/A3.out")"
thaw
reply A3
assert_eq "reply to reload A3" "ok (uint64 3,)" "$REPLY_TEXT"
reply B1
assert_eq "reply to reload B1 (the queued reload's generation)" "ok (uint64 4,)" "$REPLY_TEXT"
reply B2
assert_eq "reply to reload B2 (the same reload)" "ok (uint64 4,)" "$REPLY_TEXT"
assert_eq "Generation" "t 4" "$(agent_prop Generation)"
assert_eq "PolicyName" 's "q-4"' "$(agent_prop PolicyName)"
assert_eq "slots (find)" 3 "$(slots)"
wait_for "the accepted reloads in the metrics" '[ "$(accepted)" = 3 ]'
ok "hosttune_reloads_total{result=\"accepted\"} = 3 (q-2, q-3, q-4)"

finish_agent
