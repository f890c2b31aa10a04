#!/bin/bash
# SPDX-License-Identifier: MIT
# `hosttune check` with a live agent takes the agent's probe facts (check.facts) and probes only
# the volatile ones itself (docs/check-facts.md). Its output and exit code must be what full
# probing gives for the same host: compared with check while the facts file is away (full
# probing, same agent) and with check --offline on the same policy. And a change the agent only
# hears about by an event (a hugetlbfs mount) must show in the very next check, compared with
# /proc/self/mountinfo; once the agent re-published, check uses the facts again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd strace mount umount
kernel_lock

policy=$T_TMP/policy.ini
printf '[policy]\nname = facts-test\n\n[readiness]\nrequire = tun\n' >"$policy"
start_bus open
start_notify_listener
start_agent --policy "$policy"
facts=$AGENT_RUN/check.facts
for _ in $(seq 100); do [ -s "$facts" ] && break; sleep 0.05; done
[ -s "$facts" ] || fail "the agent published no $facts"
ok "the agent published check.facts"

# The numbers that change from one read to the next (MemAvailable, the buddy allocator's free
# blocks) are masked; every other byte must be the same.
norm() { sed -E 's/[0-9]+ MiB available/N MiB available/; s/at least [0-9]+ more obtainable/at least N more obtainable/'; }
# Did this check take the agent's facts? Full probing reads /proc/cpuinfo, the facts do not.
used_facts() {
	local trace
	trace=$(strace -f -e trace=openat,openat2 "$HOSTTUNE" check 2>&1 >/dev/null || true)
	case "$trace" in *proc/cpuinfo*) return 1 ;; *) return 0 ;; esac
}
run_check() { # run_check ARGS...: prints the normalised output, then "exit N"
	local rc=0 out
	out=$("$HOSTTUNE" check "$@") || rc=$?
	echo "$out" | norm
	echo "exit $rc"
}

used_facts || fail "check with the agent running probed everything"
ok "check with the agent running uses its facts"
fast=$(run_check)
mv "$facts" "$facts.away"
defer "[ -e '$facts.away' ] && mv '$facts.away' '$facts'"
used_facts && fail "check without check.facts did not probe everything"
full=$(run_check)
mv "$facts.away" "$facts"
assert_eq "check from the agent's facts = check probing everything (same agent)" "$full" "$fast"
# --offline ignores the agent: the same policy, no agent footer line.
offline=$(run_check --offline --policy "$policy")
assert_eq "check from the agent's facts = check --offline (same policy)" "$offline" \
	"$(echo "$fast" | grep -v '^(policy facts-test of hosttuned')"

# A hugetlbfs mount: the agent hears of it (mountinfo POLLPRI), check sees the mount table
# changed (listmount) and probes the mounts itself, so the very next check shows it.
mnt=$(mktemp -d "$T_TMP/hugetlbfs.XXXXXX")
mount -t hugetlbfs none "$mnt"
defer "mountpoint -q '$mnt' && umount '$mnt'"
grep -q " $mnt .* - hugetlbfs " /proc/self/mountinfo || fail "mountinfo has no hugetlbfs at $mnt"
next=$(run_check)
echo "$next" | grep -E '^(PASS|WARN|INFO|FAIL)  hugetlb' | grep -q 'no hugetlbfs mount' &&
	fail "the next check still says no hugetlbfs mount: $next"
ok "the very next check sees the hugetlbfs mount (mountinfo has it)"
mv "$facts" "$facts.away"
full=$(run_check)
mv "$facts.away" "$facts"
assert_eq "and says what probing everything says" "$full" "$next"
for _ in $(seq 40); do used_facts && break; sleep 0.05; done
used_facts || fail "the agent did not re-publish its facts after the mount"
ok "the agent re-published its facts after the mount; check uses them again"
umount "$mnt"
grep -q " $mnt " /proc/self/mountinfo && fail "still mounted"
"$HOSTTUNE" check | grep 'hugetlb' | grep -q 'no hugetlbfs mount' ||
	fail "the next check after the unmount does not say no hugetlbfs mount"
ok "the very next check after the unmount says no hugetlbfs mount again"
