#!/bin/bash
# SPDX-License-Identifier: MIT
# `hosttune check` with a live agent takes the agent's probe facts (check.facts) and probes only
# the volatile ones itself (docs/check-facts.md). Its output and exit code must be what full
# probing gives for the same host: compared with check --policy naming the agent's policy file
# (same agent, full probing) and with check --offline. And a change the agent only hears about
# by an event (a hugetlbfs mount) must show in the very next check, compared with
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
used_facts() { # used_facts [ARGS...]
	local trace
	trace=$(strace -f -e trace=openat,openat2 "$HOSTTUNE" check "$@" 2>&1 >/dev/null || true)
	case "$trace" in *proc/cpuinfo*) return 1 ;; *) return 0 ;; esac
}
run_check() { # run_check ARGS...: prints the normalised output, then "exit N"
	local rc=0 out
	out=$("$HOSTTUNE" check "$@") || rc=$?
	echo "$out" | norm
	echo "exit $rc"
}
# same_as_full NAME OUTPUT: OUTPUT (check from the facts) is what probing everything with the
# same agent says. The machine is shared: when the two differ, both run once more, so that a
# change made by someone else between the two runs (an rng source switched, a device node made)
# does not count; a difference that stays is a failure.
same_as_full() {
	local full again
	full=$(run_check --policy "$policy")
	if [ "$full" != "$2" ]; then
		again=$(run_check)
		full=$(run_check --policy "$policy")
		assert_eq "$1 (second try: the host changed in between?)" "$full" "$again"
		return
	fi
	assert_eq "$1" "$full" "$2"
}

used_facts || fail "check with the agent running probed everything"
ok "check with the agent running uses its facts"
fast=$(run_check)
# The same policy named on the command line: the same agent (its leases, its footer line), but
# check probes everything (the agent's facts are for the agent's own policy only). Moving
# check.facts away would race the agent, which re-publishes whenever /dev changes.
used_facts --policy "$policy" && fail "check --policy took the agent's facts"
same_as_full "check from the agent's facts = check probing everything (same agent)" "$fast"
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
same_as_full "and says what probing everything says" "$next"
for _ in $(seq 40); do used_facts && break; sleep 0.05; done
used_facts || fail "the agent did not re-publish its facts after the mount"
ok "the agent re-published its facts after the mount; check uses them again"
umount "$mnt"
grep -q " $mnt " /proc/self/mountinfo && fail "still mounted"
"$HOSTTUNE" check | grep 'hugetlb' | grep -q 'no hugetlbfs mount' ||
	fail "the next check after the unmount does not say no hugetlbfs mount"
ok "the very next check after the unmount says no hugetlbfs mount again"

# A reload whose policy names another nix.conf: the agent watches that file's directory too, so a
# write there has the facts made again and check takes them. Without the watch check would find
# the file's stamp changed and probe everything until the next re-probe (60 s).
nixdir=$(mktemp -d "$T_TMP/nixdir.XXXXXX")
printf 'sandbox = true\n' >"$nixdir/nix.conf"
printf '[policy]\nname = facts-test\n\n[readiness]\nrequire = tun\n\n[nix]\nconf = %s\n' \
	"$nixdir/nix.conf" >"$policy"
agent_call Reload >/dev/null || fail "Reload with [nix] conf = $nixdir/nix.conf failed"
for _ in $(seq 100); do used_facts && break; sleep 0.05; done
used_facts || fail "check does not take the agent's facts after the reload"
# The facts of the reload are written once its outputs are; then the file stays until a change.
facts_ino() { stat -c %i "$facts"; }
# While nothing changes the agent leaves them alone: its own probes (which open and close
# /dev/kvm and /dev/net/tun for writing) must not set off the next one. Sampled for a second.
ino=$(facts_ino)
changes=0
for _ in $(seq 10); do
	sleep 0.1
	now=$(facts_ino)
	[ "$now" = "$ino" ] || changes=$((changes + 1))
	ino=$now
done
[ "$changes" -le 1 ] || fail "check.facts was made $changes times in a second with nothing changing"
ok "check.facts left alone while nothing changes ($changes new files in a second)"
printf 'sandbox = false\n' >"$nixdir/nix.conf"
for _ in $(seq 40); do [ "$(facts_ino)" != "$ino" ] && break; sleep 0.05; done
[ "$(facts_ino)" != "$ino" ] ||
	fail "the agent did not make its facts again after $nixdir/nix.conf changed (its directory not watched)"
ok "a write to the reloaded policy's nix.conf has the agent make its facts again (a new check.facts)"
same_as_full "check after that write = check probing everything" "$(run_check)"

# /dev/kvm re-moded: the agent's facts (and its smoke verdict) were for mode 0600; check stats
# the node, finds another mode and ctime, and probes everything (guests included) itself.
if [ -c /dev/kvm ]; then
	mode=$(stat -c %a /dev/kvm)
	defer "chmod $mode /dev/kvm"
	chmod 0666 /dev/kvm
	used_facts && fail "check took the agent's facts although /dev/kvm was re-moded"
	ok "check probes everything once /dev/kvm's mode is not the one the facts rest on"
	same_as_full "check right after the chmod = check probing everything" "$(run_check)"
	# The agent hears of it (inotify on /dev), runs its smoke guests again for the new mode
	# and publishes verdict and facts for it: check takes them again.
	for _ in $(seq 100); do used_facts && break; sleep 0.05; done
	used_facts || fail "the agent did not publish facts for /dev/kvm's new mode"
	want=$(printf '%o' "0x$(stat -c %f /dev/kvm)")
	got=$(sed -n 's/^kvm-smoke-identity=[^:]*:[^:]*:\([0-7]*\):.*/\1/p' "$AGENT_RUN/agent.state")
	assert_eq "the agent's smoke verdict is for /dev/kvm's mode now (stat)" "$want" "$got"
	same_as_full "check from the new facts = check probing everything" "$(run_check)"
	chmod "$mode" /dev/kvm
	assert_eq "/dev/kvm mode put back" "$mode" "$(stat -c %a /dev/kvm)"
fi
