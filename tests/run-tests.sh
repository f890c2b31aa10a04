#!/bin/bash
# SPDX-License-Identifier: MIT
# Run every test: unit tests (cmocka binaries built from tests/unit/test-*.c) and integration
# tests (tests/integration/test-*.sh against the live kernel, a private D-Bus, real systemd).
# Usage: tests/run-tests.sh [--unit-only] [--only PATTERN] BUILD_DIR
# Exit status 77 from a test means "skipped" (it says why); anything but 0/77 fails the run.
set -u

unit_only=0
only=""
while [ $# -gt 1 ]; do
	case "$1" in
	--unit-only) unit_only=1 ;;
	--only)
		only=$2
		shift
		;;
	*) break ;;
	esac
	shift
done
build=$(cd "${1:-build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
export HOSTTUNE_BUILD=$build HOSTTUNE_SRC=$src
export HOSTTUNE=$build/hosttune HOSTTUNED=$build/hosttuned HOSTTUNE_BUS=$build/hosttune-bus
export HOSTTUNE_FIXTURES=$src/tests/unit/fixtures

pass=0 fail=0 skip=0
failed_names=""
log_dir=$build/test-logs
mkdir -p "$log_dir"

run_one() { # run_one NAME TIMEOUT CMD...
	local name=$1 limit=$2 rc start end
	shift 2
	if [ -n "$only" ] && [[ "$name" != *$only* ]]; then
		return
	fi
	mkdir -p "$(dirname "$log_dir/$name.log")"
	start=$(date +%s)
	timeout --kill-after=10 "$limit" "$@" >"$log_dir/$name.log" 2>&1
	rc=$?
	end=$(date +%s)
	case $rc in
	0)
		pass=$((pass + 1))
		printf 'PASS  %-40s %3ss\n' "$name" $((end - start))
		;;
	77)
		skip=$((skip + 1))
		printf 'SKIP  %-40s %s\n' "$name" "$(grep -m1 -i 'skip' "$log_dir/$name.log" | cut -c1-100)"
		;;
	*)
		fail=$((fail + 1))
		failed_names="$failed_names $name"
		printf 'FAIL  %-40s exit %s after %ss; last lines of %s:\n' "$name" "$rc" \
			$((end - start)) "$log_dir/$name.log"
		tail -n 30 "$log_dir/$name.log" | sed 's/^/      | /'
		;;
	esac
}

echo "== unit tests"
for t in "$build"/tests/test-*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" 300 "$t"
done

if [ $unit_only = 0 ]; then
	echo "== integration tests"
	for t in "$src"/tests/integration/test-*.sh; do
		[ -f "$t" ] || continue
		run_one "integration/$(basename "$t" .sh)" 1800 bash "$t"
	done
fi

echo "== $pass passed, $fail failed, $skip skipped (logs in $log_dir)"
if [ $fail -gt 0 ]; then
	echo "failed:$failed_names"
	exit 1
fi
exit 0
