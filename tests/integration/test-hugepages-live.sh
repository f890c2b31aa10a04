#!/bin/bash
# SPDX-License-Identifier: MIT
# The hugetlb probe against the kernel's own numbers (/proc/meminfo, sysfs), before and after
# this test grows the default pool through /proc/sys/vm/nr_hugepages and reserves pages with a
# mapping on a hugetlbfs mount it makes (compared with findmnt); `check --require hugepages=`
# counts free minus reserved. The pool is put back as it was.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd python3 findmnt mount umount
[ -d /sys/kernel/mm/hugepages ] || skip "kernel without hugetlbfs"
kernel_lock

size_kb=$(awk '/^Hugepagesize:/ {print $2}' /proc/meminfo)
sysdir=/sys/kernel/mm/hugepages/hugepages-${size_kb}kB
pool() { # pool KEY: the probe's default pool entry
	"$HOSTTUNE" probe --json | jq_py "next(p for p in next(x for x in d['probes'] if x['id']=='hugetlb')['facts']['pools'] if p['page_size']==$((size_kb * 1024)))['$1']"
}
compare() { # compare WHEN: every counter of the probe equals /proc/meminfo and sysfs
	local json
	json=$("$HOSTTUNE" probe --json)
	for pair in nr:HugePages_Total free:HugePages_Free resv:HugePages_Rsvd surplus:HugePages_Surp; do
		key=${pair%%:*} mi=${pair##*:}
		got=$(echo "$json" | jq_py "next(p for p in next(x for x in d['probes'] if x['id']=='hugetlb')['facts']['pools'] if p['page_size']==$((size_kb * 1024)))['$key']")
		assert_eq "$1: $key (/proc/meminfo $mi)" "$(awk "/^$mi:/ {print \$2}" /proc/meminfo)" "$got"
	done
	for f in nr_hugepages free_hugepages resv_hugepages surplus_hugepages nr_overcommit_hugepages; do
		key=${f%_hugepages}
		[ "$key" = nr_overcommit ] || key=${key%_hugepages}
		got=$(echo "$json" | jq_py "next(p for p in next(x for x in d['probes'] if x['id']=='hugetlb')['facts']['pools'] if p['page_size']==$((size_kb * 1024)))['$key']")
		assert_eq "$1: $key ($sysdir/$f)" "$(cat "$sysdir/$f")" "$got"
	done
	# per node, as the node's sysfs says
	for nd in /sys/devices/system/node/node[0-9]*; do
		[ -d "$nd/hugepages/hugepages-${size_kb}kB" ] || continue
		n=${nd##*node}
		got=$(echo "$json" | jq_py "next(x for x in next(p for p in next(x for x in d['probes'] if x['id']=='hugetlb')['facts']['pools'] if p['page_size']==$((size_kb * 1024)))['nodes'] if x['node']==$n)['nr']")
		assert_eq "$1: node $n nr" "$(cat "$nd/hugepages/hugepages-${size_kb}kB/nr_hugepages")" "$got"
	done
}

orig=$(cat /proc/sys/vm/nr_hugepages)
defer "echo $orig > /proc/sys/vm/nr_hugepages"
compare "before"

# Grow the pool by 64 pages; the kernel may give fewer on fragmented memory: compare with what
# it reports, and require that it changed.
echo $((orig + 64)) >/proc/sys/vm/nr_hugepages
now=$(cat /proc/sys/vm/nr_hugepages)
[ "$now" -gt "$orig" ] || skip "the kernel gave no hugepages (memory too fragmented)"
compare "after growing to $now"
assert_eq "nr follows /proc/sys/vm/nr_hugepages" "$now" "$(pool nr)"

# A hugetlbfs mount, as findmnt sees it.
mnt=$T_TMP/huge
mkdir -p "$mnt"
mount -t hugetlbfs -o mode=1770,gid=4242,pagesize=${size_kb}K none "$mnt"
defer "umount $mnt"
json=$("$HOSTTUNE" probe --json)
mnt_json=$(echo "$json" | jq_py "json.dumps(next(m for m in next(x for x in d['probes'] if x['id']=='hugetlb')['facts']['mounts'] if m['path']=='$mnt'))")
echo "probe: $mnt_json"
assert_eq "mount path (findmnt)" "$(findmnt -n -o TARGET "$mnt")" "$(echo "$mnt_json" | jq_py "d['path']")"
opts=$(findmnt -n -o OPTIONS "$mnt")
echo "findmnt: $opts"
ps=$(echo "$opts" | tr , '\n' | sed -n 's/^pagesize=//p')
case $ps in *M) ps=$((${ps%M} * 1024 * 1024)) ;; *G) ps=$((${ps%G} * 1024 * 1024 * 1024)) ;; *K|*k) ps=$((${ps%[Kk]} * 1024)) ;; esac
assert_eq "mount page size (findmnt pagesize=)" "$ps" "$(echo "$mnt_json" | jq_py "d['page_size']")"
mode=$(echo "$opts" | tr , '\n' | sed -n 's/^mode=//p')
assert_eq "mount mode (findmnt mode=)" "$(printf '%04o' "0$mode")" "$(echo "$mnt_json" | jq_py "d['mode']")"
assert_eq "mount gid (findmnt gid=)" "$(echo "$opts" | tr , '\n' | sed -n 's/^gid=//p')" "$(echo "$mnt_json" | jq_py "d['gid']")"

# Reserve 16 pages with a shared mapping of a hugetlbfs file (reserved at mmap, not faulted
# in): free stays, resv grows, and `check` counts only free - resv.
fifo=$T_TMP/fifo
mkfifo "$fifo"
python3 -c '
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o600)
os.ftruncate(fd, int(sys.argv[2]))
m = mmap.mmap(fd, int(sys.argv[2]), mmap.MAP_SHARED)
print("mapped", flush=True)
open(sys.argv[3]).read()
' "$mnt/reserve" $((16 * size_kb * 1024)) "$fifo" >"$T_TMP/map.out" &
mapper=$!
defer "kill $mapper 2>/dev/null; wait $mapper 2>/dev/null || true"
for _ in $(seq 100); do grep -q mapped "$T_TMP/map.out" && break; sleep 0.05; done
grep -q mapped "$T_TMP/map.out" || fail "the mapping did not come up"
compare "with 16 pages reserved"
free=$(pool free) resv=$(pool resv)
[ "$resv" -ge 16 ] || fail "expected at least 16 reserved pages, /proc/meminfo says $resv"
avail=$((free - resv))
assert_eq "available = free - resv" "$avail" "$(pool available)"
rc=0
"$HOSTTUNE" check --require "hugepages=$((avail * size_kb))K" >/dev/null || rc=$?
assert_eq "check ready with exactly the available pages" 0 $rc
rc=0
"$HOSTTUNE" check --json --require "hugepages=$(((avail + 1) * size_kb))K" >"$T_TMP/check.json" || rc=$?
assert_eq "check not ready with one page more" 1 $rc
grep -q "reserved $resv" "$T_TMP/check.json" || fail "the verdict does not name the reserved pages"
ok "the verdict names the $resv reserved pages"
echo >"$fifo"
wait $mapper
rm "$mnt/reserve" # a hugetlbfs file keeps its pages reserved until it is gone

echo "$orig" >/proc/sys/vm/nr_hugepages
compare "restored"
assert_eq "pool restored" "$orig" "$(pool nr)"
