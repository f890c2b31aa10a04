#!/bin/bash
# SPDX-License-Identifier: MIT
# Hugepage leases the kernel enforces (docs/leases.md, "Enforcement"), with hosttuned on a
# private bus and this machine's cgroup v2 hugetlb controller: two `hosttune run --hugepages
# 256M` on a 512M pool, one of which maps 384M, fail alone: the greedy one gets SIGBUS (or, with
# a reservation, a refused mmap) at its own limit while the honest one touches every page;
# QEMU preallocating more than its lease fails at start with its own message; kill -9 of a
# holder removes its cgroup; a churn of 16 runs leaves no cgroup and no lease. Judged by exit
# statuses, the cgroups' own hugetlb files, /proc/<pid>/cgroup and /proc/meminfo.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_pool_2m
need_root_cgroup_hugetlb
kernel_lock
guard_lease_cgroups
# Holders waiting for this file end before their cgroups are removed.
defer 'rm -f "$out/hold"'

meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
used() { echo $(($(meminfo HugePages_Total) - $(meminfo HugePages_Free))); }
out=$T_TMP/out
mkdir -m 0777 "$out"
M=1048576

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = lease-enforced
[hugepages]
size = 2M
pool = 512M
max = 512M
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
metrics-file = $T_TMP/metrics.prom
EOF
start_bus open
start_notify_listener
start_agent --policy "$policy"
assert_eq "pool after the first apply (nr_hugepages)" 256 "$(cat $hp)"
assert_eq "hugetlb enabled for the lease cgroups (their parent's subtree_control)" 1 \
	"$(grep -cw hugetlb "$BASE/cgroup.subtree_control")"

# A lease holder as a shell in its lease's cgroup: runs hugepage-touch with TOUCH bytes (its
# lease's when empty), then writes what the kernel says about its own cgroup to $out/NAME.*.
holder() {
	local name=$1 touch=$2
	shift 2
	ht_run --hugepages 256M --label "$name" -- sh -c '
		cg='"$CG"'$(sed -n "s/^0:://p" /proc/self/cgroup)
		echo "$cg" >"'"$out/$name"'.cgroup"
		[ -z "'"$touch"'" ] || export HOSTTUNE_HUGEPAGES='"$touch"'
		"'"$HELPERS"'/hugepage-touch" "$@"
		rc=$?
		cat "$cg/hugetlb.2MB.events" >"'"$out/$name"'.events"
		cat "$cg/hugetlb.2MB.max" "$cg/hugetlb.2MB.rsvd.max" >"'"$out/$name"'.max"
		exit $rc' sh "$@" >"$out/$name.log" 2>&1
}
events_max() { awk '$1 == "max" {print $2}' "$out/$1.events"; }

# --- the honest holder first: it touches its 256M and holds them
used0=$(used)
touch "$out/hold"
holder honest "" --ready "$out/honest.ready" --hold "$out/hold" &
honest=$!
wait_for "the honest holder to touch its pages" 'test -e "$out/honest.ready"'
hcg=$(cat "$out/honest.cgroup")
id=$(basename "$hcg")
assert_eq "the honest holder's cgroup (/proc/self/cgroup)" "$BASE/$id" "$hcg"
assert_eq "its cgroup's hugetlb.2MB.max" $((256 * M)) "$(cat "$hcg/hugetlb.2MB.max")"
assert_eq "its cgroup's hugetlb.2MB.rsvd.max" $((256 * M)) "$(cat "$hcg/hugetlb.2MB.rsvd.max")"
assert_eq "its cgroup's hugetlb.1GB.max (no other page size)" 0 "$(cat "$hcg/hugetlb.1GB.max")"
assert_eq "its cgroup's hugetlb.2MB.current" $((256 * M)) "$(cat "$hcg/hugetlb.2MB.current")"
assert_eq "ListLeases: enforced" True "$(lease_field "$id" enforced)"
assert_eq "ListLeases: cgroup" "$hcg" "$(lease_field "$id" cgroup)"

# --- the greedy one maps 384M on the other 256M of the pool: its own faults fail
rc=0
holder greedy $((384 * M)) || rc=$?
assert_eq "exit status of the greedy holder (128 + SIGBUS)" 135 $rc
assert_eq "the greedy cgroup's hugetlb.2MB.max" "$((256 * M))
$((256 * M))" "$(cat "$out/greedy.max")"
[ "$(events_max greedy)" -ge 1 ] || fail "hugetlb.2MB.events of the greedy cgroup: $(cat "$out/greedy.events")"
ok "greedy holder died of SIGBUS at its own limit (hugetlb.2MB.events: max $(events_max greedy))"
assert_eq "the honest holder's pages, still charged (hugetlb.2MB.current)" $((256 * M)) \
	"$(cat "$hcg/hugetlb.2MB.current")"
assert_eq "pages in use (/proc/meminfo Total - Free): the honest holder's" $((used0 + 128)) "$(used)"

# --- with a reservation (no MAP_NORESERVE) the mapping is refused instead
rc=0
holder reserving $((384 * M)) --reserve || rc=$?
assert_eq "exit status of the reserving greedy holder (mmap refused)" 1 $rc
grep -q "mmap of $((384 * M)) bytes: Cannot allocate memory" "$out/reserving.log" ||
	fail "reserving: $(cat "$out/reserving.log")"
# The kernel counts a refused reservation as a "max" event too (mm/hugetlb_cgroup.c).
[ "$(events_max reserving)" -ge 1 ] || fail "hugetlb.2MB.events: $(cat "$out/reserving.events")"
ok "a reservation past the lease is refused at mmap (ENOMEM), hugetlb.2MB.events max $(events_max reserving)"

rm "$out/hold"
rc=0
wait $honest || rc=$?
assert_eq "exit status of the honest holder" 0 $rc
grep -q "touched 128 pages of 2097152 bytes" "$out/honest.log" || fail "honest: $(cat "$out/honest.log")"
assert_eq "its cgroup had no fault refused (hugetlb.2MB.events max)" 0 "$(events_max honest)"
wait_for "every lease cgroup to be removed" '[ -z "$(find "$BASE" -mindepth 1 -type d)" ]'
ok "lease cgroups removed after their holders ended"

# --- the issue's order: greedy first (touching and holding), then the honest one
touch "$out/hold"
holder greedy2 $((384 * M)) --hold "$out/hold" &
greedy=$!
rc=0
wait $greedy || rc=$?
assert_eq "greedy first: its exit status (SIGBUS)" 135 $rc
holder honest2 "" || fail "honest after greedy: $(cat "$out/honest2.log")"
grep -q "touched 128 pages" "$out/honest2.log" || fail "honest2: $(cat "$out/honest2.log")"
ok "greedy first fails alone; the honest one then touches all 128 pages"
rm "$out/hold"

# --- unleased use: a consumer outside any lease holds 64M while an enforced holder holds 256M;
# only the first counts (hosttune status, the metric)
touch "$out/hold"
HOSTTUNE_HUGEPAGES=$((64 * M)) HOSTTUNE_HUGEPAGE_SIZE=2097152 "$HELPERS/hugepage-touch" \
	--ready "$out/outsider.ready" --hold "$out/hold" >"$out/outsider.log" 2>&1 &
outsider=$!
holder leased "" --ready "$out/leased.ready" --hold "$out/hold" &
leased=$!
wait_for "both consumers to touch their pages" 'test -e "$out/outsider.ready" && test -e "$out/leased.ready"'
assert_eq "pages in use (/proc/meminfo): the outsider's 32 and the holder's 128" 160 "$(used)"
"$HOSTTUNE" status --bus "$BUS_ADDR" >"$out/status" || true
grep -qx "Unleased:  64M of hugepages in use by no lease" "$out/status" ||
	fail "hosttune status: $(cat "$out/status")"
wait_for "the metric of unleased use" \
	'grep -qx "hosttune_hugepages_unleased_bytes{page_size_bytes=\"2097152\"} $((64 * M))" "$T_TMP/metrics.prom"'
ok "unleased use: 64M in hosttune status and hosttune_hugepages_unleased_bytes"
rm "$out/hold"
wait $outsider $leased || fail "outsider or holder: $(cat "$out/outsider.log" "$out/leased.log")"

# --- unleased use eating into a lease: an enforced lease of 256M whose holder has touched
# nothing yet, then a consumer outside any lease takes 320M of the 512M: hosttune check warns
touch "$out/hold"
"$HOSTTUNE" run --bus "$BUS_ADDR" --hugepages 256M --label idle -- \
	sh -c "while [ -e $out/hold ]; do sleep 0.1; done" &
idle=$!
wait_for "the idle holder's lease" '[ "$(lease_count)" = 1 ]'
HOSTTUNE_HUGEPAGES=$((320 * M)) HOSTTUNE_HUGEPAGE_SIZE=2097152 "$HELPERS/hugepage-touch" \
	--ready "$out/outsider2.ready" --hold "$out/hold" >"$out/outsider2.log" 2>&1 &
outsider=$!
wait_for "the outsider to touch its pages" 'test -e "$out/outsider2.ready"'
HOSTTUNE_RUNTIME_DIR=$AGENT_RUN "$HOSTTUNE" check >"$out/check" 2>&1 || true
grep -E "^WARN +leases +2M pages: enforced leases have 256M not faulted in yet, but only 192M are free" \
	"$out/check" || fail "hosttune check: $(cat "$out/check")"
ok "hosttune check warns when unleased use leaves an enforced lease without its pages"
rm "$out/hold"
wait $outsider $idle || fail "outsider or idle holder: $(cat "$out/outsider2.log")"
HOSTTUNE_RUNTIME_DIR=$AGENT_RUN "$HOSTTUNE" check >"$out/check" 2>&1 || true
grep -q "not faulted in yet" "$out/check" && fail "WARN still there: $(cat "$out/check")"

# --- QEMU preallocating hugetlb memfd memory: within the lease it starts, past it it fails with
# its own message (no guest: -machine none -S; "quit" on the monitor ends it)
if command -v qemu-system-x86_64 >/dev/null; then
	qemu() {
		echo quit | ht_run --hugepages 64M -- qemu-system-x86_64 -machine none -S -nodefaults \
			-display none -monitor stdio \
			-object memory-backend-memfd,id=mem,hugetlb=on,hugetlbsize=2M,prealloc=on,size="$1"
	}
	qemu 64M >"$out/qemu-ok.log" 2>&1 || fail "QEMU within its lease: $(cat "$out/qemu-ok.log")"
	rc=0
	qemu 128M >"$out/qemu-big.log" 2>&1 || rc=$?
	assert_eq "QEMU asking 128M on a 64M lease: its exit status" 1 $rc
	# QEMU 7.2's words (backends/hostmem.c via qemu_ram_alloc): the memfd's reservation
	# (rsvd.max) refused the mapping before any guest ran.
	grep -q "qemu-system-x86_64: unable to map backing store for guest RAM: Cannot allocate memory" \
		"$out/qemu-big.log" || fail "QEMU's message: $(cat "$out/qemu-big.log")"
	ok "QEMU past its lease: $(head -n 1 "$out/qemu-big.log")"
else
	echo "# no qemu-system-x86_64: QEMU case left out"
fi

# --- a member of the lease group (uid daemon): its own process is moved and held to its lease
rc=0
as_member "$HOSTTUNE" run --bus "$BUS_ADDR" --hugepages 16M -- sh -c "
	sed -n 's/^0:://p' /proc/self/cgroup >$out/member.cgroup
	HOSTTUNE_HUGEPAGES=$((32 * M)) exec $HELPERS/hugepage-touch" >"$out/member.log" 2>&1 || rc=$?
assert_eq "uid daemon's holder mapping twice its lease: exit status (SIGBUS)" 135 $rc
case $(cat "$out/member.cgroup") in
"${BASE#"$CG"}/"????????????????) ok "uid daemon's holder ran in $(cat "$out/member.cgroup")" ;;
*) fail "uid daemon's holder's cgroup: $(cat "$out/member.cgroup")" ;;
esac

# --- kill -9 of a holder: the agent ends its lease and removes its cgroup
# (not ht_run: a function run with & is a subshell, $! would be its pid)
"$HOSTTUNE" run --bus "$BUS_ADDR" --hugepages 16M --label victim -- sleep 120 &
victim=$!
wait_for "the victim's lease" '[ "$(lease_count)" = 1 ]'
vid=$(list_ids | awk '{print $1}')
wait_for "sleep in the victim's cgroup" 'grep -q . "$BASE/$vid/cgroup.procs" && [ "$(wc -l <"$BASE/$vid/cgroup.procs")" = 2 ]'
grep -qx "$victim" "$BASE/$vid/cgroup.procs" || fail "hosttune run ($victim) not in $BASE/$vid: $(cat "$BASE/$vid/cgroup.procs")"
kill -9 $victim
wait $victim 2>/dev/null || true
wait_for "the victim's cgroup to go" '[ ! -e "$BASE/$vid" ]'
assert_eq "leases after kill -9" 0 "$(lease_count)"
ok "kill -9 of the holder: lease ended, cgroup removed"

# --- the agent killed with SIGKILL and started again: a lease whose holder is still there keeps
# its cgroup and its limit; the cgroup of one whose holder left meanwhile goes
touch "$out/hold"
"$HOSTTUNE" run --bus "$BUS_ADDR" --hugepages 16M --label keeper -- "$HELPERS/hugepage-touch" \
	--ready "$out/keeper.ready" --hold "$out/hold" >"$out/keeper.log" 2>&1 &
keeper=$!
"$HOSTTUNE" run --bus "$BUS_ADDR" --hugepages 16M --label goner -- sleep 120 &
goner=$!
wait_for "both leases" '[ "$(lease_count)" = 2 ] && test -e "$out/keeper.ready"'
kid=$(list_ids | awk '$2 == "keeper" {print $1}')
gid=$(list_ids | awk '$2 == "goner" {print $1}')
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=
kill -9 $goner
wait $goner 2>/dev/null || true
start_agent --policy "$policy"
wait_for "the cgroup of the lease whose holder left to go" '[ ! -e "$BASE/$gid" ]'
assert_eq "the kept lease after the restart: enforced" True "$(lease_field "$kid" enforced)"
assert_eq "its cgroup's hugetlb.2MB.max after the restart" $((16 * M)) "$(cat "$BASE/$kid/hugetlb.2MB.max")"
assert_eq "its pages (hugetlb.2MB.current)" $((16 * M)) "$(cat "$BASE/$kid/hugetlb.2MB.current")"
rm "$out/hold"
rc=0
wait $keeper || rc=$?
assert_eq "exit status of the kept holder" 0 $rc
wait_for "the kept lease's cgroup to go" '[ ! -e "$BASE/$kid" ]'
ok "agent restart: the kept lease keeps its cgroup, the ended one's cgroup is removed"

# --- churn: 16 runs of 64M on the 512M pool, 8 at a time at most (--wait)
pids=()
for i in $(seq 16); do
	ht_run --hugepages 64M --wait 60 --label "churn-$i" -- "$HELPERS/hugepage-touch" --hold-ms 100 \
		>"$out/churn-$i.log" 2>&1 &
	pids+=($!)
done
for i in $(seq 16); do
	rc=0
	wait "${pids[$((i - 1))]}" || rc=$?
	[ $rc = 0 ] || fail "churn run $i: exit $rc: $(cat "$out/churn-$i.log")"
done
wait_for "no lease cgroup after the churn" '[ -z "$(find "$BASE" -mindepth 1 -type d)" ]'
assert_eq "leases after the churn" 0 "$(lease_count)"
ok "16 runs: every one touched its pages; no cgroup and no lease left"

finish_agent
[ -e "$BASE" ] && fail "$BASE left after the agent stopped"
[ $had_hugetlb = 1 ] || [ "$(grep -cw hugetlb "$CG/cgroup.subtree_control")" = 0 ] ||
	fail "hugetlb left on in $CG/cgroup.subtree_control"
ok "the agent removed $BASE when it stopped, and gave hugetlb back at $CG"
