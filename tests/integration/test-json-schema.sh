#!/bin/bash
# SPDX-License-Identifier: MIT
# `hosttune probe --json`, `hosttune check --json` and `hosttune policy keys --json` validate
# against docs/schema/ with a real JSON Schema validator (Debian's python3-jsonschema): on this
# live host (as root, and as an unprivileged user), with several requirement lists, and over every
# fixture tree.
. "$(dirname "$0")/lib.sh"
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import jsonschema' 2>/dev/null ||
	skip "needs python3-jsonschema (scripts/deps.sh check installs it)"
validate() { /usr/bin/python3 "$HOSTTUNE_SRC/tests/integration/validate-json.py" "$HOSTTUNE_SRC/docs/schema" "$@"; }
n=0
run() { # run NAME ARGS...: save hosttune's JSON as NAME.json; exit 0, 1 (not ready) and 3
	# (could not probe: a fixture with unreadable files) all print a document
	local f=$T_TMP/$1.json rc=0
	shift
	"$@" >"$f" || rc=$?
	[ $rc -le 1 ] || [ $rc = 3 ] || fail "$* exited $rc"
	n=$((n + 1))
}

run live-probe "$HOSTTUNE" probe --json
run live-check "$HOSTTUNE" check --json
run live-check-all "$HOSTTUNE" check --json --require \
	"kvm,hugepages=2M,hugepages=1G:1G,rng,hwrng,tun,vhost-net,vhost-vsock,userfaultfd,userns,snapshots=1,taps=1,zram,btrfs,nix,no-swap,smt-off,ksm-off"
# The shipped profiles want changes on most hosts: their plans exercise the plan steps.
for p in microvm-ci firecracker-prod snapshot-host; do
	run "live-check-$p" "$HOSTTUNE" check --json --policy "$p"
done
# Without root the live runs above are already an unprivileged user's.
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	run nobody-probe setpriv --reuid=nobody --regid=nogroup --clear-groups "$HOSTTUNE" probe --json
fi
for d in "$HOSTTUNE_FIXTURES"/*/; do
	name=$(basename "$d")
	run "fixture-$name-probe" "$HOSTTUNE" probe --json --root "$d"
	run "fixture-$name-check" "$HOSTTUNE" check --json --root "$d" --require kvm,hugepages=2M,taps=1,nix
done
"$HOSTTUNE" policy keys --json >"$T_TMP/policy-keys.json" || fail "hosttune policy keys --json failed"
n=$((n + 1))
validate "$T_TMP"/*.json
ok "$n documents valid"

# The validator does reject what breaks the schema (so the checks above mean something).
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["probes"][0]["facts"]["new_key"]=1; json.dump(d, open(sys.argv[2], "w"))' \
	"$T_TMP/live-probe.json" "$T_TMP/broken.json"
if validate "$T_TMP/broken.json" >/dev/null; then fail "an unknown key passed validation"; fi
ok "an undocumented key is rejected"
