#!/bin/bash
# SPDX-License-Identifier: MIT
# `make bench`: run every per-topic benchmark script (bench/*.sh but this one), each of which
# writes its table to docs/bench/. Benchmarks measure; they never pass or fail on a number.
# Usage: bench/run.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")"
for s in ./*.sh; do
	# compare.sh compares two builds (the lead's before/after runs), not one against peers.
	[ "$s" = ./run.sh ] || [ "$s" = ./compare.sh ] && continue
	echo "== bench: $s"
	"$s" "$build"
done
