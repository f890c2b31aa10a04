# SPDX-License-Identifier: MIT
# Shared helpers for integration tests (sourced). Tests run against this machine's real
# kernel and must leave it as they found it: register every undo step with `defer` right after
# the change it undoes; the EXIT trap runs them in reverse order even when an assertion fails.
set -euo pipefail

: "${HOSTTUNE:?run through tests/run-tests.sh or make check}"
T_NAME=$(basename "$0" .sh)
T_TMP=$(mktemp -d "/tmp/hosttune-$T_NAME.XXXXXX")
T_DEFERRED=()
T_FAILED=0

defer() { T_DEFERRED+=("$*"); }

t_cleanup() {
	local rc=$? i
	set +e
	for ((i = ${#T_DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${T_DEFERRED[$i]}" || echo "cleanup step failed: ${T_DEFERRED[$i]}" >&2
	done
	rm -rf "$T_TMP"
	if [ $rc -eq 0 ] && [ $T_FAILED -ne 0 ]; then rc=1; fi
	exit $rc
}
trap t_cleanup EXIT

skip() {
	echo "SKIP: $*"
	exit 77
}

need_root() { [ "$(id -u)" = 0 ] || skip "needs root"; }
need_cmd() { for c in "$@"; do command -v "$c" >/dev/null || skip "needs $c"; done; }

# Tests that change global kernel state (hugepage pool, zram0, sysctls) hold this lock, so two
# test runs on one machine (or parallel sessions) never fight over the same knob.
# Without root (tests/run-tests.sh --unprivileged) a test only reads, and the lock keeps its
# readings from straddling a root test's change: it opens root's lock file to read (flock needs
# no more) and never creates it (root could not open a file of another user's in the sticky
# /run/lock where fs.protected_regular is on).
kernel_lock() {
	local f=/run/lock/hosttune-tests.lock
	if [ "$(id -u)" = 0 ]; then
		exec 9>$f
	elif [ -e $f ]; then
		exec 9<$f
	else
		return 0
	fi
	flock 9
}

fail() {
	echo "FAIL: $*" >&2
	T_FAILED=1
	exit 1
}

ok() { echo "ok - $*"; }

# grep_all ARGS...: grep ARGS (with -q) at the end of a pipeline, reading all of its input first.
# A bare `grep -q` exits at its first match; the command still writing into the pipe then dies of
# SIGPIPE and, under pipefail, fails the pipeline at random. For a string already in a variable,
# use a here-string instead: grep -q PATTERN <<<"$out".
grep_all() { grep "$@" <<<"$(cat)"; }

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
	if [ "$2" != "$3" ]; then fail "$1: expected '$2', got '$3'"; fi
	ok "$1 = $3"
}

# JSON field from a document on stdin, by a python expression over `d`.
jq_py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# qemu_kvm_judge: does QEMU run a guest with KVM here, as the NixOS test driver starts it
# (-accel kvm -cpu max)? Prints true (still running after 3 s: its vCPU was set up and entered
# the firmware), false (no /dev/kvm, or QEMU exited: e.g. "failed to set MSR" on kvm_pvm), or
# unknown (no qemu-system-x86_64). An independent reading for KVM verdicts.
qemu_kvm_judge() {
	local rc=0
	[ -c /dev/kvm ] || { echo false; return; }
	command -v qemu-system-x86_64 >/dev/null || { echo unknown; return; }
	timeout 3 qemu-system-x86_64 -accel kvm -cpu max -machine microvm -display none -nodefaults \
		-no-reboot -serial none -m 64 >/dev/null 2>&1 || rc=$?
	if [ $rc -eq 124 ]; then echo true; else echo false; fi
}
