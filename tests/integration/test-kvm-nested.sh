#!/bin/bash
# SPDX-License-Identifier: MIT
# The positive case of the KVM verdict, on a real kernel whose KVM runs guests: a QEMU machine in
# software emulation with `-cpu max` (emulated SVM and nested paging) running Debian's cloud
# kernel, whose package carries kvm-amd.ko (tests/integration/vm.sh). In that machine:
#   - no KVM module loaded: `hosttune check --offline --require kvm` exits 1, smoke_root.ran false;
#   - insmod irqbypass, kvm, kvm-amd: the kernel's own account (/sys/module/kvm_amd, its npt
#     parameter, /dev/kvm as a char device 10:232, "Nested Paging enabled" in dmesg) says SVM with
#     nested paging is up, a real-mode guest of the test's own (tests/helpers/kvm-realmode, no
#     hosttune code) runs, and hosttune says ready: exit 0, smoke_root.ran true;
#   - a Nix build user (the first member of a group nixbld this test writes into the machine's
#     /etc/group) gets smoke_build.ran false while /dev/kvm is 0600 (as devtmpfs makes it) and true
#     at 0666, with no supplementary groups, as kvm-realmode run as that user does;
#   - rmmod kvm-amd and kvm: not ready again. The verdict flips exactly with the module.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/vm.sh"
need_root
need_cmd setpriv
realmode=$HOSTTUNE_BUILD/tests/helpers/kvm-realmode
[ -x "$realmode" ] || skip "tests/helpers/kvm-realmode was not built (make unit-bins)"
vm_kernel

cat >"$T_TMP/case.sh" <<'EOF'
printf 'root:x:0:0:root:/root:/bin/sh\nnixbld1:x:30001:30000::/var/empty:/bin/false\nnobody:x:65534:65534::/:/bin/false\n' >/etc/passwd
printf 'root:x:0:\nnixbld:x:30000:nixbld1\nnogroup:x:65534:\n' >/etc/group
# verdict NAME: hosttune's exit status for --require kvm and its JSON, as lines NAME-rc, NAME-json.
verdict() {
	hosttune check --offline --require kvm >/tmp/out 2>&1
	echo "$1-rc $?"
	sed -n 's/^\(FAIL\|WARN\|PASS\|INFO\) *kvm /&/p' /tmp/out | sed "s/^/$1-said /"
	hosttune check --offline --json >/tmp/json 2>/dev/null
	echo "$1-json $(tr -d '\n' </tmp/json)"
}
verdict none
for m in irqbypass kvm kvm-amd; do insmod /lib/modules/$m.ko || echo "insmod-failed $m"; done
echo "module $(test -d /sys/module/kvm_amd && echo kvm_amd)"
echo "npt $(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)"
echo "dev $(stat -c '%F %t:%T %a' /dev/kvm 2>/dev/null)"
dmesg | grep -i 'kvm' | sed 's/^/dmesg /'
# as_build CMD...: as nix-daemon runs a builder: the build user's uid and gid, no other groups
# (util-linux setpriv by its path: busybox sh would run its own applet, which cannot do that).
as_build() { /bin/setpriv --reuid=30001 --regid=30000 --clear-groups "$@"; }
echo "realmode-root $(kvm-realmode 2>&1)"
echo "realmode-build-0600 $(as_build kvm-realmode 2>&1)"
verdict loaded
chmod 0666 /dev/kvm
echo "realmode-build-0666 $(as_build kvm-realmode 2>&1)"
verdict open
rmmod kvm_amd && rmmod kvm || echo "rmmod-failed"
echo "module-after $(test -d /sys/module/kvm_amd && echo kvm_amd)"
verdict unloaded
EOF
VM_MODULES="irqbypass kvm kvm-amd" vm_run 256 "$T_TMP/case.sh" "$HOSTTUNE" \
	"$realmode" "$(command -v setpriv)"
grep -v -- '-json ' "$T_TMP/vm.out"
assert_eq "the VM's script ran to its end" 0 "$(vm_line vm-exit)"

# smoke CASE WHO FIELD: a field of the kvm probe's smoke_WHO in the JSON of CASE ("None" when
# null: no guest was tried; its "ran" is then False).
smoke() {
	vm_line "$1-json" | jq_py "(lambda s: (False if '$3' == 'ran' else None) if s is None else s['$3'])(next(p for p in d['probes'] if p['id'] == 'kvm')['facts']['smoke_$2'])"
}

# --- no module: no KVM
assert_eq "without a KVM module: check --require kvm" 1 "$(vm_line none-rc)"
assert_eq "without a KVM module: smoke_root.ran" False "$(smoke none root ran)"

# --- the kernel's own account of the modules, read apart from hosttune
[ -z "$(vm_line insmod-failed)" ] || fail "insmod failed: $(vm_line insmod-failed)"
assert_eq "kvm_amd in /sys/module" kvm_amd "$(vm_line module)"
assert_eq "kvm_amd's nested paging (parameters/npt)" Y "$(vm_line npt)"
assert_eq "/dev/kvm (stat: type, major:minor in hex, mode)" "character special file a:e8 600" "$(vm_line dev)"
grep -q '^dmesg .*Nested Paging enabled' "$T_TMP/vm.out" || fail "dmesg does not say nested paging is on"
ok "dmesg: $(vm_line dmesg | grep 'Nested Paging')"
case "$(vm_line realmode-root)" in
"ran in "*) ok "a real-mode guest of the test's own ran as root: $(vm_line realmode-root)" ;;
*) fail "kvm-realmode as root: $(vm_line realmode-root)" ;;
esac
assert_eq "kvm-realmode as the build user at 0600" "open: Permission denied" "$(vm_line realmode-build-0600)"
case "$(vm_line realmode-build-0666)" in
"ran in "*) ok "kvm-realmode as the build user at 0666: $(vm_line realmode-build-0666)" ;;
*) fail "kvm-realmode as the build user at 0666: $(vm_line realmode-build-0666)" ;;
esac

# --- loaded: ready for root; for the build user only once /dev/kvm is world-accessible
assert_eq "with kvm-amd loaded: check --require kvm" 0 "$(vm_line loaded-rc)"
assert_eq "with kvm-amd loaded: smoke_root.ran" True "$(smoke loaded root ran)"
assert_eq "the build user (first member of nixbld)" "nixbld1 30001" \
	"$(smoke loaded build user) $(smoke loaded build uid)"
assert_eq "smoke_build.ran while /dev/kvm is 0600" False "$(smoke loaded build ran)"
[ -n "$(smoke loaded build reason)" ] || fail "smoke_build gives no reason at 0600"
ok "smoke_build at 0600 says why: $(smoke loaded build reason)"
assert_eq "smoke_build.ran at 0666" True "$(smoke open build ran)"
assert_eq "check --require kvm at 0666" 0 "$(vm_line open-rc)"

# --- unloaded again
[ -z "$(vm_line rmmod-failed)" ] || fail "rmmod failed"
assert_eq "kvm_amd gone from /sys/module" "" "$(vm_line module-after)"
assert_eq "after rmmod: check --require kvm" 1 "$(vm_line unloaded-rc)"
assert_eq "after rmmod: smoke_root.ran" False "$(smoke unloaded root ran)"
