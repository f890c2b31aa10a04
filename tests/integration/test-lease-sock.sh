#!/bin/bash
# SPDX-License-Identifier: MIT
# The lease socket <runtime dir>/lease.sock (docs/leases.md, "From a Nix build") with hosttuned
# on a private bus and this machine's hugepage pool and cgroup v2: `hosttune run` over the socket
# (no bus: HOSTTUNE_LEASE_SOCKET) holds an enforced lease listed by ListLeases, its pages touched
# (/proc/meminfo) and charged to the lease's cgroup; the lease ends with the connection (also on
# kill -9); a member of the build users group is held to [agent] build-hugepages-max; nobody is
# refused; malformed, oversized and silent clients get their refusal, and 2000 connections at
# once cost the agent a bounded number of fds and little memory (/proc/PID/fd, VmRSS).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent-lib.sh"
. "$(dirname "$0")/lease-lib.sh"
need_root
need_cmd python3 setpriv groupadd useradd userdel groupdel
need_pool_2m
need_root_cgroup_hugetlb
kernel_lock
guard_lease_cgroups

# A build users group of the test's own, with one user whose primary group it is.
BG=htsockbld
BU=htsockbld1
getent group $BG >/dev/null && fail "group $BG exists before the test"
groupadd -r $BG
defer "groupdel $BG"
useradd -r -M -N -g $BG -s /usr/sbin/nologin $BU
defer "userdel $BU"
AS_BUILD=(setpriv --reuid=$BU --regid=$BG --clear-groups)
AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)

# The runtime dir must be reachable for the unprivileged clients (the socket's mode is 0666).
chmod 0755 "$T_TMP" "$AGENT_RUN"
out=$T_TMP/out
mkdir -m 0777 "$out"
M=1048576
meminfo() { awk -v k="$1:" '$1 == k {print $2}' /proc/meminfo; }
used() { echo $(($(meminfo HugePages_Total) - $(meminfo HugePages_Free))); }

policy=$T_TMP/policy.ini
cat >"$policy" <<EOF
[policy]
name = lease-sock
[hugepages]
size = 2M
pool = 256M
max = 256M
[agent]
reprobe-interval = 0
lease-group = $LEASE_GROUP
build-users-group = $BG
build-hugepages-max = 96M
EOF
start_bus open
start_notify_listener
start_agent --policy "$policy"
SOCK=$AGENT_RUN/lease.sock
assert_eq "the socket's type and mode (stat)" "socket 666" "$(stat -c '%F %a' "$SOCK")"

# sockreq LINE: one connection, LINE sent as given (printf %b), the agent's reply printed; the
# connection is closed at once.
sockreq() {
	python3 - "$SOCK" "$1" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode().decode("unicode_escape").encode("latin-1"))
s.settimeout(20)
data = b""
while not data.endswith(b"\n"):
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.decode(errors="replace").rstrip("\n"))
EOF
}
lease_client() { bctl --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 \
	org.hosttune.Agent1 ListLeases | python3 -c '
import json, sys
for l in json.load(sys.stdin)["data"][0]:
    d = l[2]
    print(d["client"]["data"], d["uid"]["data"], d["enforced"]["data"], d["hugepages"]["data"])'; }
sock_run() { HOSTTUNE_LEASE_SOCKET=$SOCK "$HOSTTUNE" run "$@"; }

# --- root over the socket: listed, enforced, pages touched and charged, gone at the end
used0=$(used)
touch "$out/hold"
sock_run --hugepages 64M --label sock-root -- sh -c '
	sed -n "s/^0:://p" /proc/self/cgroup >'"$out"'/root.cgroup
	exec "$0" --ready '"$out"'/root.ready --hold '"$out"'/hold' "$HELPERS/hugepage-touch" \
	>"$out/root.log" 2>&1 &
holder=$!
wait_for "the root holder to touch its pages" 'test -e "$out/root.ready"'
read -r client uid enforced bytes <<<"$(lease_client)"
case $client in lease.sock#*) ok "ListLeases: client $client" ;; *) fail "ListLeases client: $client" ;; esac
assert_eq "ListLeases: uid, enforced, bytes" "0 True $((64 * M))" "$uid $enforced $bytes"
cg=$CG$(cat "$out/root.cgroup")
assert_eq "the holder's cgroup (/proc/self/cgroup) is under the lease cgroups" "$BASE" "$(dirname "$cg")"
assert_eq "its hugetlb.2MB.max" $((64 * M)) "$(cat "$cg/hugetlb.2MB.max")"
assert_eq "its hugetlb.2MB.current (pages charged)" $((64 * M)) "$(cat "$cg/hugetlb.2MB.current")"
assert_eq "pages in use (/proc/meminfo)" $((used0 + 32)) "$(used)"
rm "$out/hold"
wait $holder || fail "root holder: $(cat "$out/root.log")"
wait_for "the lease to end with the connection" '[ "$(lease_count)" = 0 ]'
wait_for "its cgroup to be removed" '[ ! -d "$cg" ]'
ok "lease released and cgroup removed when hosttune run ended"

# --- kill -9 of the holder mid-run: the kernel closes the socket, the lease ends
touch "$out/hold"
sock_run --hugepages 32M -- "$HELPERS/hugepage-touch" --ready "$out/k.ready" --hold "$out/hold" \
	>"$out/k.log" 2>&1 &
holder=$!
wait_for "the holder to touch its pages" 'test -e "$out/k.ready"'
assert_eq "leases while it runs" 1 "$(lease_count)"
kill -9 $holder
wait $holder 2>/dev/null || true
wait_for "the lease to end after kill -9" '[ "$(lease_count)" = 0 ]'
rm "$out/hold"
wait_for "every lease cgroup to be removed" '[ -z "$(find "$BASE" -mindepth 1 -type d)" ]'
ok "kill -9 of hosttune run released the lease; CMD (PDEATHSIG) and the cgroup went"

# --- a build user: within the cap granted, over it refused naming the key
touch "$out/hold"
"${AS_BUILD[@]}" env HOSTTUNE_LEASE_SOCKET="$SOCK" "$HOSTTUNE" run --hugepages 64M -- \
	"$HELPERS/hugepage-touch" --ready "$out/b.ready" --hold "$out/hold" >"$out/b.log" 2>&1 &
holder=$!
wait_for "the build user's holder to touch its pages" 'test -e "$out/b.ready"'
read -r client uid enforced bytes <<<"$(lease_client)"
assert_eq "ListLeases: the build user's uid, enforced" "$(id -u $BU) True" "$uid $enforced"
rc=0
"${AS_BUILD[@]}" env HOSTTUNE_LEASE_SOCKET="$SOCK" "$HOSTTUNE" run --hugepages 64M -- true \
	>"$out/cap.log" 2>&1 || rc=$?
assert_eq "a build over the cap: exit status" 125 $rc
grep -qx "hosttune run: refused (LimitExceeded): builds hold 64M of hugepages together and ask for 64M more: \[agent\] build-hugepages-max = 96M" \
	"$out/cap.log" || fail "over the cap: $(cat "$out/cap.log")"
ok "over the cap: $(cat "$out/cap.log")"
# Root is not a build: it may lease past the builds' cap.
sock_run --hugepages 64M -- true || fail "root next to a build"
rm "$out/hold"
wait $holder || fail "build holder: $(cat "$out/b.log")"
wait_for "no lease left" '[ "$(lease_count)" = 0 ]'

# --- `hosttune lease acquire --json` over the socket: holds until SIGTERM
HOSTTUNE_LEASE_SOCKET=$SOCK "$HOSTTUNE" lease acquire --hugepages 4M --label sock-acq --json \
	>"$out/acq.json" &
acq=$!
wait_for "the grant on stdout" 'test -s "$out/acq.json"'
assert_eq "the grant (JSON): hugepages, pages, enforced" "4194304 2 False" \
	"$(jq_py 'd["hugepages"], d["hugepage-pages"], d["enforced"]' <"$out/acq.json" | tr -d '(),')"
assert_eq "ListLeases: its label" "$(jq_py 'd["id"]' <"$out/acq.json") sock-acq" "$(list_ids)"
kill -TERM $acq
wait $acq || fail "lease acquire after SIGTERM"
wait_for "the lease to end with lease acquire" '[ "$(lease_count)" = 0 ]'

# --- outside the groups: refused
rc=0
"${AS_NOBODY[@]}" env HOSTTUNE_LEASE_SOCKET="$SOCK" "$HOSTTUNE" run --hugepages 2M -- true \
	>"$out/nobody.log" 2>&1 || rc=$?
assert_eq "nobody: exit status" 125 $rc
grep -q "refused (AccessDenied): lease.sock needs root, group '$LEASE_GROUP' (\[agent\] lease-group) or group '$BG' (\[agent\] build-users-group) (peer uid $(id -u nobody))" \
	"$out/nobody.log" || fail "nobody: $(cat "$out/nobody.log")"
ok "nobody refused: $(cat "$out/nobody.log")"
# A member of the lease group by supplementary group is not a build: no cap.
as_member env HOSTTUNE_LEASE_SOCKET="$SOCK" "$HOSTTUNE" run --hugepages 128M -- true ||
	fail "lease group member"
ok "a lease group member leases 128M (past the builds' cap)"

# --- what the socket does not offer, and bad requests, each refused with its reason
expect_reply() {
	local got
	got=$(sockreq "$1")
	case $got in "$2"*) ok "reply to '${1:0:40}': ${got:0:110}" ;; *) fail "reply to '$1': $got" ;; esac
}
expect_reply 'acquire taps=1\n' "refused InvalidArgs 'taps' is not offered over lease.sock"
expect_reply 'acquire snapshot=base\n' "refused InvalidArgs 'snapshot' is not offered"
expect_reply 'hello\n' "refused InvalidArgs a request starts with 'acquire'"
expect_reply 'acquire hugepages=1G hugepages=1G\n' "refused InvalidArgs 'hugepages' given twice"
expect_reply 'acquire wait=5\n' "refused InvalidArgs AcquireLease: the request asks for nothing"
expect_reply 'acquire hugepages=64M hugepage-size=3M\n' "refused InvalidArgs AcquireLease: 'hugepage-size'"
expect_reply 'acquire hugepages=1G\n' "refused ExceedsPool"
expect_reply 'acquire hugepages=2M\x00x\n' "refused InvalidArgs a request is printable ASCII"
expect_reply 'acquire hugepages=2M\nacquire hugepages=2M\n' "refused InvalidArgs one request line per connection"
expect_reply "acquire label=$(head -c 600 /dev/zero | tr '\0' a)" "refused InvalidArgs the request line is longer than 512 bytes"
start=$(date +%s)
expect_reply 'acquire hugepages=2M' "refused Timeout no complete request line within 5 s"
[ $(($(date +%s) - start)) -le 8 ] || fail "the silent client was held $(($(date +%s) - start)) s"
assert_eq "leases after the bad requests" 0 "$(lease_count)"

# --- 2000 connections at once, held open and silent, then all closed: the agent refuses past
# its cap at once and its fds and memory come back (readings from /proc, not from hosttuned)
fds() { find "/proc/$AGENT_PID/fd" -mindepth 1 | wc -l; }
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$AGENT_PID/status"; }
fd0=$(fds)
rss0=$(rss)
python3 - "$SOCK" "$out/flood" "$AGENT_PID" <<'EOF'
import os, resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
path, report, pid = sys.argv[1], sys.argv[2], sys.argv[3]
conns, busy = [], 0
for i in range(2000):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    conns.append(s)
time.sleep(1)
peak = len(os.listdir(f"/proc/{pid}/fd"))
for s in conns:
    s.setblocking(False)
    try:
        if s.recv(100).startswith(b"refused Busy"):
            busy += 1
    except BlockingIOError:
        pass
with open(report, "w") as f:
    f.write(f"{busy} {peak}\n")
for s in conns:
    s.close()
EOF
read -r busy peak <"$out/flood"
[ "$busy" -ge 1700 ] || fail "connections refused as Busy: $busy of 2000"
[ "$peak" -le $((fd0 + 256 + 8)) ] || fail "agent fds during the flood: $peak (before $fd0)"
ok "2000 connections: $busy refused Busy at once; the agent had $peak fds at most (before: $fd0)"
wait_for "the agent's fds to come back" '[ "$(fds)" -le "$fd0" ]'
rss1=$(rss)
[ $((rss1 - rss0)) -le 4096 ] || fail "VmRSS grew from $rss0 kB to $rss1 kB"
ok "after the flood: $(fds) fds, VmRSS $rss0 -> $rss1 kB"
# Still serving.
sock_run --hugepages 2M -- true || fail "a request after the flood"
ok "the agent still grants after the flood"

finish_agent
[ ! -e "$SOCK" ] || fail "the socket is left after the agent stopped"
ok "the socket is removed at stop"
