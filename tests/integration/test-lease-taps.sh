#!/bin/bash
# SPDX-License-Identifier: MIT
# Tap leases with hosttuned running inside a network namespace this test makes: the pool's taps
# (owner nobody, on a bridge) change owner to the lease holder and back when the lease ends; a
# request for more than is free fails or waits in line; a plan leaves leased taps alone; a tap a
# VM still holds when its lease ends goes back once the VM let go; the agent killed with SIGKILL
# gives back the taps of a holder that left while it was down and keeps the others. Readings:
# `ip -d -j link` and /sys/class/net/*/owner inside the namespace.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_cmd ip gdbus
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

ns=hosttune-lease-$$
ip netns add "$ns" || skip "cannot create a network namespace"
defer "ip netns del $ns"
in_ns() { ip netns exec "$ns" "$@"; }
owner() { in_ns cat "/sys/class/net/$1/owner"; }
owners() { echo "$(owner ltap0) $(owner ltap1) $(owner ltap2)"; }
# user and master of a tap as iproute2 shows them
link_user() {
	in_ns ip -d -j link show "$1" | python3 -c '
import json, sys
l = json.load(sys.stdin)[0]
print(l["linkinfo"]["info_data"].get("user"), l.get("master"))'
}
nobody=$(id -u nobody)
daemon=$(id -u daemon)
out=$T_TMP/out
mkdir -m 0777 "$out"

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = lease-taps
[net]
bridge = ltbr0
taps = 3
tap-prefix = ltap
owner = nobody
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
EOF

start_bus open
start_notify_listener
AGENT_PREFIX="ip netns exec $ns"
start_agent --policy "$policy"
assert_eq "tap owners after the first apply (sysfs)" "$nobody $nobody $nobody" "$(owners)"

# --- two taps for a member of the lease group
"${AS_MEMBER[@]}" "$HOSTTUNE" run --bus "$BUS_ADDR" --taps 2 --label vm -- \
	sh -c 'echo "$HOSTTUNE_TAPS" >'"$out"'/taps; exec sleep 600' &
holder=$!
wait_for "the holder's taps" 'test -s "$out/taps"'
assert_eq "taps granted (HOSTTUNE_TAPS)" "ltap0 ltap1" "$(cat "$out/taps")"
assert_eq "owners while leased (sysfs)" "$daemon $daemon $nobody" "$(owners)"
assert_eq "ltap0 (ip -d link)" "daemon ltbr0" "$(link_user ltap0)"
assert_eq "ltap2 (ip -d link)" "nobody ltbr0" "$(link_user ltap2)"
id=$(list_ids | awk '$2 == "vm" {print $1}')
assert_eq "taps in ListLeases" "ltap0 ltap1" "$(lease_field "$id" taps)"
# agent.state follows once the agent is idle.
wait_for "the leased taps in agent.state" \
	'[ "$(sed -n "s/^leased-tap-names=//p" "$AGENT_RUN/agent.state")" = "ltap0 ltap1" ]'
ok "agent.state names the leased taps"

# A leased tap's owner is the point of the lease: no plan takes it back.
plan=$(agent_doc Apply b true)
assert_eq "tap steps in Apply(true)'s plan" 0 "$(echo "$plan" | jq_py 'len([s for s in d["plan"] if s["kind"] == "tap"])')"
chk=$(in_ns "$HOSTTUNE" check --json || true)
assert_eq "tap steps in hosttune check's plan" 0 "$(echo "$chk" | jq_py 'len([s for s in d["plan"] if s["kind"] == "tap"])')"

# --- more than is free: an error at once, or a place in line
rc=0
err=$(ht_run --taps 2 -- true 2>&1) || rc=$?
assert_eq "exit status without --wait" 75 $rc
grep -q "1 of the pool's 3 free" <<<"$err" || fail "no numbers: $err"
expect_error org.hosttune.Error.InsufficientTaps gacq "{'taps': <uint32 2>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gacq "{'taps': <uint32 4>}"
"$HOSTTUNE" run --bus "$BUS_ADDR" --taps 2 --wait 60 --label waiter -- \
	sh -c 'echo "$HOSTTUNE_TAPS" >'"$out"'/waiter' &
waiter=$!
wait_for "the request to wait" 'grep -q "waits up to 60 s" "$T_TMP/agent.log"'
[ ! -e "$out/waiter" ] || fail "the waiter ran while the taps were leased"

# --- the holder killed with SIGKILL: its taps go back, the waiter gets them
kill -9 "$holder"
wait "$holder" 2>/dev/null || true
rc=0
wait "$waiter" || rc=$?
assert_eq "exit status of the waiter" 0 $rc
assert_eq "taps the waiter got" "ltap0 ltap1" "$(cat "$out/waiter")"
wait_for "every owner back" '[ "$(owners)" = "$nobody $nobody $nobody" ]'
assert_eq "owners after both leases ended" "$nobody $nobody $nobody" "$(owners)"

# --- first come, first served: a request that fits the free tap still waits behind an earlier
# one for the same capacity, and the grants come in the order of the requests (agent log).
"$HOSTTUNE" run --bus "$BUS_ADDR" --taps 2 --label fifo-hold -- sh -c 'touch '"$out"'/fifo-hold; exec sleep 600' &
fifo_holder=$!
wait_for "the holder of two taps" 'test -e "$out/fifo-hold"'
"$HOSTTUNE" run --bus "$BUS_ADDR" --taps 2 --wait 60 --label fifo-a -- true &
fifo_a=$!
wait_for "fifo-a to wait" 'grep -q "fifo-a) waits up to 60 s" "$T_TMP/agent.log"'
"$HOSTTUNE" run --bus "$BUS_ADDR" --taps 1 --wait 60 --label fifo-b -- true &
fifo_b=$!
wait_for "fifo-b to wait behind fifo-a" 'grep -q "fifo-b) waits up to 60 s: earlier requests" "$T_TMP/agent.log"'
# The kernel's view: the holder (root) owns two taps, the third is still the pool's.
assert_eq "owners while fifo-a and fifo-b wait (sysfs)" "0 0 $nobody" "$(owners)"
ok "fifo-b waits behind fifo-a although one tap is free"
kill -TERM "$fifo_holder" # hosttune run passes it on to sleep, then releases
rc=0
wait "$fifo_a" || rc=$?
wait "$fifo_b" || rc=$((rc + $?))
wait "$fifo_holder" 2>/dev/null || true
assert_eq "exit statuses of fifo-a and fifo-b" 0 $rc
assert_eq "order of the grants (agent log)" "fifo-a fifo-b" \
	"$(grep -o 'granted to [^)]*, fifo-[ab])' "$T_TMP/agent.log" | grep -o 'fifo-[ab]' | tr '\n' ' ' | sed 's/ $//')"
wait_for "every owner back" '[ "$(owners)" = "$nobody $nobody $nobody" ]'

# --- a tap still held by a VM when its lease ends goes back once the VM let go
cat >"$T_TMP/hold.py" <<'EOF'
import fcntl, os, struct, sys, time
fd = os.open("/dev/net/tun", os.O_RDWR)
# TUNSETIFF with the pool's flags: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x4000))
open(sys.argv[2], "w").close()
time.sleep(600)
EOF
ht_run --taps 1 --label busy -- sh -c \
	'setsid ip netns exec '"$ns"' python3 '"$T_TMP"'/hold.py "$HOSTTUNE_TAPS" '"$out"'/held >/dev/null 2>&1 &
	 while [ ! -e '"$out"'/held ]; do sleep 0.05; done'
busy=$(list_ids | awk '$2 == "busy" {print $1}')
[ -n "$busy" ] || fail "the lease of the busy tap is gone while its tap is held"
assert_eq "state of that lease" releasing "$(lease_field "$busy" state)"
assert_eq "owner of the held tap" 0 "$(owner ltap0)"
pkill -f "$T_TMP/hold.py"
wait_for "the held tap to go back once let go" '[ "$(owner ltap0)" = "$nobody" ]'
wait_for "its lease to end" '! list_ids | grep_all -q " busy$"'
ok "a busy tap goes back once released by its user"

# --- the agent killed with SIGKILL with taps out
id_keep=$(as_member "$HOSTTUNE" lease acquire --bus "$BUS_ADDR" --taps 1 --persist --json | jq_py 'd["id"]')
"$HOSTTUNE" run --bus "$BUS_ADDR" --taps 1 --label gone -- sleep 600 &
gone_holder=$!
wait_for "two tap leases" '[ "$(lease_count)" = 2 ]'
assert_eq "owners before the crash" "$daemon 0 $nobody" "$(owners)"
kill -9 "$AGENT_PID"
wait "$AGENT_PID" 2>/dev/null || true
AGENT_PID=
kill -9 "$gone_holder"
wait "$gone_holder" 2>/dev/null || true
start_agent --policy "$policy"
assert_eq "leases after the restart" "$id_keep" "$(list_ids | awk '{print $1}')"
assert_eq "owners after the restart" "$daemon $nobody $nobody" "$(owners)"
as_member "$HOSTTUNE" lease release --bus "$BUS_ADDR" "$id_keep" >/dev/null
assert_eq "owners at the end" "$nobody $nobody $nobody" "$(owners)"
assert_eq "leases at the end" 0 "$(lease_count)"
finish_agent
