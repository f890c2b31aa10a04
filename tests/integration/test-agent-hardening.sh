#!/bin/bash
# SPDX-License-Identifier: MIT
# The agent-side findings of issue 12, replayed on a private system-like bus (busctl and gdbus as
# judges, setpriv as the unprivileged user nobody):
#  6  a persisting 1 TiB lease, a lease whose directory is outside the snapshot root and one whose
#     tap is gone come back from leases.json: none is restored (ListLeases, HugePagesLeased);
#  9  nobody sees its own lease in full, root's only as sizes; GetReport hides a path inside a
#     0700 directory and the features of a 0600 nix.conf; LastError hides the keys of a 0600
#     include; root sees all of it;
#  3  Reload of a policy that mounts hugetlbfs over /etc is refused with file:line, the old policy
#     stays;
#  8  ESC and BEL in a policy come back escaped from `policy validate` and LastError (bytes read
#     with od and from busctl's JSON);
# 10  after a refused reload `hosttune check` judges by the policy in force, exits as before,
#     and says with a WARN line naming file:line that the file on disk was refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd gdbus od
kernel_lock

hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -r $hp ] || skip "no 2 MiB hugepage pool on this kernel"
orig_pool=$(cat $hp)
defer "echo $orig_pool > $hp"

# Files nobody may not look into: a 0700 directory (snapshot root, an included policy file)
# and a 0600 nix.conf in a directory everyone may enter.
secret=$T_TMP/secret
mkdir -m 0700 "$secret"
mkdir -m 0755 "$T_TMP/nix"
printf 'system-features = kvm nixos-test feature-only-root-sees\n' >"$T_TMP/nix/nix.conf"
chmod 0600 "$T_TMP/nix/nix.conf"
printf '[memory]\nswappiness = keep\n' >"$secret/inc.ini"
chmod 0600 "$secret/inc.ini"

policy=$T_TMP/policy.ini
write_policy() { # write_policy NAME [EXTRA LINES]
	cat >"$policy" <<EOF
[policy]
name = $1
include = $secret/inc.ini
[readiness]
require =
[snapshots]
root = $secret/snapshots
[nix]
conf = $T_TMP/nix/nix.conf
${2:-}
EOF
}
write_policy hardening

# Leases of an earlier run: one of nobody's and one of root's that hold nothing the restore
# could find missing, and three that hold what is not there.
nobody_uid=$(id -u nobody)
python3 - "$AGENT_RUN/leases.json" "$nobody_uid" "$secret" <<'EOF'
import json, sys
path, nobody, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def lease(id, label, uid, **kw):
    l = {"id": id, "label": label, "state": "active", "uid": uid, "gid": uid, "pid": 4242,
         "client": ":1.4242", "persist": True, "created_realtime_usec": 1,
         "hugepage_size": 0, "hugepage_bytes": 0, "snapshot": False, "template": "",
         "snapshot_path": "", "snapshot_subvolume": False, "snapshot_source": "none", "taps": []}
    l.update(kw)
    return l
leases = [
    lease("00000000000000a1", "nobodys-own", nobody),
    lease("00000000000000a2", "root-secret-label", 0),
    lease("00000000000000b1", "one-tebibyte", 0, hugepage_size=2097152,
          hugepage_bytes=1 << 40),
    lease("00000000000000b2", "outside-root", 0, snapshot=True,
          snapshot_path="/etc/leases/00000000000000b2", snapshot_source="slot"),
    lease("00000000000000b3", "tap-gone", 0, taps=[{"name": "htapgone9", "original_owner": -1}]),
]
json.dump({"schema": "hosttune.leases/1", "leases": leases}, open(path, "w"))
EOF

gcall() { # gdbus: shows D-Bus error names
	gdbus call --address "$BUS_ADDR" --dest org.hosttune.Agent1 \
		--object-path /org/hosttune/Agent1 --method "org.hosttune.Agent1.$1" "${@:2}"
}

start_bus system
start_notify_listener
start_agent --policy "$policy"

# --- 6: restore checks the leases against what is there
list_json() { # list_json [bctl|bctl_nobody]: ListLeases as JSON
	"${1:-bctl}" --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 \
		org.hosttune.Agent1 ListLeases
}
labels() { list_json "$@" | python3 -c '
import json, sys
print(" ".join(sorted(l[1] for l in json.load(sys.stdin)["data"][0])))'; }
assert_eq "leases restored (ListLeases as root)" "nobodys-own root-secret-label" "$(labels)"
assert_eq "HugePagesLeased after restore" "t 0" "$(agent_prop HugePagesLeased)"
for what in "one-tebibyte.*1T.* do not fit the pool" "outside-root.*is not $secret/snapshots/leases" \
	"tap-gone.*its tap htapgone9 is gone"; do
	grep -q "is not restored: .*" "$T_TMP/agent.log" &&
		grep "is not restored" "$T_TMP/agent.log" | grep_all -q "$what" ||
		fail "no log line for $what: $(grep -i lease "$T_TMP/agent.log")"
done
grep -q "released: not restored" "$T_TMP/agent.log" || fail "the release does not say why: $(grep released "$T_TMP/agent.log")"
ok "each lease that was not restored has its log line, and is released as not restored"
[ -d /etc/leases ] && fail "/etc/leases exists"
ok "nothing was made or deleted under /etc"

# --- 9: who sees what
out=$(list_json bctl_nobody)
python3 - "$out" <<'EOF' || fail "ListLeases as nobody: $out"
import json, sys
leases = json.loads(sys.argv[1])["data"][0]
own = [l for l in leases if l[1] == "nobodys-own"]
others = [l for l in leases if l[1] != "nobodys-own"]
assert len(own) == 1 and own[0][2]["pid"]["data"] == 4242, own
assert len(others) == 1, others
o = others[0]
assert o[0] == "" and o[1] == "" and o[2]["redacted"]["data"] is True, o
for k in ("pid", "uid", "client", "label", "snapshot", "taps"):
    assert k not in o[2], (k, o)
assert "root-secret" not in sys.argv[1] and ":1.4242" not in json.dumps(others)
EOF
ok "nobody sees its own lease in full, root's only as sizes"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$HOSTTUNE" lease list --bus "$BUS_ADDR" 2>&1) ||
	fail "hosttune lease list as nobody: $out"
grep -q "^(other user) " <<<"$out" && grep -q nobodys-own <<<"$out" &&
	! grep -q root-secret <<<"$out" || fail "hosttune lease list as nobody: $out"
ok "hosttune lease list as nobody: its own lease and one '(other user)'"
list_json | grep_all -q root-secret-label || fail "root does not see root's lease"
ok "root sees every lease"

# The documents as text without JSON's optional "\/" escapes, for grep.
unescape() { python3 -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())))'; }
report_root=$(agent_doc GetReport | unescape)
report_nobody=$(bctl_nobody --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 \
	org.hosttune.Agent1 GetReport | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0])' |
	unescape)
grep -q "$secret/snapshots" <<<"$report_root" || fail "root's GetReport lacks the snapshot root: $report_root"
grep -q "feature-only-root-sees" <<<"$report_root" || fail "root's GetReport lacks the features"
grep -q "$secret" <<<"$report_nobody" && fail "nobody's GetReport shows $secret: $report_nobody"
grep -q "feature-only-root-sees" <<<"$report_nobody" && fail "nobody's GetReport shows the features"
grep -q '(hidden)' <<<"$report_nobody" || fail "nobody's GetReport does not say what it hid"
ok "GetReport: root sees $secret and the nix.conf features, nobody sees neither"

# How check judges the policy in force, before anything is refused.
rc_before=0
"$HOSTTUNE" check >/dev/null 2>&1 || rc_before=$?

# --- 3: a dangerous path refused through Reload, the old policy stays
write_policy hardening-2 "[hugepages]
mount = /etc"
line=$(grep -n '^mount = /etc' "$policy" | cut -d: -f1)
expect_error org.hosttune.Error.InvalidPolicy gcall Reload
out=$(gcall Reload 2>&1 || true)
grep -qF "$policy:$line: mount: '/etc' is not a place for a hugetlbfs mount" <<<"$out" ||
	fail "Reload of mount = /etc: $out"
ok "Reload refuses mount = /etc at $policy:$line"
assert_eq "Generation unchanged" "t 1" "$(agent_prop Generation)"
assert_eq "PolicyName unchanged" 's "hardening"' "$(agent_prop PolicyName)"
grep -q " /etc hugetlbfs" /proc/self/mounts && fail "hugetlbfs is mounted on /etc"
ok "nothing mounted on /etc"

# --- 10: check judges by the policy in force and warns
rc=0
out=$("$HOSTTUNE" check 2>&1) || rc=$?
grep -q "^WARN *policy .*hosttuned refused the policy on disk: $policy:$line: mount" <<<"$out" ||
	fail "check does not warn about the refused file: $out"
grep -q "(policy hardening of hosttuned, generation 1)" <<<"$out" || fail "check: $out"
[ $rc -eq "$rc_before" ] || fail "check exited $rc after a refused reload, $rc_before before: $out"
ok "check after a refused reload: exit $rc, $(echo "$out" | grep '^WARN *policy' | cut -c1-110)"
"$HOSTTUNE" check --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["source"] == "agent" and "refused" in d["agent"]["policy_warning"], d["agent"]' ||
	fail "check --json: no agent.policy_warning"
ok "check --json carries agent.policy_warning"
# Without the agent the same file is a bad policy (exit 2): the fast path is what saved check.
rc=0
HOSTTUNE_RUNTIME_DIR=$T_TMP/none "$HOSTTUNE" check --policy "$policy" >/dev/null 2>&1 || rc=$?
assert_eq "check --policy of the refused file" 2 $rc

# --- 8: ESC and BEL escaped in validate and LastError
printf '[policy]\nname = esc\ndescription = bell\007 and \033[31mred\n' >"$T_TMP/esc.ini"
out=$("$HOSTTUNE" policy validate "$T_TMP/esc.ini" 2>&1 || true)
od -An -c <<<"$out" | grep_all -qE '033|007' && fail "validate echoes raw ESC/BEL: $(od -c <<<"$out")"
grep -qF 'bell\x07 and \x1b[31mred' <<<"$out" || fail "validate output: $out"
ok "validate escapes ESC and BEL: $out"
cp "$T_TMP/esc.ini" "$policy"
expect_error org.hosttune.Error.InvalidPolicy gcall Reload
bctl --json=short get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 \
	LastError | python3 -c '
import json, sys
v = json.load(sys.stdin)["data"]
assert "\x1b" not in v and "\x07" not in v, repr(v)
assert "bell\\x07 and \\x1b[31mred" in v, repr(v)' || fail "LastError holds raw control characters"
ok "LastError escapes ESC and BEL"
grep -q $'\033' "$T_TMP/agent.log" && fail "the agent's log holds a raw ESC"
ok "the agent's log holds no raw ESC"

# --- 9: LastError of a broken 0600 include
write_policy hardening-3
printf '[memory]\nswapiness = 1\n' >"$secret/inc.ini"
expect_error org.hosttune.Error.InvalidPolicy gcall Reload
root_err=$(agent_prop LastError)
nobody_err=$(bctl_nobody get-property org.hosttune.Agent1 /org/hosttune/Agent1 \
	org.hosttune.Agent1 LastError)
grep -q "$secret/inc.ini:2: swapiness" <<<"$root_err" || fail "root's LastError: $root_err"
grep -q "inc.ini\|swapiness" <<<"$nobody_err" && fail "nobody's LastError: $nobody_err"
grep -q "details hidden" <<<"$nobody_err" || fail "nobody's LastError: $nobody_err"
ok "LastError: root sees $secret/inc.ini:2, nobody: $nobody_err"

finish_agent
