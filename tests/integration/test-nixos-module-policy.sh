#!/bin/bash
# SPDX-License-Identifier: MIT
# The module can never hand the agent a policy it rejects: the policy generated for every good
# case of nixos-module/tests/cases.nix passes `hosttune policy validate` (the same check the module
# runs at build time), and a policy with a mistake does not (the validator really checks).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/nixpkgs-lib.sh"
need_cmd nix-instantiate python3
if ! "$HOSTTUNE" --help 2>&1 | grep_all -qE '^ +policy '; then
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

# --- the module's evaluation-time key check agrees with the loader ---------------------------------
# Values of every kind of key, good and bad: the module (nixos-module/lib.nix settingsErrors, from
# the exported key table) must accept exactly what `hosttune policy validate` accepts.
python3 - "$T_TMP/samples.json" <<'EOF'
import json, sys
samples = {
    ("hugepages", "pool"): ["2G", "lots", "10%", "150%", "512", "none", "1.5G", "2 GB", "0.5%"],
    ("hugepages", "size"): ["2M", "3M", "1G", "4K", "64K"],
    ("hugepages", "reclaim"): ["compact", "drop-caches", "sometimes"],
    ("hugepages", "timeout"): ["60s", "2 days", "5min", "3601s", "90m", "250ms", "1h"],
    ("hugepages", "mode"): ["01770", "0999", "17777", "0644"],
    ("hugepages", "mount"): ["/dev/hp", "/dev/hugepages", "/dev/hugepages1G", "/dev/hugepages/x",
                             "/run/hugepages-vm", "/run/user/hp", "/run/hosttune", "/run/hosttune/hp",
                             "/run/hosttune/journal.json", "/mnt/hp", "/srv//hp/", "/etc", "/",
                             "/tmp/hp", "/tmp/ci.X/hp", "relative", "/a/../b", ""],
    ("hugepages", "group"): ["hosttune", "9bad", "_x", "1000"],
    ("hugepages", "per-node"): ["kernel", "even", "0:1G 1:1G", "0:10%", "banana"],
    ("hugepages-1G", "pool"): ["4G", "lots", "4"],
    ("hugepages-3M", "pool"): ["1G"],
    ("kvm", "mode"): ["0666", "keep", "0999", "01666"],
    ("kvm", "require"): ["yes", "no", "maybe"],
    ("zram", "size"): ["4G", "50%", "512K", "none", "0%", "100%", "101%"],
    ("zram", "algorithm"): ["zstd", "lzo-rle", "bad alg", ""],
    ("zram", "priority"): ["100", "-1", "-2", "40000"],
    ("zram", "device"): ["zram0", "zram", "sda", "zram12345"],
    ("memory", "thp"): ["madvise", "keep", "sometimes"],
    ("memory", "thp-defrag"): ["defer+madvise", "sometimes"],
    ("memory", "ksm"): ["keep", "yes", "maybe"],
    ("memory", "swappiness"): ["10", "keep", "300", "-1"],
    ("net", "taps"): ["8", "300", "-1", "eight"],
    ("net", "bridge"): ["htbr0", "this-name-is-too-long", ""],
    ("net", "tap-prefix"): ["htap", "waytoolongprefix", ""],
    ("net", "owner"): ["runner", "bad name"],
    ("net", "multi-queue"): ["yes", "on", "FALSE", "perhaps"],
    ("net", "tapz"): ["4"],
    ("snapshots", "slots"): ["4", "x"],
    ("snapshots", "templates"): ["a, b", "bad/name"],
    ("snapshots", "root"): ["/srv/s", "s", "/var/lib/hosttune/snapshots", "/var/lib", "/", "/etc",
                            "/proc/sys", "/run/hosttune", "/mnt/x", "/var/tmp/a/b", "/var/tmp/a"],
    ("btrfs", "require-options"): ["noatime compress=zstd:3", "autodefrag"],
    ("rng", "require"): ["crng", "hwrng", "always"],
    ("nix", "conf"): ["/etc/nix/nix.conf", "", "/dev/fd/0", "/proc/self/environ", "/sys", "/devx/nix.conf"],
    ("nix", "features-file"): ["/etc/nix/hosttune.conf", "/etc/nix/nix.conf", "/etc/shadow",
                               "/run/hosttune/nix.conf", "/run/hosttune/ready.json", "/etc/nix/sub/x.conf", ""],
    ("agent", "reprobe-interval"): ["30s", "1d"],
    ("agent", "metrics-file"): ["/var/lib/x.prom", "", "/var/lib/node-exporter/hosttune.prom",
                                "/run/prom/hosttune.prom", "/etc/passwd", "/run/x.prom", "/var/lib/a/b.txt"],
    ("agent", "nfd-features-file"): ["/etc/kubernetes/node-feature-discovery/features.d/hosttune", "", "/etc/nfd/features.d/", "/etc/nfd/.hidden", "rel",
                                     "/etc/features.d/x", "/run/nfd/features.d/hosttune", "/var/lib/features.d/x/y"],
    ("agent", "lease-group"): ["hosttune", ""],
    ("agent", "max-leases-per-uid"): ["256", "0", "-1", "many", "99999999999"],
    ("agent", "max-waiting-per-uid"): ["64", "0", "x"],
    ("agent", "build-users-group"): ["nixbld", "", "30000", "bad name"],
    ("agent", "build-hugepages-max"): ["2G", "0", "512M", "1024", "10%", "lots", "-1"],
    ("agent", "revert-on-stop"): ["no", "nope"],
    ("sysctl", "vm.dirty_ratio"): ["10"],
    ("sysctl", "fs.file-max"): ["1000"],
    ("sysctl", "vm.nr_hugepages"): ["10"],
    ("policy", "name"): ["nixos", "bad name"],
    ("policy", "description"): ["fine", "#comment"],
    ("bogus", "key"): ["1"],
}
json.dump([{"section": s, "key": k, "value": v} for (s, k), vs in samples.items() for v in vs],
          open(sys.argv[1], "w"))
EOF
module_eval --json --argstr samplesFile "$T_TMP/samples.json" -A keyVerdicts >"$T_TMP/verdicts.json" ||
	fail "evaluating the key check failed"
python3 - "$T_TMP/verdicts.json" >"$T_TMP/samples.tsv" <<'EOF'
import json, sys
for s in json.load(open(sys.argv[1])):
    # \x1f, not a tab: read would merge the tabs around an empty value.
    print("\x1f".join([s["section"], s["key"], s["value"], "reject" if s["errors"] else "accept",
                     (s["errors"] or ["-"])[0]]))
EOF
n=0 rejected=0
while IFS=$'\x1f' read -r section key value nix_verdict nix_error; do
	printf '[%s]\n%s = %s\n' "$section" "$key" "$value" >"$T_TMP/sample.ini"
	if "$HOSTTUNE" policy validate "$T_TMP/sample.ini" >"$T_TMP/out" 2>&1; then c=accept; else c=reject; fi
	if [ "$c" != "$nix_verdict" ]; then
		cat "$T_TMP/out"
		fail "[$section] $key = '$value': hosttune policy validate says $c, the module says $nix_verdict ($nix_error)"
	fi
	n=$((n + 1))
	[ "$c" = accept ] || rejected=$((rejected + 1))
done <"$T_TMP/samples.tsv"
[ "$n" -ge 100 ] && [ "$rejected" -ge 40 ] && [ $((n - rejected)) -ge 40 ] ||
	fail "only $n samples compared ($rejected rejected)"
ok "$n values of every kind of key ($rejected bad): the module's evaluation-time check agrees with hosttune policy validate"

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
