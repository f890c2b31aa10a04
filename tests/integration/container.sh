# SPDX-License-Identifier: MIT
# A booted Debian container with systemd as PID 1 (systemd-nspawn), for running hosttune's units
# under a real systemd on a machine whose own PID 1 need not be systemd. Sourced after lib.sh.
#
#   ct_image BIN...   CT_BASE: a cached Debian root (debootstrap of this machine's suite from its
#                     apt mirror) with systemd, dbus, iproute2 and the packages that hold BIN's
#                     runtime libraries. Cached in /var/cache/hosttune-test under a name made of
#                     the package list, shared by every test that needs the same list.
#                     CT_SYSTEMD=backports: the same root, then systemd, systemd-sysv,
#                     libsystemd0 from $suite-backports (Debian 12: 252 -> 254, for
#                     Type=notify-reload); cached under its own name. CT_SYSTEMD_VERSION: the
#                     image's systemd (major number).
#   ct_prepare        CT_ROOT: an overlay over CT_BASE, writable before the boot (install files
#                     there); the cached tree stays pristine; unmounted when the test ends.
#   ct_boot           boots CT_ROOT (private network, so taps and bridges made in it never reach
#                     the host); CT_LEADER is its PID 1 as the host sees it, CT its root as its
#                     own mounts show it (/run is the container's tmpfs); powered off at the end.
#   in_ct CMD...      runs CMD in the container's namespaces with a clean environment.

ct_image() {
	need_root
	need_cmd debootstrap ldd dpkg-query flock md5sum chroot
	local suite mirror libs l p pkgs flavour cache=/var/cache/hosttune-test
	suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[ -n "$suite" ] || skip "no VERSION_CODENAME in /etc/os-release: not a Debian-like machine"
	# The Debian mirror this machine's apt uses (not the security archive).
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ && !/security/ {print $2; exit}')
	[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && !/security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
	[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
	# The runtime libraries of the binaries, as this machine's packages name them.
	libs=$(ldd "$@" | awk '/=> \// {print $3}' | sort -u)
	pkgs=systemd,systemd-sysv,dbus,iproute2,util-linux
	for l in $libs; do
		p=$(dpkg-query -S "$(readlink -f "$l")" 2>/dev/null | head -n1 | cut -d: -f1) || true
		[ -z "$p" ] || [[ ",$pkgs," == *",$p,"* ]] || pkgs=$pkgs,$p
	done
	local -a upgrade=()
	case "${CT_SYSTEMD:-}" in
	"") flavour=$suite ;;
	# The backports' systemd brings its libsystemd-shared and libsystemd0 (the binaries keep
	# working: libsystemd0 only gains symbols); dbus and everything else stay $suite's.
	backports)
		flavour=$suite-backports
		upgrade=(systemd systemd-sysv libsystemd0 libsystemd-shared)
		;;
	*) fail "CT_SYSTEMD=$CT_SYSTEMD: only 'backports' or unset" ;;
	esac
	CT_BASE=$cache/$flavour-$(echo "$pkgs${upgrade[*]:+ ${upgrade[*]}}" | md5sum | cut -c1-12)
	mkdir -p "$cache"
	(
		flock 8
		[ -e "$CT_BASE/.complete" ] && exit 0
		echo "building the container image (cached in $CT_BASE): debootstrap $suite with" \
			"$pkgs${upgrade[*]:+, then ${upgrade[*]} from $suite-backports}"
		rm -rf "$CT_BASE.tmp"
		ct_build_root "$CT_BASE.tmp" "$suite" "$mirror" "$pkgs" "${upgrade[@]}" \
			>"$cache/debootstrap.log" 2>&1 || {
			tail -n 20 "$cache/debootstrap.log"
			rm -rf "$CT_BASE.tmp"
			exit 1
		}
		# An empty machine id: the container gets its own at every boot.
		: >"$CT_BASE.tmp/etc/machine-id"
		rm -rf "$CT_BASE" && mv "$CT_BASE.tmp" "$CT_BASE" && touch "$CT_BASE/.complete"
	) 8>"$cache/.lock" || fail "building $flavour from $mirror failed"
	CT_SYSTEMD_VERSION=$(chroot "$CT_BASE" systemctl --version | awk 'NR == 1 {print $2}')
	ok "container image: $CT_BASE (systemd $CT_SYSTEMD_VERSION)"
}

# ct_build_root DIR SUITE MIRROR PKGS [BACKPORTED...]: debootstrap, then BACKPORTED from
# SUITE-backports (in a chroot without /proc: the maintainer scripts see no running systemd).
ct_build_root() {
	local dir=$1 suite=$2 mirror=$3 pkgs=$4
	shift 4
	debootstrap --variant=minbase --include="$pkgs" "$suite" "$dir" "$mirror" || return
	[ $# -gt 0 ] || return 0
	echo "deb $mirror $suite-backports main" >"$dir/etc/apt/sources.list.d/backports.list"
	chroot "$dir" apt-get update &&
		chroot "$dir" env DEBIAN_FRONTEND=noninteractive apt-get install -y \
			--no-install-recommends -t "$suite-backports" "$@" &&
		chroot "$dir" apt-get clean
}

ct_prepare() {
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || skip "no overlayfs"
	CT_ROOT=$T_TMP/ct-root
	mkdir -p "$CT_ROOT" "$T_TMP/ct-upper" "$T_TMP/ct-work"
	mount -t overlay overlay -o "lowerdir=$CT_BASE,upperdir=$T_TMP/ct-upper,workdir=$T_TMP/ct-work" \
		"$CT_ROOT"
	defer "umount -l '$CT_ROOT'"
}

ct_boot() {
	need_cmd systemd-nspawn nsenter
	local i state
	CT_LEADER=""
	systemd-nspawn --quiet --boot -D "$CT_ROOT" --machine="htt$$" --register=no --keep-unit \
		--private-network --console=pipe </dev/null >"$T_TMP/console.log" 2>&1 &
	CT_NSPAWN=$!
	defer "ct_stop"
	for ((i = 0; i < 300; i++)); do
		CT_LEADER=$(cat /proc/$CT_NSPAWN/task/*/children 2>/dev/null | awk '{print $1; exit}')
		[ -n "$CT_LEADER" ] && [ "$(cat /proc/"$CT_LEADER"/comm 2>/dev/null)" = systemd ] && break
		CT_LEADER=""
		kill -0 $CT_NSPAWN 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$CT_LEADER" ] || fail "the container did not start systemd: $(tail -n 20 "$T_TMP/console.log")"
	# systemd answers once its private socket exists ("offline" until then: systemctl could not
	# reach it, seen on a loaded machine); then wait for the boot to finish.
	for ((i = 0; i < 600; i++)); do
		state=$(in_ct systemctl is-system-running 2>/dev/null || true)
		case "$state" in starting | initializing | offline | "") sleep 0.2 ;; *) break ;; esac
	done
	case "$state" in
	running | degraded) ok "container booted ($state)" ;;
	*) fail "container state: $state; $(tail -n 20 "$T_TMP/console.log")" ;;
	esac
	CT=/proc/$CT_LEADER/root
}

ct_stop() {
	local i
	[ -n "${CT_LEADER:-}" ] && in_ct systemctl poweroff >/dev/null 2>&1
	for ((i = 0; i < 150; i++)); do
		kill -0 "$CT_NSPAWN" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$CT_NSPAWN" 2>/dev/null || true
	wait "$CT_NSPAWN" 2>/dev/null || true
}

in_ct() { nsenter -t "$CT_LEADER" -m -u -i -n -p -C -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
