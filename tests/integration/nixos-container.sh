# A booted Debian container with systemd as PID 1 (systemd-nspawn), for running the NixOS
# module's units under a real systemd on a machine whose own PID 1 is not systemd. Sourced after
# lib.sh. The container is ephemeral (a copy of a cached root, removed when it stops) and has a
# private network namespace, so taps and bridges made in it never reach the host.

# Sets CT_ROOT to the cached Debian root, making it first if needed (debootstrap: minutes).
ct_root() {
	need_root
	local cache=/var/cache/hosttune-test
	# The runtime libraries of hosttuned and hosttune-bus are in it; a new list needs a new name.
	CT_ROOT=$cache/nixos-hardening-root-2
	mkdir -p "$cache"
	exec 8>"$cache/nixos-hardening.lock"
	flock 8
	if [ ! -x "$CT_ROOT/usr/lib/systemd/systemd" ]; then
		need_cmd debootstrap
		rm -rf "$CT_ROOT.tmp"
		debootstrap --variant=minbase \
			--include=systemd,systemd-sysv,dbus,iproute2,util-linux,libjson-c5,libinih1,libbtrfsutil1,libnl-3-200,libnl-route-3-200 \
			bookworm "$CT_ROOT.tmp" http://deb.debian.org/debian >"$T_TMP/debootstrap.log" 2>&1 ||
			{
				tail -n 5 "$T_TMP/debootstrap.log"
				rm -rf "$CT_ROOT.tmp"
				skip "cannot debootstrap a Debian root (no mirror reachable?)"
			}
		mv "$CT_ROOT.tmp" "$CT_ROOT"
	fi
	flock -u 8
}

# Boots an ephemeral container of CT_ROOT and waits until its systemd is up. Sets CT_LEADER (its
# PID 1 as the host sees it) and CT (its root directory, writable from the host); stopping it is
# deferred.
ct_boot() {
	need_cmd systemd-nspawn nsenter
	local machine=htn$$ nspawn state
	systemd-nspawn -q -D "$CT_ROOT" --ephemeral --boot --private-network --register=no \
		--keep-unit --machine="$machine" >"$T_TMP/nspawn.log" 2>&1 &
	nspawn=$!
	defer "kill $nspawn 2>/dev/null; wait $nspawn 2>/dev/null"
	CT_LEADER=""
	for _ in $(seq 100); do
		CT_LEADER=$(pgrep -P $nspawn | head -n1) && [ -n "$CT_LEADER" ] &&
			[ "$(cat /proc/"$CT_LEADER"/comm 2>/dev/null)" = systemd ] && break
		CT_LEADER=""
		sleep 0.2
	done
	[ -n "$CT_LEADER" ] || fail "the container did not start: $(tail -n 5 "$T_TMP/nspawn.log")"
	for _ in $(seq 150); do
		[ -S "/proc/$CT_LEADER/root/run/systemd/private" ] && break
		sleep 0.2
	done
	state=$(in_ct timeout 60 systemctl is-system-running --wait 2>&1) || true
	case $state in
	running | degraded) ok "container $machine booted ($state)" ;;
	*) fail "container state: $state" ;;
	esac
	CT=/proc/$CT_LEADER/root
}

# Runs a command inside the container (its mount, UTS, IPC, network and PID namespaces).
in_ct() { nsenter -t "$CT_LEADER" -m -u -i -n -p -- "$@"; }
