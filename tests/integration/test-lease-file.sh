#!/bin/bash
# SPDX-License-Identifier: MIT
# The lease file (<runtime dir>/leases.json) against the leases the agent answers for, with
# hosttuned on a private bus and snapshot slots in a plain directory: a grant is on disk when its
# reply arrives (read at once, no waiting); releases are written once the agent is idle, so a
# burst of them (a holder of 300 leases leaving) ends with a file that lists exactly the leases
# left; and what the file lists is what a restarted agent has, after a clean stop and after
# kill -9. The file is a log: a grant appends one line to the same file (inode, line count),
# the burst of releases ends in a compaction (a new file of only the live leases), and a last
# line that a crash cut short is ignored at the restart, with a warning.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root

root=$T_TMP/snapshots
mkdir -p "$root"
policy=$T_TMP/policy.ini
cat >"$policy" <<EOF2
[policy]
name = lease-file
[snapshots]
root = $root
[agent]
reprobe-interval = 0
max-leases-per-uid = 0
EOF2
start_bus open
start_notify_listener
start_agent --policy "$policy"
agent_call Apply b false >/dev/null

# The ids in the lease file (the agent's own parser is not used: lease-lib.sh's replay).
file_ids() {
	lease_file | python3 -c '
import json, sys
for l in json.load(sys.stdin)["leases"]:
    print(l["id"])' | sort | xargs
}
bus_ids() { list_ids | awk '{print $1}' | sort | xargs; }
file_count() { file_ids | wc -w; }

# The file's inode and its lines (those ending in a newline), read with stat and wc.
file_inode() { stat -c %i "$AGENT_RUN/leases.json"; }
file_lines() { wc -l <"$AGENT_RUN/leases.json"; }

# --- every grant is on record before its reply: the file read right after each one lists it
inode=$(file_inode)
# Hold the file written at start open: while it is open its inode number cannot be given to a
# later file, so a compaction (a new file renamed over it; several may follow each other) always
# shows as another inode below.
exec 8<"$AGENT_RUN/leases.json"
defer "exec 8<&-"
assert_eq "lines of the lease file at start (the schema line)" 1 "$(file_lines)"
persist=()
for i in $(seq 1 20); do
	id=$(acquire_id --snapshot "" --label "p$i")
	file_ids | grep_all -qw "$id" || fail "lease $id granted but not in leases.json"
	persist+=("$id")
done
ok "20 grants: each one in the lease file when its reply came"
assert_eq "lines after 20 grants: one appended each" 21 "$(file_lines)"
assert_eq "the file appended to is the one written at start" "$inode" "$(file_inode)"

# --- a holder of 300 leases; then it leaves: one burst of releases
"$HELPERS/lease-cycle" --address "$BUS_ADDR" --count 300 --snapshot "" --hold --keep \
	>"$T_TMP/holder.log" 2>&1 &
holder=$!
defer "kill $holder 2>/dev/null"
wait_for "300 leases held" 'grep -q "^acquired 300" "$T_TMP/holder.log"'
assert_eq "leases in the file with the holder's 300" 320 "$(file_count)"
rc=0
lease_file_valid >"$T_TMP/valid.log" || rc=$?
case $rc in
0) ok "every line of the lease file ($(file_lines)) valid against docs/schema/hosttune.leases-2.json" ;;
2) ok "python3-jsonschema not installed: the lines were not validated against the schema" ;;
*) fail "the lease file against docs/schema/hosttune.leases-2.json: $(cat "$T_TMP/valid.log")" ;;
esac
assert_eq "the file lists what ListLeases lists" "$(bus_ids)" "$(file_ids)"
kill $holder
wait $holder 2>/dev/null || true
wait_for "the holder's leases to leave the file" '[ "$(file_count)" = 20 ]'
assert_eq "after the holder left: the file lists the persisting leases" \
	"$(printf '%s\n' "${persist[@]}" | sort | xargs)" "$(file_ids)"
assert_eq "no directory of a released lease is left" 20 \
	"$(find "$root/leases" -mindepth 1 -maxdepth 1 | wc -l)"
# 320 grants and 300 removals for 20 live leases: the file was written anew (compacted) whenever
# its dead lines came to outnumber the live ones, so it holds at most 2 lines a live lease.
lines=$(file_lines)
[ "$lines" -le 41 ] || fail "$lines lines in the lease file for 20 leases: not compacted"
[ "$(file_inode)" != "$inode" ] || fail "the lease file was not compacted (same inode)"
ok "after the burst: compacted, $lines lines for 20 leases"

# --- releases by ReleaseLease: once the agent is idle, the file lists exactly the rest
for id in "${persist[@]:0:10}"; do ht_lease release "$id" >/dev/null; done
kept=$(printf '%s\n' "${persist[@]:10}" | sort | xargs)
wait_for "the file to list the 10 kept leases" '[ "$(file_ids)" = "$kept" ]'
ok "10 releases written"

# --- a clean stop writes the table; a restart has what the file lists
stop_agent
assert_eq "the file after a clean stop" "$kept" "$(file_ids)"
start_agent --policy "$policy"
assert_eq "leases after a restart" "$kept" "$(bus_ids)"

# --- kill -9 right after grants: the new ones are on record, and the restarted agent keeps them
for i in 1 2 3; do
	id=$(acquire_id --snapshot "" --label "k$i")
	kept="$kept $id"
done
kept=$(echo "$kept" | xargs -n1 | sort | xargs)
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=
assert_eq "the file after kill -9" "$kept" "$(file_ids)"
# An append that the crash cut short: a last line without its newline.
printf '{ "set": { "id": "00000000000000ff", "label": "torn", "st' >>"$AGENT_RUN/leases.json"
start_agent --policy "$policy"
assert_eq "leases after a restart from kill -9" "$kept" "$(bus_ids)"
grep -q "leases: the last line of .*leases.json is incomplete (.* bytes" "$T_TMP/agent.log" ||
	fail "no warning about the torn last line"
[ "$(tail -c 1 "$AGENT_RUN/leases.json" | od -An -c | tr -d ' ')" = '\n' ] ||
	fail "the torn line is still in the file after the restart"
assert_eq "lines after the restart (compacted at start)" $(($(echo "$kept" | wc -w) + 1)) "$(file_lines)"
ok "a torn last line: ignored with a warning, gone after the start's compaction"
for id in $kept; do ht_lease release "$id" >/dev/null; done
wait_for "an empty lease file" '[ "$(file_count)" = 0 ]'
finish_agent
