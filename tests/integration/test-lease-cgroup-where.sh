#!/bin/bash
# SPDX-License-Identifier: MIT
# Where enforced leases go, with hosttuned started inside a cgroup of its own below this
# machine's cgroup2 mount, as a unit with Delegate=yes is under systemd (which leaves hugetlb off
# everywhere: it does not manage that controller). 1. hugetlb cannot be turned on down to the
# agent's cgroup (an ancestor holds a process: the no-internal-processes rule): the lease stays
# bookkeeping and says so (the grant's "enforced" false, a WARN in `hosttune check`, a holder
# that maps past its lease is not stopped). 2. It can: the agent turns hugetlb on from the root
# down, moves itself to <its cgroup>/agent and puts lease cgroups under <its cgroup>/leases,
# where a greedy holder dies at its limit; stopped, it turns hugetlb off again where it turned it
# on. Judged by /proc/PID/cgroup, the cgroups' files and exit statuses.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_cmd gdbus
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -w $hp ] || skip "no 2 MiB hugepage pool on this kernel"
CG=$(cgroup2_mount)
[ -n "$CG" ] || skip "no cgroup v2 hierarchy mounted"
grep -qw hugetlb "$CG/cgroup.controllers" || skip "cgroup v2 has no hugetlb controller here"
[ "$(sed -n 's/^0:://p' /proc/self/cgroup)" = / ] || skip "not in the root cgroup of $CG"
grep -qw hugetlb "$CG/cgroup.subtree_control" &&
	skip "hugetlb is on for the root's children already (the agent must find it off)"
kernel_lock

b_nr=$(cat $hp)
defer "echo $b_nr > $hp"
OWN=$CG/hosttune-test.$$
mkdir "$OWN"
restore_cgroups() {
	cgroup_kill_remove "$OWN"/leases/*/ "$OWN"/leases/ "$OWN"/agent/ "$OWN"/inner/agent/ \
		"$OWN"/inner/ "$OWN"/busy/ "$OWN"
	if grep -qw hugetlb "$CG/cgroup.subtree_control"; then
		echo -hugetlb >"$CG/cgroup.subtree_control"
	fi
}
defer restore_cgroups
# The agent starts in $OWN (the wrapper moves itself there, then execs it).
cat >"$T_TMP/in-cgroup" <<'EOF'
#!/bin/sh
echo $$ >"$1/cgroup.procs" && shift && exec "$@"
EOF
chmod +x "$T_TMP/in-cgroup"
M=1048576
out=$T_TMP/out
mkdir "$out"
policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = lease-cgroup-where
[hugepages]
size = 2M
pool = 64M
max = 64M
[agent]
reprobe-interval = 0
EOF
start_bus open
start_notify_listener

# --- 1. the agent in $OWN/inner, a process in $OWN/busy... and one in $OWN itself: hugetlb
# cannot be turned on for $OWN's children. Bookkeeping, and it says so.
mkdir "$OWN/inner"
"$T_TMP/in-cgroup" "$OWN" sleep 300 &
busy=$!
defer "kill $busy"
AGENT_PREFIX="$T_TMP/in-cgroup $OWN/inner"
start_agent --policy "$policy"
assert_eq "the agent's cgroup (/proc/PID/cgroup)" "/hosttune-test.$$/inner/agent" \
	"$(sed -n 's/^0:://p' "/proc/$AGENT_PID/cgroup")"
grant=$(gacq "{'hugepages': <uint64 $((16 * M))>, 'enforce': <true>}")
grep -q "'enforced': <false>" <<<"$grant" || fail "grant without enforcement: $grant"
grep -q "'cgroup': <''>" <<<"$grant" || fail "grant's cgroup: $grant"
ok "a grant where hugetlb is not offered says enforced false"
HOSTTUNE_RUNTIME_DIR=$AGENT_RUN "$HOSTTUNE" check >"$out/check" 2>&1 || true
grep -E "^WARN +leases +hugepage leases are bookkeeping only" "$out/check" ||
	fail "no WARN line in hosttune check: $(cat "$out/check")"
grep -q "cannot enable hugetlb in $OWN: Device or resource busy" "$out/check" ||
	fail "check: $(cat "$out/check")"
ok "hosttune check warns that leases are bookkeeping only"
rc=0
ht_run --hugepages 16M -- sh -c "HOSTTUNE_HUGEPAGES=$((32 * M)) exec $HELPERS/hugepage-touch" \
	>"$out/greedy0.log" 2>&1 || rc=$?
assert_eq "a holder mapping twice its lease, unenforced: exit status" 0 $rc
[ ! -e "$OWN/inner/leases" ] || fail "lease cgroups made where hugetlb could not be turned on"
stop_agent
assert_eq "hugetlb off again at the root after the agent stopped" 0 \
	"$(grep -cw hugetlb "$CG/cgroup.subtree_control")"
kill $busy
wait $busy 2>/dev/null || true

# --- 2. the agent in $OWN alone: hugetlb on from the root down, the agent in agent/, leases in
# leases/
AGENT_PREFIX="$T_TMP/in-cgroup $OWN"
start_agent --policy "$policy"
assert_eq "hugetlb turned on at the root" 1 "$(grep -cw hugetlb "$CG/cgroup.subtree_control")"
assert_eq "the agent moved itself (/proc/PID/cgroup)" "/hosttune-test.$$/agent" \
	"$(sed -n 's/^0:://p' "/proc/$AGENT_PID/cgroup")"
assert_eq "hugetlb on for the leases (subtree_control of $OWN/leases)" 1 \
	"$(grep -cw hugetlb "$OWN/leases/cgroup.subtree_control")"
rc=0
ht_run --hugepages 16M -- sh -c "sed -n 's/^0:://p' /proc/self/cgroup >$out/cg;
	HOSTTUNE_HUGEPAGES=$((32 * M)) exec $HELPERS/hugepage-touch" >"$out/greedy1.log" 2>&1 || rc=$?
assert_eq "a holder mapping twice its lease, enforced: exit status (SIGBUS)" 135 $rc
case $(cat "$out/cg") in
"/hosttune-test.$$/leases/"????????????????) ok "the holder ran in $(cat "$out/cg")" ;;
*) fail "the holder's cgroup: $(cat "$out/cg")" ;;
esac
HOSTTUNE_RUNTIME_DIR=$AGENT_RUN "$HOSTTUNE" check >"$out/check" 2>&1 || true
grep -q "bookkeeping only" "$out/check" && fail "WARN although enforced: $(cat "$out/check")"
wait_for "the lease cgroup to go" '[ -z "$(find "$OWN/leases" -mindepth 1 -type d)" ]'
finish_agent
[ -e "$OWN/leases" ] && fail "$OWN/leases left after the agent stopped"
assert_eq "hugetlb off again in $OWN/cgroup.subtree_control" 0 \
	"$(grep -cw hugetlb "$OWN/cgroup.subtree_control")"
assert_eq "hugetlb off again at the root" 0 "$(grep -cw hugetlb "$CG/cgroup.subtree_control")"
ok "the agent removed its leases cgroup and gave hugetlb back when it stopped"
