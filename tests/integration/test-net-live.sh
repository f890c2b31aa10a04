#!/bin/bash
# SPDX-License-Identifier: MIT
# The net probe inside a network namespace this test creates (`ip netns exec` mounts that
# namespace's /sys, so `hosttune probe` sees its interfaces): taps with owner, vnet_hdr,
# multi_queue and a bridge master, compared with `ip -d link` and sysfs.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd ip python3
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

ns=hosttune-net-$$
ip netns add $ns || skip "cannot create a network namespace"
defer "ip netns del $ns"
in_ns() { ip netns exec $ns "$@"; }
in_ns ip tuntap add htap0 mode tap vnet_hdr user 1000
in_ns ip tuntap add htap10 mode tap vnet_hdr multi_queue group 1000
in_ns ip tuntap add htap2 mode tap
in_ns ip tuntap add other0 mode tap
in_ns ip link add hbr0 type bridge
in_ns ip link set htap0 master hbr0
in_ns ip link set hbr0 up
in_ns ip link set htap0 up

json=$(in_ns "$HOSTTUNE" probe --json)
taps() { echo "$json" | jq_py "next(x for x in d['probes'] if x['id']=='net')['facts']['taps']$1"; }
tap() { echo "$json" | jq_py "next(t for t in next(x for x in d['probes'] if x['id']=='net')['facts']['taps'] if t['name']=='$1')$2"; }
echo "$json" | jq_py "json.dumps(next(x for x in d['probes'] if x['id']=='net'))"

# The pool: interfaces named htap*, in numeric order; other0 and the bridge are not taps of it.
assert_eq "taps in the pool" "['htap0', 'htap2', 'htap10']" "$(taps "and [t['name'] for t in d['probes'][[x['id'] for x in d['probes']].index('net')]['facts']['taps']]")"
# ip -j -d link: linkinfo.info_data has vnet_hdr, multi_queue, user and group (by name when
# the id has one: map names back to ids with getent), and the master.
for t in htap0 htap2 htap10; do
	link=$(in_ns ip -j -d link show $t)
	info() { echo "$link" | jq_py "d[0]['linkinfo']['info_data'].get('$1')"; }
	flags=$(in_ns cat /sys/class/net/$t/tun_flags)
	assert_eq "$t tun_flags (sysfs)" "$((flags))" "$(tap $t "['tun_flags']")"
	assert_eq "$t vnet_hdr (ip -d link)" "$(info vnet_hdr)" "$(tap $t "['vnet_hdr']")"
	assert_eq "$t multi_queue (ip -d link)" "$(info multi_queue)" "$(tap $t "['multi_queue']")"
	u=$(info user)
	[ "$u" = None ] || u=$(getent passwd "$u" | cut -d: -f3 || echo "$u")
	assert_eq "$t owner (ip -d link)" "$u" "$(tap $t "['owner']")"
	g=$(info group)
	[ "$g" = None ] || g=$(getent group "$g" | cut -d: -f3 || echo "$g")
	assert_eq "$t group (ip -d link)" "$g" "$(tap $t "['group']")"
	assert_eq "$t up (ip link flags)" "$(echo "$link" | jq_py "'UP' in d[0]['flags']")" "$(tap $t "['up']")"
	assert_eq "$t master (ip -d link)" "$(echo "$link" | jq_py "d[0].get('master', '')")" "$(tap $t "['master']")"
done

# `check` in the namespace counts the pool (tun exists in this mount of /dev).
rc=0
in_ns "$HOSTTUNE" check --require taps=3 >/dev/null || rc=$?
assert_eq "check --require taps=3 with three taps" 0 $rc
rc=0
out=$(in_ns "$HOSTTUNE" check --require taps=4) || rc=$?
assert_eq "check --require taps=4 with three taps" 1 $rc
grep -q "3 taps free in the pool, 4 needed" <<<"$out" || fail "the verdict does not count the taps: $out"
ok "the verdict counts 3 taps"
