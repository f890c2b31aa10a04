#!/bin/bash
# SPDX-License-Identifier: MIT
# The NixOS module's unit hardening under a real systemd (PID 1 of a booted Debian container):
# the capability bounding set is exactly the module's, every privileged operation the agent needs
# works under it (taps, chown, chmod of another's file, removing from another's directory, mount),
# the file system protections hold (/etc read-only, /root hidden), the module's tmpfiles rules and
# hugetlbfs mount unit work, and `hosttune probe` sees the same host hardened as unhardened: the
# sandbox never changes an answer. The unit is the module's, rendered as NixOS writes it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nixpkgs-lib.sh"
. "$(dirname "$0")/container.sh"
need_cmd python3 nix-instantiate readelf
find_nixpkgs_lib
readelf -d "$HOSTTUNE" | grep_all -q NEEDED &&
	skip "build/hosttune is linked dynamically (STATIC_CLI=no); the container has none of its libraries"

ct_image "$HOSTTUNED" "$HOSTTUNE_BUS"
ct_prepare

# --- the module's unit, mount and tmpfiles rules (case ci-builder), for a package in /opt --------
module_eval --json --argstr packageDir /opt/hosttune -A good >"$T_TMP/good.json" ||
	fail "evaluating the module failed"
python3 - "$T_TMP/good.json" "$T_TMP" <<'EOF'
import json, sys
c = next(c for c in json.load(open(sys.argv[1])) if c["name"] == "ci-builder")
# The hardening of the agent's unit around other programs: Type, ExecStart and what belongs to
# the daemon itself are replaced, every other line is the module's.
drop = ("Type=", "ExecStart=", "ExecReload=", "Restart=", "TimeoutStartSec=", "Before=",
        "WatchdogSec=", "BusName=")
lines = [l for l in c["unit"].splitlines() if not l.startswith(drop)]
open(f"{sys.argv[2]}/hardened.unit", "w").write("\n".join(lines) + "\n")
m = c["mounts"][0]
open(f"{sys.argv[2]}/mount.where", "w").write(m["where"])
open(f"{sys.argv[2]}/mount.unit", "w").write(m["text"])
open(f"{sys.argv[2]}/tmpfiles.conf", "w").write("\n".join(c["tmpfiles"]) + "\n")
EOF

# --- boot the container -----------------------------------------------------------------------------
ct_boot

# The package: hosttune (static) under /opt/hosttune, as the unit expects it.
mkdir -p "$CT/opt/hosttune/bin"
cp "$HOSTTUNE" "$CT/opt/hosttune/bin/hosttune"
in_ct groupadd --system hosttune
echo "hidden from the agent" >"$CT/root/marker"

# tmpfiles rules, as NixOS installs them.
cp "$T_TMP/tmpfiles.conf" "$CT/etc/tmpfiles.d/hosttune.conf"
in_ct systemd-tmpfiles --create /etc/tmpfiles.d/hosttune.conf || fail "systemd-tmpfiles rejected the rules"
while read -r _ path mode _; do
	assert_eq "tmpfiles made $path" "${mode#0} directory" "$(in_ct stat -c '%a %F' "$path")"
done <"$T_TMP/tmpfiles.conf"

# The hugetlbfs mount unit (pulled in by the agent's RequiresMountsFor=).
where=$(cat "$T_TMP/mount.where")
mount_unit=$(systemd-escape --path --suffix=mount "$where")
cp "$T_TMP/mount.unit" "$CT/etc/systemd/system/$mount_unit"

write_unit() { # write_unit NAME COMMAND OUTPUT [hardened]
	{
		if [ "${4:-}" = hardened ]; then cat "$T_TMP/hardened.unit"; else printf '[Service]\n'; fi
		printf 'Type=oneshot\nExecStart=%s\nStandardOutput=file:%s\nStandardError=journal\n' "$2" "$3"
	} >"$CT/etc/systemd/system/$1.service"
}
probe="/opt/hosttune/bin/hosttune probe --json"
write_unit ht-probe-plain1 "$probe" /run/hosttune/plain1.json
write_unit ht-probe-hardened "$probe" /run/hosttune/hardened.json hardened
write_unit ht-probe-plain2 "$probe" /run/hosttune/plain2.json
cat >"$CT/opt/hosttune/capcheck.sh" <<'EOF'
#!/bin/sh
# Each privileged operation hosttuned performs, under the module's hardening.
cd /run/hosttune || exit 1
try() { if sh -c "$2" >/dev/null 2>&1; then echo "$1 ok"; else echo "$1 FAILED"; fi; }
grep -E '^(CapBnd|NoNewPrivs):' /proc/self/status
try net_admin_tap 'ip tuntap add dev htcap0 mode tap && ip link set htcap0 up && ip link del htcap0'
try net_admin_bridge 'ip link add htcapbr0 type bridge && ip link del htcapbr0'
mkdir -p t && touch t/f
try chown 'chown 65534:65534 t/f'
try fowner 'chmod 0600 t/f'
try dac_override 'mkdir -p t/d && touch t/d/x && chown 65534 t/d && chmod 0500 t/d && rm -f t/d/x'
try sys_admin_mount 'mkdir -p m && mount -t tmpfs none m && umount m'
try tun_device 'exec 3<>/dev/net/tun'
try etc_read_only '! touch /etc/hosttune-write-test'
try root_hidden 'test ! -e /root/marker'
try hugetlbfs_mounted 'grep -q " '"$HT_MOUNT"' hugetlbfs " /proc/self/mounts'
EOF
chmod +x "$CT/opt/hosttune/capcheck.sh"
write_unit ht-capcheck "/usr/bin/env HT_MOUNT=$where /opt/hosttune/capcheck.sh" /run/hosttune/capcheck.out hardened
in_ct systemctl daemon-reload

for u in ht-probe-plain1 ht-probe-hardened ht-probe-plain2 ht-capcheck; do
	in_ct systemctl start "$u.service" ||
		{
			in_ct journalctl -u "$u.service" --no-pager | tail -n 20
			fail "$u.service failed"
		}
done
ok "the module's hardened unit runs under systemd $(in_ct systemctl --version | awk 'NR==1 {print $2}')"

# --- the capability set and the operations -------------------------------------------------------
cat "$CT/run/hosttune/capcheck.out"
# CAP_CHOWN 0, CAP_DAC_OVERRIDE 1, CAP_FOWNER 3, CAP_SETGID 6, CAP_SETUID 7, CAP_NET_ADMIN 12,
# CAP_SYS_ADMIN 21
assert_eq "CapBnd (the module's seven capabilities)" "00000000002010cb" \
	"$(sed -n 's/^CapBnd:[[:space:]]*//p' "$CT/run/hosttune/capcheck.out")"
assert_eq "NoNewPrivs" 1 "$(sed -n 's/^NoNewPrivs:[[:space:]]*//p' "$CT/run/hosttune/capcheck.out")"
for op in net_admin_tap net_admin_bridge chown fowner dac_override sys_admin_mount tun_device \
	etc_read_only root_hidden hugetlbfs_mounted; do
	grep -qx "$op ok" "$CT/run/hosttune/capcheck.out" || fail "under the hardening: $op failed"
	ok "under the hardening: $op"
done
opts=$(in_ct findmnt -no FSTYPE,OPTIONS "$where")
gid=$(in_ct getent group hosttune | cut -d: -f3)
case "$opts" in
hugetlbfs*gid=$gid*mode=1770*pagesize=2M*) ok "mount unit: $where $opts" ;;
*) fail "hugetlbfs mount options: $opts (gid of hosttune: $gid)" ;;
esac

# --- the probes see the same host, hardened or not ---------------------------------------------------
# Fields that change between two unhardened runs (free memory, ...) say nothing; every other one
# must be the same under the hardening. One fact may differ, and its verdict may not: whether
# *this process* can call userfaultfd(2). With vm.unprivileged_userfaultfd = 0 the kernel allows
# it only with CAP_SYS_PTRACE, which the agent does not keep (it would let the agent ptrace
# anything). The probe judges by the device and the sysctl, as an unprivileged VMM would meet
# them, so its status and reason stay the same.
python3 - "$CT/run/hosttune/plain1.json" "$CT/run/hosttune/hardened.json" \
	"$CT/run/hosttune/plain2.json" <<'EOF' || fail "the hardening changed what the probes see"
import json, sys
def flat(x, path=""):
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            out.update(flat(v, f"{path}.{k}"))
        return out
    if isinstance(x, list) and x and all(isinstance(e, dict) and "id" in e for e in x):
        out = {}
        for e in x:
            out.update(flat(e, f"{path}[{e['id']}]"))
        return out
    return {path: json.dumps(x)}
p1, h, p2 = (flat(json.load(open(f))) for f in sys.argv[1:4])
allowed = {".probes[userfaultfd].facts.syscall_available", ".probes[userfaultfd].facts.syscall_error"}
stable = [k for k in p1 if p1[k] == p2.get(k)]
bad = [k for k in stable if h.get(k) != p1[k] and k not in allowed]
for k in stable:
    if h.get(k) != p1[k]:
        print(f"{k}: unhardened {p1[k]}, hardened {h.get(k)}" + (" (allowed: CAP_SYS_PTRACE)" if k in allowed else ""))
for k in (".probes[userfaultfd].status", ".probes[userfaultfd].reason"):
    if k not in p1 or h.get(k) != p1[k]:
        print(f"{k} must not change: unhardened {p1.get(k)}, hardened {h.get(k)}")
        bad.append(k)
print(f"{len(stable)} stable fields compared, {len(p1) - len(stable)} volatile left out")
sys.exit(1 if bad or len(stable) < 50 else 0)
EOF
ok "hosttune probe sees the same host with and without the module's hardening"
