# SPDX-License-Identifier: MIT
# Finding nixpkgs' lib for the NixOS module tests (sourced after lib.sh). Nix itself comes from
# Debian (nix-bin), nixpkgs does not: point NIXPKGS_LIB at a checkout of nixpkgs or of
# nix-community/nixpkgs.lib (the repository or its lib/ directory), or set NIX_PATH=nixpkgs=...
# Without either, the tests skip and say so loudly.

# Sets NIXPKGS_LIB_DIR (the lib/ directory) and NIXPKGS_FORMATS (pkgs/pkgs-lib/formats.nix of a
# full nixpkgs checkout, or empty), or skips.
find_nixpkgs_lib() {
	local d=""
	if [ -n "${NIXPKGS_LIB:-}" ]; then
		if [ -f "$NIXPKGS_LIB/modules.nix" ]; then
			d=$NIXPKGS_LIB
		elif [ -f "$NIXPKGS_LIB/lib/modules.nix" ]; then
			d=$NIXPKGS_LIB/lib
		else
			# Set but wrong is a mistake to fix, not a reason to skip.
			fail "NIXPKGS_LIB=$NIXPKGS_LIB holds neither modules.nix nor lib/modules.nix"
		fi
	elif p=$(nix-instantiate --find-file nixpkgs 2>/dev/null) && [ -f "$p/lib/modules.nix" ]; then
		d=$p/lib
	else
		echo "##########################################################################"
		echo "SKIP: the NixOS module evaluation tests did NOT run: no nixpkgs lib here."
		echo "      Set NIXPKGS_LIB to a checkout of github.com/nix-community/nixpkgs.lib"
		echo "      (or of nixpkgs), or NIX_PATH=nixpkgs=/path/to/nixpkgs, and run again."
		echo "##########################################################################"
		exit 77
	fi
	NIXPKGS_LIB_DIR=$(cd "$d" && pwd)
	NIXPKGS_FORMATS=""
	if [ -f "$NIXPKGS_LIB_DIR/../pkgs/pkgs-lib/formats.nix" ]; then
		NIXPKGS_FORMATS=$(cd "$NIXPKGS_LIB_DIR/../pkgs/pkgs-lib" && pwd)/formats.nix
	fi
	echo "nixpkgs lib: $NIXPKGS_LIB_DIR ($(nix-instantiate --eval -E "(import $NIXPKGS_LIB_DIR).version" 2>/dev/null))"
}

# nix-instantiate --eval of nixos-module/tests/eval.nix with the lib found above; extra arguments
# are passed on (-A ATTR, --json, ...).
module_eval() {
	local args=(--arg lib "import $NIXPKGS_LIB_DIR" --argstr fixtures "$HOSTTUNE_SRC/nixos-module/tests/fixtures")
	if [ -n "$NIXPKGS_FORMATS" ]; then args+=(--arg formatsPath "$NIXPKGS_FORMATS"); fi
	nix-instantiate --eval --strict "${args[@]}" "$HOSTTUNE_SRC/nixos-module/tests/eval.nix" "$@"
}
