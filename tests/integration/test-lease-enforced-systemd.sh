#!/bin/bash
# SPDX-License-Identifier: MIT
# Enforced hugepage leases under a real systemd with pure cgroup v2: a booted Debian container
# (container.sh), hosttune installed by `make install` with its unit (Delegate=yes,
# ProtectControlGroups=no). The agent moves itself to <unit cgroup>/agent, lease cgroups go to
# <unit cgroup>/leases/<id>; two `hosttune run --hugepages 16M` on a 32M pool, one mapping 24M:
# the greedy one dies of SIGBUS alone, the honest one touches all its pages; their cgroups go
# when they end, and after `systemctl stop` hugetlb is off again where the agent turned it on.
# The pool is the host's (one kernel): set here, since /sys is read-only in the container; the
# policy has no pool, so leases take what is there.
. "$(dirname "$0")/lib.sh"
need_root
. "$(dirname "$0")/container.sh"
need_cmd chroot
hp=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
[ -w $hp ] || skip "no 2 MiB hugepage pool on this kernel"
CG=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
[ -n "$CG" ] || skip "no cgroup v2 hierarchy mounted"
grep -qw hugetlb "$CG/cgroup.controllers" || skip "cgroup v2 has no hugetlb controller here"
kernel_lock

build=$T_TMP/build
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$HOSTTUNE_SRC" BUILD="$build" PREFIX=/usr \
	SYSCONFDIR=/etc all "$build/tests/helpers/hugepage-touch" >"$T_TMP/build.log" 2>&1 ||
	{ tail -n 30 "$T_TMP/build.log"; fail "build with PREFIX=/usr failed"; }
ct_image "$build/hosttuned" "$build/hosttune-bus"
ct_prepare
root=$CT_ROOT
env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make -s -C "$HOSTTUNE_SRC" BUILD="$build" PREFIX=/usr \
	SYSCONFDIR=/etc DESTDIR="$root" SYSTEMD_VERSION="$CT_SYSTEMD_VERSION" install \
	>>"$T_TMP/build.log" 2>&1 || { tail -n 30 "$T_TMP/build.log"; fail "make install failed"; }
grep -q "^Delegate=yes$" "$root/usr/lib/systemd/system/hosttune.service" || fail "unit without Delegate=yes"
# From the plain build made above: a sanitizer build's helper needs libasan, which the
# container does not have.
cp "$build/tests/helpers/hugepage-touch" "$root/usr/local/bin/"
mkdir -p "$root/etc/hosttune"
printf '[policy]\nname = enforced\n[hugepages]\nsize = 2M\n[agent]\nreprobe-interval = 0\n' \
	>"$root/etc/hosttune/policy.ini"

b_nr=$(cat $hp)
defer "echo $b_nr > $hp"
echo 16 >$hp
[ "$(cat $hp)" = 16 ] || skip "cannot get 16 hugepages for the pool"

# The container's cgroup on the host: hugetlb must reach it from the host's side (the host is
# the container's "firmware" here; on a real host the agent turns it on from the root itself).
# Pure cgroup v2 in the container (nspawn would give it the host's hybrid layout otherwise).
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
ct_boot
ctcg=$CG$(sed -n 's/^0:://p' "/proc/$CT_LEADER/cgroup")
ctcg=${ctcg%/init.scope}
restore_host=()
p=$CG
for part in $(echo "${ctcg#"$CG"}" | tr / ' ') ""; do
	if ! grep -qw hugetlb "$p/cgroup.subtree_control"; then
		echo +hugetlb >"$p/cgroup.subtree_control" || fail "cannot turn hugetlb on in $p"
		restore_host=("$p" "${restore_host[@]}")
	fi
	[ -n "$part" ] && p=$p/$part
	[ "$p" = "$ctcg" ] && break
done
for p in "${restore_host[@]}"; do defer "echo -hugetlb >$p/cgroup.subtree_control"; done
assert_eq "hugetlb in the container's root cgroup.controllers" 1 \
	"$(in_ct grep -cw hugetlb /sys/fs/cgroup/cgroup.controllers)"

in_ct systemctl start hosttune.service
assert_eq "the agent's cgroup" /system.slice/hosttune.service/agent \
	"$(in_ct sh -c 'sed -n "s/^0:://p" /proc/$(systemctl show -P MainPID hosttune)/cgroup')"
in_ct journalctl --no-pager -o cat -u hosttune | grep_all -q "enforced by the cgroups under /sys/fs/cgroup/system.slice/hosttune.service/leases" ||
	fail "agent log: $(in_ct journalctl --no-pager -o cat -u hosttune | tail -n 20)"

M=1048576
holder() { # NAME BYTES-TO-TOUCH: hosttune run --hugepages 16M in the container
	in_ct hosttune run --hugepages 16M --label "$1" -- sh -c "
		sed -n 's/^0:://p' /proc/self/cgroup >/run/$1.cgroup
		HOSTTUNE_HUGEPAGES=$2 /usr/local/bin/hugepage-touch --hold-ms 300 >/run/$1.log 2>&1"
}
holder greedy $((24 * M)) &
greedy=$!
holder honest $((16 * M)) &
honest=$!
rc=0
wait $greedy || rc=$?
assert_eq "the greedy holder (24M on a 16M lease): exit status (SIGBUS)" 135 $rc
rc=0
wait $honest || rc=$?
assert_eq "the honest holder: exit status" 0 $rc
in_ct grep -q "touched 8 pages" /run/honest.log || fail "honest: $(in_ct cat /run/honest.log)"
case $(in_ct cat /run/greedy.cgroup) in
/system.slice/hosttune.service/leases/????????????????) ok "the greedy holder ran in $(in_ct cat /run/greedy.cgroup)" ;;
*) fail "the greedy holder's cgroup: $(in_ct cat /run/greedy.cgroup)" ;;
esac
for i in $(seq 50); do
	[ -z "$(in_ct find /sys/fs/cgroup/system.slice/hosttune.service/leases -mindepth 1 -type d)" ] && break
	sleep 0.1
done
assert_eq "lease cgroups left" "" \
	"$(in_ct find /sys/fs/cgroup/system.slice/hosttune.service/leases -mindepth 1 -type d)"

in_ct systemctl stop hosttune.service
assert_eq "hugetlb in system.slice's subtree_control after the stop" 0 \
	"$(in_ct grep -cw hugetlb /sys/fs/cgroup/system.slice/cgroup.subtree_control)"
assert_eq "hugetlb in the container root's subtree_control after the stop" 0 \
	"$(in_ct grep -cw hugetlb /sys/fs/cgroup/cgroup.subtree_control)"
ok "under systemd: enforced leases in the unit's delegated cgroup, hugetlb given back at stop"
