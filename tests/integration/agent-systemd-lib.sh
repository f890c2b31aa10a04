# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The scenario of test-agent-systemd.sh (this machine's Debian with its own systemd: 252 on Debian
# 12, Type=notify with ExecReload=) and test-agent-systemd-backports.sh (CT_SYSTEMD=backports:
# systemd 254, Type=notify-reload), sourced by both after they set CT_SYSTEMD.
#
# hosttuned under a real systemd: a Debian container (debootstrap, cached under
# /var/cache/hosttune-test) booted with systemd-nspawn, systemd as PID 1 and the container's own
# dbus-daemon as system bus. hosttune is built with PREFIX=/usr and installed by `make install`
# (binaries, unit, D-Bus policy) as a package would. Then: `systemctl start` returns only once
# the agent sent READY=1 (the unit is active, the name is on the bus and the outputs exist at
# that moment), `systemctl reload` reloads (and fails for a rejected policy, which the agent
# keeps out), busctl on the container's system bus reaches the agent, and stop is clean.
# Type=notify-reload (systemd >= 253): `systemctl reload` sends SIGHUP and returns once the
# agent's RELOADING=1 (MONOTONIC_USEC= after the signal) and READY=1 came; a rejected policy is
# invisible to systemd there (READY=1 all the same), it shows in StatusText, the journal and
# LastError.
. "$(dirname "$0")/lib.sh"
need_root
. "$(dirname "$0")/container.sh"
need_cmd chroot

# Build as a package would: PREFIX=/usr, a plain build of its own (also under `make sanitize`,
# whose ASan binaries would need libasan in the container), without the caller's make flags.
build=$T_TMP/build
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$HOSTTUNE_SRC" BUILD="$build" PREFIX=/usr \
	SYSCONFDIR=/etc all >"$T_TMP/build.log" 2>&1 ||
	{ tail -n 30 "$T_TMP/build.log"; fail "build with PREFIX=/usr failed"; }

# The image holds the runtime libraries of the agent and of hosttune-bus; each run boots an
# overlay over it.
ct_image "$build/hosttuned" "$build/hosttune-bus"
ct_prepare
root=$CT_ROOT

systemd_version=$CT_SYSTEMD_VERSION
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$HOSTTUNE_SRC" BUILD="$build" PREFIX=/usr SYSCONFDIR=/etc DESTDIR="$root" \
	SYSTEMD_VERSION="$systemd_version" install >>"$T_TMP/build.log" 2>&1 ||
	{ tail -n 30 "$T_TMP/build.log"; fail "make install failed"; }
for f in /usr/bin/hosttune /usr/sbin/hosttuned /usr/libexec/hosttune/hosttune-bus \
	/usr/share/dbus-1/system.d/org.hosttune.Agent1.conf /usr/lib/systemd/system/hosttune.service; do
	[ -e "$root$f" ] || fail "make install did not install $f"
done
if [ "${systemd_version:-0}" -ge 253 ]; then want_type=notify-reload; else want_type=notify; fi
grep -q "^Type=$want_type$" "$root/usr/lib/systemd/system/hosttune.service" ||
	fail "installed unit for systemd $systemd_version is not Type=$want_type"
if [ "$want_type" = notify ]; then
	grep -q "^ExecReload=busctl call" "$root/usr/lib/systemd/system/hosttune.service" ||
		fail "installed unit for systemd $systemd_version has no ExecReload="
else
	! grep -q "^ExecReload=" "$root/usr/lib/systemd/system/hosttune.service" ||
		fail "installed unit for systemd $systemd_version has an ExecReload= besides the signal"
fi
ok "installed; unit is Type=$want_type for systemd $systemd_version"

mkdir -p "$root/etc/hosttune"
write_policy() { # NAME: a check-only policy (a container may not tune the kernel)
	printf '[policy]\nname = %s\n\n[readiness]\nrequire = rng\n' "$1" >"$root/etc/hosttune/policy.ini"
}
write_policy nspawn-one

ct_boot
assert_eq "PID 1 in the container" systemd "$(in_ct cat /proc/1/comm)"
assert_eq "systemd in the container" "$systemd_version" "$(in_ct systemctl --version | awk 'NR == 1 {print $2}')"

# --- start: systemctl start returns once READY=1 arrived, i.e. after the first apply
in_ct systemctl start hosttune.service
assert_eq "ActiveState right after systemctl start" active "$(in_ct systemctl show -P ActiveState hosttune)"
assert_eq "Type as systemd $systemd_version runs the unit" "$want_type" "$(in_ct systemctl show -P Type hosttune)"
status=$(in_ct systemctl show -P StatusText hosttune)
case "$status" in *"policy nspawn-one, generation 1"*) ok "STATUS= after READY=1: $status" ;; *) fail "StatusText: $status" ;; esac
# /run is the container's own tmpfs: look from inside.
in_ct test -s /run/hosttune/ready.json || fail "ready.json missing when start returned"
ok "ready.json written before READY=1"
bus() { in_ct busctl "$@"; }
assert_eq "the agent is on the container's system bus" 's "nspawn-one"' \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 PolicyName)"
assert_eq "Generation" "t 1" "$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Generation)"
out=$(bus call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Check 'a{sv}' 0)
case "$out" in "bs "*) ok "Check over the container's system bus answers" ;; *) fail "Check: $out" ;; esac

# Unprivileged callers: the installed bus policy lets them read and Check, not Reload.
out=$(in_ct setpriv --reuid=nobody --regid=nogroup --clear-groups busctl call org.hosttune.Agent1 \
	/org/hosttune/Agent1 org.hosttune.Agent1 Reload 2>&1 || true)
grep -qi "access denied" <<<"$out" || fail "nobody's Reload on the system bus: $out"
ok "the installed bus policy refuses Reload to nobody"

# --- hosttune itself inside the container (static binary + /usr/libexec/hosttune/hosttune-bus)
rc=0
in_ct hosttune status >"$T_TMP/status.txt" 2>&1 || rc=$?
[ $rc -le 1 ] || fail "hosttune status in the container: rc $rc: $(cat "$T_TMP/status.txt")"
grep -q "nspawn-one" "$T_TMP/status.txt" || fail "status: $(cat "$T_TMP/status.txt")"
ok "hosttune status in the container reaches the agent"
src=$(in_ct hosttune check --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["source"])' || true)
assert_eq "hosttune check in the container reads the agent's state" agent "$src"

# --- reload: systemctl reload returns only when the reload is complete (the agent's READY=1 or
# the synchronous D-Bus Reload), so the new generation is there when it returns.
journal() { in_ct journalctl --no-pager -o cat "$@"; }
pid=$(in_ct systemctl show -P MainPID hosttune)
# systemd's debug log records each state change of the unit: the handshake as systemd saw it.
in_ct systemd-analyze log-level debug
transitions() { journal -u hosttune.service | sed -n 's/^hosttune.service: Changed \(.* -> .*\)$/\1/p' | tr '\n' ','; }
write_policy nspawn-two
in_ct systemctl reload hosttune.service
assert_eq "PolicyName after systemctl reload" 's "nspawn-two"' \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 PolicyName)"
assert_eq "Generation after systemctl reload" "t 2" \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Generation)"
assert_eq "active after reload" active "$(in_ct systemctl show -P ActiveState hosttune)"
assert_eq "same agent after reload" "$pid" "$(in_ct systemctl show -P MainPID hosttune)"
status=$(in_ct systemctl show -P StatusText hosttune)
case "$status" in *"policy nspawn-two, generation 2"*) ok "StatusText after the reload: $status" ;; *) fail "StatusText after reload: $status" ;; esac
journal -u hosttune.service | grep_all -q "policy nspawn-two (/etc/hosttune/policy.ini) loaded, generation 2" ||
	fail "the journal does not show the reload: $(journal -u hosttune.service | tail -n 10)"
# How systemd asked: SIGHUP for notify-reload (the agent logs it), none for ExecReload=.
sighups=$(journal -u hosttune.service | grep -c "received SIGHUP, reloading the policy" || true)
if [ "$want_type" = notify-reload ]; then want_sighups=1; else want_sighups=0; fi
assert_eq "SIGHUPs from systemd for one reload" "$want_sighups" "$sighups"
# systemd's own record of the reload job (it logs "Reloaded" only when it left the reload state
# on the agent's READY=1 or when ExecReload= exited).
journal -u hosttune.service | grep_all -q "^Reloaded hosttune.service" ||
	fail "systemd logged no finished reload: $(journal -u hosttune.service | tail -n 10)"
ok "systemd logged the reload: $(journal -u hosttune.service | grep -m1 "^Reloaded hosttune.service")"
# notify-reload: SIGHUP (reload-signal), the agent's RELOADING=1 with a MONOTONIC_USEC= not older
# than the signal (reload-notify; an older one would leave systemd waiting), then READY=1.
if [ "$want_type" = notify-reload ]; then want=running\ -\>\ reload-signal,reload-signal\ -\>\ reload-notify,reload-notify\ -\>\ running,; else want=running\ -\>\ reload,reload\ -\>\ running,; fi
assert_eq "the unit's states through systemctl reload" "$want" "$(transitions)"

# A broken policy: the agent keeps running with the old policy. With ExecReload= (a synchronous
# D-Bus Reload) systemctl reload fails; with notify-reload systemd has no way to hear of a
# rejection (the agent ends the reload with READY=1 either way), so systemctl reload succeeds
# and the rejection is in StatusText, the journal and LastError.
printf '[policy]\nname = broken\n[readiness]\nrequire = garbage\n' >"$root/etc/hosttune/policy.ini"
rc=0
in_ct systemctl reload hosttune.service >/dev/null 2>&1 || rc=$?
if [ "$want_type" = notify ]; then
	[ $rc -ne 0 ] || fail "systemctl reload succeeded with a broken policy"
	ok "systemctl reload fails for a rejected policy (ExecReload= via D-Bus)"
else
	assert_eq "systemctl reload of a rejected policy under notify-reload (systemd cannot see it)" 0 $rc
	assert_eq "SIGHUPs after the second reload" 2 \
		"$(journal -u hosttune.service | grep -c "received SIGHUP, reloading the policy" || true)"
fi
assert_eq "ReloadResult" "$([ "$want_type" = notify ] && echo exit-code || echo success)" \
	"$(in_ct systemctl show -P ReloadResult hosttune)"
status=$(in_ct systemctl show -P StatusText hosttune)
case "$status" in *"policy rejected: /etc/hosttune/policy.ini:"*) ok "StatusText after the rejected reload: $status" ;; *) fail "StatusText after rejected reload: $status" ;; esac
journal -u hosttune.service | grep_all -q "/etc/hosttune/policy.ini:.*garbage" ||
	fail "the journal does not name the rejection: $(journal -u hosttune.service | tail -n 10)"
ok "the journal names the rejection: $(journal -u hosttune.service | grep -m1 "/etc/hosttune/policy.ini:.*garbage")"
assert_eq "still active" active "$(in_ct systemctl show -P ActiveState hosttune)"
assert_eq "policy kept" 's "nspawn-two"' \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 PolicyName)"
assert_eq "Generation kept" "t 2" \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Generation)"
bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 LastError |
	grep -q "/etc/hosttune/policy.ini:" || fail "LastError names the file"
ok "LastError names /etc/hosttune/policy.ini"

# A reload the agent starts itself (a D-Bus Reload, as `hosttune reload` makes): under
# notify-reload its RELOADING=1 puts the unit into "reloading" until READY=1 (systemd logs no
# job for it); the unit is active again with the new generation when the call returned.
write_policy nspawn-three
bus call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Reload >/dev/null
assert_eq "Generation after a D-Bus Reload" "t 3" \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Generation)"
assert_eq "active after a D-Bus Reload" active "$(in_ct systemctl show -P ActiveState hosttune)"
if [ "$want_type" = notify-reload ]; then
	transitions | grep_all -q "running -> reload-notify,reload-notify -> running,$" ||
		fail "the agent's own reload did not show as reload-notify: $(transitions)"
	ok "the agent's own reload: running -> reload-notify -> running (RELOADING=1, READY=1)"
fi

# --- stop
in_ct systemctl stop hosttune.service
assert_eq "inactive after stop" inactive "$(in_ct systemctl show -P ActiveState hosttune)"
assert_eq "exit status" 0 "$(in_ct systemctl show -P ExecMainStatus hosttune)"
assert_eq "ready.json says stopped" False \
	"$(in_ct cat /run/hosttune/ready.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["running"])')"
