#!/bin/bash
# SPDX-License-Identifier: MIT
# The KVM smoke guest on this machine's real /dev/kvm, judged by independent readings:
# - QEMU itself (-accel kvm -cpu max, the NixOS test driver's CPU): when it refuses to start
#   with "failed to set MSR 0xN", hosttune must say not usable, name the set-msrs step and the
#   very MSR QEMU named, and `check --offline --require kvm` must exit 1; when QEMU gets past
#   its set-up and runs, hosttune must say the guest ran and exit 0;
# - open(2) of /dev/kvm as the build user (setpriv, no supplementary groups): when it is
#   refused, the build user's guest failed at "open"; after chmod 0666 the build user's
#   verdict is root's;
# - the agent: agent.state carries the verdict, `check` (not --offline) uses it without running
#   a guest, runs one itself once /dev/kvm was re-moded behind the agent's back, and the agent's
#   re-probe publishes the new verdict; nix.conf claims kvm only when the build user's guest ran.
# /dev/kvm's mode is put back at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
need_root
need_cmd python3 setpriv stat
[ -c /dev/kvm ] || skip "no /dev/kvm on this machine"
kernel_lock
orig_mode=$(stat -c %a /dev/kvm)
defer "chmod $orig_mode /dev/kvm"

# kvm_fact JSON KEY...: a fact of the kvm probe from a check/probe JSON document.
kvm_fact() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
k = [p for p in d["probes"] if p["id"] == "kvm"][0]
v = k
for key in sys.argv[2:]:
    v = v[key] if v is not None else None
print(json.dumps(v) if isinstance(v, (dict, list, bool)) or v is None else v)' "$@"
}

# --- check --offline runs the guests itself
rc=0
"$HOSTTUNE" check --offline --require kvm --json >"$T_TMP/offline.json" || rc=$?
j=$T_TMP/offline.json
root_ran=$(kvm_fact "$j" facts smoke_root ran)
root_step=$(kvm_fact "$j" facts smoke_root step)
echo "root: ran=$root_ran step=$root_step: $(kvm_fact "$j" facts smoke_root reason)"
echo "build: $(kvm_fact "$j" facts smoke_build)"
assert_eq "smoke_source" probe "$(kvm_fact "$j" facts smoke_source)"
assert_eq "smoke_root.user" root "$(kvm_fact "$j" facts smoke_root user)"
if [ "$root_ran" = true ]; then
	assert_eq "exit status with root's guest run" 0 $rc
	assert_eq "usable" true "$(kvm_fact "$j" facts usable)"
	python3 -c "import sys; r=float(sys.argv[1]); sys.exit(not (0 < r <= 4))" \
		"$(kvm_fact "$j" facts smoke_root ratio)" || fail "ratio out of (0, 4]"
else
	assert_eq "exit status with root's guest failed" 1 $rc
	assert_eq "status" fail "$(kvm_fact "$j" status)"
	kvm_fact "$j" reason | grep_all -q "^KVM smoke guest failed at $root_step: " ||
		fail "the reason does not name step $root_step: $(kvm_fact "$j" reason)"
	ok "the reason names the failing step $root_step"
fi
if [ -d /sys/module/kvm_pvm ]; then
	kvm_fact "$j" reason | grep_all -q "kvm_pvm runs only PVM-enabled guest kernels" ||
		fail "kvm_pvm is not named: $(kvm_fact "$j" reason)"
	ok "kvm_pvm named: only PVM-enabled guest kernels"
fi

# --- QEMU as judge: does a stock VMM get a CPU set up and running?
if command -v qemu-system-x86_64 >/dev/null; then
	qrc=0
	timeout 3 qemu-system-x86_64 -accel kvm -cpu max -machine microvm -display none -nodefaults \
		-no-reboot -serial none -m 64 >"$T_TMP/qemu.out" 2>&1 || qrc=$?
	echo "qemu (exit $qrc): $(head -c 300 "$T_TMP/qemu.out")"
	if [ $qrc -eq 124 ]; then
		# Still running after 3 s: its vCPU was set up and entered the firmware.
		assert_eq "smoke_root.ran where QEMU -cpu max runs" true "$root_ran"
	else
		assert_eq "smoke_root.ran where QEMU -cpu max fails to start" false "$root_ran"
		msr=$(sed -n 's/.*failed to set MSR \(0x[0-9a-f]*\) to.*/\1/p' "$T_TMP/qemu.out" | head -n1)
		if [ -n "$msr" ]; then
			assert_eq "step where QEMU could not set MSR $msr" set-msrs "$root_step"
			kvm_fact "$j" facts smoke_root reason | grep_all -q "first refused: $msr)" ||
				fail "QEMU names MSR $msr, hosttune: $(kvm_fact "$j" facts smoke_root reason)"
			ok "the refused MSR is the one QEMU names: $msr"
		fi
	fi
else
	echo "no qemu-system-x86_64: QEMU judge skipped"
fi

# --- the build user: who, and whether open(2) lets it in (independent of hosttune)
build_user=$(kvm_fact "$j" facts smoke_build user)
build_uid=$(kvm_fact "$j" facts smoke_build uid)
want_user=$(awk -F: '$1 == "nixbld" {split($4, m, ","); print m[1]}' /etc/group)
[ -n "$want_user" ] || want_user=nobody
assert_eq "build user (first nixbld member, else nobody)" "$want_user" "$build_user"
assert_eq "build user's uid (getent)" "$(getent passwd "$want_user" | cut -d: -f3)" "$build_uid"
build_gid=$(awk -F: '$1 == "nixbld" {print $3}' /etc/group)
[ -n "$build_gid" ] || build_gid=$(getent passwd "$want_user" | cut -d: -f4)
can_open() {
	setpriv --reuid="$build_uid" --regid="$build_gid" --clear-groups \
		/bin/sh -c ': 3<>/dev/kvm' 2>/dev/null
}
if ! can_open; then
	assert_eq "build user's step while open(2) is refused" open "$(kvm_fact "$j" facts smoke_build step)"
fi
chmod 0666 /dev/kvm
can_open || fail "the build user cannot open /dev/kvm at 0666"
"$HOSTTUNE" check --offline --require kvm --json >"$T_TMP/0666.json" || true
assert_eq "build user's guest at 0666 runs as root's" "$root_ran $root_step" \
	"$(kvm_fact "$T_TMP/0666.json" facts smoke_build ran) $(kvm_fact "$T_TMP/0666.json" facts smoke_build step)"
chmod "$orig_mode" /dev/kvm

# --- the agent publishes the verdict; check uses it
policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = kvm-smoke

[readiness]
require = kvm

[agent]
reprobe-interval = 2s
EOF
start_bus open
start_notify_listener
start_agent --policy "$policy"
state=$AGENT_RUN/agent.state
wait_for "kvm-smoke-root in agent.state" 'grep -q "^kvm-smoke-root=" "$state"'
grep "^kvm-smoke" "$state"
assert_eq "agent's root verdict" "$([ "$root_ran" = true ] && echo "ran -" || echo "fail $root_step")" \
	"$(sed -n 's/^kvm-smoke-root=\([a-z]*\) \([a-z-]*\) .*/\1 \2/p' "$state")"
assert_eq "agent's identity is /dev/kvm's inode" \
	"$(printf '%x' "$(stat -c %i /dev/kvm)")" \
	"$(sed -n 's/^kvm-smoke-identity=[0-9a-f]*:\([0-9a-f]*\):.*/\1/p' "$state")"
"$HOSTTUNE" check --require kvm --json >"$T_TMP/agent.json" || true
assert_eq "check's source with the agent running" agent "$(kvm_fact "$T_TMP/agent.json" facts smoke_source)"
assert_eq "check's root verdict = the agent's" "$root_ran" "$(kvm_fact "$T_TMP/agent.json" facts smoke_root ran)"
# nix.conf: kvm only when the build user's guest ran.
features=$(sed -n 's/^extra-system-features = //p' "$AGENT_RUN/nix.conf")
build_ran=$(sed -n 's/^kvm-smoke-build=\([a-z]*\) .*/\1/p' "$state")
if [ "$build_ran" = ran ]; then
	grep -q " kvm " <<<" $features " || fail "build user's guest ran, nix.conf lacks kvm: $features"
else
	grep -q " kvm " <<<" $features " && fail "nix.conf claims kvm without a build user's guest: $features"
fi
ok "nix.conf features '$features' with the build user's guest: ${build_ran:-none}"

# Re-mode /dev/kvm behind the agent: check sees another identity and runs the guests itself;
# the agent's next re-probe (every 2 s) publishes the build user's new verdict.
old_id=$(sed -n 's/^kvm-smoke-identity=//p' "$state")
chmod 0666 /dev/kvm
"$HOSTTUNE" check --require kvm --json >"$T_TMP/drift.json" || true
assert_eq "check's source after /dev/kvm changed" probe "$(kvm_fact "$T_TMP/drift.json" facts smoke_source)"
wait_for "the agent to publish a new identity" '[ "$(sed -n "s/^kvm-smoke-identity=//p" "$state")" != "$old_id" ]'
assert_eq "agent's build verdict at 0666 = root's" "$(sed -n 's/^kvm-smoke-root=\([a-z]*\) \([a-z-]*\) .*/\1 \2/p' "$state")" \
	"$(sed -n 's/^kvm-smoke-build=\([a-z]*\) \([a-z-]*\) .*/\1 \2/p' "$state")"
"$HOSTTUNE" check --require kvm --json >"$T_TMP/after.json" || true
assert_eq "check's source once the agent caught up" agent "$(kvm_fact "$T_TMP/after.json" facts smoke_source)"
chmod "$orig_mode" /dev/kvm
finish_agent
