#!/bin/bash
# SPDX-License-Identifier: MIT
# Two agents on one host, each in the root cgroup, each on its own private bus with its own
# runtime directory (a test agent beside the host's): each makes its lease cgroups in a
# directory of its own (docs/leases.md, "Where the cgroups are"), so both hold enforced leases at
# once, and restarting one (which sweeps the lease cgroups no lease of its own names) leaves the
# other's cgroup, its limit and its process as they were, and finds its own again. Judged by
# the cgroup2 hierarchy itself: the directories, /proc/<pid>/cgroup of the holders, their
# cgroups' hugetlb.2MB.max and cgroup.procs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_pool_2m
need_root_cgroup_hugetlb
kernel_lock
M=1048576

# Agent A: agent-lib's runtime directory; agent B: another one. Their lease directories, by the
# documented rule (lease_cgroup_dir), must differ and must not exist yet.
RUN_A=$AGENT_RUN
RUN_B=$T_TMP/run-b
mkdir -p "$RUN_B"
guard_lease_cgroups # BASE for AGENT_RUN = RUN_A; the pool and the root's hugetlb put back
BASE_A=$BASE
BASE_B=$CG/$(lease_cgroup_dir "$RUN_B")
[ "$BASE_A" != "$BASE_B" ] || fail "both runtime directories name $BASE_A"
[ -e "$BASE_B" ] && fail "$BASE_B exists before the test"
defer 'cgroup_kill_remove "$BASE_B"/*/ "$BASE_B"'
out=$T_TMP/out
mkdir -m 0777 "$out"
defer 'rm -f "$out/hold"'

policy=$T_TMP/policy.ini
cat >"$policy" <<POLICY
[policy]
name = lease-two-agents
[hugepages]
size = 2M
pool = 32M
max = 32M
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
POLICY

start_notify_listener
# use_agent A|B: the bus, runtime directory and pid the helpers (start_agent, stop_agent, ht_run,
# bctl) use; keep_pid A|B notes the pid start_agent left in AGENT_PID.
use_agent() {
	eval "BUS_ADDR=\$BUS_$1 AGENT_RUN=\$RUN_$1 AGENT_PID=\${PID_$1:-}"
	export BUS_ADDR HOSTTUNE_RUNTIME_DIR=$AGENT_RUN
}
keep_pid() { eval "PID_$1=\$AGENT_PID"; }
start_bus open a
BUS_A=$BUS_ADDR
start_bus open b
BUS_B=$BUS_ADDR
# Both stopped at the end (start_agent's own defer stops only the current one).
# (Never a bare `wait`, which would wait for the bus daemons too.)
stop_both() {
	local p
	for p in ${PID_A:-} ${PID_B:-}; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
defer stop_both

use_agent A
start_agent --policy "$policy"
keep_pid A
use_agent B
start_agent --policy "$policy"
keep_pid B
[ -d "$BASE_A" ] || fail "agent A made no $BASE_A"
[ -d "$BASE_B" ] || fail "agent B made no $BASE_B"
ok "two agents, two lease directories: $(basename "$BASE_A") $(basename "$BASE_B")"

# holder NAME: `hosttune run --hugepages 8M` on the current agent's bus, a shell that notes its
# pid and its cgroup (as the kernel says) and waits for $out/hold to go.
touch "$out/hold"
holder() {
	ht_run --hugepages 8M --label "$1" -- sh -c '
		echo $$ >"'"$out/$1"'.pid"
		sed -n "s/^0:://p" /proc/self/cgroup >"'"$out/$1"'.cgroup.tmp"
		mv "'"$out/$1"'.cgroup.tmp" "'"$out/$1"'.cgroup"
		while [ -e "'"$out/hold"'" ]; do sleep 0.1; done' >"$out/$1.log" 2>&1
}
use_agent A
holder a &
HOLDER_A=$!
use_agent B
holder b &
HOLDER_B=$!
wait_for "holder a in its cgroup" 'test -e "$out/a.cgroup"'
wait_for "holder b in its cgroup" 'test -e "$out/b.cgroup"'
cg_a=$CG$(cat "$out/a.cgroup")
cg_b=$CG$(cat "$out/b.cgroup")
assert_eq "holder a's cgroup is under agent A's directory" "$BASE_A" "$(dirname "$cg_a")"
assert_eq "holder b's cgroup is under agent B's directory" "$BASE_B" "$(dirname "$cg_b")"
assert_eq "a's hugetlb.2MB.max" $((8 * M)) "$(cat "$cg_a/hugetlb.2MB.max")"
assert_eq "b's hugetlb.2MB.max" $((8 * M)) "$(cat "$cg_b/hugetlb.2MB.max")"
pid_b=$(cat "$out/b.pid")
grep -qx "$pid_b" "$cg_b/cgroup.procs" || fail "holder b ($pid_b) is not in $cg_b/cgroup.procs"

# --- restart agent A: its start sweeps the lease cgroups its own leases do not name. B's must
# stay as they are; A's own lease (its holder still on A's bus) keeps its cgroup.
use_agent A
stop_agent
PID_A=
start_agent --policy "$policy"
keep_pid A
[ -d "$cg_b" ] || fail "agent A's restart removed agent B's lease cgroup $cg_b"
assert_eq "b's hugetlb.2MB.max after A's restart" $((8 * M)) "$(cat "$cg_b/hugetlb.2MB.max")"
grep -qx "$pid_b" "$cg_b/cgroup.procs" || fail "holder b ($pid_b) left $cg_b after A's restart"
[ -d "$cg_a" ] || fail "agent A lost its own lease cgroup $cg_a across the restart"
assert_eq "a's hugetlb.2MB.max after A's restart" $((8 * M)) "$(cat "$cg_a/hugetlb.2MB.max")"
ok "agent A restarted: B's lease cgroup untouched, A's own kept"

# --- and the other way round
use_agent B
stop_agent
PID_B=
start_agent --policy "$policy"
keep_pid B
[ -d "$cg_a" ] || fail "agent B's restart removed agent A's lease cgroup $cg_a"
assert_eq "a's hugetlb.2MB.max after B's restart" $((8 * M)) "$(cat "$cg_a/hugetlb.2MB.max")"
[ -d "$cg_b" ] || fail "agent B lost its own lease cgroup $cg_b across the restart"
ok "agent B restarted: A's lease cgroup untouched, B's own kept"

# --- the holders end; each agent removes its lease cgroup, then (stopped) its directory.
rm -f "$out/hold"
wait $HOLDER_A || fail "holder a: $(cat "$out/a.log")"
wait $HOLDER_B || fail "holder b: $(cat "$out/b.log")"
wait_for "a's cgroup removed" '! test -d "$cg_a"'
wait_for "b's cgroup removed" '! test -d "$cg_b"'
# B first: A turned hugetlb on at the root if it was off (B found it on), and A, stopping last
# with no lease directory beside its own, turns it off again.
use_agent B
stop_agent
PID_B=
use_agent A
stop_agent
PID_A=
[ ! -e "$BASE_A" ] || fail "$BASE_A left after agent A stopped"
[ ! -e "$BASE_B" ] || fail "$BASE_B left after agent B stopped"
ok "both lease directories gone after the agents stopped"
# Only when no other cgroup below the root enables hugetlb (another user of the machine may
# hold it on, and then it stays).
if [ "$had_hugetlb" = 0 ] && ! grep -qw hugetlb "$CG"/*/cgroup.subtree_control 2>/dev/null; then
	grep -qw hugetlb "$CG/cgroup.subtree_control" && fail "hugetlb left on at $CG"
	ok "hugetlb off at the root again, as before the test"
fi
