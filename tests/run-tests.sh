#!/bin/bash
# SPDX-License-Identifier: MIT
# Run every test: unit tests (cmocka binaries built from tests/unit/test-*.c) and integration
# tests (tests/integration/test-*.sh against the live kernel, a private D-Bus, real systemd).
# Usage: tests/run-tests.sh [--unit-only] [--unprivileged] [--only PATTERN] BUILD_DIR
# Exit status 77 from a test means "skipped" (it says why); anything but 0/77 fails the run.
# --unprivileged runs the suite without root: as root, it runs itself again as an unprivileged
# user (HOSTTUNE_TEST_USER, default nobody) on a copy of the source and of the built programs,
# so nothing can pass for having root; the tests that need root skip and say so.
set -u

unit_only=0
only=""
unprivileged=0
args=("$@")
while [ $# -gt 1 ]; do
	case "$1" in
	--unit-only) unit_only=1 ;;
	--unprivileged) unprivileged=1 ;;
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

# --unprivileged as root: copy what the tests read (the source without build trees, the built
# programs and test binaries) into a directory only the test user can enter, run there with the
# user's uid and gid, no supplementary groups and no capabilities, and keep its logs. Nix gets
# a store that needs no writing (a user cannot use root's /nix/var without a nix-daemon; the
# tests only parse and evaluate).
if [ $unprivileged = 1 ] && [ "$(id -u)" = 0 ]; then
	user=${HOSTTUNE_TEST_USER:-nobody}
	uid=$(id -u "$user") && gid=$(id -g "$user") || exit 2
	[ "$uid" != 0 ] || { echo "run-tests: HOSTTUNE_TEST_USER must not be root" >&2; exit 2; }
	copy=$(mktemp -d /tmp/hosttune-unprivileged.XXXXXX)
	trap 'rm -rf "$copy"' EXIT
	mkdir -p "$copy/src" "$copy/build" "$copy/home"
	tar -C "$src" --exclude=./.git --exclude='./build*' -cf - . | tar -C "$copy/src" -xf -
	for f in hosttune hosttuned hosttune-bus tests; do
		[ -e "$build/$f" ] && cp -a "$build/$f" "$copy/build/"
	done
	rm -rf "$copy/build/tests/test-logs"
	chown -R "$uid:$gid" "$copy"
	chmod 0700 "$copy"
	rc=0
	setpriv --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all \
		env HOME="$copy/home" USER="$user" LOGNAME="$user" NIX_REMOTE="${NIX_REMOTE:-dummy://}" \
		"$copy/src/tests/run-tests.sh" "${args[@]:0:${#args[@]}-1}" "$copy/build" || rc=$?
	rm -rf "$build/test-logs/unprivileged"
	mkdir -p "$build/test-logs" && cp -r "$copy/build/test-logs" "$build/test-logs/unprivileged"
	echo "(ran as $user, uid $uid; logs in $build/test-logs/unprivileged)"
	exit $rc
fi
if [ $unprivileged = 1 ]; then
	echo "== unprivileged run as $(id -un) (uid $(id -u)): tests that need root skip"
fi
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
# The fuzz targets' seed corpora, replayed without libFuzzer (tests/fuzz/replay.c).
for t in "$build"/tests/fuzz-replay/fuzz-*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	run_one "fuzz-replay/$name" 300 "$t" "$src/tests/fuzz/corpus/${name#fuzz-}"
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
