#!/bin/bash
# SPDX-License-Identifier: MIT
# hosttuned's own access check, behind a bus that lets everyone call everything (so the agent,
# not the bus policy, answers): nobody gets org.hosttune.Error.AccessDenied for Reload, Apply
# and Revert; nobody with the policy's lease-group as a supplementary group is let in; anyone
# may Check. Also: WATCHDOG=1 keeps coming when WATCHDOG_USEC asks for it, and a policy whose
# lease-group does not exist is rejected at start.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd gdbus getent

group=users
gid=$(getent group $group | cut -d: -f3) || skip "no group '$group' to use as lease-group"

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = access-test

[readiness]
require = tun

[agent]
lease-group = $group
EOF

start_bus open
start_notify_listener
# The watchdog: systemd would set these; sd-event then sends WATCHDOG=1 at half the interval.
WATCHDOG_USEC=400000 start_agent --policy "$policy"

as_nobody() { # as_nobody [setpriv group options...] -- METHOD ARGS...
	local opts=()
	while [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	shift
	setpriv --reuid=nobody --regid=nogroup "${opts[@]}" gdbus call --address "$BUS_ADDR" \
		--dest org.hosttune.Agent1 --object-path /org/hosttune/Agent1 \
		--method "org.hosttune.Agent1.$1" "${@:2}"
}
expect_error org.hosttune.Error.AccessDenied as_nobody --clear-groups -- Reload
expect_error org.hosttune.Error.AccessDenied as_nobody --clear-groups -- Apply true
expect_error org.hosttune.Error.AccessDenied as_nobody --clear-groups -- Revert
out=$(as_nobody --clear-groups -- Reload 2>&1 || true)
grep -q "group '$group'" <<<"$out" || fail "AccessDenied names the group: $out"
ok "AccessDenied says which group would do"
assert_eq "Generation unchanged" "t 1" "$(agent_prop Generation)"

out=$(as_nobody --clear-groups -- Check "@a{sv} {}")
case "$out" in "(true, "* | "(false, "*) ok "nobody may Check" ;; *) fail "Check as nobody: $out" ;; esac

# A member of the lease group (supplementary gid, as the bus daemon reports it) may reload.
out=$(as_nobody --groups="$gid" -- Reload)
assert_eq "Reload by a member of $group" "(uint64 2,)" "$out"
out=$(as_nobody --groups="$gid" -- Apply true)
case "$out" in "('{"*) ok "Apply(dry_run) by a member of $group returns a plan" ;; *) fail "Apply: $out" ;; esac

# The watchdog pings keep coming while the agent idles.
wait_for "two WATCHDOG=1" '[ "$(notify_count WATCHDOG=1)" -ge 2 ]'
ok "WATCHDOG=1 sent $(notify_count WATCHDOG=1) times"

# A lease-group that does not exist is a policy error: the agent refuses to start.
stop_agent
sed -i "s/^lease-group = .*/lease-group = no-such-group-$$/" "$policy"
rc=0
NOTIFY_SOCKET=$AGENT_NOTIFY_SOCKET timeout 30 "$HOSTTUNED" --bus "$BUS_ADDR" --runtime-dir "$AGENT_RUN" \
	--policy "$policy" >"$T_TMP/bad.log" 2>&1 || rc=$?
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "hosttuned started with a missing lease-group (rc $rc)"
grep -q "no-such-group-$$" "$T_TMP/bad.log" || fail "the error names the group: $(cat "$T_TMP/bad.log")"
ok "missing lease-group refused: $(tail -n1 "$T_TMP/bad.log" | cut -c1-120)"
