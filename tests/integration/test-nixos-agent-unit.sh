#!/bin/bash
# SPDX-License-Identifier: MIT
# The NixOS module's hosttune.service, unchanged, with the real agent under a real systemd (PID 1
# of a booted Debian container; for the module's Type=notify-reload the image with systemd 254
# from the suite's backports), with the module's policy (case "container" of
# nixos-module/tests/cases.nix), tmpfiles rules and D-Bus setup: the agent starts and reports
# READY under the module's hardening, makes the policy's taps, writes ready.json, nix.conf and
# the metrics into the textfile directory; `systemctl reload` (notify-reload's SIGHUP, with
# ExecReload = hosttune policy validate) and a busctl Reload reload it in place (same PID,
# Generation + 1 per reload), a changed policy takes effect on
# reload, and a rejected policy fails the reload with file:line and changes nothing.
# HT_MODULE_CASE picks another case of cases.nix (test-nixos-agent-unit-notify.sh: the unit the
# module writes for NixOS before 24.05, Type=notify with ExecReload=hosttune reload).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nixpkgs-lib.sh"
. "$(dirname "$0")/container.sh"
need_cmd python3 nix-instantiate strings
[ -x "$HOSTTUNED" ] && [ -x "$HOSTTUNE_BUS" ] ||
	skip "no build/hosttuned or build/hosttune-bus: the agent (issue 4) is not built on this branch"
need_cmd readelf
readelf -d "$HOSTTUNED" "$HOSTTUNE_BUS" | grep_all -qE 'NEEDED.*lib(a|ub)san' &&
	skip "a sanitizer build: the container has no libasan/libubsan for hosttuned"
find_nixpkgs_lib

module_eval --json --argstr packageDir /opt/hosttune -A good >"$T_TMP/good.json" ||
	fail "evaluating the module failed"
python3 - "$T_TMP/good.json" "$T_TMP" "${HT_MODULE_CASE:-container}" <<'EOF'
import json, sys
c = next(c for c in json.load(open(sys.argv[1])) if c["name"] == sys.argv[3])
unit = c["unit"]
open(f"{sys.argv[2]}/policy.ini", "w").write(c["ini"])
open(f"{sys.argv[2]}/tmpfiles.conf", "w").write("\n".join(c["tmpfiles"]) + "\n")
open(f"{sys.argv[2]}/hosttune.service", "w").write(unit)
for p in c["dbusPolicies"]:
    open(f"{sys.argv[2]}/{p['path'].split('/')[-1]}", "w").write(p["text"])
EOF
ls "$T_TMP"/org.hosttune.Agent1-*.conf >/dev/null 2>&1 || fail "no bus policy for the case's group"
# The module's unit runs unchanged: Type=notify-reload needs systemd >= 253, which the image
# built with bookworm-backports' systemd (254) has.
unit_type=$(sed -n 's/^Type=//p' "$T_TMP/hosttune.service")
if [ "$unit_type" = notify-reload ]; then export CT_SYSTEMD=backports; fi
ct_image "$HOSTTUNED" "$HOSTTUNE_BUS"
ct_prepare
ct_boot
systemd_version=$(in_ct systemctl --version | awk 'NR==1 {print $2}')
[ "$unit_type" != notify-reload ] || [ "$systemd_version" -ge 253 ] ||
	fail "the module's unit is Type=notify-reload; the container has systemd $systemd_version"

# The package where the unit expects it; hosttune-bus where hosttune execs it.
mkdir -p "$CT/opt/hosttune/bin" "$CT/opt/hosttune/sbin"
cp "$HOSTTUNE" "$CT/opt/hosttune/bin/hosttune"
cp "$HOSTTUNED" "$CT/opt/hosttune/sbin/hosttuned"
# (The configured LIBEXECDIR, as compiled into hosttune.)
libexec=$(strings "$HOSTTUNE" | grep -E '^/.*/libexec/hosttune$' | sort -u)
[ "$(echo "$libexec" | wc -l)" = 1 ] || fail "cannot tell hosttune's libexec directory: $libexec"
mkdir -p "$CT$libexec"
cp "$HOSTTUNE_BUS" "$CT$libexec/hosttune-bus"
# users.groups (NixOS activation makes groups before D-Bus reads its policy files, which name
# them: dbus-daemon drops a policy for a group it does not know).
group=$(sed -n 's/^lease-group = //p' "$T_TMP/policy.ini")
in_ct groupadd --system "$group"
in_ct useradd --system --groups "$group" runner
in_ct useradd --system outsider
# services.dbus.packages: the package's bus policy and the one the module made for the group.
cp "$HOSTTUNE_SRC/agent/org.hosttune.Agent1.conf" "$T_TMP"/org.hosttune.Agent1-*.conf \
	"$CT/usr/share/dbus-1/system.d/"
in_ct systemctl reload dbus
# systemd.tmpfiles.rules, environment.etc."hosttune/policy.ini"
cp "$T_TMP/tmpfiles.conf" "$CT/etc/tmpfiles.d/hosttune.conf"
in_ct systemd-tmpfiles --create /etc/tmpfiles.d/hosttune.conf
mkdir -p "$CT/etc/hosttune"
cp "$T_TMP/policy.ini" "$CT/etc/hosttune/policy.ini"
cp "$T_TMP/hosttune.service" "$CT/etc/systemd/system/hosttune.service"
in_ct systemctl daemon-reload

journal() { in_ct journalctl -u hosttune.service --no-pager | tail -n 30; }
in_ct systemctl start hosttune.service || {
	journal
	fail "hosttune.service did not start"
}
assert_eq "hosttune.service" "active" "$(in_ct systemctl is-active hosttune.service)"
assert_eq "Type as systemd $systemd_version runs the module's unit" "$unit_type" \
	"$(in_ct systemctl show -P Type hosttune.service)"
pid=$(in_ct systemctl show -p MainPID --value hosttune.service)
# /proc/PID of the container's process as the container numbers it: read through nsenter.
assert_eq "CapBnd of the running agent" "00000000002010cb" \
	"$(in_ct sed -n 's/^CapBnd:[[:space:]]*//p' "/proc/$pid/status")"

prop() { in_ct busctl get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 "$1" | cut -d' ' -f2-; }
gen=$(prop Generation)
assert_eq "Generation at start" 1 "$gen"
for t in htap0 htap1; do
	in_ct ip link show "$t" >/dev/null || fail "the agent did not make tap $t"
	ok "the agent made tap $t under the hardening"
done
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("ready.json:", d["ready"], d["reason"])' \
	"$CT/run/hosttune/ready.json" || fail "no valid /run/hosttune/ready.json"
grep -q '^extra-system-features' "$CT/run/hosttune/nix.conf" || fail "no /run/hosttune/nix.conf"
ok "nix.conf: $(grep '^extra-system-features' "$CT/run/hosttune/nix.conf")"
grep -qx 'hosttune_agent_up 1' "$CT/var/lib/node-exporter-textfiles/hosttune.prom" ||
	fail "no metrics in the textfile directory"
ok "metrics in the textfile directory: $(grep -c '^hosttune_' "$CT/var/lib/node-exporter-textfiles/hosttune.prom") samples"

# --- reloads keep the agent ------------------------------------------------------------------------
# Under notify-reload the SIGHUP reloads and ExecReload= (hosttune policy validate) only
# validates: one generation per systemctl reload (the agent logs each SIGHUP it gets). Under
# notify (before NixOS 24.05) ExecReload= is `hosttune reload`, the D-Bus Reload: no SIGHUP.
sighups() { in_ct journalctl -u hosttune.service --no-pager -o cat | grep -c "received SIGHUP" || true; }
case $unit_type in
notify-reload) want_sighups=1 ;;
notify)
	want_sighups=0
	assert_eq "ExecReload of the Type=notify unit" "/opt/hosttune/bin/hosttune reload" \
		"$(sed -n 's/^ExecReload=//p' "$T_TMP/hosttune.service")"
	;;
*) fail "unexpected Type=$unit_type in the module's unit" ;;
esac
in_ct systemctl reload hosttune.service || {
	journal
	fail "systemctl reload failed"
}
assert_eq "SIGHUPs the agent got for one systemctl reload ($unit_type)" "$want_sighups" "$(sighups)"
assert_eq "Generation after systemctl reload" $((gen + 1)) "$(prop Generation)"
per_reload=1
assert_eq "same agent after systemctl reload" "$pid" "$(in_ct systemctl show -p MainPID --value hosttune.service)"
in_ct busctl call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Reload >/dev/null
assert_eq "Generation after a busctl Reload" $((gen + per_reload + 1)) "$(prop Generation)"

# The lease group (services.hosttune.group): its members may reload, others may not.
as_user() { local u=$1; shift; in_ct setpriv --reuid "$u" --regid "$u" --init-groups -- "$@"; }
as_user runner busctl call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Reload \
	>/dev/null || {
	in_ct journalctl --no-pager -u dbus | tail -n 5
	fail "a member of $group could not Reload"
}
assert_eq "Generation after a Reload by a member of $group" $((gen + per_reload + 2)) "$(prop Generation)"
rc=0
as_user outsider busctl call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Reload \
	>"$T_TMP/out" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a user outside $group could Reload"
ok "a user outside $group may not Reload: $(cat "$T_TMP/out")"
as_user outsider busctl get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 \
	Ready >/dev/null || fail "anyone may read the properties"
ok "anyone may read the properties"

# A changed policy (what nixos-rebuild switch does: new /etc, then reload) takes effect in place.
gen=$(prop Generation)
sed -i 's/^taps = 2$/taps = 3/' "$CT/etc/hosttune/policy.ini"
in_ct systemctl reload hosttune.service || {
	journal
	fail "reload of a changed policy failed"
}
in_ct ip link show htap2 >/dev/null || fail "the reloaded policy's third tap is missing"
ok "a changed policy took effect on reload: htap2"
assert_eq "Generation after the changed policy" $((gen + per_reload)) "$(prop Generation)"
assert_eq "same agent after the changed policy" "$pid" "$(in_ct systemctl show -p MainPID --value hosttune.service)"

# A rejected policy: the reload fails and says where; nothing changes.
gen=$(prop Generation)
printf '[net]\ntapz = 3\n' >>"$CT/etc/hosttune/policy.ini"
rc=0
in_ct systemctl reload hosttune.service 2>/dev/null || rc=$?
[ $rc -ne 0 ] || fail "a reload of a rejected policy succeeded"
journal | grep_all -q 'tapz' || {
	journal
	fail "the rejection does not name the key in the journal"
}
ok "a rejected policy fails the reload: $(journal | grep -m1 tapz | sed 's/^.*]: //')"
assert_eq "Generation unchanged by a rejected policy" "$gen" "$(prop Generation)"
assert_eq "the agent still runs" "active" "$(in_ct systemctl is-active hosttune.service)"

in_ct systemctl stop hosttune.service
assert_eq "stopped cleanly" "inactive" "$(in_ct systemctl is-active hosttune.service)"
