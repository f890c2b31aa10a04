#!/bin/bash
# SPDX-License-Identifier: MIT
# hosttune policy validate/show/list and check --policy on this machine: exit codes, exact
# "file:line: key: message" errors, `policy show` output that validates again, and the plan lines
# of `check` compared with the kernel's own files (/proc/sys, /sys, /etc/passwd, `ip link`).
# Changes nothing on the host.
. "$(dirname "$0")/lib.sh"
need_cmd python3 ip
profiles=$HOSTTUNE_SRC/policies/profiles
cd "$T_TMP"

# run_rc VAR CMD...: run CMD, stdout to VAR_out, stderr to VAR_err, exit status to VAR_rc.
run_rc() {
	local v=$1 rc=0
	shift
	"$@" >"$T_TMP/$v.out" 2>"$T_TMP/$v.err" || rc=$?
	printf -v "${v}_rc" '%s' "$rc"
	printf -v "${v}_out" '%s' "$(cat "$T_TMP/$v.out")"
	printf -v "${v}_err" '%s' "$(cat "$T_TMP/$v.err")"
}

# --- validate -----------------------------------------------------------------------------
for f in "$profiles"/*.ini; do
	run_rc v "$HOSTTUNE" policy validate "$f"
	assert_eq "validate $(basename "$f") exit" 0 "$v_rc"
done

printf '[memory]\nswappiness = 10\n[net]\ntaps = lots\n' >bad.ini
run_rc v "$HOSTTUNE" policy validate bad.ini
assert_eq "validate bad value: exit" 2 "$v_rc"
assert_eq "validate bad value: message" "bad.ini:4: taps: 'lots' is not a number from 0 to 256" "$v_err"
assert_eq "validate bad value: nothing on stdout" "" "$v_out"

printf '[memory]\n\n[mystery]\n' >section.ini
run_rc v "$HOSTTUNE" policy validate section.ini
assert_eq "unknown section: exit" 2 "$v_rc"
case "$v_err" in
"section.ini:3: unknown section [mystery] (known: "*) ok "unknown section names file:line" ;;
*) fail "unknown section message: $v_err" ;;
esac

mkdir -p inc
printf '[policy]\ninclude = inc/b.ini\n' >a.ini
printf '# b includes a\n[policy]\ninclude = ../a.ini\n' >inc/b.ini
run_rc v "$HOSTTUNE" policy validate a.ini
assert_eq "include cycle: exit" 2 "$v_rc"
assert_eq "include cycle: message" \
	"inc/b.ini:3: include: include cycle: $T_TMP/a.ini -> $T_TMP/inc/b.ini -> $T_TMP/a.ini" "$v_err"

printf '[policy]\ninclude = default, inc/nothere.ini\n' >missing.ini
run_rc v "$HOSTTUNE" policy validate missing.ini
assert_eq "missing include: exit" 2 "$v_rc"
assert_eq "missing include: message" \
	"missing.ini:2: include: cannot read 'inc/nothere.ini': No such file or directory" "$v_err"

run_rc v "$HOSTTUNE" policy validate nosuch.ini
assert_eq "missing file: exit" 2 "$v_rc"
assert_eq "missing file: message" "nosuch.ini: cannot read: No such file or directory" "$v_err"

run_rc v "$HOSTTUNE" policy validate
assert_eq "validate without a file: exit" 2 "$v_rc"

# Later values win over included ones, and show says so.
printf '[policy]\ninclude = microvm-ci\n[memory]\nswappiness = 7\n' >local.ini
run_rc v "$HOSTTUNE" policy show local.ini --json
assert_eq "show --json of an including file: exit" 0 "$v_rc"
assert_eq "later value wins" 7 "$(echo "$v_out" | jq_py "d['memory']['swappiness']")"
assert_eq "included value kept" True "$(echo "$v_out" | jq_py "d['memory']['ksm']")"
assert_eq "name from the main file" local "$(echo "$v_out" | jq_py "d['name']")"
assert_eq "files read" "['local.ini', '<builtin:microvm-ci>', '<builtin:default>']" \
	"$(echo "$v_out" | jq_py "d['files']")"

# --- show: every shipped profile, by name, reads back as itself ----------------------------
run_rc l "$HOSTTUNE" policy list
for name in default microvm-ci firecracker-prod snapshot-host; do
	grep -qx "$name" <<<"$l_out" || fail "policy list lacks $name"
	"$HOSTTUNE" policy show "$name" >"$name.ini"
	run_rc v "$HOSTTUNE" policy validate "$name.ini"
	assert_eq "show $name re-validates" 0 "$v_rc"
	"$HOSTTUNE" policy show "$name.ini" >"$name.again"
	if ! diff <(tail -n +2 "$name.ini") <(tail -n +2 "$name.again") >/dev/null; then
		fail "show of show differs for $name"
	fi
	ok "show $name round-trips"
	assert_eq "show --json $name" "$name" "$("$HOSTTUNE" policy show "$name" --json | jq_py "d['name']")"
done
run_rc v "$HOSTTUNE" policy show no-such-profile
assert_eq "show of an unknown profile: exit" 2 "$v_rc"

# --- check --policy -----------------------------------------------------------------------
run_rc c "$HOSTTUNE" check --policy bad.ini
assert_eq "check with a bad policy: exit" 2 "$c_rc"
assert_eq "check with a bad policy: message" "bad.ini:4: taps: 'lots' is not a number from 0 to 256" "$c_err"

# The default policy (no /etc/hosttune/policy.ini here) only checks: its plan is empty.
if [ ! -e /etc/hosttune/policy.ini ]; then
	json=$("$HOSTTUNE" check --json || true)
	assert_eq "check uses the built-in default" default "$(echo "$json" | jq_py "d['policy']['name']")"
	assert_eq "default plan is empty" "[]" "$(echo "$json" | jq_py "d['plan']")"
	assert_eq "default readiness list" "['kvm', 'rng', 'tun', 'userfaultfd']" \
		"$(echo "$json" | jq_py "[q['name'] for q in d['requirements']]")"
fi

# swappiness as the kernel has it: no plan; any other value: one FAIL line naming both values.
cur=$(cat /proc/sys/vm/swappiness)
other=$(((cur + 1) % 201))
printf '[readiness]\nrequire =\n[memory]\nswappiness = %s\n' "$cur" >same.ini
run_rc c "$HOSTTUNE" check --policy same.ini --json
assert_eq "swappiness as it is: plan" "[]" "$(echo "$c_out" | jq_py "d['plan']")"
assert_eq "nothing required, nothing planned: ready" 0 "$c_rc"
printf '[readiness]\nrequire =\n[memory]\n# a reason\nswappiness = %s\n' "$other" >sw.ini
run_rc c "$HOSTTUNE" check --policy sw.ini
assert_eq "untuned host: not ready" 1 "$c_rc"
grep -qxF "FAIL  policy       vm.swappiness is $cur, wants $other (sw.ini:5)" <<<"$c_out" ||
	fail "no FAIL line for swappiness: $c_out"
ok "FAIL line names vm.swappiness $cur -> $other and sw.ini:5"
run_rc c "$HOSTTUNE" check --policy sw.ini --json
assert_eq "plan why" "sw.ini:5: [memory] swappiness = $other (a reason)" \
	"$(echo "$c_out" | jq_py "d['plan'][0]['why']")"
assert_eq "json ready" False "$(echo "$c_out" | jq_py "d['ready']")"

# [sysctl] keys are read exactly: the kernel prints tcp_rmem with tabs, the policy with spaces.
rmem=$(tr '\t' ' ' </proc/sys/net/ipv4/tcp_rmem)
dirty=$(cat /proc/sys/vm/dirty_ratio)
printf '[readiness]\nrequire =\n[sysctl]\nnet.ipv4.tcp_rmem = %s\nvm.dirty_ratio = %s\nnet.core.no_such_key_%s = 1\n' \
	"$rmem" "$((dirty + 1))" "$$" >sys.ini
run_rc c "$HOSTTUNE" check --policy sys.ini --json
assert_eq "sysctl steps" "[('vm.dirty_ratio', '$dirty', '$((dirty + 1))', False), ('net.core.no_such_key_$$', '', '1', True)]" \
	"$(echo "$c_out" | jq_py "[(s['knob'], s['current'], s['wanted'], s['manual']) for s in d['plan']]")"

# Users and groups resolve through /etc/passwd and /etc/group, without NSS.
prefix="ht$$"
prefix=${prefix:0:11}
ip link show "${prefix}0" >/dev/null 2>&1 && skip "a link ${prefix}0 exists already"
root_gid=$(awk -F: '$1 == "root" { print $3 }' /etc/group)
printf '[readiness]\nrequire =\n[net]\ntaps = 1\ntap-prefix = %s\nowner = root\n[hugepages]\nmount = %s/hp\ngroup = root\n' \
	"$prefix" "$T_TMP" >net.ini
run_rc c "$HOSTTUNE" check --policy net.ini --json
assert_eq "tap planned (ip link has no ${prefix}0)" "('${prefix}0', '', 0, False)" \
	"$(echo "$c_out" | jq_py "next((s['knob'], s['current'], s['details']['owner'], s['manual']) for s in d['plan'] if s['kind'] == 'tap')")"
assert_eq "hugetlbfs mount gid from /etc/group" "$root_gid" \
	"$(echo "$c_out" | jq_py "next(s['details']['gid'] for s in d['plan'] if s['kind'] == 'hugetlbfs-mount')")"
findmnt "$T_TMP/hp" >/dev/null 2>&1 && fail "$T_TMP/hp is mounted"
printf '[readiness]\nrequire =\n[net]\ntaps = 1\ntap-prefix = %s\nowner = nosuchuser%s\n' "$prefix" "$$" >nouser.ini
run_rc c "$HOSTTUNE" check --policy nouser.ini
grep -qF "remedy: user 'nosuchuser$$' does not exist on this host (/etc/passwd)" <<<"$c_out" ||
	fail "unknown owner not reported: $c_out"
ok "an unknown tap owner is a manual step"

# zram: a device that does not exist is planned (hot-add), or needs the module.
dev=zram$((100 + $$ % 100))
[ -e /sys/block/$dev ] && skip "$dev exists"
printf '[readiness]\nrequire =\n[zram]\ndevice = %s\nsize = 64M\n' "$dev" >zram.ini
run_rc c "$HOSTTUNE" check --policy zram.ini --json
if [ -e /sys/class/zram-control ]; then want=False; else want=True; fi
assert_eq "zram step for a missing device" "('$dev', '', $want)" \
	"$(echo "$c_out" | jq_py "(d['plan'][0]['knob'], d['plan'][0]['current'], d['plan'][0]['manual'])")"

# Hugepages: the pool as the kernel has it plans nothing; one page more plans the pool. The lock
# keeps other tests from resizing the pool between the reading and the check.
kernel_lock
kb=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
nr=$(cat /sys/kernel/mm/hugepages/hugepages-${kb}kB/nr_hugepages)
printf '[readiness]\nrequire =\n[hugepages]\nsize = %sK\npool = %s\nmax = %s\nper-node = even\n' "$kb" "$nr" "$nr" >hp.ini
run_rc c "$HOSTTUNE" check --policy hp.ini --json
assert_eq "pool as it is: plan" "[]" "$(echo "$c_out" | jq_py "d['plan']")"
printf '[readiness]\nrequire =\n[hugepages]\nsize = %sK\npool = %s\n' "$kb" "$((nr + 1))" >hp1.ini
run_rc c "$HOSTTUNE" check --policy hp1.ini --json
assert_eq "pool one page short" "('hugepages-${kb}kB', '$nr pages', $((nr + 1)))" \
	"$(echo "$c_out" | jq_py "(d['plan'][0]['knob'], d['plan'][0]['current'], d['plan'][0]['details']['pages'])")"
