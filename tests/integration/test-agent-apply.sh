#!/bin/bash
# SPDX-License-Identifier: MIT
# hosttuned applying a real policy on this kernel: sysctls and a hugepage pool. STATUS= shows
# progress while the pool is reserved; READY=1 comes only after it; Apply(true) plans and
# Apply(false) applies over D-Bus; Revert() restores the originals. Crash: the agent is killed
# with SIGKILL between two steps, started again, completes from the journal: the first originals stay recorded once, nothing already done is applied again, and a
# revert restores exactly what was there before. Readings: sysctl(8) and /sys.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd sysctl gdbus
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -w $hp ] || skip "no 2 MiB hugepage pool on this kernel"
kernel_lock

b_swap=$(sysctl -n vm.swappiness)
b_dirty=$(sysctl -n vm.dirty_expire_centisecs)
b_pool=$(cat $hp)
defer "sysctl -qw vm.swappiness=$b_swap vm.dirty_expire_centisecs=$b_dirty; echo $b_pool > $hp"
w_swap=$((b_swap == 41 ? 42 : 41))
w_dirty=$((b_dirty == 2999 ? 2998 : 2999))
w_pool=$((b_pool + 32))

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = apply-test

[readiness]
require = hugepages=64M

[hugepages]
size = 2M
pool = $((w_pool * 2))M

[sysctl]
vm.swappiness = $w_swap
vm.dirty_expire_centisecs = $w_dirty

[agent]
reprobe-interval = 0
EOF

start_bus system
start_notify_listener
journal=$AGENT_RUN/journal.json

# --- crash between steps: the executor kills the process once step 1 finished. The shipped
# hosttuned has no fault point (killing it from outside cannot land reliably between two steps
# that take microseconds), so this run is tests/helpers/hosttuned-fault: hosttuned's own objects
# (its main.o with main renamed, every other agent object, the same library) and a main() that
# sets the executor's test seam first.
rc=0
NOTIFY_SOCKET=$AGENT_NOTIFY_SOCKET timeout 120 "$HOSTTUNE_BUILD/tests/helpers/hosttuned-fault" \
	--fault-after-step 1 \
	--bus "$BUS_ADDR" --runtime-dir "$AGENT_RUN" --policy "$policy" >>"$T_TMP/agent.log" 2>&1 || rc=$?
assert_eq "hosttuned killed by the fault point" 137 $rc
assert_eq "no READY=1 from the killed agent" 0 "$(notify_count READY=1)"
[ -s "$journal" ] || fail "no journal after the kill"
changed=0
[ "$(sysctl -n vm.swappiness)" = "$w_swap" ] && changed=$((changed + 1))
[ "$(sysctl -n vm.dirty_expire_centisecs)" = "$w_dirty" ] && changed=$((changed + 1))
[ "$(cat $hp)" = "$w_pool" ] && changed=$((changed + 1))
assert_eq "knobs changed before the kill" 1 $changed

# --- restart: completes from where it was; READY=1 only after the pool is reserved
start_agent --policy "$policy"
assert_eq "swappiness applied" "$w_swap" "$(sysctl -n vm.swappiness)"
assert_eq "dirty_expire_centisecs applied" "$w_dirty" "$(sysctl -n vm.dirty_expire_centisecs)"
assert_eq "pool reserved before READY=1" "$w_pool" "$(cat $hp)"
assert_eq "Ready" "b true" "$(agent_prop Ready)"
grep -P "^STATUS=Applying" "$NOTIFY_LOG" | grep_all -q . || fail "no STATUS=Applying while applying"
grep -i "hugepages" "$NOTIFY_LOG" | grep_all -q "STATUS=" || fail "no STATUS= about the hugepage reservation: $(cat "$NOTIFY_LOG")"
ok "STATUS= progress during the reservation: $(grep -i hugepages "$NOTIFY_LOG" | tail -n1 | cut -c1-100)"
# The step done before the kill was not applied again: the restarted agent's apply had only the
# other two, and the journal holds each knob once, with the value from before the first apply.
rep=$(agent_doc GetReport)
assert_eq "steps in the apply after the restart" 2 "$(echo "$rep" | jq_py "len(d['last_apply']['plan'])")"
python3 - "$journal" "$b_swap" "$b_dirty" "$b_pool" <<'EOF' || fail "journal: $(cat "$journal")"
import json, sys
j = json.load(open(sys.argv[1]))
entries = j["entries"] if isinstance(j, dict) else j
objs = [e["object"] for e in entries]
assert len(objs) == len(set(objs)), objs
orig = {e["label"]: e.get("original") for e in entries}
assert orig.get("vm.swappiness") == sys.argv[2], orig
assert orig.get("vm.dirty_expire_centisecs") == sys.argv[3], orig
assert any(v == sys.argv[4] for k, v in orig.items() if "hugepages" in k), orig
EOF
ok "journal: each knob once, with the original from before the first apply"

# --- Apply over D-Bus: nothing to do now; after someone changes a knob, it is put back
out=$(agent_doc Apply b true)
assert_eq "Apply(true) on a matching host plans nothing" 0 "$(echo "$out" | jq_py "len(d['plan'])")"
sysctl -qw vm.swappiness="$b_swap"
out=$(agent_doc Apply b true)
assert_eq "Apply(true) plans the swappiness step" vm.swappiness "$(echo "$out" | jq_py "','.join(s['knob'] for s in d['plan'])")"
assert_eq "a dry run changes nothing" "$b_swap" "$(sysctl -n vm.swappiness)"
out=$(agent_doc Apply b false)
assert_eq "Apply(false) reports the step applied" applied "$(echo "$out" | jq_py "d['results'][0]['outcome']")"
assert_eq "Apply(false) put swappiness back" "$w_swap" "$(sysctl -n vm.swappiness)"

# --- Revert over D-Bus restores every original
agent_call Revert >/dev/null
assert_eq "swappiness after Revert" "$b_swap" "$(sysctl -n vm.swappiness)"
assert_eq "dirty_expire_centisecs after Revert" "$b_dirty" "$(sysctl -n vm.dirty_expire_centisecs)"
assert_eq "pool after Revert" "$b_pool" "$(cat $hp)"
[ ! -e "$journal" ] || [ "$(jq_py "len(d['entries'] if isinstance(d, dict) else d)" <"$journal")" = 0 ] ||
	fail "journal not empty after Revert: $(cat "$journal")"
ok "journal empty after Revert"
free=$(cat ${hp%/nr_hugepages}/free_hugepages)
assert_eq "Ready after Revert (as the pool's free pages say)" "b $([ "$free" -ge 32 ] && echo true || echo false)" \
	"$(agent_prop Ready)"

# --- revert-on-stop: re-apply, then SIGTERM puts the originals back
sed -i 's/^reprobe-interval = 0$/reprobe-interval = 0\nrevert-on-stop = yes/' "$policy"
agent_call Reload >/dev/null
assert_eq "re-applied by Reload after Revert" "$w_swap" "$(sysctl -n vm.swappiness)"
stop_agent
assert_eq "swappiness after stop with revert-on-stop" "$b_swap" "$(sysctl -n vm.swappiness)"
assert_eq "pool after stop with revert-on-stop" "$b_pool" "$(cat $hp)"
