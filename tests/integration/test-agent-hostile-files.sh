#!/bin/bash
# SPDX-License-Identifier: MIT
# Replays the file attacks of issue 12 (points 1, 2, 4, 7) against the real binaries, on a
# private dbus-daemon and the real kernel:
#   A: nix.conf !includes a FIFO: the agent starts, and Check, GetReport and Peer.Ping answer
#      (each under `timeout`); the report names the FIFO and says it was refused. `[nix] conf`
#      naming a FIFO: `hosttune check` returns at once with a clear message.
#   B: a FIFO as journal.json, as agent.state, as leases.json: `hosttune apply`, `hosttune
#      revert`, `hosttune check` and the agent's start return (under `timeout`) and say why.
#   C: hard links to victim files planted at the predictable temporary names of the old code
#      (NAME.tmp.PID of the writing process) for all six outputs (ready.json, metrics.prom,
#      nix.conf, agent.state, leases.json, journal.json): every output is rewritten, and every
#      victim keeps its content and mode (stat(1)).
#   D: a symbolic link at journal.lock: apply refuses it and its target is never created.
#   E: leftover temporary files of killed writers (old NAME.tmp.PID and new .NAME.tmp-HEX)
#      are removed when the agent starts and before an apply; files that only look alike stay.
# The hugepage pool (1 page for the lease) and the journal are put back at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd timeout stat mkfifo
kernel_lock

hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -w $hp ] || skip "no 2 MiB hugepage pool on this kernel"
orig_pool=$(cat $hp)
defer "echo $orig_pool > $hp"
defer "HOSTTUNE_RUNTIME_DIR=$AGENT_RUN timeout 20 $HOSTTUNE revert >/dev/null 2>&1 || true"

start_bus system
start_notify_listener

fifo=$T_TMP/fifo
mkfifo "$fifo"
# Anything that opens the FIFO for reading with a blocking open would wait for a writer forever;
# `timeout` turns that into exit 124, which every step below treats as the failure it is.
no_hang() { # no_hang WHAT CMD...: CMD returns within 5 s; its output in $out, status in $rc
	local what=$1
	shift
	rc=0
	out=$(timeout 5 "$@" 2>&1) || rc=$?
	[ $rc -ne 124 ] || fail "$what hung (killed after 5 s)"
	ok "$what returned (exit $rc)"
}

# --- A: nix.conf that !includes a FIFO --------------------------------------------------------
cat >"$T_TMP/nix.conf" <<EOF
sandbox = true
!include $fifo
EOF
policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = hostile-files

[readiness]
require = nix

[nix]
conf = $T_TMP/nix.conf

[agent]
reprobe-interval = 1s
EOF
start_agent --policy "$policy"
ok "hosttuned started with a nix.conf that includes a FIFO"
# timeout runs programs, not shell functions: busctl by hand.
no_hang "Check" busctl --address="$BUS_ADDR" call org.hosttune.Agent1 /org/hosttune/Agent1 \
	org.hosttune.Agent1 Check 'a{sv}' 0
[ $rc -eq 0 ] || fail "Check failed: $out"
no_hang "GetReport" busctl --address="$BUS_ADDR" call org.hosttune.Agent1 /org/hosttune/Agent1 \
	org.hosttune.Agent1 GetReport
[ $rc -eq 0 ] || fail "GetReport failed: $out"
report=$out
no_hang "Peer.Ping" busctl --address="$BUS_ADDR" call org.hosttune.Agent1 /org/hosttune/Agent1 \
	org.freedesktop.DBus.Peer Ping
[ $rc -eq 0 ] || fail "Ping failed: $out"
reason=$(agent_doc GetReport | python3 -c '
import json, sys
def walk(o):
    if isinstance(o, dict):
        if o.get("id") == "nix" and "reason" in o:
            print(o["reason"]); sys.exit(0)
        for v in o.values(): walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(json.load(sys.stdin))')
case $reason in
*"$fifo"*"not a regular file"*) ok "the nix probe names the FIFO: $reason" ;;
*) fail "the nix probe's reason does not name the refused FIFO: '$reason'" ;;
esac
[ -n "$report" ] || fail "GetReport returned nothing"
finish_agent

# `[nix] conf` naming the FIFO itself: the CLI probes directly (no agent runs).
cat >"$T_TMP/fifo-conf.ini" <<EOF
[readiness]
require = nix
[nix]
conf = $fifo
EOF
no_hang "hosttune check with [nix] conf = FIFO" "$HOSTTUNE" check --offline --policy "$T_TMP/fifo-conf.ini"
case $out in
*"$fifo"*"not a regular file"*) ok "check says: $(grep -m1 "$fifo" <<<"$out")" ;;
*) fail "check does not say the FIFO was refused: $out" ;;
esac
[ $rc -ne 0 ] || fail "check passed with an unreadable nix.conf"

# --- B: FIFOs where the runtime files are ------------------------------------------------------
apply_policy=$T_TMP/apply.ini
cat >"$apply_policy" <<EOF
[policy]
name = hostile-apply

[hugepages]
pool = 2M
EOF
rm -f "$AGENT_RUN/journal.json"
mkfifo "$AGENT_RUN/journal.json"
no_hang "hosttune apply with a FIFO journal" "$HOSTTUNE" apply --policy "$apply_policy"
[ $rc -ne 0 ] || fail "apply went ahead with a FIFO as its journal"
grep -q "not a regular file" <<<"$out" || fail "apply does not say why: $out"
ok "apply: $(grep -m1 -e "not a regular file" -e "symbolic link" <<<"$out")"
no_hang "hosttune revert with a FIFO journal" "$HOSTTUNE" revert
[ $rc -ne 0 ] || fail "revert claimed success with a FIFO as its journal"
grep -q "not a regular file" <<<"$out" || fail "revert does not say why: $out"
# The agent applies at start: it must stop with the reason instead of waiting on the FIFO.
no_hang "hosttuned start with a FIFO journal" "$HOSTTUNED" --bus "$BUS_ADDR" \
	--runtime-dir "$AGENT_RUN" --policy "$apply_policy"
[ $rc -ne 0 ] || fail "hosttuned started over a FIFO journal"
grep -q "revert journal.*not a regular file" <<<"$out" || fail "hosttuned does not say why: $out"
ok "hosttuned: $(grep -m1 'revert journal' <<<"$out")"
rm "$AGENT_RUN/journal.json"
# agent.state as a FIFO: `hosttune check` asks whether an agent runs by reading it.
rm -f "$AGENT_RUN/agent.state"
mkfifo "$AGENT_RUN/agent.state"
no_hang "hosttune check with a FIFO agent.state" "$HOSTTUNE" check --policy "$policy"
rm "$AGENT_RUN/agent.state"
# leases.json as a FIFO: the agent starts, sets it aside and says so.
rm -f "$AGENT_RUN/leases.json"
mkfifo "$AGENT_RUN/leases.json"
start_agent --policy "$policy"
[ -p "$AGENT_RUN/leases.json.bad" ] || fail "the FIFO leases.json was not set aside"
grep -q "leases: cannot read .*not a regular file" "$T_TMP/agent.log" ||
	fail "the agent does not say why it set leases.json aside"
ok "a FIFO leases.json: set aside, $(grep -m1 'leases: cannot read' "$T_TMP/agent.log" | cut -c1-160)"
finish_agent
rm -f "$AGENT_RUN/leases.json.bad"

# --- C: hard links at the old predictable temporary names -------------------------------------
outputs="ready.json metrics.prom nix.conf agent.state leases.json journal.json"
victims=$T_TMP/victims # same file system as the runtime directory: hard links need that
mkdir -p "$victims"
# plant PID: for every output, a victim file of its own (mode 0600) linked at NAME.tmp.PID.
plant() {
	local name
	for name in $outputs; do
		printf 'victim of %s\n' "$name" >"$victims/$name"
		chmod 0600 "$victims/$name"
		ln -f "$victims/$name" "$AGENT_RUN/$name.tmp.$1"
	done
}
check_victims() {
	local name
	for name in $outputs; do
		assert_eq "victim of $name: content" "victim of $name" "$(cat "$victims/$name")"
		assert_eq "victim of $name: mode" 600 "$(stat -c %a "$victims/$name")"
	done
}
inode() { stat -c %i "$AGENT_RUN/$1" 2>/dev/null || echo none; }

start_agent --policy "$policy"
plant "$AGENT_PID"
declare -A before
for name in $outputs; do before[$name]=$(inode "$name"); done
# Rewrite everything: a policy whose apply changes the pool (journal.json), a reload (ready.json,
# metrics.prom, nix.conf, agent.state), a persisting lease and its release (leases.json).
cat >"$policy" <<EOF
[policy]
name = hostile-files-2

[readiness]
require = nix

[nix]
conf = $T_TMP/nix.conf

[hugepages]
pool = 2M
max = 2M

[agent]
reprobe-interval = 1s
EOF
agent_call Reload >/dev/null
wait_for "the new policy's apply" '[ "$(cat $hp)" -ge 1 ] && [ -f "$AGENT_RUN/journal.json" ]'
lease=$(bctl --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 \
	AcquireLease 'a{sv}' 2 hugepages t 2097152 persist b true | jq_py 'd["data"][0]')
[ -f "$AGENT_RUN/leases.json" ] || fail "no leases.json after a persisting lease"
agent_call ReleaseLease s "$lease" >/dev/null
wait_for "ready.json of generation 2" 'grep -q "\"generation\": 2" "$AGENT_RUN/ready.json"'
# leases.json is a log, appended to through the descriptor of its last rewrite: the release's
# last line (the lease's removal, written up to 50 ms after it) leaves only dead lines, and the
# file is written anew (compacted) through a temporary file.
wait_for "leases.json compacted after the release" '[ "$(inode leases.json)" != "${before[leases.json]}" ]'
for name in $outputs; do
	[ -f "$AGENT_RUN/$name" ] || fail "$name was not written"
	[ "$(inode "$name")" != "${before[$name]}" ] || fail "$name was not rewritten"
	[ "$(stat -c %h "$AGENT_RUN/$name")" = 1 ] || fail "$name is linked elsewhere"
done
ok "all six outputs were rewritten while links were planted at their old temporary names"
check_victims
finish_agent
# The CLI's apply and revert write the journal too: plant for the pid that execs hosttune.
HOSTTUNE_RUNTIME_DIR=$AGENT_RUN timeout 20 "$HOSTTUNE" revert >/dev/null
cat >"$T_TMP/plant-exec.sh" <<EOF
#!/bin/bash
for name in $outputs; do ln -f "$victims/\$name" "$AGENT_RUN/\$name.tmp.\$\$"; done
exec "\$@"
EOF
chmod +x "$T_TMP/plant-exec.sh"
no_hang "hosttune apply (links planted for its pid)" "$T_TMP/plant-exec.sh" "$HOSTTUNE" apply \
	--policy "$apply_policy"
[ $rc -eq 0 ] || fail "apply failed: $out"
[ -f "$AGENT_RUN/journal.json" ] || fail "apply wrote no journal"
no_hang "hosttune revert (links planted for its pid)" "$T_TMP/plant-exec.sh" "$HOSTTUNE" revert
[ $rc -eq 0 ] || fail "revert failed: $out"
check_victims

# --- D: journal.lock as a symbolic link --------------------------------------------------------
rm -f "$AGENT_RUN/journal.lock"
ln -s "$T_TMP/created-by-root" "$AGENT_RUN/journal.lock"
no_hang "hosttune apply with a symlinked journal.lock" "$HOSTTUNE" apply --policy "$apply_policy"
[ $rc -ne 0 ] || fail "apply followed a symlinked journal.lock"
grep -q "symbolic link" <<<"$out" || fail "apply does not say why: $out"
ok "apply: $(grep -m1 -e "not a regular file" -e "symbolic link" <<<"$out")"
[ ! -e "$T_TMP/created-by-root" ] && [ ! -L "$T_TMP/created-by-root" ] ||
	fail "the symlink's target was created"
ok "the target of the symlinked journal.lock does not exist"
rm "$AGENT_RUN/journal.lock"

# --- E: leftovers of killed writers ------------------------------------------------------------
leftovers=""
for name in $outputs; do
	echo stale >"$AGENT_RUN/$name.tmp.4242"
	echo stale >"$AGENT_RUN/.$name.tmp-0123456789abcdef"
	leftovers="$leftovers $name.tmp.4242 .$name.tmp-0123456789abcdef"
done
# A hard link to a victim among them: removing the name must leave the victim alone.
ln -f "$victims/ready.json" "$AGENT_RUN/ready.json.tmp.4243"
leftovers="$leftovers ready.json.tmp.4243"
# Look-alikes that are not leftovers stay.
echo keep >"$AGENT_RUN/ready.json.tmp.abc"
mkdir "$AGENT_RUN/nix.conf.tmp.7"
start_agent --policy "$policy"
# The journal's leftovers go when the journal is opened (the first apply, under its lock).
no_hang "hosttune apply (cleans the journal's leftovers)" "$HOSTTUNE" apply --policy "$apply_policy"
for f in $leftovers; do
	[ ! -e "$AGENT_RUN/$f" ] || fail "leftover $f was not removed"
done
ok "leftover temporary files removed:$leftovers"
[ -f "$AGENT_RUN/ready.json.tmp.abc" ] && [ -d "$AGENT_RUN/nix.conf.tmp.7" ] ||
	fail "a file that only looks like a leftover was removed"
ok "look-alikes kept"
grep -q "removed .* leftover temporary file" "$T_TMP/agent.log" || fail "the agent did not log the removal"
check_victims
finish_agent
