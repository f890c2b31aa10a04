#!/bin/bash
# SPDX-License-Identifier: MIT
# [agent] reapply-on-drift on the real hugepage pool: the agent grows the pool to the policy's
# size; when someone shrinks it behind the agent's back, the next re-probe sees the drift and the
# agent applies again (the pool is back, by /proc/meminfo); with reapply-on-drift = no, a drift
# only flips Ready and the pool stays as it was left for re-probes to come (counted by the
# agent's hosttune_reprobes_total metric). The pool is restored at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
kernel_lock
hp=/proc/sys/vm/nr_hugepages
[ -w $hp ] || skip "no writable $hp"
orig=$(cat $hp)
defer "echo $orig >$hp"
# A clean start: the pool holds no pages the policy would count.
echo 0 >$hp

policy=$T_TMP/policy.ini
write_policy() { # NAME REAPPLY
	cat >"$policy" <<EOF
[policy]
name = $1

[readiness]
require = hugepages=4M

[hugepages]
pool = 4M
reclaim = none

[agent]
reprobe-interval = 1s
reapply-on-drift = $2
revert-on-stop = yes
EOF
}
write_policy drift-1 yes
meminfo_total() { awk '$1 == "HugePages_Total:" {print $2}' /proc/meminfo; }
reprobes() { awk '$1 == "hosttune_reprobes_total" {print $2}' "$AGENT_RUN/metrics.prom" 2>/dev/null || echo 0; }

start_bus open
start_notify_listener
start_agent --policy "$policy"
assert_eq "pool after the first apply (HugePages_Total)" 2 "$(meminfo_total)"
assert_eq "Ready" "b true" "$(agent_prop Ready)"

# --- drift with reapply-on-drift = yes: the agent puts the pool back
echo 0 >$hp
wait_for "the agent to grow the pool again" '[ "$(meminfo_total)" = 2 ]'
ok "pool shrunk behind the agent's back is back: HugePages_Total $(meminfo_total)"
grep -q "re-applying after drift\|re-applied after drift" "$T_TMP/agent.log" ||
	fail "the agent log does not say it re-applied after drift: $(tail -n 5 "$T_TMP/agent.log")"
wait_for "Ready after the re-apply" '[ "$(agent_prop Ready)" = "b true" ]'
ok "Ready again after the re-apply"

# --- reapply-on-drift = no: Ready flips and the pool stays as it was left
write_policy drift-2 no
agent_call Reload >/dev/null
echo 0 >$hp
wait_for "Ready false after the drift" '[ "$(agent_prop Ready)" = "b false" ]'
seen=$(reprobes)
wait_for "two more re-probes" '[ "$(reprobes)" -ge $((seen + 2)) ]'
assert_eq "pool after two re-probes with reapply-on-drift = no" 0 "$(meminfo_total)"
