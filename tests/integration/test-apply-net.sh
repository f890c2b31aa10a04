#!/bin/bash
# SPDX-License-Identifier: MIT
# Tap and bridge appliers inside a network namespace this test creates: a bridge, a tap pool
# (vnet_hdr, one multi-queue, an owner), enslaved; compared with `ip -d -j link` in the
# namespace; applied again (unchanged); a tap the test made itself is enslaved and gets a new
# owner, and revert gives it back its state without deleting it; revert removes what hosttune
# created.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ip python3
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

helper=$HOSTTUNE_BUILD/tests/helpers/apply-steps
export HOSTTUNE_RUNTIME_DIR=$T_TMP/run
ns=hosttune-apply-$$
ip netns add "$ns" || skip "cannot create a network namespace"
defer "ip netns del $ns"
in_ns() { ip netns exec "$ns" "$@"; }
user=$(getent passwd 1000 | cut -d: -f1)
user=${user:-1000}

# link NAME PYTHON-EXPR over the link's JSON `l` (ip -d -j link show NAME)
link() {
	in_ns ip -d -j link show "$1" | python3 -c "
import json, sys
l = json.load(sys.stdin)[0]
d = l.get('linkinfo', {}).get('info_data', {})
print($2)"
}
links() { in_ns ip -j link show | python3 -c "import json,sys; print(' '.join(sorted(l['ifname'] for l in json.load(sys.stdin))))"; }

# A tap this test owns: hosttune must give it back as it was, never delete it.
in_ns ip tuntap add dev mine0 mode tap vnet_hdr user 0
before=$(links)

cat >"$T_TMP/steps" <<STEPS
bridge name=hbr0
tap name=htap0 owner=1000 vnet_hdr=1
tap name=htap1 owner=1000 vnet_hdr=1 multi_queue=1
tap name=mine0 owner=1000 vnet_hdr=1
tap-master name=htap0 master=hbr0
tap-master name=htap1 master=hbr0
tap-master name=mine0 master=hbr0
STEPS
out=$(in_ns "$helper" "$T_TMP/steps") || true
echo "$out"
assert_eq "outcomes" "applied applied applied applied applied applied applied" "$(echo "$out" | cut -f1 | xargs)"
assert_eq "bridge kind and state" "bridge True" "$(link hbr0 "l['linkinfo']['info_kind'], 'UP' in l['flags']")"
assert_eq "htap0" "tap False True False True $user hbr0 True" \
	"$(link htap0 "d['type'], d['pi'], d['vnet_hdr'], d.get('multi_queue', False), d['persist'], d['user'], l.get('master'), 'UP' in l['flags']")"
assert_eq "htap1" "tap True True $user hbr0" \
	"$(link htap1 "d['type'], d.get('multi_queue', False), d['vnet_hdr'], d['user'], l.get('master')")"
assert_eq "mine0 owner and master" "$user hbr0" "$(link mine0 "d['user'], l.get('master')")"

out=$(in_ns "$helper" "$T_TMP/steps") || true
assert_eq "outcomes again" "unchanged unchanged unchanged unchanged unchanged unchanged unchanged" \
	"$(echo "$out" | cut -f1 | xargs)"

# A tap with other flags that hosttune did not create is left alone.
in_ns ip tuntap add dev other0 mode tap
rc=0
out=$(echo "tap name=other0 owner=1000 vnet_hdr=1" | in_ns "$helper" -) || rc=$?
assert_eq "exit status for a foreign tap with other flags" 1 $rc
cut -f4 <<<"$out" | grep_all -q "did not create" || fail "no reason: $out"
assert_eq "other0 untouched" "False" "$(link other0 "d['vnet_hdr']")"
in_ns ip link del other0

in_ns "$HOSTTUNE" revert
assert_eq "links after revert" "$before" "$(links)"
assert_eq "mine0 after revert (owner, master, up)" "root None False" \
	"$(link mine0 "d.get('user'), l.get('master'), 'UP' in l['flags']")"
