#!/bin/bash
# SPDX-License-Identifier: MIT
# services.hosttune evaluated with the real nixpkgs lib (lib.evalModules over the module and the
# NixOS option declarations it writes to, nixos-module/tests/stub-nixos.nix): the generated
# policy of every case equals nixos-module/tests/expected/*.ini, the unit, D-Bus, tmpfiles, udev,
# kernel and nix.conf outputs are as designed, bad settings fail evaluation with a readable
# message; the nix.conf it yields is read by the real Nix as intended; and the module knows the
# same requirement tokens as policies/readiness.c. Skips loudly without a nixpkgs lib.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nixpkgs-lib.sh"
need_cmd nix-instantiate nix python3 diff
find_nixpkgs_lib

tests=$HOSTTUNE_SRC/nixos-module/tests
fixtures=$tests/fixtures

# --- good cases: checks and generated policies ---------------------------------------------------
module_eval --json -A good >"$T_TMP/good.json" || fail "evaluating the good cases failed"
echo "formats: $(module_eval -A formats)"

python3 - "$T_TMP/good.json" "$T_TMP" <<'EOF' || fail "a check of a good case failed"
import json, sys
cases = json.load(open(sys.argv[1]))
bad = 0
for c in cases:
    for k in c["checks"]:
        if k["ok"]:
            print(f"ok - {c['name']}: {k['name']}")
        else:
            bad += 1
            print(f"FAIL: {c['name']}: {k['name']}: expected {k['expected']}, got {k['actual']}")
    open(f"{sys.argv[2]}/{c['name']}.ini", "w").write(c["ini"])
    open(f"{sys.argv[2]}/{c['name']}.expected", "w").write(c["expectedIni"])
    open(f"{sys.argv[2]}/{c['name']}.nix.conf", "w").write(c["nixConf"])
    if c["warnings"]:
        print(f"   {c['name']} warns: {c['warnings']}")
sys.exit(1 if bad else 0)
EOF

n=0
for ini in "$T_TMP"/*.ini; do
	name=$(basename "$ini" .ini)
	want=$tests/expected/$(cat "$T_TMP/$name.expected").ini
	sed "s|@FIXTURES@|$fixtures|g" "$want" >"$T_TMP/$name.want"
	if ! diff -u "$T_TMP/$name.want" "$ini"; then
		fail "$name: the generated policy differs from ${want#"$HOSTTUNE_SRC"/}"
	fi
	ok "$name: generated policy equals ${want#"$HOSTTUNE_SRC"/}"
	n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n good cases evaluated"

# --- bad cases: evaluation fails, and says why -----------------------------------------------------
module_eval --json -A badExpected >"$T_TMP/bad.json" || fail "listing the bad cases failed"
for name in $(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))))' "$T_TMP/bad.json"); do
	rc=0
	module_eval -A "bad.$name" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
	[ $rc -ne 0 ] || fail "bad case $name evaluated without error: $(cat "$T_TMP/out")"
	# nix-instantiate indents continuation lines; compare with whitespace runs folded.
	tr -s ' \n' ' ' <"$T_TMP/err" >"$T_TMP/err1"
	python3 - "$T_TMP/bad.json" "$name" "$T_TMP/err1" <<'EOF' || { cat "$T_TMP/err"; fail "bad case $name: the error does not say what is wrong"; }
import json, sys
want = json.load(open(sys.argv[1]))[sys.argv[2]]
got = open(sys.argv[3]).read()
for w in [want] if isinstance(want, str) else want:
    if " ".join(w.split()) not in got:
        print(f"missing in the error message: {w!r}")
        sys.exit(1)
EOF
	ok "$name fails: $(grep -m1 -E '^ *- |error: A definition' "$T_TMP/err" | sed 's/^ *//' | cut -c1-150)"
done

# --- the nix.conf the module produces, read by the real Nix ----------------------------------------
# NixOS renders nix.settings and nix.extraOptions into /etc/nix/nix.conf as eval.nix does; point
# its !include at a file of ours instead of /run/hosttune/nix.conf.
nix_show() { # nix_show CASE KEY: the value Nix reads for KEY
	local conf=$T_TMP/nixconf-$1
	mkdir -p "$conf/etc" "$conf/run"
	sed "s|/run/hosttune/nix.conf|$conf/run/nix.conf|" "$T_TMP/$1.nix.conf" >"$conf/etc/nix.conf"
	{ env -u NIX_CONFIG NIX_CONF_DIR="$conf/etc" NIX_USER_CONF_FILES="$conf/none" \
		nix --extra-experimental-features nix-command show-config 2>/dev/null ||
		env -u NIX_CONFIG NIX_CONF_DIR="$conf/etc" NIX_USER_CONF_FILES="$conf/none" \
			nix --extra-experimental-features nix-command config show; } |
		sed -n "s/^$2 = //p"
}
has_word() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }
features=$(nix_show minimal system-features)
if has_word kvm "$features" || has_word nixos-test "$features"; then
	fail "Nix claims kvm/nixos-test before the agent verified them: $features"
fi
has_word big-parallel "$features" || fail "the NixOS features are gone: $features"
ok "without the agent's file Nix advertises: $features (no kvm, no nixos-test)"
# What hosttuned writes there once /dev/kvm is verified (agent/outputs.c write_nix_conf).
echo "extra-system-features = kvm nixos-test hugepages" >"$T_TMP/nixconf-minimal/run/nix.conf"
features=$(nix_show minimal system-features)
for f in kvm nixos-test hugepages big-parallel; do
	has_word $f "$features" || fail "$f missing once the agent verified it: $features"
done
ok "with the agent's file Nix advertises: $features"
# Every way nixpkgs has defined its default features (nixos-module/tests/nixpkgs/*): Nix reads no
# kvm and no nixos-test, and a user's own feature.
for variant in current mkdefault optiondefault; do
	features=$(nix_show features-default-$variant system-features)
	if has_word kvm "$features" || has_word nixos-test "$features"; then
		fail "nixpkgs $variant: Nix claims kvm/nixos-test before the agent verified them: $features"
	fi
	ok "nixpkgs $variant: Nix advertises $features"
	features=$(nix_show features-user-addition-$variant system-features)
	has_word uid-range "$features" || fail "nixpkgs $variant: the user's uid-range is gone: $features"
	if has_word kvm "$features"; then fail "nixpkgs $variant: kvm with a user's addition: $features"; fi
	ok "nixpkgs $variant, user adds uid-range: Nix advertises $features"
done
paths=$(nix_show ci-builder sandbox-paths)
case " $paths " in
*" /dev/net/tun? "*) ok "sandbox-paths as Nix reads them: $paths" ;;
*) fail "sandbox-paths lack /dev/net/tun?: $paths" ;;
esac
features=$(nix_show no-nix-integration system-features)
case " $features " in
*" kvm "*) ok "nixIntegration.enable = false leaves NixOS' features alone: $features" ;;
*) fail "nixIntegration.enable = false changed the features: $features" ;;
esac

# --- requirement tokens: the module's list is the C parser's list ----------------------------------
c_plain=$(sed -n 's/.*\[REQ_[A-Z_]*\] = { "\([a-z-]*\)", PROBE_[A-Z_]*, false }.*/\1/p' \
	"$HOSTTUNE_SRC/policies/readiness.c" | sort | tr '\n' ' ')
c_valued=$(sed -n 's/.*\[REQ_[A-Z_]*\] = { "\([a-z-]*\)", PROBE_[A-Z_]*, true }.*/\1/p' \
	"$HOSTTUNE_SRC/policies/readiness.c" | sort | tr '\n' ' ')
[ -n "$c_plain" ] && [ -n "$c_valued" ] || fail "could not read the token table of policies/readiness.c"
tokens() { nix-instantiate --eval --strict --json -E \
	"(import $HOSTTUNE_SRC/nixos-module/lib.nix { lib = import $NIXPKGS_LIB_DIR; }).$1" |
	python3 -c 'import json,sys; print(" ".join(sorted(json.load(sys.stdin))) + " ")'; }
assert_eq "tokens without a value (readiness.c vs lib.nix)" "$c_plain" "$(tokens plainRequirements)"
assert_eq "tokens with a value (readiness.c vs lib.nix)" "$c_valued" "$(tokens valuedRequirements)"

# --- the key table the module checks settings against is the binary's own ----------------------------
"$HOSTTUNE" policy keys --json >"$T_TMP/keys.json" || fail "hosttune policy keys --json failed"
diff -u "$HOSTTUNE_SRC/nixos-module/policy-keys.json" "$T_TMP/keys.json" ||
	fail "nixos-module/policy-keys.json is stale: regenerate it with 'make nixos-module/policy-keys.json'"
ok "nixos-module/policy-keys.json equals 'hosttune policy keys --json' ($(grep -c '"section"' "$T_TMP/keys.json") keys)"
# Every value syntax of the table is one the module knows (or one a typed option checks).
syntaxes=$(python3 -c 'import json,sys; print(" ".join(sorted({k["syntax"] for k in json.load(open(sys.argv[1]))["keys"]})))' "$T_TMP/keys.json")
for syn in $syntaxes; do
	case $syn in
	requirements | include | sysctl) continue ;; # own checks: readiness.require, policy.include, sysctlKeyError
	esac
	grep -Eq "^ *(\"$syn\"|$syn) =" "$HOSTTUNE_SRC/nixos-module/lib.nix" ||
		fail "value syntax '$syn' of the key table is not checked by nixos-module/lib.nix"
done
ok "every value syntax of the key table is checked at evaluation: $syntaxes"

# --- flake.nix and package.nix wiring, against a stand-in nixpkgs -----------------------------------
mkdir -p "$T_TMP/nixpkgs/pkgs/pkgs-lib"
echo "{ lib, pkgs }: { ini = (import $tests/stub-pkgs.nix { inherit lib; }).formats.ini; }" \
	>"$T_TMP/nixpkgs/pkgs/pkgs-lib/formats.nix"
nix-instantiate --eval --strict --json "$tests/flake-wiring.nix" --arg lib "import $NIXPKGS_LIB_DIR" \
	--argstr formatsDir "$T_TMP/nixpkgs" >"$T_TMP/flake.json" || fail "flake.nix does not evaluate"
flake() { jq_py "$1" <"$T_TMP/flake.json"; }
# One nixpkgs revision: the flake's pinned input is the one the stand-ins name in their headers.
pin=$(grep -o '^# *[0-9a-f]\{40\}' "$tests/stub-nixos.nix" | grep -o '[0-9a-f]\{40\}' | sort -u)
[ "$(echo "$pin" | wc -w)" = 1 ] || fail "stub-nixos.nix names no single nixpkgs revision: $pin"
grep -q "^# *$pin" "$tests/nixpkgs/current/nixos/modules/config/nix.nix" ||
	fail "the nix.nix stand-in is not transcribed for $pin"
assert_eq "flake nixpkgs input (pinned to the stand-ins' revision)" "github:NixOS/nixpkgs/$pin" \
	"$(flake "d['inputs']")"
assert_eq "flake systems" "['aarch64-linux', 'x86_64-linux']" "$(flake "d['systems']")"
assert_eq "flake packages" "['default', 'hosttune']" "$(flake "d['packages']")"
assert_eq "flake checks" "['module-eval', 'nixos-eval', 'package', 'vm-test']" "$(flake "d['checks']")"
assert_eq "flake nixosModules" "['default', 'hosttune']" "$(flake "d['nixosModules']")"
assert_eq "overlay adds" "['hosttune']" "$(flake "d['overlay']")"
assert_eq "package version = Makefile VERSION" \
	"$(sed -n 's/^VERSION := //p' "$HOSTTUNE_SRC/Makefile")" "$(flake "d['package']['version']")"
assert_eq "package checkPhase target" "unit" "$(flake "d['package']['checkTarget']")"
assert_eq "package links" "['systemd', 'btrfs-progs', 'libnl', 'inih', 'json-c']" \
	"$(flake "d['package']['buildInputs']")"
assert_eq "flake check module-eval (all cases pass, all bad cases fail)" "hosttune-module-eval" \
	"$(flake "d['module-eval']")"
assert_eq "VM test switches to the specialisation" "True" "$(flake "d['vm-test']['scriptHasSwitch']")"

# --- the unit files, read by this machine's systemd -------------------------------------------------
# Rendered the way NixOS writes them, with the package path pointing at a directory of stand-in
# executables, and checked by systemd's own parser: every directive known, every value valid.
mkdir -p "$T_TMP/pkg/bin" "$T_TMP/pkg/sbin" "$T_TMP/units"
printf '#!/bin/sh\n' >"$T_TMP/pkg/sbin/hosttuned"
printf '#!/bin/sh\n' >"$T_TMP/pkg/bin/hosttune"
chmod +x "$T_TMP/pkg/sbin/hosttuned" "$T_TMP/pkg/bin/hosttune"
module_eval --json --argstr packageDir "$T_TMP/pkg" -A good >"$T_TMP/units.json" ||
	fail "evaluating the good cases with a package directory failed"
python3 - "$T_TMP/units.json" "$T_TMP/units" <<'EOF2'
import json, sys
for c in json.load(open(sys.argv[1])):
    if c["name"] in ("minimal", "ci-builder", "gigantic"):
        open(f"{sys.argv[2]}/{c['name']}.unit", "w").write(c["unit"])
        for i, m in enumerate(c["mounts"]):
            open(f"{sys.argv[2]}/{c['name']}.mount{i}", "w").write(m["where"] + "\n" + m["text"])
EOF2
systemd_version=$(systemctl --version | awk 'NR==1 {print $2}')
n=0
for u in "$T_TMP"/units/*.unit "$T_TMP"/units/*.mount*; do
	[ -f "$u" ] || continue
	d=$T_TMP/verify-$n
	mkdir -p "$d"
	case $u in
	*.unit) name=hosttune.service && cp "$u" "$d/$name" ;;
	*) name=$(systemd-escape --path --suffix=mount "$(head -n1 "$u")") && tail -n +2 "$u" >"$d/$name" ;;
	esac
	# --man=no: the man pages named in Documentation= are not installed on this machine.
	(cd "$d" && systemd-analyze verify --man=no "./$name") >"$d/out" 2>&1 || true
	# notify-reload is systemd 253's; older parsers (Debian 12 has 252) do not know it yet.
	if [ "$systemd_version" -lt 253 ]; then
		grep -v "Failed to parse service type, ignoring: notify-reload" "$d/out" >"$d/out2" || true
	else
		cp "$d/out" "$d/out2"
	fi
	if grep -F "$name" "$d/out2"; then
		cat "$d/$name"
		fail "systemd $systemd_version objects to $(basename "$u")"
	fi
	ok "systemd-analyze verify accepts $(basename "$u") ($name)"
	n=$((n + 1))
done
[ "$n" -ge 4 ] || fail "only $n units verified"
