#!/bin/bash
# SPDX-License-Identifier: MIT
# Benchmark (not a test: no thresholds): a 2M hugepage pool larger than the memory, side by side,
# in a 256M QEMU machine (tests/integration/vm.sh; the host itself would have to give up all of
# its free memory to show this). Each method starts from an empty pool:
#   plain      echo 512 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
#   hugeadm    hugeadm --pool-pages-min 2MB:512                         (libhugetlbfs-bin)
#   hosttune   hosttune apply, [hugepages] pool = 1G, reclaim = compact, timeout = 2s
# and reports what each obtained (HugePages_Total, the VM kernel's reading), the memory it left
# free (MemFree), its exit status and what it said. Prints a Markdown table.
# Usage: bench/apply-hugepages-vm.sh [BUILD_DIR]  (as root: the kernel is cached in /var/cache)
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
. "$(dirname "$0")/lib/vm-env.sh"
command -v hugeadm >/dev/null || { echo "needs hugeadm (libhugetlbfs-bin)" >&2; exit 1; }
vm_kernel

cat >"$T_TMP/case.sh" <<'EOF'
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
total() { awk '$1 == "HugePages_Total:" {print $2}' /proc/meminfo; }
# report METHOD RC OUTPUT-FILE: one line for the host's table.
report() {
	echo "row $1|$(total)|$(awk '$1 == "MemFree:" {print int($2 / 1024)}' /proc/meminfo)|$2|$(grep -v '^$' "$3" | tail -n 2 | tr '\n' ' ' | tr '|' '/')"
	echo 0 >$nr
}
echo "memtotal $(awk '$1 == "MemTotal:" {print $2}' /proc/meminfo)"

sh -c "echo 512 >$nr" >/tmp/out 2>&1
report plain $? /tmp/out
hugeadm --pool-pages-min 2MB:512 >/tmp/out 2>&1
report hugeadm $? /tmp/out
printf '[hugepages]\npool = 1G\nreclaim = compact\ntimeout = 2s\n' >/tmp/p.ini
hosttune apply --policy /tmp/p.ini >/tmp/out 2>/dev/null
rc=$?
grep SHORT /tmp/out >/tmp/said || true
report hosttune $rc /tmp/said
EOF
vm_run 256 "$T_TMP/case.sh" "$build/hosttune" "$(command -v hugeadm)"

echo "A 1G pool (512 x 2M) asked of a QEMU machine with $(($(sed -n 's/^memtotal //p' "$T_TMP/vm.out") / 1024)) MiB:"
echo
echo "| method | pages obtained (HugePages_Total) | MemFree after, MiB | exit status | what it said |"
echo "|---|---|---|---|---|"
sed -n 's/^row //p' "$T_TMP/vm.out" | while IFS='|' read -r m got free rc said; do
	echo "| $m | $got of 512 | $free | $rc | ${said:-(nothing)} |"
done
