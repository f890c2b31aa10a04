#!/bin/bash
# SPDX-License-Identifier: MIT
# hosttuned on a private dbus-daemon that has the system bus's default policy plus our policy
# file: methods, properties, PropertiesChanged and signals seen by busctl monitor, bad
# arguments, the bus policy refusing Reload to nobody, sd_notify as a listener on
# NOTIFY_SOCKET sees it, drift when the hugepage pool shrinks, the output files, and
# `hosttune check/status/reload` against the agent. Every reading is compared with the kernel's
# own files, not with the agent's other outputs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd gdbus
kernel_lock

hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -w $hp ] || skip "no 2 MiB hugepage pool on this kernel"
orig_pool=$(cat $hp)
defer "echo $orig_pool > $hp"
echo 1 >$hp
[ "$(cat $hp)" -ge 1 ] || skip "cannot reserve even one 2 MiB hugepage here"

policy=$T_TMP/policy.ini
write_policy() { # write_policy NAME REQUIRE
	cat >"$policy" <<EOF
[policy]
name = $1

[readiness]
require = $2

[agent]
reprobe-interval = 1s
EOF
}
write_policy bus-test "tun, hugepages=2M"

start_bus system
start_notify_listener
# Signals and PropertiesChanged from here on, as JSON lines.
start_monitor "type='signal',sender='org.hosttune.Agent1'" "$T_TMP/monitor.json"
start_agent --policy "$policy"

gcall() { # gdbus: shows D-Bus error names
	gdbus call --address "$BUS_ADDR" --dest org.hosttune.Agent1 \
		--object-path /org/hosttune/Agent1 --method "org.hosttune.Agent1.$1" "${@:2}"
}
# monitor_count MEMBER [PROPERTY]: signals of that member seen so far by busctl monitor; with
# PROPERTY, only PropertiesChanged that carry it.
monitor_count() {
	python3 - "$T_TMP/monitor.json" "$@" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("member") != sys.argv[2]:
        continue
    if len(sys.argv) > 3:
        d = m["payload"]["data"]
        if sys.argv[3] not in d[1] and sys.argv[3] not in d[2]:
            continue
    n += 1
print(n)
EOF
}
signal_count() { monitor_count "$1"; }
changed_property() { monitor_count PropertiesChanged "$1"; }

# --- start-up and sd_notify
assert_eq "READY=1 sent once at start" 1 "$(notify_count READY=1)"
assert_eq "Generation after start" "t 1" "$(agent_prop Generation)"
assert_eq "PolicyName" 's "bus-test"' "$(agent_prop PolicyName)"
assert_eq "PolicyPath" "s \"$policy\"" "$(agent_prop PolicyPath)"
assert_eq "LastError empty" 's ""' "$(agent_prop LastError)"
assert_eq "HugePagesLeased without leases" "t 0" "$(agent_prop HugePagesLeased)"

# --- properties against the kernel's files
pool_bytes() {
	local total=0 d kb
	for d in /sys/kernel/mm/hugepages/hugepages-*kB; do
		kb=${d##*hugepages-}
		total=$((total + $(cat "$d/nr_hugepages") * ${kb%kB} * 1024))
	done
	echo $total
}
assert_eq "HugePagesTotal = sum of nr_hugepages x page size" "t $(pool_bytes)" "$(agent_prop HugePagesTotal)"
if [ -c /dev/net/tun ]; then want=true; else want=false; fi
assert_eq "Ready (tun present, one free 2M page)" "b $want" "$(agent_prop Ready)"

# --- Check(a{sv})
out=$(agent_call Check 'a{sv}' 1 require s tun)
case "$out" in "bs $want "*) ok "Check require=s tun answers $want" ;; *) fail "Check: $out" ;; esac
out=$(agent_call Check 'a{sv}' 2 require as 1 tun use-policy b false)
case "$out" in "bs $([ -c /dev/net/tun ] && echo true || echo false) "*) ok "Check require=as [tun], use-policy=false" ;; *) fail "Check as: $out" ;; esac
# KVM is usable when a guest runs, not when /dev/kvm exists: QEMU is the judge.
kvm=$(qemu_kvm_judge)
out=$(agent_call Check 'a{sv}' 2 require s kvm use-policy b false)
case "$kvm $out" in
unknown*) ok "Check kvm answers ${out%% *} (no QEMU to judge it)" ;;
*" bs $kvm "*) ok "Check kvm answers $kvm (as QEMU -accel kvm -cpu max does)" ;;
*) fail "Check kvm (QEMU says $kvm): $out" ;;
esac
# More hugepages than the pool holds: not ready, and the JSON says which requirement.
json=$(gdbus call --address "$BUS_ADDR" --dest org.hosttune.Agent1 --object-path /org/hosttune/Agent1 \
	--method org.hosttune.Agent1.Check "{'hugepages': <uint64 $((1 << 40))>, 'use-policy': <false>}")
case "$json" in "(false, "*) ok "Check hugepages=1T is not ready" ;; *) fail "Check 1T: $json" ;; esac
doc=$(agent_doc Check 'a{sv}' 1 hugepages t 2097152)
echo "$doc" | jq_py "[r['name'] for r in d['requirements']]" | grep_all -q "hugepages=2M" ||
	fail "Check report_json names hugepages=2M: $doc"
ok "Check report_json lists the requirement"

expect_error org.freedesktop.DBus.Error.InvalidArgs gcall Check "{'hugepages': <'2M'>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall Check "{'bogus': <'x'>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall Check "{'require': <'kvm,nonsense'>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall Check "{'require': <uint32 1>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall Check "{'taps': <uint32 0>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall Check "{'hugepage-size': <uint64 2097152>}"
expect_error org.freedesktop.DBus.Error.InvalidArgs gcall Check "{'hugepages': <uint64 2097152>, 'hugepage-size': <uint64 3000>}"

# --- GetReport: the same verdict, plus the agent's fields
rep=$(agent_doc GetReport)
assert_eq "GetReport ready = Ready" "$want" "$(echo "$rep" | jq_py "str(d['ready']).lower()")"
assert_eq "GetReport agent.generation" 1 "$(echo "$rep" | jq_py "d['agent']['generation']")"

# --- access: the bus policy lets nobody read and Check, not Reload
out=$(bctl_nobody get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Generation)
assert_eq "nobody reads Generation" "t 1" "$out"
bctl_nobody call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 Check 'a{sv}' 0 >/dev/null
ok "nobody may call Check"
expect_error org.freedesktop.DBus.Error.AccessDenied setpriv --reuid=nobody --regid=nogroup --clear-groups \
	gdbus call --address "$BUS_ADDR" --dest org.hosttune.Agent1 --object-path /org/hosttune/Agent1 \
	--method org.hosttune.Agent1.Reload
assert_eq "Generation unchanged after nobody's Reload" "t 1" "$(agent_prop Generation)"

# --- Reload (root): generation, PolicyReloaded, PropertiesChanged, RELOADING/MONOTONIC_USEC/READY
write_policy bus-test-2 "tun, hugepages=2M"
before_ready=$(notify_count READY=1)
assert_eq "Reload returns the new generation" "t 2" "$(agent_call Reload)"
assert_eq "PolicyName after reload" 's "bus-test-2"' "$(agent_prop PolicyName)"
wait_for "PolicyReloaded signal" '[ "$(signal_count PolicyReloaded)" -ge 1 ]'
wait_for "PropertiesChanged(Generation)" '[ "$(changed_property Generation)" -ge 1 ]'
grep -q '"member":"PolicyReloaded".*bus-test-2' "$T_TMP/monitor.json" || fail "PolicyReloaded carries the name"
ok "PolicyReloaded(2, bus-test-2) seen by busctl monitor"
python3 - "$NOTIFY_LOG" <<'EOF' || fail "notify sequence around the reload: $(cat "$NOTIFY_LOG")"
import sys
msgs = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
i = max(k for k, m in enumerate(msgs) if "RELOADING=1" in m)
mono = [f for f in msgs[i] if f.startswith("MONOTONIC_USEC=")]
assert mono and int(mono[0].split("=")[1]) > 0, msgs[i]
assert any("READY=1" in m for m in msgs[i + 1:]), msgs[i:]
EOF
ok "RELOADING=1 with MONOTONIC_USEC, then READY=1"
assert_eq "one more READY=1 after the reload" $((before_ready + 1)) "$(notify_count READY=1)"

# --- Reload with a broken policy: nothing changes but LastError
cp "$policy" "$T_TMP/good.ini"
printf '[policy]\nname = broken\n[readiness]\nrequire = tun\n[nonsense-section]\nkey = 1\nrequire = garbage\n' >"$policy"
expect_error org.hosttune.Error.InvalidPolicy gcall Reload
out=$(gcall Reload 2>&1 || true)
grep -q "$policy:[0-9]" <<<"$out" || fail "InvalidPolicy names file:line: $out"
ok "InvalidPolicy message names $policy:LINE"
assert_eq "Generation unchanged by a broken policy" "t 2" "$(agent_prop Generation)"
assert_eq "PolicyName unchanged by a broken policy" 's "bus-test-2"' "$(agent_prop PolicyName)"
agent_prop LastError | grep_all -q "$policy:[0-9]" || fail "LastError names file:line: $(agent_prop LastError)"
ok "LastError says where the policy is wrong"
wait_for "PropertiesChanged(LastError)" '[ "$(changed_property LastError)" -ge 1 ]'
# hosttune reload prints the rejection and exits 2 (through hosttune-bus).
rc=0
out=$(DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR "$HOSTTUNE" reload 2>&1) || rc=$?
assert_eq "hosttune reload exit status for a rejected policy" 2 $rc
grep -q "$policy:[0-9]" <<<"$out" || fail "hosttune reload prints file:line: $out"
ok "hosttune reload prints: $(echo "$out" | tail -n1 | cut -c1-100)"
cp "$T_TMP/good.ini" "$policy"
rc=0
out=$(DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR "$HOSTTUNE" reload 2>&1) || rc=$?
assert_eq "hosttune reload of a good policy" 0 $rc
assert_eq "Generation after hosttune reload" "t 3" "$(agent_prop Generation)"
assert_eq "LastError cleared by a good reload" 's ""' "$(agent_prop LastError)"

# --- SIGHUP reloads too
kill -HUP "$AGENT_PID"
wait_for "generation 4 after SIGHUP" '[ "$(agent_prop Generation)" = "t 4" ]'
ok "SIGHUP reloaded (generation 4)"

# --- hosttune status, and check through the agent's published state
rc=0
DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR "$HOSTTUNE" status >"$T_TMP/status.txt" || rc=$?
if [ "$want" = true ]; then assert_eq "status exit (ready)" 0 $rc; else assert_eq "status exit (not ready)" 1 $rc; fi
grep -q "bus-test-2" "$T_TMP/status.txt" || fail "status names the policy: $(cat "$T_TMP/status.txt")"
ok "hosttune status names the policy"
st=$(DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDR "$HOSTTUNE" status --json || true)
assert_eq "status --json generation" 4 "$(echo "$st" | jq_py "d['agent']['generation']")"
chk=$("$HOSTTUNE" check --json || true)
assert_eq "check uses the agent" agent "$(echo "$chk" | jq_py "d['source']")"
assert_eq "check sees the agent's generation" 4 "$(echo "$chk" | jq_py "d['agent']['generation']")"
assert_eq "check evaluates the agent's requirements" "tun,hugepages=2M" \
	"$(echo "$chk" | jq_py "','.join(r['name'] for r in d['requirements'])")"
assert_eq "check --offline ignores the agent" local "$("$HOSTTUNE" check --offline --json | jq_py "d['source']" || true)"
# The agent's documents validate against the check schema (docs/schema/, python3-jsonschema).
if /usr/bin/python3 -c 'import jsonschema' 2>/dev/null; then
	echo "$doc" >"$T_TMP/agent-check.json"
	echo "$rep" >"$T_TMP/agent-report.json"
	echo "$chk" >"$T_TMP/agent-cli-check.json"
	/usr/bin/python3 "$HOSTTUNE_SRC/tests/integration/validate-json.py" "$HOSTTUNE_SRC/docs/schema" \
		"$T_TMP/agent-check.json" "$T_TMP/agent-report.json" "$T_TMP/agent-cli-check.json" ||
		fail "an agent document does not match docs/schema"
	ok "Check, GetReport and check --json via the agent match the schema"
fi

# --- output files, against the kernel's files
rj=$AGENT_RUN/ready.json
assert_eq "ready.json schema" hosttune.ready/1 "$(jq_py "d['schema']" <"$rj")"
assert_eq "ready.json ready = Ready" "$want" "$(jq_py "str(d['ready']).lower()" <"$rj")"
assert_eq "ready.json 2M pool total = nr_hugepages" "$(cat $hp)" \
	"$(jq_py "next(p['total'] for p in d['hugepages'] if p['page_size']==2097152)" <"$rj")"
m=$AGENT_RUN/metrics.prom
assert_eq "metrics hosttune_ready" "$([ "$want" = true ] && echo 1 || echo 0)" "$(awk '$1=="hosttune_ready" {print $2}' "$m")"
assert_eq "metrics 2M pool = nr_hugepages" "$(cat $hp)" \
	"$(awk '$1=="hosttune_hugepages_total{page_size_bytes=\"2097152\"}" {print $2}' "$m")"
assert_eq "metrics accepted reloads" 3 "$(awk '$1=="hosttune_reloads_total{result=\"accepted\"}" {print $2}' "$m")"
assert_eq "metrics rejected reloads" 3 "$(awk '$1=="hosttune_reloads_total{result=\"rejected\"}" {print $2}' "$m")"
feat=$(sed -n 's/^extra-system-features = *//p' "$AGENT_RUN/nix.conf")
if [ "$kvm" = true ] && [ "$(stat -c %a /dev/kvm)" = 666 ]; then
	grep -qw kvm <<<"$feat" || fail "nix.conf lacks kvm although QEMU runs and /dev/kvm is 0666: $feat"
elif [ "$kvm" = false ] || [ "$(stat -c %a /dev/kvm 2>/dev/null)" != 666 ]; then
	grep -qw kvm <<<"$feat" && fail "nix.conf claims kvm where builders get no working KVM: $feat"
fi
ok "nix.conf features: '$feat'"

# --- drift: shrink the pool under the agent; Ready flips, ReadinessChanged says why
if [ "$want" = true ]; then
	before=$(signal_count ReadinessChanged)
	echo 0 >$hp
	wait_for "Ready false after the pool shrank" '[ "$(agent_prop Ready)" = "b false" ]'
	ok "Ready flipped to false after the pool shrank to 0"
	wait_for "ReadinessChanged(false)" '[ "$(signal_count ReadinessChanged)" -gt "$before" ]'
	grep '"member":"ReadinessChanged"' "$T_TMP/monitor.json" | tail -n1 | grep_all -q 'hugepages=2M' ||
		fail "ReadinessChanged reason names hugepages=2M"
	ok "ReadinessChanged(false, reason naming hugepages=2M)"
	wait_for "PropertiesChanged(Ready)" '[ "$(changed_property Ready)" -ge 1 ]'
	assert_eq "HugePagesTotal follows the pool" "t $(pool_bytes)" "$(agent_prop HugePagesTotal)"
	echo 1 >$hp
	wait_for "Ready again" '[ "$(agent_prop Ready)" = "b true" ]'
	ok "Ready back once the page returned"
fi

# --- stop: SIGTERM ends it cleanly; the outputs say it stopped; check stops using it
kill -TERM "$AGENT_PID"
rc=0
wait "$AGENT_PID" || rc=$?
AGENT_PID=
assert_eq "hosttuned exit status after SIGTERM" 0 $rc
grep -q "STOPPING=1" "$NOTIFY_LOG" || fail "STOPPING=1 not sent"
assert_eq "ready.json after stop" "False False" "$(jq_py "d['ready'], d['agent']['running']" <"$rj" | tr -d '(),')"
assert_eq "check without the agent" local "$("$HOSTTUNE" check --json | jq_py "d['source']" || true)"
