#!/bin/bash
# SPDX-License-Identifier: MIT
# Run every fuzz target built in BUILD for SECONDS each, from its seed corpus
# (tests/fuzz/corpus/<name>/, read-only) plus a working corpus in BUILD/corpus-<target>/.
# Fails when any target finds a crash, a leak or undefined behaviour; the reproducer is left
# in BUILD/ (crash-*, leak-*) and the log's tail is printed.
# Usage: tests/fuzz/run.sh BUILD SECONDS
set -u
build=$(cd "${1:?usage: run.sh BUILD SECONDS}" && pwd)
seconds=${2:?usage: run.sh BUILD SECONDS}
src=$(cd "$(dirname "$0")" && pwd)
failed=""
for bin in "$build"/fuzz-*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	seeds=$src/corpus/${name#fuzz-}
	work=$build/corpus-$name
	mkdir -p "$work"
	echo "fuzz: $name for ${seconds}s"
	rc=0
	(cd "$build" && "./$name" -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 \
		"$work" $([ -d "$seeds" ] && echo "$seeds")) >"$build/$name.log" 2>&1 || rc=$?
	grep -E '^stat::number_of_executed_units|^Done' "$build/$name.log" | tail -n 1 | sed 's/^/      /'
	if [ $rc -ne 0 ]; then
		echo "FAIL  $name (exit $rc); last lines of $build/$name.log:"
		tail -n 30 "$build/$name.log" | sed 's/^/      | /'
		failed="$failed $name"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed"
	exit 1
fi
echo "fuzz: every target ran ${seconds}s without a finding"
