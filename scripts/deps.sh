#!/bin/sh
# SPDX-License-Identifier: MIT
# Install what a make target needs on Debian: the -dev packages and tools that are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# Usage: scripts/deps.sh build|check|fuzz|bench|lint
set -eu

want_pkgs=""
need() { # need PACKAGE TEST-COMMAND...
	pkg=$1
	shift
	if ! "$@" >/dev/null 2>&1; then
		want_pkgs="$want_pkgs $pkg"
	fi
}
pc() { pkg-config --exists "$1"; }
have() { command -v "$1"; }

build() {
	need pkg-config have pkg-config
	need make have make
	need gcc have cc
	need libc6-dev test -e /usr/include/stdio.h
	# pkg-config may be missing itself on the first run; the module checks then fail too,
	# which correctly asks for every -dev package.
	need libsystemd-dev pc libsystemd
	need libbtrfsutil-dev pc libbtrfsutil
	need libnl-3-dev pc libnl-3.0
	need libnl-route-3-dev pc libnl-route-3.0
	need libinih-dev pc inih
	need libjson-c-dev pc json-c
}

check() {
	build
	need libcmocka-dev pc cmocka
	need btrfs-progs have mkfs.btrfs
	need util-linux have zramctl
	need iproute2 have ip
	need systemd have busctl
	need dbus-daemon have dbus-daemon
	need libglib2.0-bin have gdbus
	need nix-bin have nix-instantiate
	need python3 have python3
	need python3-jsonschema /usr/bin/python3 -c 'import jsonschema'
	# test-lease-metrics reads the metrics file with the Prometheus client's own parser.
	need python3-prometheus-client /usr/bin/python3 -c 'import prometheus_client'
	need kmod have modprobe
	need e2fsprogs have lsattr
	need procps have sysctl
	need debootstrap have debootstrap
	need systemd-container have systemd-nspawn
	need strace have strace
	need mount have losetup
	need binutils have readelf
	# test-apply-hugepages-short boots a small VM (software emulation) with busybox as init.
	need qemu-system-x86 have qemu-system-x86_64
	need busybox-static have busybox
}

fuzz() {
	build
	need clang have clang
	# libFuzzer's runtime comes with the compiler's own version (clang 14 on Debian 12).
	if have clang >/dev/null 2>&1; then
		v=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n1)
	else
		v=$(apt-cache depends clang 2>/dev/null | sed -n 's/.*Depends: clang-\([0-9]*\)$/\1/p' | head -n1)
	fi
	need "libclang-rt-${v:-14}-dev" sh -c 'test -n "$(find /usr/lib/llvm-*/lib/clang -name "libclang_rt.fuzzer-*.a" 2>/dev/null | head -n1)"'
}

bench() {
	build
	need hyperfine have hyperfine
	need libvirt-clients have virt-host-validate
	need libhugetlbfs-bin have hugeadm
	need tuned have tuned
	need dbus-daemon have dbus-daemon
	need btrfs-progs have mkfs.btrfs
	need python3 have python3
	# bench/vm-boot.sh plots with Debian's python3 and boots its guest with QEMU and busybox.
	need python3-matplotlib /usr/bin/python3 -c 'import matplotlib'
	need qemu-system-x86 have qemu-system-x86_64
	need busybox-static have busybox
	need linux-perf have perf
	need strace have strace
}

lint() {
	need cppcheck have cppcheck
	need clang-tidy have clang-tidy
	need clang-format have clang-format
}

case "${1:-build}" in
build) build ;;
check) check ;;
fuzz) fuzz ;;
bench) bench ;;
lint) lint ;;
*)
	echo "usage: $0 build|check|fuzz|bench|lint" >&2
	exit 2
	;;
esac

[ -z "$want_pkgs" ] && exit 0
# De-duplicate, keep order.
pkgs=$(echo "$want_pkgs" | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ')
cmd="apt-get install -y --no-install-recommends $pkgs"
if [ "$(id -u)" != 0 ]; then
	echo "hosttune: missing build dependencies; run as root:" >&2
	echo "  apt-get update && $cmd" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "hosttune: missing packages ($pkgs) and no apt-get; install them by hand" >&2
	exit 1
fi
echo "hosttune: installing$pkgs" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >&2
