#!/bin/bash
# SPDX-License-Identifier: MIT
# The zram probe against zramctl and swapon --show, on a zram device this test hot-adds,
# configures as swap and removes again (zram0 and other devices are left alone).
. "$(dirname "$0")/lib.sh"
need_root
need_cmd zramctl swapon swapoff mkswap python3
[ -e /sys/class/zram-control ] || modprobe zram 2>/dev/null || true
[ -e /sys/class/zram-control/hot_add ] || skip "no /sys/class/zram-control (zram module missing)"
kernel_lock

id=$(cat /sys/class/zram-control/hot_add)
dev=zram$id
defer "echo $id > /sys/class/zram-control/hot_remove"
[ "$id" -lt 16 ] || skip "zram$id is beyond the 16 devices the probe lists"
for _ in $(seq 50); do [ -b /dev/$dev ] && break; sleep 0.1; done
[ -b /dev/$dev ] || fail "/dev/$dev did not appear"

zdev() { # the probe's entry for our device
	"$HOSTTUNE" probe --json | jq_py "next(z for z in next(x for x in d['probes'] if x['id']=='zram')['facts']['devices'] if z['name']=='$dev')$1"
}

# Unconfigured: disksize 0.
assert_eq "unconfigured disksize (sysfs)" "$(cat /sys/block/$dev/disksize)" "$(zdev "['disksize']")"

# Configure: an algorithm the kernel offers other than the default, 64 MiB.
algo=$(tr -d '[]' </sys/block/$dev/comp_algorithm | tr ' ' '\n' | grep -E '^(lz4|zstd|lzo)$' | head -n1)
[ -n "$algo" ] && echo "$algo" >/sys/block/$dev/comp_algorithm
echo 64M >/sys/block/$dev/disksize
mkswap /dev/$dev >/dev/null
swapon -p 77 /dev/$dev
defer "swapoff /dev/$dev"

json=$("$HOSTTUNE" probe --json)
echo "$json" | jq_py "json.dumps(next(x for x in d['probes'] if x['id']=='zram'))"
z() { echo "$json" | jq_py "next(z for z in next(x for x in d['probes'] if x['id']=='zram')['facts']['devices'] if z['name']=='$dev')$1"; }
assert_eq "disksize (zramctl)" "$(zramctl --bytes --noheadings -o DISKSIZE /dev/$dev | tr -d ' ')" "$(z "['disksize']")"
assert_eq "algorithm (zramctl)" "$(zramctl --noheadings -o ALGORITHM /dev/$dev | tr -d ' ')" "$(z "['algorithm']")"
assert_eq "swap (swapon --show)" True "$(z "['swap']")"
assert_eq "swap priority (swapon --show)" "$(swapon --show=PRIO --noheadings /dev/$dev | tr -d ' ')" "$(z "['swap_priority']")"
assert_eq "mounted" False "$(z "['mounted']")"
# mm_stat: the first three fields (orig, compr, mem_used) as zramctl reports DATA and COMPR
assert_eq "orig_data_size (zramctl DATA)" "$(zramctl --bytes --noheadings -o DATA /dev/$dev | tr -d ' ')" "$(z "['orig_data_size']")"
assert_eq "compr_data_size (zramctl COMPR)" "$(zramctl --bytes --noheadings -o COMPR /dev/$dev | tr -d ' ')" "$(z "['compr_data_size']")"

# memory: the swap entry as swapon --show reports it (SIZE in bytes).
s() { echo "$json" | jq_py "next(s for s in next(x for x in d['probes'] if x['id']=='memory')['facts']['swaps'] if s['path']=='/dev/$dev')$1"; }
assert_eq "swap size (swapon --show --bytes)" "$(swapon --show=SIZE --bytes --noheadings /dev/$dev | tr -d ' ')" "$(s "['size_bytes']")"
assert_eq "swap type (swapon --show)" "$(swapon --show=TYPE --noheadings /dev/$dev | tr -d ' ')" "$(s "['type']")"
assert_eq "swap priority in memory facts" 77 "$(s "['priority']")"

# The requirement: a zram device serves as swap.
rc=0
"$HOSTTUNE" check --require zram >/dev/null || rc=$?
assert_eq "check --require zram with zram swap" 0 $rc
rc=0
"$HOSTTUNE" check --require no-swap >/dev/null || rc=$?
assert_eq "check --require no-swap with zram swap" 1 $rc
