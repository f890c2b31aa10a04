# SPDX-License-Identifier: MIT
# Helpers for the agent's integration tests (sourced after lib.sh): a private dbus-daemon with
# the real bus policy file, an sd_notify listener, and hosttuned on that bus.

need_cmd dbus-daemon busctl python3 setpriv

: "${HOSTTUNED:?run through tests/run-tests.sh or make check}"
[ -x "$HOSTTUNED" ] || skip "hosttuned was not built"

# Let unprivileged test clients (setpriv to nobody) reach the bus socket under T_TMP.
chmod 0711 "$T_TMP"
# On failure, show what the agent logged (registered first, so it runs after the others).
defer 'if [ $T_FAILED -ne 0 ] && [ -f "$T_TMP/agent.log" ]; then echo "--- hosttuned log (tail):"; tail -n 60 "$T_TMP/agent.log"; fi'
AGENT_RUN=$T_TMP/run
mkdir -p "$AGENT_RUN"
export HOSTTUNE_RUNTIME_DIR=$AGENT_RUN

# start_bus system|open [NAME]: a private dbus-daemon. "system" has the system bus's default
# policy (deny method calls, deny owning names) plus agent/org.hosttune.Agent1.conf, as on a real
# host; "open" lets everyone call everything, so the agent's own access check is what answers.
# NAME (default: the kind) tells apart two buses of one test.
start_bus() {
	local kind=$1 dir=$T_TMP/bus-${2:-$1} policy
	mkdir -p "$dir"
	chmod 0755 "$dir"
	if [ "$kind" = system ]; then
		policy='
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
  <include>'"$HOSTTUNE_SRC"'/agent/org.hosttune.Agent1.conf</include>'
	else
		policy='
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>'
	fi
	cat >"$dir/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$dir/socket</listen>
  <auth>EXTERNAL</auth>
$policy
</busconfig>
EOF
	dbus-daemon --config-file="$dir/bus.conf" --nofork --nopidfile --print-address=3 \
		3>"$dir/address" 2>"$dir/daemon.log" &
	local pid=$!
	defer "kill $pid 2>/dev/null; wait $pid 2>/dev/null || true"
	wait_for "dbus-daemon to listen" 'test -s "$dir/address"'
	BUS_ADDR=$(head -n1 "$dir/address")
	export BUS_ADDR
}

# wait_for WHAT 'SHELL CODE': evaluate the code until it succeeds, at most about 30 s (not a
# timing assertion: a bound on how long a broken run may hang). The code is evaluated anew on
# each try, so quote it.
wait_for() {
	local what=$1 code=$2 i
	for ((i = 0; i < 600; i++)); do
		if eval "$code" >/dev/null 2>&1; then return 0; fi
		sleep 0.05
	done
	fail "timed out waiting for $what"
}

bctl() { busctl --address="$BUS_ADDR" "$@"; }
# start_monitor MATCH FILE: busctl monitor of the messages MATCH selects, one JSON line each in
# FILE (its errors in FILE.err), until the test ends.
start_monitor() {
	bctl monitor --json=short --match "$1" >"$2" 2>"$2.err" &
	local pid=$!
	defer "kill $pid 2>/dev/null; wait $pid 2>/dev/null || true"
}
# As the unprivileged user nobody, without supplementary groups.
bctl_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups busctl --address="$BUS_ADDR" "$@"; }
agent_call() { bctl call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 "$@"; }
# The JSON document a method returns as its last (string) argument.
agent_doc() {
	bctl --json=short call org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 "$@" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][-1])'
}
agent_prop() { bctl get-property org.hosttune.Agent1 /org/hosttune/Agent1 org.hosttune.Agent1 "$1"; }

# expect_error ERRORNAME CMD...: CMD fails, and its output names the D-Bus error.
expect_error() {
	local name=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	[ $rc -ne 0 ] || fail "expected $name from: $*; got success: $out"
	grep -q "$name" <<<"$out" || fail "expected $name from: $*; got: $out"
	ok "$name: $(echo "$out" | head -n1 | cut -c1-140)"
}

# start_notify_listener: a datagram socket standing in for systemd's NOTIFY_SOCKET; every
# message becomes one line of $NOTIFY_LOG, fields separated by tabs.
start_notify_listener() {
	NOTIFY_LOG=$T_TMP/notify.log
	local sock=$T_TMP/notify.sock
	: >"$NOTIFY_LOG"
	python3 - "$sock" "$NOTIFY_LOG" <<'EOF' &
import os, socket, sys
sock, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sock)
os.chmod(sock, 0o777)
with open(log, "a", buffering=1) as f:
    while True:
        data = s.recv(65536).decode(errors="replace")
        f.write("\t".join(l for l in data.split("\n") if l) + "\n")
EOF
	local pid=$!
	defer "kill $pid 2>/dev/null; wait $pid 2>/dev/null || true"
	wait_for "the notify listener" 'test -S "$sock"'
	# Only hosttuned gets it: systemd's tools (busctl) report ERRNO= there when they fail.
	AGENT_NOTIFY_SOCKET=$sock
}

# notify_count FIELD: how many messages carried FIELD (e.g. READY=1).
notify_count() { grep -c -P "(^|\t)\Q$1\E(\t|$)" "$NOTIFY_LOG" || true; }

# start_agent ARGS...: hosttuned on $BUS_ADDR with the runtime dir under T_TMP; returns once
# it sent READY=1 (needs start_notify_listener first). $AGENT_PREFIX (words) goes before it:
# "ip netns exec NS" runs the agent in a network namespace (it execs, so the pid stays).
start_agent() {
	local before
	before=$(notify_count READY=1)
	# shellcheck disable=SC2086 # AGENT_PREFIX is words on purpose
	NOTIFY_SOCKET=$AGENT_NOTIFY_SOCKET ${AGENT_PREFIX:-} "$HOSTTUNED" --bus "$BUS_ADDR" \
		--runtime-dir "$AGENT_RUN" "$@" >>"$T_TMP/agent.log" 2>&1 &
	AGENT_PID=$!
	defer "stop_agent"
	wait_for "READY=1 from hosttuned" 'agent_ready_after "$before"'
}
agent_ready_after() {
	kill -0 "$AGENT_PID" || fail "hosttuned exited: $(tail -n 20 "$T_TMP/agent.log")"
	[ "$(notify_count READY=1)" -gt "$1" ]
}

stop_agent() {
	[ -n "${AGENT_PID:-}" ] || return 0
	kill -TERM "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=
}

# finish_agent: stop the agent and fail when a sanitizer reported anything in its log (make
# sanitize: a leak or an error report at exit does not otherwise reach the test's verdict).
finish_agent() {
	stop_agent
	if grep -q "Sanitizer" "$T_TMP/agent.log"; then
		grep -A 30 "Sanitizer" "$T_TMP/agent.log" | head -n 60 >&2
		fail "a sanitizer reported on hosttuned"
	fi
	ok "hosttuned stopped cleanly"
}
