# SPDX-License-Identifier: MIT
# A throwaway virtual machine with a small memory of its own (QEMU), for what the host itself cannot
# show without harm or cannot show at all: a hugepage pool larger than the memory (on the host that
# would take all of its free memory), a kernel whose KVM really runs guests (TCG with `-cpu max`
# emulates SVM and nested paging, and the cloud kernel carries kvm-amd.ko), a guest whose memory,
# disk and NIC come from leases. Sourced after lib.sh.
#
#   vm_kernel              VM_KERNEL: Debian's cloud kernel image (the package this machine's apt
#                          names for linux-image-cloud-amd64), fetched with `apt-get download`
#                          and cached in /var/cache/hosttune-test/kernel-VERSION; VM_MODULE_DIR: the
#                          modules of VM_MODULE_NAMES from the same package, uncompressed (busybox
#                          insmod reads plain .ko files). The .deb is not installed, nothing on
#                          the host changes.
#   vm_run MEM SCRIPT BIN...
#                          vm_initrd SCRIPT BIN..., then vm_boot MEM; fails unless QEMU ran to the
#                          guest's power-off and SCRIPT ran to its end.
#   vm_initrd SCRIPT BIN...
#                          $T_TMP/vm-initrd.gz: busybox, BIN... (with the shared libraries they
#                          load, so sanitizer builds work too), the modules named in VM_MODULES
#                          (words of VM_MODULE_NAMES) as /lib/modules/NAME.ko, and SCRIPT, which
#                          init runs with /proc, /sys, /dev and a /run tmpfs mounted and the serial
#                          console as its terminal. Init prints "vm-begin" (and the guest's uptime
#                          as "vm-uptime S") before SCRIPT, "vm-exit N" (SCRIPT's status) after it.
#   vm_argv MEM            VM_ARGV: the QEMU command line that boots VM_KERNEL with that initramfs
#                          and MEM megabytes, its console to $T_TMP/vm.console, for a caller that
#                          starts QEMU itself (under `hosttune run`, in a namespace). VM_ACCEL
#                          (default tcg), VM_MACHINE (more -machine options), VM_NODES=N (memory
#                          split evenly over N NUMA nodes, the first having the CPU), VM_APPEND
#                          (more kernel parameters), VM_QEMU_ARGS (an array of more arguments).
#   vm_boot MEM            runs VM_ARGV under a time bound (VM_TIMEOUT, default 600 s), after the
#                          words of the array VM_PREFIX (setpriv ..., say), then vm_console;
#                          returns QEMU's exit status (124: the bound).
#   vm_console             $T_TMP/vm.out: what init and SCRIPT printed (a carriage return starts a
#                          line), from $T_TMP/vm.console; empty when init was never reached.
#   vm_accel               VM_BEST_ACCEL: kvm where a guest booted with -accel kvm reaches init
#                          (bounded: 60 s), else tcg. Overwrites the initramfs and vm.out.
#   vm_line KEY            what follows "KEY " on a line of $T_TMP/vm.out (SCRIPT's way to report).

VM_MODULE_NAMES="irqbypass kvm kvm-amd virtio_ring virtio virtio_pci_legacy_dev
virtio_pci_modern_dev virtio_pci virtio_blk failover net_failover virtio_net"

vm_kernel() {
	need_cmd apt-cache apt-get dpkg-deb flock qemu-system-x86_64 busybox
	[ "$(uname -m)" = x86_64 ] || skip "the VM tests boot Debian's amd64 kernel"
	local cache=/var/cache/hosttune-test pkg
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
	[ -n "$pkg" ] || skip "apt knows no linux-image-cloud-amd64 (run apt-get update)"
	VM_KERNEL=$cache/kernel-${pkg#linux-image-}/vmlinuz
	VM_MODULE_DIR=$cache/kernel-${pkg#linux-image-}/modules
	mkdir -p "$cache"
	(
		flock 8
		[ -e "$VM_KERNEL" ] && [ -e "$VM_MODULE_DIR/.complete" ] && exit 0
		local dir
		dir=$(mktemp -d "$cache/kernel.XXXXXX")
		# Root downloads as root (apt's _apt user could not write there).
		(cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >download.log 2>&1) || {
			cat "$dir/download.log"
			rm -rf "$dir"
			exit 1
		}
		local -a pats=('./boot/vmlinuz-*')
		local m f
		for m in $VM_MODULE_NAMES; do pats+=("./lib/modules/*/$m.ko*"); done
		dpkg-deb --fsys-tarfile "$dir"/"$pkg"_*.deb | tar -x -C "$dir" --wildcards "${pats[@]}" &&
			mkdir -p "$(dirname "$VM_KERNEL")" "$VM_MODULE_DIR" &&
			mv -f "$dir"/boot/vmlinuz-* "$VM_KERNEL"
		rc=$?
		for m in $VM_MODULE_NAMES; do
			[ $rc = 0 ] || break
			f=$(find "$dir/lib/modules" -name "$m.ko*" | head -n1)
			case "$f" in
			*.ko) cp "$f" "$VM_MODULE_DIR/$m.ko" ;;
			*.ko.xz) xz -dc "$f" >"$VM_MODULE_DIR/$m.ko" ;;
			*.ko.zst) zstd -qdc "$f" >"$VM_MODULE_DIR/$m.ko" ;;
			*) echo "no module $m in $pkg" ;;
			esac || rc=1
		done
		[ $rc != 0 ] || touch "$VM_MODULE_DIR/.complete"
		rm -rf "$dir"
		exit $rc
	) 8>"$cache/.lock" || fail "cannot fetch $pkg with apt-get download"
	ok "VM kernel: $VM_KERNEL ($pkg)"
}

# vm_add_bin ROOT BIN: BIN as ROOT/bin/NAME, and the shared libraries ldd finds at their own paths.
vm_add_bin() {
	local root=$1 bin=$2 lib
	cp "$bin" "$root/bin/"
	for lib in $(ldd "$bin" 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

vm_initrd() {
	local script=$1 root=$T_TMP/vm-root bin m
	shift
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,etc,lib/modules}
	vm_add_bin "$root" "$(command -v busybox)"
	for bin in "$@"; do vm_add_bin "$root" "$bin"; done
	for m in ${VM_MODULES:-}; do
		[ -e "$VM_MODULE_DIR/$m.ko" ] || fail "no module $m.ko in $VM_MODULE_DIR"
		cp "$VM_MODULE_DIR/$m.ko" "$root/lib/modules/"
	done
	cp "$script" "$root/case.sh"
	cat >"$root/init" <<-'EOF'
		#!/bin/busybox sh
		/bin/busybox --install -s /bin
		export PATH=/bin
		mount -t proc proc /proc
		mount -t sysfs sysfs /sys
		mount -t devtmpfs devtmpfs /dev
		mount -t tmpfs -o mode=0755 tmpfs /run
		echo vm-begin
		echo "vm-uptime $(cut -d' ' -f1 /proc/uptime)"
		sh /case.sh
		echo "vm-exit $?"
		poweroff -f
	EOF
	chmod +x "$root/init"
	(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$T_TMP/vm-initrd.gz"
}

vm_argv() {
	local mem=$1 n
	local -a numa=()
	for ((n = 0; n < ${VM_NODES:-1} && ${VM_NODES:-1} > 1; n++)); do
		numa+=(-object "memory-backend-ram,id=m$n,size=$((mem / VM_NODES))M"
			-numa "node,nodeid=$n,memdev=m$n")
	done
	# -no-reboot and panic=-1: a kernel panic ends QEMU instead of hanging the test.
	# init_on_alloc=0: Debian's kernels zero every page they hand out; emulated, zeroing a 1G
	# hugepage takes seconds and makes QEMU back all of it with host memory.
	VM_ARGV=(qemu-system-x86_64 -machine "q35,accel=${VM_ACCEL:-tcg}${VM_MACHINE:+,$VM_MACHINE}"
		-cpu max -smp 1 -m "$mem" "${numa[@]}"
		-nodefaults -nographic -no-reboot -monitor none -serial "file:$T_TMP/vm.console"
		-kernel "$VM_KERNEL" -initrd "$T_TMP/vm-initrd.gz"
		-append "console=ttyS0 quiet loglevel=1 panic=-1 init_on_alloc=0 ${VM_APPEND:-}"
		"${VM_QEMU_ARGS[@]}")
}

vm_boot() {
	local rc=0
	vm_argv "$1"
	: >"$T_TMP/vm.console"
	# No core file (nor the shell's "Aborted") from a QEMU that aborts, as it does where KVM
	# refuses the MSRs it sets.
	{ (
		ulimit -c 0
		exec timeout "${VM_TIMEOUT:-600}" "${VM_PREFIX[@]}" "${VM_ARGV[@]}" </dev/null >"$T_TMP/vm.qemu" 2>&1
	); } 2>/dev/null || rc=$?
	vm_console
	return $rc
}

vm_console() {
	# A terminal's carriage returns (progress lines) become line ends; escape codes (the
	# firmware's screen resets, the erase-line of progress lines) go. The firmware's last line
	# has no line end, so "vm-begin" may follow it on the same line.
	tr '\r' '\n' <"$T_TMP/vm.console" | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; /^$/d' |
		sed -n '/vm-begin$/,/^vm-exit/p' >"$T_TMP/vm.out"
}

vm_run() {
	local mem=$1
	shift
	vm_initrd "$@"
	vm_boot "$mem" ||
		fail "qemu failed: $(cat "$T_TMP/vm.qemu") $(tail -n 20 "$T_TMP/vm.console" 2>/dev/null)"
	grep -q '^vm-exit ' "$T_TMP/vm.out" ||
		fail "the VM did not run its script to the end: $(tail -n 30 "$T_TMP/vm.console")"
}

vm_accel() {
	VM_BEST_ACCEL=tcg
	[ -e /dev/kvm ] || return 0
	printf 'true\n' >"$T_TMP/vm-accel.sh"
	vm_initrd "$T_TMP/vm-accel.sh"
	if VM_ACCEL=kvm VM_TIMEOUT=60 vm_boot 128 && grep -q 'vm-begin$' "$T_TMP/vm.out"; then
		VM_BEST_ACCEL=kvm
	fi
}

vm_line() { sed -n "s/^$1 //p" "$T_TMP/vm.out"; }
