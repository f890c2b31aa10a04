#!/bin/bash
# SPDX-License-Identifier: MIT
# `hosttune machines-line`, judged by Nix itself and by fleet-formats.py (Nix's field rules,
# not the writer's code): the fields read back as given, the host key decodes to the key file,
# the features are exactly the verified ones (kvm and nixos-test by /dev/kvm's own answer to
# KVM_GET_API_VERSION and its mode) plus the extra ones; Nix 2.8's build hook, given the line as
# its machines file, picks this machine for a build whose required features it lists, and not
# for one that lacks its mandatory feature or needs one it does not list; a broken host key is
# what Nix refuses ("bad machine specification"), so Nix does read field 8. Bad options are
# refused with exit 2, a mandatory feature that does not hold here with exit 1.
. "$(dirname "$0")/lib.sh"
need_cmd python3

formats=$HOSTTUNE_SRC/tests/integration/fleet-formats.py
policy=$T_TMP/policy.ini
printf '[policy]\nname = machines\n[readiness]\nrequire = tun\n' >"$policy"
key=$T_TMP/host_ed25519.pub
if command -v ssh-keygen >/dev/null; then
	ssh-keygen -q -t ed25519 -N '' -C "judge@test" -f "${key%.pub}"
else
	echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHTiwg7APda2i1AHSLOz0RIRLW/juV+m1nV2blrcG9nG judge@test" >"$key"
fi

# KVM for Nix build users, read independently: /dev/kvm answers API 12 and everyone may open it.
kvm=$(python3 -c 'import fcntl, os, stat
try:
    fd = os.open("/dev/kvm", os.O_RDWR)
    world = stat.S_IMODE(os.stat("/dev/kvm").st_mode) & 0o006 == 0o006
    print("yes" if fcntl.ioctl(fd, 0xAE00) == 12 and world else "no")
except OSError:
    print("no")')
verified=$([ "$kvm" = yes ] && echo "kvm,nixos-test," || true)
ok "KVM for build users here: $kvm"

ml() { "$HOSTTUNE" machines-line --offline --policy "$policy" "$@"; }
parse() { python3 "$formats" machines "$1" || fail "Nix's rules refuse: $(cat "$1")"; }

# --- every field given
ml --uri ssh-ng://judge.invalid --systems x86_64-linux,i686-linux --ssh-key /etc/nix/id_builder \
	--max-jobs 3 --speed-factor 2 --extra-features big-parallel,benchmark \
	--mandatory-features benchmark --host-key-file "$key" >"$T_TMP/machines"
doc=$(parse "$T_TMP/machines")
field() { echo "$doc" | jq_py "$1"; }
assert_eq "URI" ssh-ng://judge.invalid "$(field "d[0]['uri']")"
assert_eq "systems" x86_64-linux,i686-linux "$(field "','.join(d[0]['systems'])")"
assert_eq "SSH key" /etc/nix/id_builder "$(field "d[0]['ssh_key']")"
assert_eq "max-jobs" 3 "$(field "d[0]['max_jobs']")"
assert_eq "speed factor" 2 "$(field "d[0]['speed_factor']")"
assert_eq "supported features" "${verified}big-parallel,benchmark" \
	"$(field "','.join(d[0]['supported_features'])")"
assert_eq "mandatory features" benchmark "$(field "','.join(d[0]['mandatory_features'])")"
[ "$(field "d[0]['host_key']")" = "$(cat "$key")" ] ||
	fail "host key decodes to '$(field "d[0]['host_key']")', not the key file"
ok "host key decodes to the key file"

# --- defaults: the FQDN, this machine's system, one job per CPU, speed 1
"$HOSTTUNE" machines-line --offline --policy "$policy" --no-host-key >"$T_TMP/default"
doc=$(parse "$T_TMP/default")
if command -v hostname >/dev/null; then
	assert_eq "default URI (hostname -f)" "ssh-ng://$(hostname -f)" "$(field "d[0]['uri']")"
fi
assert_eq "default system (uname -m)" "$(uname -m)-linux" "$(field "','.join(d[0]['systems'])")"
assert_eq "default max-jobs (nproc)" "$(nproc)" "$(field "d[0]['max_jobs']")"
assert_eq "default speed factor" 1 "$(field "d[0]['speed_factor']")"
assert_eq "no host key" None "$(field "d[0]['host_key']")"

# --- refused
expect_rc() { # RC WHAT ARGS...
	local want=$1 what=$2 rc=0 out
	shift 2
	out=$(ml "$@" 2>&1) || rc=$?
	[ $rc -eq "$want" ] || fail "$what: exit $rc, expected $want: $out"
	ok "$what: exit $rc: $out"
}
expect_rc 2 "kvm by hand" --extra-features big-parallel,kvm
expect_rc 2 "a URI with a space" --uri "ssh-ng://a b"
expect_rc 2 "a URI with '#'" --uri "ssh-ng://a#b"
expect_rc 2 "an empty system" --systems x86_64-linux,
expect_rc 2 "max-jobs 0" --max-jobs 0
expect_rc 2 "both host key options" --host-key-file "$key" --no-host-key
expect_rc 3 "a missing host key file" --host-key-file "$T_TMP/none.pub"
if [ "$kvm" = yes ]; then
	expect_rc 0 "kvm mandatory where it holds" --mandatory-features kvm --no-host-key
else
	expect_rc 1 "kvm mandatory where it does not hold" --mandatory-features kvm --no-host-key
fi

# --- Nix as the judge: its build hook reads the line as its machines file
command -v nix-build >/dev/null || skip "no nix-build (Debian: nix-bin) to judge the line"
# judge REQUIRED-FEATURES MACHINES-FILE: nix-build of a derivation that needs those features,
# only remotely (--max-jobs 0), in a private store; prints what Nix said.
judge() {
	local feats=$1 file=$2
	cat >"$T_TMP/drv.nix" <<EOF
derivation {
  name = "hosttune-judge";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "echo > \$out" ];
  requiredSystemFeatures = [ $(for f in ${feats//,/ }; do printf '"%s" ' "$f"; done) ];
}
EOF
	HOME=$T_TMP XDG_CACHE_HOME=$T_TMP/cache timeout 120 nix-build --no-out-link \
		--store "local?root=$T_TMP/nixroot" --option substituters '' --max-jobs 0 \
		--builders "@$file" "$T_TMP/drv.nix" 2>&1 || true
}
[ "$(uname -m)" = x86_64 ] || skip "the judge's derivation is for x86_64-linux"
chosen="cannot build on 'ssh-ng://judge.invalid'"

out=$(judge benchmark "$T_TMP/machines")
grep -qF "bad machine specification" <<<"$out" && fail "Nix refuses the line: $out"
grep -qF "$chosen" <<<"$out" || fail "Nix did not pick the machine for a benchmark build: $out"
ok "Nix picks the machine for a build that requires benchmark (its mandatory feature)"

out=$(judge big-parallel "$T_TMP/machines")
grep -qF "$chosen" <<<"$out" && fail "Nix picked the machine without its mandatory feature: $out"
grep -qF "Failed to find a machine for remote build" <<<"$out" || fail "unexpected: $out"
# Nix lists the machine as it read it: (systems, maxjobs, supportedFeatures, mandatoryFeatures).
grep -qF "(x86_64-linux, i686-linux, 3, " <<<"$out" || fail "Nix read other fields: $out"
ok "Nix declines a build without the mandatory feature; it read: $(echo "$out" | grep -F '(x86_64-linux, i686-linux, 3, ')"

out=$(judge kvm,nixos-test,benchmark "$T_TMP/machines")
if [ "$kvm" = yes ]; then
	grep -qF "$chosen" <<<"$out" || fail "Nix did not pick the machine for a NixOS test: $out"
	ok "KVM verified: Nix sends a NixOS test (kvm, nixos-test) to the machine"
else
	grep -qF "$chosen" <<<"$out" && fail "Nix sent a NixOS test to a machine without KVM: $out"
	ok "KVM not verified: Nix sends no NixOS test (kvm, nixos-test) to the machine"
fi

# A negative control: Nix does check the host key field, so it judged ours.
sed 's/ [^ ]*$/ not*base64/' "$T_TMP/machines" >"$T_TMP/broken"
out=$(judge benchmark "$T_TMP/broken")
grep -qF "bad machine specification" <<<"$out" || fail "Nix accepted a broken host key: $out"
ok "Nix refuses a broken host key field: $(echo "$out" | grep -F 'bad machine specification' | cut -c1-100)"
