#!/bin/bash
# SPDX-License-Identifier: MIT
# Every .nix file of the tree parses (nix-instantiate --parse): the flake, the package, the NixOS
# module and its tests, none of which can be built or run on a machine without nixpkgs.
. "$(dirname "$0")/lib.sh"
command -v nix-instantiate >/dev/null ||
	skip "nix-instantiate is not installed (Debian: nix-bin; scripts/deps.sh check installs it)"

cd "$HOSTTUNE_SRC"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files --cached --others --exclude-standard '*.nix')
else
	files=$(find . -name '*.nix' -not -path './build*' | sed 's|^\./||')
fi
n=0
for f in $files; do
	[ -f "$f" ] || continue
	nix-instantiate --parse "$f" >/dev/null 2>"$T_TMP/err" || {
		cat "$T_TMP/err"
		fail "$f does not parse"
	}
	ok "$f parses"
	n=$((n + 1))
done
# The tree has at least the flake, the package, the module and its tests.
[ "$n" -ge 4 ] || fail "found only $n .nix files"
for f in flake.nix package.nix nixos-module/default.nix nixos-module/tests/vm-test.nix; do
	[ -f "$f" ] || fail "$f is missing"
done
ok "$n .nix files parse"
