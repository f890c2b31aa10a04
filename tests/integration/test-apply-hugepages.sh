#!/bin/bash
# SPDX-License-Identifier: MIT
# Hugepage pool and hugetlbfs mount appliers on the live kernel: grow the global 2M pool, a
# node's pool, shrink it, compare each time with /proc/meminfo and the node's own file; mount
# hugetlbfs with pagesize, mode and gid and compare with findmnt and stat; apply again
# (unchanged); revert and compare with the readings taken before.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd findmnt stat
kernel_lock

helper=$HOSTTUNE_BUILD/tests/helpers/apply-steps
export HOSTTUNE_RUNTIME_DIR=$T_TMP/run
global=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
node0=/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
[ -w $global ] || skip "no 2M hugepages on this kernel"
meminfo_total() { awk '/^HugePages_Total:/ {print $2}' /proc/meminfo; }

b_total=$(meminfo_total)
b_nr=$(cat $global)
defer "echo $b_nr > $global"

want=$((b_nr + 128))
out=$("$helper" - 2>"$T_TMP/progress" <<STEPS
hugepages knob=hugepages-2048kB page_size=2M pages=$want node=-1 reclaim=compact timeout=20s
STEPS
)
echo "$out"
assert_eq "outcome of growing the pool" applied "$(echo "$out" | cut -f1)"
assert_eq "HugePages_Total after growing" "$want" "$(meminfo_total)"
assert_eq "pages reported obtained" "$want" "$(echo "$out" | cut -f3)"
grep -q "^progress 1: hugepages-2048kB: $want of $want pages" "$T_TMP/progress" ||
	fail "no progress line: $(cat "$T_TMP/progress")"
ok "progress reported"

out=$(echo "hugepages knob=hugepages-2048kB page_size=2M pages=$want reclaim=compact" | "$helper" -)
assert_eq "outcome of the same request again" unchanged "$(echo "$out" | cut -f1)"

if [ -w $node0 ]; then
	n0=$(cat $node0)
	out=$(echo "hugepages knob=hugepages-2048kB/node0 page_size=2M pages=$((n0 + 64)) node=0 reclaim=none" | "$helper" -)
	assert_eq "outcome of growing node0's pool" applied "$(echo "$out" | cut -f1)"
	assert_eq "node0 nr_hugepages" "$((n0 + 64))" "$(cat $node0)"
	assert_eq "HugePages_Total after node0 grew" "$((want + 64))" "$(meminfo_total)"
	want=$((want + 64))
fi

# Shrinking is one write; the journal keeps the first original of the global pool.
out=$(echo "hugepages knob=hugepages-2048kB page_size=2M pages=$((b_nr + 16)) reclaim=none" | "$helper" -)
assert_eq "outcome of shrinking" applied "$(echo "$out" | cut -f1)"
assert_eq "HugePages_Total after shrinking" "$((b_nr + 16))" "$(meminfo_total)"

# hugetlbfs mount with pagesize, mode and gid; the mount point is created and journaled.
mnt=$T_TMP/mnt/huge
gid=$(getent group users | cut -d: -f3 || echo 100)
gid=${gid:-100}
defer "umount $mnt 2>/dev/null || true"
steps="hugetlbfs-mount knob=hugetlbfs path=$mnt page_size=2M mode=01770 gid=$gid"
out=$(echo "$steps" | "$helper" -)
echo "$out"
assert_eq "outcome of mounting" applied "$(echo "$out" | cut -f1)"
assert_eq "fstype (findmnt)" hugetlbfs "$(findmnt -n -o FSTYPE "$mnt")"
opts=$(findmnt -n -o OPTIONS "$mnt")
case ",$opts," in *,pagesize=2M,*) ok "findmnt shows pagesize=2M" ;; *) fail "options: $opts" ;; esac
case ",$opts," in *,nosuid,*) ok "findmnt shows nosuid" ;; *) fail "options: $opts" ;; esac
assert_eq "mode and group of the mount (stat)" "1770 $gid" "$(stat -c '%a %g' "$mnt")"
out=$(echo "$steps" | "$helper" -)
assert_eq "outcome of mounting again" unchanged "$(echo "$out" | cut -f1)"

"$HOSTTUNE" revert
assert_eq "HugePages_Total after revert" "$b_total" "$(meminfo_total)"
assert_eq "nr_hugepages after revert" "$b_nr" "$(cat $global)"
findmnt "$mnt" >/dev/null && fail "$mnt still mounted after revert"
[ ! -e "$T_TMP/mnt" ] || fail "the mount point hosttune created is still there"
ok "mount and its directories removed"
