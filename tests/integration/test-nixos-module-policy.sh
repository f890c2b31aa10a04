#!/bin/bash
# The module can never hand the agent a policy it rejects: the policy generated for every good
# case of nixos-module/tests/cases.nix passes `hosttune policy validate` (the same check the module
# runs at build time), and a policy with a mistake does not (the validator really checks).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nixpkgs-lib.sh"
need_cmd nix-instantiate python3
if ! "$HOSTTUNE" --help 2>&1 | grep -qE '^ +policy '; then
	echo "##########################################################################"
	echo "SKIP: generated policies NOT validated: this hosttune has no 'policy validate'"
	echo "      verb yet (it comes with the policy loader, issue 3)."
	echo "##########################################################################"
	exit 77
fi
find_nixpkgs_lib

module_eval --json -A good >"$T_TMP/good.json" || fail "evaluating the good cases failed"
python3 - "$T_TMP/good.json" "$T_TMP" <<'EOF'
import json, sys
for c in json.load(open(sys.argv[1])):
    open(f"{sys.argv[2]}/{c['name']}.ini", "w").write(c["ini"])
EOF

# include = default resolves to /etc/hosttune/profiles/default.ini if this machine has one, else
# to the installed or embedded profile: the same lookup the agent does on a NixOS host.
n=0
for ini in "$T_TMP"/*.ini; do
	name=$(basename "$ini" .ini)
	rc=0
	"$HOSTTUNE" policy validate "$ini" >"$T_TMP/out" 2>&1 || rc=$?
	if [ $rc -ne 0 ]; then
		cat "$ini" "$T_TMP/out"
		fail "$name: hosttune policy validate rejected the generated policy (exit $rc)"
	fi
	ok "$name: generated policy validates"
	n=$((n + 1))
done
[ "$n" -ge 5 ] || fail "only $n policies validated"

# The validator is not a rubber stamp: the same policy with a misspelt key is rejected, exit 2.
cp "$T_TMP/ci-builder.ini" "$T_TMP/bad.ini"
printf '\n[net]\ntapz = 4\n' >>"$T_TMP/bad.ini"
rc=0
"$HOSTTUNE" policy validate "$T_TMP/bad.ini" >"$T_TMP/out" 2>&1 || rc=$?
assert_eq "exit status for a misspelt key" 2 $rc
grep -q "tapz" "$T_TMP/out" || fail "the error does not name the key: $(cat "$T_TMP/out")"
ok "misspelt key rejected: $(head -n1 "$T_TMP/out")"

# --- the examples of the docs generate valid policies ---------------------------------------------
# Every `services.hosttune = { ... };` or `services.hosttune.settings = { ... };` block of a nix
# code block in the docs, evaluated as a module.
python3 - "$HOSTTUNE_SRC" "$T_TMP" <<'EOF' || fail "could not extract the docs' examples"
import re, sys
src, out = sys.argv[1], sys.argv[2]
n = 0
for doc in ("docs/nixos.md", "docs/fleet.md", "README.md"):
    text = open(f"{src}/{doc}").read()
    for block in re.findall(r"```nix\n(.*?)```", text, re.S):
        lines = block.splitlines()
        for i, l in enumerate(lines):
            m = re.match(r"^(\s*)(services\.hosttune(\.settings)?) = \{$", l)
            if not m:
                continue
            end = next(j for j in range(i + 1, len(lines)) if lines[j] == m.group(1) + "};")
            body = "\n".join(lines[i:end + 1])
            # fleet.md's builders take their pool size as an argument.
            open(f"{out}/example-{n}.nix", "w").write(
                f"# {doc}\nlet hugepages = \"16G\"; in\n{{\n{body}\n}}\n")
            n += 1
print(f"{n} examples")
sys.exit(0 if n >= 4 else 1)
EOF
for ex in "$T_TMP"/example-*.nix; do
	doc=$(head -n1 "$ex" | cut -c3-)
	{ module_eval --json --arg file "$ex" -A examplePolicy 2>"$T_TMP/err" |
		python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin))' >"$T_TMP/ex.ini"; } ||
		{
			cat "$ex" "$T_TMP/err"
			fail "an example of $doc does not evaluate"
		}
	"$HOSTTUNE" policy validate "$T_TMP/ex.ini" >"$T_TMP/out" 2>&1 || {
		cat "$ex" "$T_TMP/ex.ini" "$T_TMP/out"
		fail "an example of $doc generates a policy hosttune rejects"
	}
	ok "example $(basename "$ex" .nix) of $doc: $(cat "$T_TMP/out")"
done
