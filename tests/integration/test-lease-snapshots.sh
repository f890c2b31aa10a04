#!/bin/bash
# SPDX-License-Identifier: MIT
# Snapshot-directory leases on a real btrfs (a loop file this test makes), with hosttuned on a
# private bus: a prepared snapshot of a template and an empty slot are handed out by rename, owned
# by the caller, listed, refilled in the background and deleted on release; bad requests change
# nothing; a holder killed with SIGKILL loses its lease and its subvolume; the agent killed with
# SIGKILL keeps its leases across a restart, gives back those whose holder left meanwhile and
# removes a leftover directory; a root not on btrfs falls back to copies. Readings: `btrfs
# subvolume list/show`, stat, cmp, the lease file, busctl.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_cmd cmp stat

make_btrfs 1G
root=$BTRFS/snapshots
policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = lease-snapshots
[snapshots]
root = $root
slots = 2
templates = base
prepared = 2
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
EOF

start_bus open
start_notify_listener
start_agent --policy "$policy"
[ -d "$root/slots" ] || fail "the agent did not make the snapshot root"

# The template: a subvolume the operator puts under templates/; Apply prepares its snapshots.
btrfs -q subvolume create "$root/templates/base"
head -c 4M /dev/urandom >"$root/templates/base/rootfs.img"
echo hello >"$root/templates/base/etc-motd"
agent_call Apply b false >/dev/null
prepared() { find "$root/prepared/base" -mindepth 1 -maxdepth 1 | wc -l; }
slots() { find "$root/slots" -mindepth 1 -maxdepth 1 | wc -l; }
assert_eq "prepared snapshots of base" 2 "$(prepared)"
assert_eq "empty slots" 2 "$(slots)"
tmpl_uuid=$(btrfs subvolume show "$root/templates/base" | awk '$1 == "UUID:" {print $2}')
base_subvols=$(subvols)

# --- a prepared snapshot, as root
id=$(acquire_id --snapshot base --label first)
dir=$root/leases/$id
[ -d "$dir" ] || fail "no directory $dir"
assert_eq "lease snapshot is a snapshot of the template (btrfs subvolume show)" "$tmpl_uuid" \
	"$(btrfs subvolume show "$dir" | awk '$1 == "Parent" && $2 == "UUID:" {print $3}')"
cmp "$root/templates/base/rootfs.img" "$dir/rootfs.img" || fail "content differs from the template"
assert_eq "owner of $dir" "0:0" "$(stat -c %u:%g "$dir")"
assert_eq "snapshot path in ListLeases" "$dir" "$(lease_field "$id" snapshot)"
assert_eq "label in ListLeases" "first" "$(lease_field "$id" label)"
lease_file >"$T_TMP/leases.now"
python3 - "$T_TMP/leases.now" "$id" <<'PY' || fail "lease file: $(cat "$AGENT_RUN/leases.json")"
import json, sys
leases = json.load(open(sys.argv[1]))["leases"]
assert [l["id"] for l in leases] == [sys.argv[2]], leases
assert leases[0]["state"] == "active" and leases[0]["persist"], leases[0]
PY
ok "the lease file records it"
# The prepared set is refilled in the background.
wait_for "the prepared set to be refilled" '[ "$(prepared)" = 2 ]'
ok "prepared set refilled to 2"

# --- an empty slot, as a member of the lease group: owned by that member
out=$(as_member "$HOSTTUNE" lease acquire --bus "$BUS_ADDR" --snapshot "" --persist --json)
id2=$(echo "$out" | jq_py 'd["id"]')
dir2=$(echo "$out" | jq_py 'd["grant"]["snapshot"]')
assert_eq "owner of the slot (stat)" "$(id -u daemon):$(id -g daemon)" "$(stat -c %u:%g "$dir2")"
btrfs subvolume show "$dir2" >/dev/null || fail "$dir2 is not a subvolume"
assert_eq "empty slot is empty" "" "$(ls -A "$dir2")"
as_member touch "$dir2/disk.img" || fail "the holder cannot write its directory"
wait_for "the slots to be refilled" '[ "$(slots)" = 2 ]'
# Another member of the group may not end it; its holder may.
rc=0
out=$(as_other_member "$HOSTTUNE" lease release --bus "$BUS_ADDR" "$id2" 2>&1) || rc=$?
assert_eq "exit status of releasing someone else's lease" 3 $rc
grep -q "belongs to uid $(id -u daemon)" <<<"$out" || fail "no reason: $out"
[ -d "$dir2" ] || fail "someone else's release removed the directory"
out=$(as_member "$HOSTTUNE" lease release --json --bus "$BUS_ADDR" "$id2")
assert_eq "lease release --json" "$id2 True" "$(echo "$out" | jq_py 'd["id"], d["released"]' | tr '\n' ' ' | sed 's/ $//')"
wait_for "the slot's subvolume to go" '! btrfs subvolume list "$BTRFS" | grep_all -q "leases/$id2"'
ok "released by its holder; the subvolume is gone (btrfs subvolume list)"
rc=0
ht_lease release "$id2" 2>/dev/null || rc=$?
assert_eq "exit status of releasing it again (NoSuchLease)" 1 $rc
rc=0
out=$(ht_lease release --json "$id2" 2>/dev/null) || rc=$?
assert_eq "lease release --json of a lease that is gone: exit status" 1 $rc
assert_eq "lease release --json of a lease that is gone" "False org.hosttune.Error.NoSuchLease" \
	"$(echo "$out" | jq_py 'd["released"], d["error"]["name"]' | tr '\n' ' ' | sed 's/ $//')"
# Not in the lease group: AccessDenied from the agent itself (the bus lets anyone call here).
expect_error org.hosttune.Error.AccessDenied setpriv --reuid=nobody --regid=nogroup --clear-groups \
	gdbus call --address "$BUS_ADDR" --dest org.hosttune.Agent1 --object-path /org/hosttune/Agent1 \
	--method org.hosttune.Agent1.AcquireLease "{'snapshot': <''>}"
bctl_nobody call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 ListLeases >/dev/null ||
	fail "ListLeases is not open to everyone"
ok "anyone may list leases"

# --- bad requests: an error each, and nothing changes
ln -s /etc "$root/templates/evil"
printf 'not a dir' >"$root/templates/file"
fingerprint() {
	{
		subvols
		cat "$AGENT_RUN/leases.json"
		list_ids
		ls "$root/leases" "$root/slots" "$root/prepared/base"
		agent_prop HugePagesLeased
	} 2>&1 | sha256sum
}
before=$(fingerprint)
long=$(printf 'a%.0s' $(seq 64))
bad=org.freedesktop.DBus.Error.InvalidArgs
expect_error $bad gacq "{'color': <'red'>}"
expect_error $bad gacq "{'snapshot': <uint32 1>}"
expect_error $bad gacq "{'hugepages': <'2G'>}"
expect_error $bad gacq "{'hugepages': <int64 -2097152>}"
expect_error $bad gacq "{'hugepages': <int32 -1>}"
expect_error $bad gacq "{'hugepages': <uint64 0>}"
expect_error $bad gacq "{'hugepages': <uint64 18446744073709551615>}"
expect_error $bad gacq "{'hugepages': <uint64 2097152>, 'hugepage-size': <uint64 3000>}"
expect_error $bad gacq "{'hugepage-size': <uint64 2097152>}"
expect_error $bad gacq "{'taps': <'two'>}"
expect_error $bad gacq "{'taps': <uint32 1>}"
expect_error $bad gacq "{'persist': <'yes'>}"
expect_error $bad gacq "{'snapshot': <'base'>, 'wait': <uint64 5>}"
expect_error $bad gacq "{'snapshot': <'base'>, 'wait': <uint32 999999>}"
expect_error $bad gacq "{'snapshot': <'base'>, 'label': <'two\\nlines'>}"
expect_error $bad gacq "{'snapshot': <'base'>, 'snapshot': <'base'>}"
expect_error $bad gacq "@a{sv} {}"
for name in ../etc base/../base /etc .hidden a..b "$long" nope evil file base/ "ba se"; do
	expect_error $bad gacq "{'snapshot': <'$name'>}"
done
rc=0
ht_lease acquire --persist --hugepages -1 2>/dev/null || rc=$?
assert_eq "hosttune lease acquire --hugepages -1" 2 $rc
rc=0
ht_lease acquire --persist --snapshot ../etc 2>/dev/null || rc=$?
assert_eq "hosttune lease acquire --snapshot ../etc" 2 $rc
rc=0
ht_run --snapshot nope -- true 2>/dev/null || rc=$?
assert_eq "hosttune run --snapshot nope" 125 $rc
assert_eq "nothing changed after the bad requests" "$before" "$(fingerprint)"
rm "$root/templates/evil" "$root/templates/file"

# --- a holder killed with SIGKILL: its lease, its subvolume and its command go
"$HOSTTUNE" run --bus "$BUS_ADDR" --snapshot base --label doomed -- sleep 600 &
holder=$!
wait_for "the holder's lease" 'list_ids | grep_all -q " doomed$"'
doomed=$(list_ids | awk '$2 == "doomed" {print $1}')
[ -d "$root/leases/$doomed" ] || fail "the holder has no directory"
wait_for "its command" 'pgrep -P '"$holder"' sleep'
cmd_pid=$(pgrep -P "$holder" sleep)
kill -9 "$holder"
wait "$holder" 2>/dev/null || true
wait_for "the lease of the killed holder to go" '! list_ids | grep_all -q " doomed$"'
wait_for "its subvolume to go" '! btrfs subvolume list "$BTRFS" | grep_all -q "leases/$doomed"'
wait_for "its command to be killed with it" '! kill -0 '"$cmd_pid"
ok "SIGKILL of a holder: lease released, subvolume deleted, command killed"

# --- hosttune run: the environment, signals passed on, CMD's exit status
out=$T_TMP/out
mkdir -m 0777 "$out"
cat >"$T_TMP/cmd.sh" <<'EOF'
env | grep '^HOSTTUNE_' | sort >"$1/env"
trap 'echo TERM >"$1/signal"; exit 3' TERM
touch "$1/started"
while :; do sleep 0.05; done
EOF
"$HOSTTUNE" run --bus "$BUS_ADDR" --snapshot base --label sig -- sh "$T_TMP/cmd.sh" "$out" &
runner=$!
wait_for "the command to start" 'test -e "$out/started"'
sig_id=$(list_ids | awk '$2 == "sig" {print $1}')
grep -qx "HOSTTUNE_LEASE=$sig_id" "$out/env" || fail "environment: $(cat "$out/env")"
grep -qx "HOSTTUNE_SNAPSHOT_DIR=$root/leases/$sig_id" "$out/env" || fail "environment: $(cat "$out/env")"
grep -q "^HOSTTUNE_TAPS\|^HOSTTUNE_HUGEPAGES" "$out/env" && fail "leased nothing of that: $(cat "$out/env")"
kill -TERM "$runner"
rc=0
wait "$runner" || rc=$?
assert_eq "what the command got" TERM "$(cat "$out/signal")"
assert_eq "exit status of hosttune run: the command's" 3 $rc
wait_for "its lease to end" '! list_ids | grep_all -q " sig$"'
rc=0
ht_run --snapshot "" -- sh -c 'kill -KILL $$' || rc=$?
assert_eq "exit status when a signal killed the command (128+9)" 137 $rc
rc=0
ht_run --snapshot "" -- /nonexistent/cmd 2>/dev/null || rc=$?
assert_eq "exit status for a command that does not exist" 127 $rc

# --- hosttune lease acquire without --persist holds the lease until it is stopped
"$HOSTTUNE" lease acquire --bus "$BUS_ADDR" --snapshot "" --label held --json >"$out/held" &
acquirer=$!
wait_for "the grant" 'test -s "$out/held"'
held=$(jq_py 'd["id"]' <"$out/held")
assert_eq "the held lease is listed" "$held held" "$(list_ids | grep " held$")"
kill -TERM "$acquirer"
rc=0
wait "$acquirer" || rc=$?
assert_eq "exit status of the stopped acquire" 0 $rc
assert_eq "the held lease after SIGTERM" "" "$(list_ids | grep " held$" || true)"

# --- the agent killed with SIGKILL while leases are out
"$HOSTTUNE" run --bus "$BUS_ADDR" --snapshot base --label alive -- sleep 600 &
alive_holder=$!
"$HOSTTUNE" run --bus "$BUS_ADDR" --snapshot "" --label leaves -- sleep 600 &
leaving_holder=$!
wait_for "two more leases" '[ "$(lease_count)" = 3 ]'
alive=$(list_ids | awk '$2 == "alive" {print $1}')
leaving=$(list_ids | awk '$2 == "leaves" {print $1}')
wait_for "refills before the crash" '[ "$(prepared)" = 2 ] && [ "$(slots)" = 2 ]'
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=
# While it is down: one holder leaves, and a directory appears that no lease names (what a crash
# between taking a directory and recording the lease leaves behind).
kill -9 "$leaving_holder"
wait "$leaving_holder" 2>/dev/null || true
btrfs -q subvolume create "$root/leases/0123456789abcdef"
start_agent --policy "$policy"
assert_eq "leases after the restart (ListLeases)" "$(printf '%s first\n%s alive' "$id" "$alive" | sort)" \
	"$(list_ids | sort)"
[ -d "$root/leases/$alive" ] && [ -d "$root/leases/$id" ] || fail "a kept lease lost its directory"
wait_for "the left holder's subvolume to go" '! btrfs subvolume list "$BTRFS" | grep_all -q "leases/$leaving"'
btrfs subvolume list "$BTRFS" | grep_all -q "leases/0123456789abcdef" && fail "the leftover is still there"
assert_eq "lease directories (nothing leaked or doubled)" "$(printf '%s\n%s' "$id" "$alive" | sort | xargs)" \
	"$(ls "$root/leases" | sort | xargs)"
# (a lease's removal reaches the file up to 50 ms after it: docs/leases.md, "Lifetimes")
wait_for "2 records in the lease file" '[ "$(lease_file | jq_py "len(d[\"leases\"])")" = 2 ]'
ok "records in the lease file: 2"
# The restarted agent still watches the holder it kept.
kill -9 "$alive_holder"
wait "$alive_holder" 2>/dev/null || true
wait_for "the kept holder's lease to go once it is killed" '! list_ids | grep_all -q " alive$"'
ht_lease release "$id" >/dev/null
wait_for "every lease subvolume to go" '[ -z "$(ls "$root/leases")" ]'
wait_for "the refills" '[ "$(prepared)" = 2 ] && [ "$(slots)" = 2 ]'
assert_eq "subvolumes at the end (btrfs subvolume list)" "$base_subvols" "$(subvols)"

# --- not on btrfs: copies and plain directories, with the same lease semantics
plain=$T_TMP/plain
cat >"$policy" <<EOF
[policy]
name = lease-plain
[snapshots]
root = $plain
slots = 1
templates = img
prepared = 1
nocow = no
[agent]
reprobe-interval = 0
EOF
mkdir -p "$plain/templates/img/sub"
echo payload >"$plain/templates/img/sub/file"
assert_eq "Reload" "t 2" "$(agent_call Reload)"
agent_call Apply b false >/dev/null
out=$(ht_lease acquire --persist --json --snapshot img)
pid_dir=$(echo "$out" | jq_py 'd["grant"]["snapshot"]')
pid=$(echo "$out" | jq_py 'd["id"]')
assert_eq "a copy of the template" payload "$(cat "$pid_dir/sub/file")"
assert_eq "not a subvolume" False "$(echo "$out" | jq_py 'd["grant"]["snapshot-subvolume"]')"
ht_lease release "$pid" >/dev/null
wait_for "the copy to be removed" '[ ! -e "$pid_dir" ]'
ok "plain-directory fallback: copy handed out and removed"
finish_agent
