#!/bin/bash
# SPDX-License-Identifier: MIT
# The lease file (<runtime dir>/leases.json) against the leases the agent answers for, with
# hosttuned on a private bus and snapshot slots in a plain directory: a grant is on disk when its
# reply arrives (read at once, no waiting); releases are written once the agent is idle, so a
# burst of them (a holder of 300 leases leaving) ends with a file that lists exactly the leases
# left; and what the file lists is what a restarted agent has, after a clean stop and after
# kill -9.
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

# The ids in the lease file (the agent's own parser is not used: plain JSON).
file_ids() {
	python3 -c '
import json, sys
for l in json.load(open(sys.argv[1]))["leases"]:
    print(l["id"])' "$AGENT_RUN/leases.json" | sort | xargs
}
bus_ids() { list_ids | awk '{print $1}' | sort | xargs; }
file_count() { file_ids | wc -w; }

# --- every grant is on record before its reply: the file read right after each one lists it
persist=()
for i in $(seq 1 20); do
	id=$(acquire_id --snapshot "" --label "p$i")
	file_ids | grep_all -qw "$id" || fail "lease $id granted but not in leases.json"
	persist+=("$id")
done
ok "20 grants: each one in the lease file when its reply came"

# --- a holder of 300 leases; then it leaves: one burst of releases
"$HELPERS/lease-cycle" --address "$BUS_ADDR" --count 300 --snapshot "" --hold --keep \
	>"$T_TMP/holder.log" 2>&1 &
holder=$!
defer "kill $holder 2>/dev/null"
wait_for "300 leases held" 'grep -q "^acquired 300" "$T_TMP/holder.log"'
assert_eq "leases in the file with the holder's 300" 320 "$(file_count)"
assert_eq "the file lists what ListLeases lists" "$(bus_ids)" "$(file_ids)"
kill $holder
wait $holder 2>/dev/null || true
wait_for "the holder's leases to leave the file" '[ "$(file_count)" = 20 ]'
assert_eq "after the holder left: the file lists the persisting leases" \
	"$(printf '%s\n' "${persist[@]}" | sort | xargs)" "$(file_ids)"
assert_eq "no directory of a released lease is left" 20 \
	"$(find "$root/leases" -mindepth 1 -maxdepth 1 | wc -l)"

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
start_agent --policy "$policy"
assert_eq "leases after a restart from kill -9" "$kept" "$(bus_ids)"
for id in $kept; do ht_lease release "$id" >/dev/null; done
wait_for "an empty lease file" '[ "$(file_count)" = 0 ]'
finish_agent
