#!/bin/bash
# SPDX-License-Identifier: MIT
# Leases from inside a real Nix build sandbox (docs/leases.md, "From a Nix build"): Debian's
# nix-build with sandbox = true and build-users-group = nixbld (real nixbld users, made here when
# missing), the agent's runtime dir bound at /run/hosttune and the static hosttune and a static
# hugepage-touch bound into the sandbox, nothing else (no /etc, no bus). The builder is
# `hosttune run --hugepages 64M -- hugepage-touch`: while it runs the lease is listed (ListLeases)
# held by a nixbld uid, enforced, its pages touched (/proc/meminfo, the cgroup's hugetlb files);
# it is gone when the build ends; a build interrupted mid-run releases; a build over
# [agent] build-hugepages-max fails with the refusal in Nix's log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
# The sandbox has no /lib: the build's client is the static hosttune (a sanitizer build's is
# dynamic, STATIC_CLI=no).
file -L "$HOSTTUNE" 2>/dev/null | grep_all -q "statically linked" ||
	ldd "$HOSTTUNE" 2>&1 | grep_all -q "not a dynamic executable" ||
	skip "$HOSTTUNE is linked dynamically (STATIC_CLI=no, as in the sanitizer build); the sandbox has none of its libraries"
need_cmd nix-build cc python3 groupadd useradd userdel groupdel
need_pool_2m
[ "$(uname -m)" = x86_64 ] || skip "the derivation is for x86_64-linux"
need_root_cgroup_hugetlb
kernel_lock
guard_lease_cgroups

# Nix's build users: made here only when the machine has none, and removed again.
if ! getent group nixbld >/dev/null; then
	groupadd -r nixbld
	defer "groupdel nixbld"
fi
for i in 1 2 3; do
	if ! getent passwd nixbld$i >/dev/null; then
		useradd -r -M -N -g nixbld -G nixbld -s /usr/sbin/nologin nixbld$i
		defer "userdel nixbld$i"
	fi
done
NIXBLD_GID=$(getent group nixbld | cut -d: -f3)

out=$T_TMP/out
mkdir -p "$out/hold" "$T_TMP/bin"
chmod 0777 "$out/hold"
chmod 0755 "$T_TMP" "$AGENT_RUN"
# Static binaries only: the sandbox has no /lib.
cp "$HOSTTUNE" "$T_TMP/bin/hosttune"
cc -static -O2 -I"$HOSTTUNE_SRC" "$HOSTTUNE_SRC/tests/helpers/hugepage-touch.c" \
	"$HOSTTUNE_BUILD/libhosttune.a" -o "$T_TMP/bin/hugepage-touch"
M=1048576
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
used() { echo $(($(meminfo HugePages_Total) - $(meminfo HugePages_Free))); }

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = lease-sock-nix
[hugepages]
size = 2M
pool = 256M
max = 256M
[agent]
reprobe-interval = 0
build-users-group = nixbld
build-hugepages-max = 96M
EOF
start_bus open
start_notify_listener
start_agent --policy "$policy"

# build NAME SIZE: a derivation whose builder is `hosttune run` (found at /run/hosttune/lease.sock
# since the sandbox has no system bus) around hugepage-touch, which holds its pages until
# /hold/NAME is gone; its output is hugepage-touch's --ready file.
build() {
	local name=$1 size=$2
	cat >"$T_TMP/$name.nix" <<EOF
derivation {
  name = "hosttune-lease-sock-$name";
  system = "x86_64-linux";
  builder = "/htbin/hosttune";
  args = [ "run" "--hugepages" "$size" "--wait" "30" "--label" "nix-$name" "--"
           "/htbin/hugepage-touch" "--ready" (builtins.placeholder "out") "--hold" "/hold/$name"
           "--hold-max" "120" ];
  nonce = "$T_TMP $name $RANDOM";
}
EOF
	HOME=$T_TMP XDG_CACHE_HOME=$T_TMP/cache timeout 300 nix-build --no-out-link \
		--store "local?root=$T_TMP/nixroot" --option substituters '' --max-jobs 1 \
		--option sandbox true --option sandbox-fallback false --option build-users-group nixbld \
		--option sandbox-paths "/run/hosttune=$AGENT_RUN /htbin=$T_TMP/bin /hold=$out/hold" \
		"$T_TMP/$name.nix"
}
lease_holders() { bctl --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 \
	org.hosttune.Agent1 ListLeases | python3 -c '
import json, sys
for l in json.load(sys.stdin)["data"][0]:
    d = l[2]
    print(d["uid"]["data"], d["label"]["data"], d["enforced"]["data"], d["cgroup"]["data"])'; }

# --- a build holding 64M: listed, held by a nixbld user, enforced, pages touched; gone after
used0=$(used)
touch "$out/hold/a"
build a 64M >"$out/a.log" 2>&1 &
nb=$!
wait_for "the build's lease" '[ "$(lease_count)" = 1 ]'
read -r uid label enforced cgroup <<<"$(lease_holders)"
user=$(getent passwd "$uid" | cut -d: -f1)
assert_eq "the lease's label" nix-a "$label"
case $user in nixbld*) ok "held by uid $uid ($user, a Nix build user)" ;; *) fail "held by uid $uid ($user)" ;; esac
assert_eq "the holder's primary group is nixbld" "$NIXBLD_GID" "$(getent passwd "$uid" | cut -d: -f4)"
assert_eq "enforced" True "$enforced"
wait_for "the build to touch its 32 pages (/proc/meminfo)" '[ "$(used)" = $((used0 + 32)) ]'
assert_eq "the lease cgroup's hugetlb.2MB.current" $((64 * M)) "$(cat "$cgroup/hugetlb.2MB.current")"
# The build's processes are the lease cgroup's (cgroup.procs), and run as the build user.
for p in $(cat "$cgroup/cgroup.procs"); do
	assert_eq "uid of pid $p in the lease cgroup (/proc/$p/status)" "$uid" \
		"$(awk '/^Uid:/ {print $2}' "/proc/$p/status")"
done
# --- a second build over the cap while the first holds: refused, with the reason in Nix's log
rc=0
build over 64M >"$out/over.log" 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "the build over the cap succeeded: $(cat "$out/over.log")"
grep -q "hosttune run: refused (LimitExceeded): builds hold 64M of hugepages together and ask for 64M more: \[agent\] build-hugepages-max = 96M" \
	"$out/over.log" || fail "the build over the cap: $(cat "$out/over.log")"
ok "a build over the cap fails: $(grep -o 'hosttune run: refused.*' "$out/over.log")"
rm "$out/hold/a"
wait $nb || fail "the build: $(cat "$out/a.log")"
ok "the build succeeded: $(tail -n 1 "$out/a.log")"
wait_for "the lease to end with the build" '[ "$(lease_count)" = 0 ]'
wait_for "its cgroup to be removed" '[ ! -d "$cgroup" ]'
assert_eq "pages in use after the build" "$used0" "$(used)"

# --- a build interrupted mid-run (what ^C or a timeout does): Nix kills the builder, the
# socket closes, the lease ends
touch "$out/hold/b"
build b 32M >"$out/b.log" 2>&1 &
nb=$!
wait_for "the second build's lease" '[ "$(lease_count)" = 1 ]'
read -r uid label enforced cgroup <<<"$(lease_holders)"
wait_for "its pages" '[ "$(used)" = $((used0 + 16)) ]'
# The subshell of `build` waits for timeout(1), which passes the interrupt on to nix-build.
kill -INT "$(pgrep -P $nb -x timeout)"
wait $nb 2>/dev/null || true
wait_for "the lease to end after the interrupt" '[ "$(lease_count)" = 0 ]'
wait_for "its cgroup to be removed" '[ ! -d "$cgroup" ]'
assert_eq "pages in use after the interrupted build" "$used0" "$(used)"
ok "an interrupted build released its lease: $(grep -c . "$out/b.log") lines of Nix log"
rm -f "$out/hold/b"
finish_agent
