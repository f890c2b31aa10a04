# SPDX-License-Identifier: MIT
# What tests/integration/vm.sh expects of tests/integration/lib.sh, for the benchmarks that boot a
# QEMU machine (sourced; sets src, T_TMP and an EXIT trap that removes it, then sources vm.sh).
# A benchmark cannot skip: what a test would skip for is an error here.
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
T_TMP=$(mktemp -d /tmp/hosttune-bench-vm.XXXXXX)
trap 'rm -rf "$T_TMP"' EXIT
need_root() { :; }
need_cmd() { for c in "$@"; do command -v "$c" >/dev/null || { echo "needs $c" >&2; exit 1; }; done; }
skip() { echo "cannot run: $*" >&2; exit 1; }
fail() { echo "failed: $*" >&2; exit 1; }
ok() { :; }
. "$src/tests/integration/vm.sh"
