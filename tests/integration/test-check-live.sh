#!/bin/bash
# SPDX-License-Identifier: MIT
# hosttune check/probe on this machine's live kernel, compared with independent readings:
# /proc/meminfo, /sys, stat(1) of the device nodes, /proc/cpuinfo.
. "$(dirname "$0")/lib.sh"
need_cmd python3 stat
# Other tests grow and shrink the hugepage pool (under this lock): hold it while the probe's
# numbers are compared with /proc/meminfo, or the two readings may straddle a change.
kernel_lock

json=$("$HOSTTUNE" probe --json)
probe() { echo "$json" | jq_py "next(p for p in d['probes'] if p['id']=='$1')$2"; }

# memory: MemTotal as /proc/meminfo says it
want=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) * 1024))
assert_eq "memory.mem_total_bytes" "$want" "$(probe memory "['facts']['mem_total_bytes']")"
want=$(sed 's/.*\[\(.*\)\].*/\1/' /sys/kernel/mm/transparent_hugepage/enabled)
assert_eq "memory.thp_enabled" "$want" "$(probe memory "['facts']['thp_enabled']")"
assert_eq "memory.swappiness" "$(cat /proc/sys/vm/swappiness)" "$(probe memory "['facts']['swappiness']")"

# hugetlb: the default pool's counters as /proc/meminfo reports them
want=$(($(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo) * 1024))
assert_eq "hugetlb.default_page_size" "$want" "$(probe hugetlb "['facts']['default_page_size']")"
pool="[p for p in d['probes'] if p['id']=='hugetlb'][0]['facts']['pools']"
got=$(echo "$json" | jq_py "next(p['nr'] for p in $pool if p['page_size']==$want)")
assert_eq "hugetlb nr (HugePages_Total)" "$(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo)" "$got"

# kvm: presence of /dev/kvm as stat sees it; and the verdict agrees with it
if [ -c /dev/kvm ]; then exp=True; else exp=False; fi
assert_eq "kvm.device.exists" "$exp" "$(probe kvm "['facts']['device']['exists']")"
if [ ! -e /dev/kvm ]; then
	assert_eq "kvm status without /dev/kvm" "absent" "$(probe kvm "['status']")"
	if ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
		probe kvm "['reason']" | grep_all -q 'no vmx/svm' || fail "kvm reason does not say why"
		ok "kvm reason names the missing vmx/svm flag"
	fi
fi

# rng: the selected hw_random source
if [ -r /sys/class/misc/hw_random/rng_current ]; then
	assert_eq "rng.current" "$(cat /sys/class/misc/hw_random/rng_current)" "$(probe rng "['facts']['current']")"
fi

# net: /dev/net/tun as stat sees it
if [ -c /dev/net/tun ]; then
	assert_eq "net.tun.minor" "$((16#$(stat -c %T /dev/net/tun)))" "$(probe net "['facts']['tun']['minor']")"
fi

# check: exit status agrees with the JSON verdict and with the requirement that fails
rc=0
out=$("$HOSTTUNE" check --json --require rng) || rc=$?
ready=$(echo "$out" | jq_py "d['ready']")
if [ "$ready" = True ]; then assert_eq "exit status when ready" 0 $rc; else assert_eq "exit status when not ready" 1 $rc; fi

rc=0
"$HOSTTUNE" check --require kvm >/dev/null || rc=$?
if [ ! -c /dev/kvm ]; then
	assert_eq "check --require kvm without /dev/kvm" 1 $rc
else
	# /dev/kvm is there: whether a guest runs decides, and QEMU is the judge.
	case $(qemu_kvm_judge) in
	true) assert_eq "check --require kvm where QEMU -accel kvm runs" 0 $rc ;;
	false) assert_eq "check --require kvm where QEMU -accel kvm fails" 1 $rc ;;
	*) ok "check --require kvm exits $rc (no QEMU to judge it)" ;;
	esac
fi

rc=0
"$HOSTTUNE" check --require bogus >/dev/null 2>&1 || rc=$?
assert_eq "unknown requirement is a usage error" 2 $rc

# Exit 3, could not probe: a root that cannot be opened; a copy of a captured tree whose pool
# counters are garbage (meminfo and sysfs both), where an unmet hugepages requirement may not be
# real. The same tree with the counters intact is merely not ready (1).
rc=0
"$HOSTTUNE" check --root "$T_TMP/no-such-root" >/dev/null 2>&1 || rc=$?
assert_eq "check --root of a missing directory" 3 $rc
tree=$T_TMP/garbage-pool
mkdir -p "$tree"
cp -a "$HOSTTUNE_FIXTURES/kvm-intel-usable/." "$tree/"
rc=0
"$HOSTTUNE" check --root "$tree" --require hugepages=2M >/dev/null 2>&1 || rc=$?
assert_eq "hugepages=2M on the intact tree (pool 0)" 1 $rc
printf 'x1\n' >"$tree/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
printf 'garbage\n' >"$tree/proc/meminfo"
rc=0
"$HOSTTUNE" check --root "$tree" --require hugepages=2M >"$T_TMP/garbage.out" 2>&1 || rc=$?
assert_eq "hugepages=2M with garbage pool counters" 3 $rc
grep -q "^WARN  hugetlb .*free_hugepages" "$T_TMP/garbage.out" || fail "no WARN naming the file: $(cat "$T_TMP/garbage.out")"
rc=0
"$HOSTTUNE" check --root "$tree" --require rng >/dev/null 2>&1 || rc=$?
assert_eq "a requirement the garbage does not touch (rng)" 0 $rc
