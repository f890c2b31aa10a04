#!/bin/bash
# SPDX-License-Identifier: MIT
# [agent] nfd-features-file with a real hosttuned on a private bus, the file read back by
# fleet-formats.py with node-feature-discovery's rules (not the writer's code). The file appears
# with an expiry later than the next re-probe; an inotify watch of features.d shows the visible
# name only ever arriving by rename (never created or written in place, no other visible name),
# and a reader polling it through many rewrites never sees a partial file; its pool figures and
# devices match sysfs and /dev; it follows readiness when the hugepage pool shrinks behind the
# agent's back, and `hosttune machines-line` drops hugepages with it; once the agent stopped it
# says ready=false. The pool is restored at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
kernel_lock
hp=/sys/kernel/mm/hugepages/hugepages-2048kB
[ -w $hp/nr_hugepages ] || skip "no writable $hp/nr_hugepages"
orig=$(cat $hp/nr_hugepages)
defer "echo $orig >$hp/nr_hugepages"
echo 0 >$hp/nr_hugepages

formats=$HOSTTUNE_SRC/tests/integration/fleet-formats.py
ns=hosttune.feature.node.kubernetes.io
fdir=$T_TMP/features.d
nfd=$fdir/hosttune
snap=$T_TMP/snap
mkdir -p "$fdir"
policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = nfd

[readiness]
require = tun, hugepages=4M

[hugepages]
pool = 4M
reclaim = none

[snapshots]
root = $snap
slots = 2
nocow = no

[agent]
reprobe-interval = 1s
revert-on-stop = yes
nfd-features-file = $nfd
EOF

# Every inotify event in features.d, "MASK NAME" per line, from before the agent starts.
python3 - "$fdir" "$T_TMP/inotify.log" <<'PY' &
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_TO, IN_CREATE = 0x2, 0x8, 0x80, 0x100
fd = libc.inotify_init1(os.O_CLOEXEC)
if fd < 0 or libc.inotify_add_watch(fd, sys.argv[1].encode(),
                                    IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0:
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
names = {IN_MODIFY: "MODIFY", IN_CLOSE_WRITE: "CLOSE_WRITE", IN_MOVED_TO: "MOVED_TO",
         IN_CREATE: "CREATE"}
with open(sys.argv[2], "w", buffering=1) as log:
    log.write("watching\n")
    while True:
        buf = os.read(fd, 65536)
        i = 0
        while i < len(buf):
            wd, mask, cookie, n = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode()
            i += 16 + n
            for bit, word in names.items():
                if mask & bit:
                    log.write(f"{word} {name}\n")
PY
watcher=$!
defer "kill $watcher 2>/dev/null; wait $watcher 2>/dev/null || true"
wait_for "the inotify watch" 'grep -q watching "$T_TMP/inotify.log"'

start_bus open
start_notify_listener
start_agent --policy "$policy"
wait_for "the NFD file" 'test -s "$nfd"'

# nfd_read [FILE]: the file as NFD reads it, JSON; nfd_label NAME: one label's value or "".
nfd_read() { python3 "$formats" nfd "${1:-$nfd}" || fail "NFD would not read $nfd: $(cat "$nfd")"; }
nfd_label() { nfd_read | jq_py "d['labels'].get('$ns/$1', '')"; }

doc=$(nfd_read)
# --- what it says, against independent readings
assert_eq "ready" true "$(echo "$doc" | jq_py "d['labels']['$ns/ready']")"
assert_eq "hugepages (4M free in a pool of 2 pages)" true "$(nfd_label hugepages)"
assert_eq "hugepages-2M.total (sysfs nr_hugepages)" "$(cat $hp/nr_hugepages)" "$(nfd_label hugepages-2M.total)"
assert_eq "hugepages-2M.free (sysfs free_hugepages)" "$(cat $hp/free_hugepages)" "$(nfd_label hugepages-2M.free)"
assert_eq "hugepages-2M.leased" 0 "$(nfd_label hugepages-2M.leased)"
assert_eq "snapshot-slots.free (directories under $snap/slots)" \
	"$(find "$snap/slots" -mindepth 1 -maxdepth 1 -type d | wc -l)" "$(nfd_label snapshot-slots.free)"
assert_eq "tun (/dev/net/tun is a char device)" "$([ -c /dev/net/tun ] && echo true)" "$(nfd_label tun)"
assert_eq "vhost-net (/dev/vhost-net)" "$([ -c /dev/vhost-net ] && echo true)" "$(nfd_label vhost-net)"
crng=$(python3 -c 'import os
try:
    os.getrandom(1, os.GRND_NONBLOCK); print("true")
except BlockingIOError:
    print("")')
assert_eq "rng (getrandom without blocking)" "$crng" "$(nfd_label rng)"
# kvm only where QEMU runs a guest with KVM as the NixOS test driver starts it (qemu_kvm_judge:
# /dev/kvm answering the API is not enough, kvm_pvm answers and runs no stock guest); nixos-test
# only where it does so as a Nix build user too (the first member of nixbld, else nobody,
# without supplementary groups, as nix-daemon starts builders).
kvm_root=$(qemu_kvm_judge)
build_user=$(getent group nixbld | cut -d: -f4 | cut -d, -f1 || true)
build_user=${build_user:-nobody}
kvm_build=$(setpriv --reuid="$build_user" --regid="$(id -g "$build_user")" --clear-groups \
	bash -c "$(declare -f qemu_kvm_judge); qemu_kvm_judge")
[ "$kvm_root" != unknown ] || skip "no qemu-system-x86_64 to judge KVM"
want_kvm="" want_test=""
if [ "$kvm_root" = true ]; then
	want_kvm=true
	[ "$kvm_build" != true ] || want_test=true
fi
kvm="$want_kvm $want_test"
assert_eq "kvm, nixos-test (QEMU -accel kvm as root and as $build_user)" "$kvm" "$(nfd_label kvm) $(nfd_label nixos-test)"

# --- the expiry: later than the next re-probe (1 s), within 2 intervals and a minute
echo "$doc" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d["expiry"]) == 1, d["expiry"]
left = d["expiry"][0] - d["now"]
assert 1 < left <= 62 + 2, left
print("ok - expiry-time %.0f s ahead, before every feature line" % left)' ||
	fail "expiry-time: $(head -n 5 "$nfd")"
[ "$(grep -v '^#' "$nfd" | head -n1)" = "$ns/ready=true" ] || fail "a feature line before the directive"

# --- atomic: many rewrites (each GetReport probes and writes), read all the while
python3 - "$nfd" "$T_TMP/reads" <<'PY' &
import os, sys, time
path, out = sys.argv[1], sys.argv[2]
reads = partial = 0
end = time.time() + 4
while time.time() < end:
    with open(path, "rb") as f:
        data = f.read()
    reads += 1
    if not (data.endswith(b"\n") and b"# +expiry-time=" in data and b"/snapshot-slots.free=" in data):
        partial += 1
open(out, "w").write(f"{reads} {partial}\n")
PY
reader=$!
for _ in $(seq 40); do agent_call GetReport >/dev/null; done
wait $reader
read -r reads partial <"$T_TMP/reads"
assert_eq "partial reads among $reads reads during 40 rewrites" 0 "$partial"
renames=$(grep -c "^MOVED_TO hosttune$" "$T_TMP/inotify.log" || true)
[ "$renames" -ge 40 ] || fail "only $renames renames onto hosttune for 40 rewrites"
ok "$renames renames onto the visible name"
# "#INODE" is how inotify names an anonymous O_TMPFILE being written (lib/fileio.c): it has no
# directory entry, so NFD's listing of features.d never shows it.
bad=$(grep -v -e '^watching$' -e '^MOVED_TO hosttune$' -e '^[A-Z_]* \.' -e '^[A-Z_]* #[0-9]*$' \
	"$T_TMP/inotify.log" || true)
[ -z "$bad" ] || fail "the visible name was written in place, or another visible name appeared: $bad"
ok "no event on a visible name except the renames (NFD skips the dot names it is staged under)"

# --- machines-line agrees with the agent's nix.conf while hugepages hold
features=$(sed -n 's/^extra-system-features = //p' "$AGENT_RUN/nix.conf")
grep -qw hugepages <<<"$features" || fail "nix.conf lacks hugepages: $features"
line=$("$HOSTTUNE" machines-line --uri ssh-ng://nfd.invalid --no-host-key)
echo "$line" >"$T_TMP/machines"
assert_eq "machines-line features = the agent's nix.conf features" "$(echo "$features" | tr ' ' ',')" \
	"$(python3 "$formats" machines "$T_TMP/machines" | jq_py "','.join(d[0]['supported_features'])")"

# --- readiness changes: the pool shrinks behind the agent's back (no re-apply on drift)
echo 0 >$hp/nr_hugepages
wait_for "ready=false in the NFD file" '[ "$(nfd_label ready)" = false ]'
ok "ready=false after the pool shrank"
assert_eq "hugepages after the pool shrank" "" "$(nfd_label hugepages)"
assert_eq "hugepages-2M.total after the pool shrank (sysfs)" "$(cat $hp/nr_hugepages)" "$(nfd_label hugepages-2M.total)"
"$HOSTTUNE" machines-line --uri ssh-ng://nfd.invalid --no-host-key >"$T_TMP/machines"
python3 "$formats" machines "$T_TMP/machines" | jq_py "d[0]['supported_features']" | grep_all -q hugepages &&
	fail "machines-line still claims hugepages: $(cat "$T_TMP/machines")"
ok "machines-line without hugepages: $(cat "$T_TMP/machines")"

# --- the agent stops: ready=false, still valid, still expiring
finish_agent
assert_eq "ready once hosttuned stopped" false "$(nfd_label ready)"
nfd_read | jq_py "len(d['expiry'])" | grep_all -qx 1 || fail "no expiry after stop"
ok "the file left behind still carries its expiry-time"
leftover=$(find "$fdir" -mindepth 1 ! -name hosttune)
[ -z "$leftover" ] || fail "files left in features.d: $leftover"
ok "nothing but the feature file left in features.d"

# --- a policy that names the file but never re-probes is refused
sed -i 's/^reprobe-interval = .*/reprobe-interval = 0/' "$policy"
out=$("$HOSTTUNE" policy validate "$policy" 2>&1) && fail "validated: $out"
grep -q "nfd-features-file: needs reprobe-interval above 0" <<<"$out" || fail "unexpected: $out"
ok "reprobe-interval = 0 refused: $out"
