#!/bin/bash
# hosttuned under a real systemd: a Debian container (debootstrap, cached under
# /var/cache/hosttune-test) booted with systemd-nspawn, systemd as PID 1 and the container's own
# dbus-daemon as system bus. hosttune is built with PREFIX=/usr and installed by `make install`
# (binaries, unit, D-Bus policy) as a package would. Then: `systemctl start` returns only once
# the agent sent READY=1 (the unit is active, the name is on the bus and the outputs exist at
# that moment), `systemctl reload` reloads (and fails for a rejected policy, which the agent
# keeps out), busctl on the container's system bus reaches the agent, and stop is clean.
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

systemd_version=$(chroot "$root" systemctl --version | awk 'NR == 1 {print $2}')
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
ok "installed; unit is Type=$want_type for systemd $systemd_version"

mkdir -p "$root/etc/hosttune"
write_policy() { # NAME: a check-only policy (a container may not tune the kernel)
	printf '[policy]\nname = %s\n\n[readiness]\nrequire = rng\n' "$1" >"$root/etc/hosttune/policy.ini"
}
write_policy nspawn-one

ct_boot
assert_eq "PID 1 in the container" systemd "$(in_ct cat /proc/1/comm)"

# --- start: systemctl start returns once READY=1 arrived, i.e. after the first apply
in_ct systemctl start hosttune.service
assert_eq "ActiveState right after systemctl start" active "$(in_ct systemctl show -P ActiveState hosttune)"
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
echo "$out" | grep -qi "access denied" || fail "nobody's Reload on the system bus: $out"
ok "the installed bus policy refuses Reload to nobody"

# --- hosttune itself inside the container (static binary + /usr/libexec/hosttune/hosttune-bus)
rc=0
in_ct hosttune status >"$T_TMP/status.txt" 2>&1 || rc=$?
[ $rc -le 1 ] || fail "hosttune status in the container: rc $rc: $(cat "$T_TMP/status.txt")"
grep -q "nspawn-one" "$T_TMP/status.txt" || fail "status: $(cat "$T_TMP/status.txt")"
ok "hosttune status in the container reaches the agent"
src=$(in_ct hosttune check --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["source"])' || true)
assert_eq "hosttune check in the container reads the agent's state" agent "$src"

# --- reload
write_policy nspawn-two
in_ct systemctl reload hosttune.service
assert_eq "PolicyName after systemctl reload" 's "nspawn-two"' \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 PolicyName)"
assert_eq "Generation after systemctl reload" "t 2" \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Generation)"
assert_eq "active after reload" active "$(in_ct systemctl show -P ActiveState hosttune)"

# A broken policy: systemctl reload fails, the agent keeps running with the old policy.
printf '[policy]\nname = broken\n[readiness]\nrequire = garbage\n' >"$root/etc/hosttune/policy.ini"
rc=0
in_ct systemctl reload hosttune.service >/dev/null 2>&1 || rc=$?
if [ "$want_type" = notify ]; then
	[ $rc -ne 0 ] || fail "systemctl reload succeeded with a broken policy"
	ok "systemctl reload fails for a rejected policy (ExecReload= via D-Bus)"
fi
assert_eq "still active" active "$(in_ct systemctl show -P ActiveState hosttune)"
assert_eq "policy kept" 's "nspawn-two"' \
	"$(bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 PolicyName)"
bus get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 LastError |
	grep -q "/etc/hosttune/policy.ini:" || fail "LastError names the file"
ok "LastError names /etc/hosttune/policy.ini"

# --- stop
in_ct systemctl stop hosttune.service
assert_eq "inactive after stop" inactive "$(in_ct systemctl show -P ActiveState hosttune)"
assert_eq "exit status" 0 "$(in_ct systemctl show -P ExecMainStatus hosttune)"
assert_eq "ready.json says stopped" False \
	"$(in_ct cat /run/hosttune/ready.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["agent"]["running"])')"
