#!/bin/bash
# SPDX-License-Identifier: MIT
# QEMU judges hosttune's KVM verdict on this host: Debian's cloud kernel with a busybox initramfs,
# `-machine q35,accel=kvm -cpu max` (what the NixOS test driver asks for), bounded in time. Whether
# the guest reached init (the marker init prints on the serial console) must be what
# `hosttune check --offline --require kvm` says (exit 0 or 1) and what the kvm probe's
# smoke_root.ran says. The same for a Nix build user: QEMU run as that user (the first member of
# group nixbld, else nobody; no supplementary groups, as nix-daemon runs builders) against
# smoke_build, at /dev/kvm's own mode and at 0666 (the mode is put back, even on failure). Without
# /dev/kvm there is nothing to judge (skip).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
need_root
need_cmd setpriv python3
[ -e /dev/kvm ] || skip "no /dev/kvm: there is no KVM for QEMU to judge"
vm_kernel
kvm_mode=$(stat -c %a /dev/kvm)
defer '[ "$(stat -c %a /dev/kvm)" = "$kvm_mode" ] || chmod "$kvm_mode" /dev/kvm'

# The build user, read from the group database (not from hosttune).
build_user=$(getent group nixbld | cut -d: -f4 | cut -d, -f1 || true)
build_user=${build_user:-nobody}
build_uid=$(id -u "$build_user")
build_gid=$(id -g "$build_user")
chmod 0711 "$T_TMP"

printf 'true\n' >"$T_TMP/case.sh"
vm_initrd "$T_TMP/case.sh"
chmod 0644 "$T_TMP/vm-initrd.gz"

# judge WHO: QEMU with KVM as WHO (root or the build user); sets reached (yes/no) and says what
# QEMU did. A guest that has not reached init in 120 s is not one a test driver can use (a TCG
# boot of this kernel takes seconds).
judge() {
	local rc=0
	VM_PREFIX=()
	if [ "$1" != root ]; then
		VM_PREFIX=(setpriv --reuid="$build_uid" --regid="$build_gid" --clear-groups)
		: >"$T_TMP/vm.console"
		chown "$build_uid" "$T_TMP/vm.console"
	fi
	VM_ACCEL=kvm VM_TIMEOUT=120 vm_boot 256 || rc=$?
	if grep -q 'vm-begin$' "$T_TMP/vm.out"; then reached=yes; else reached=no; fi
	echo "QEMU -accel kvm -cpu max as $1: exit $rc, guest reached init: $reached"
	sed 's/^/  qemu: /' "$T_TMP/vm.qemu" | head -n 5
}

json=$("$HOSTTUNE" check --offline --json) || true
# smoke WHO EXPR: EXPR of the kvm probe's smoke_WHO ("None" when null: no guest was tried).
smoke() { echo "$json" | jq_py "(lambda f: None if f['smoke_$1'] is None else f['smoke_$1']$2)(next(p for p in d['probes'] if p['id'] == 'kvm')['facts'])"; }
echo "hosttune: smoke_root: $(smoke root '')"
echo "hosttune: smoke_build: $(smoke build '')"
rc=0
"$HOSTTUNE" check --offline --require kvm >"$T_TMP/check.out" 2>&1 || rc=$?
cat "$T_TMP/check.out"

judge root
if [ $reached = yes ]; then
	assert_eq "check --offline --require kvm where a KVM guest reached init" 0 $rc
	assert_eq "smoke_root.ran where a KVM guest reached init" True "$(smoke root "['ran']")"
else
	assert_eq "check --offline --require kvm where QEMU's KVM guest never reached init" 1 $rc
	assert_eq "smoke_root.ran where QEMU's KVM guest never reached init" False "$(smoke root "['ran']")"
	[ -n "$(smoke root "['reason']")" ] || fail "smoke_root gives no reason"
	ok "smoke_root says why: step $(smoke root "['step']"): $(smoke root "['reason']")"
fi

# judge_build: QEMU as the build user against smoke_build, at /dev/kvm's mode as it is now.
judge_build() {
	local mode json
	mode=$(stat -c %a /dev/kvm)
	json=$("$HOSTTUNE" check --offline --json) || true
	judge "$build_user"
	assert_eq "smoke_build.user (the group database's build user)" "$build_user" "$(smoke build "['user']")"
	assert_eq "smoke_build.uid" "$build_uid" "$(smoke build "['uid']")"
	if [ $reached = yes ]; then want=True; else want=False; fi
	assert_eq "smoke_build.ran against QEMU as $build_user (/dev/kvm mode $mode)" $want \
		"$(smoke build "['ran']")"
}
judge_build
# World-accessible, as a policy's [kvm] mode = 0666 makes it: now the build user's verdict is about
# KVM, not about the mode (put back by the deferred step above, even on failure).
chmod 0666 /dev/kvm
judge_build
chmod "$kvm_mode" /dev/kvm
