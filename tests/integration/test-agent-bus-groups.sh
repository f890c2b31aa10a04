#!/bin/bash
# SPDX-License-Identifier: MIT
# The shipped bus policy (agent/org.hosttune.Agent1.conf) and the agent's own check together, on a
# private bus with the system bus's default policy: a member of the group the policy in force
# names as [agent] lease-group ("kvm", as the microvm-ci profile does) may Reload; a caller in
# no admitted group is stopped by the bus (org.freedesktop.DBus.Error.AccessDenied); a member of
# a group the bus admits but the policy does not name is stopped by the agent
# (org.hosttune.Error.AccessDenied). Each refusal leaves Generation unchanged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd gdbus setpriv getent groupadd groupdel

# The group must exist before the bus reads its policy (dbus-daemon resolves names at load).
if ! getent group kvm >/dev/null; then
	groupadd --system kvm
	defer "groupdel kvm"
fi
kvm_gid=$(getent group kvm | cut -d: -f3)
users_gid=$(getent group users | cut -d: -f3) || skip "no group 'users'"

policy=$T_TMP/policy.ini
write_policy() { # NAME LEASE-GROUP
	printf '[policy]\nname = %s\n\n[readiness]\nrequire = tun\n\n[agent]\nlease-group = %s\n' \
		"$1" "$2" >"$policy"
}
write_policy groups-1 kvm

start_bus system
start_notify_listener
start_agent --policy "$policy"

# Reload as nobody with exactly one supplementary group (gdbus names the error it gets).
reload_as() {
	setpriv --reuid=nobody --regid=nogroup --groups="$1" gdbus call --address "$BUS_ADDR" \
		--dest org.hosttune.Agent1 --object-path /org/hosttune/Agent1 \
		--method org.hosttune.Agent1.Reload
}

assert_eq "Generation at start" "t 1" "$(agent_prop Generation)"
assert_eq "a kvm member's Reload (lease-group = kvm)" "(uint64 2,)" "$(reload_as "$kvm_gid")"
assert_eq "Generation after it" "t 2" "$(agent_prop Generation)"

# users is admitted by neither the bus policy nor the agent's policy: the bus answers.
expect_error org.freedesktop.DBus.Error.AccessDenied reload_as "$users_gid"
assert_eq "Generation after the refused Reload" "t 2" "$(agent_prop Generation)"

# The policy now names users: the bus still lets kvm members through, the agent refuses them.
write_policy groups-2 users
assert_eq "root's Reload to lease-group = users" "t 3" "$(agent_call Reload)"
expect_error org.hosttune.Error.AccessDenied reload_as "$kvm_gid"
assert_eq "Generation after the agent's refusal" "t 3" "$(agent_prop Generation)"
