# A throwaway virtual machine with a small memory of its own (QEMU, software emulation: this host
# has no /dev/kvm), for what the host itself cannot show without harm: a hugepage pool larger than
# the memory, which on the host would mean taking all of its free memory. Sourced after lib.sh.
#
#   vm_kernel              VM_KERNEL: Debian's cloud kernel image (the package this machine's apt
#                          names for linux-image-cloud-amd64), fetched with `apt-get download`
#                          and cached in /var/cache/hosttune-test/kernel-VERSION; the .deb is not
#                          installed, nothing on the host changes.
#   vm_run MEM SCRIPT BIN...
#                          boots VM_KERNEL with MEM megabytes (VM_NODES=N: split evenly over N
#                          NUMA nodes, the first having the CPU; VM_APPEND: more kernel
#                          parameters) and an initramfs of busybox, BIN...
#                          (with the shared libraries they load, so sanitizer builds work too) and
#                          SCRIPT, which init runs with /proc, /sys, /dev and a /run tmpfs mounted
#                          and the serial console as its terminal; writes what SCRIPT printed to
#                          $T_TMP/vm.out (a carriage return starts a line) and returns when the
#                          machine powered off. SCRIPT's exit status is the line "vm-exit N".
#   vm_line KEY            what follows "KEY " on a line of $T_TMP/vm.out (SCRIPT's way to report).

vm_kernel() {
	need_cmd apt-cache apt-get dpkg-deb flock qemu-system-x86_64 busybox
	[ "$(uname -m)" = x86_64 ] || skip "the VM tests boot Debian's amd64 kernel"
	local cache=/var/cache/hosttune-test pkg
	pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
	[ -n "$pkg" ] || skip "apt knows no linux-image-cloud-amd64 (run apt-get update)"
	VM_KERNEL=$cache/kernel-${pkg#linux-image-}/vmlinuz
	mkdir -p "$cache"
	(
		flock 8
		[ -e "$VM_KERNEL" ] && exit 0
		local dir
		dir=$(mktemp -d "$cache/kernel.XXXXXX")
		# Root downloads as root (apt's _apt user could not write there).
		(cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >download.log 2>&1) || {
			cat "$dir/download.log"
			rm -rf "$dir"
			exit 1
		}
		dpkg-deb --fsys-tarfile "$dir"/"$pkg"_*.deb | tar -x -C "$dir" --wildcards './boot/vmlinuz-*' &&
			mkdir -p "$(dirname "$VM_KERNEL")" &&
			mv "$dir"/boot/vmlinuz-* "$VM_KERNEL"
		rc=$?
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

vm_run() {
	local mem=$1 script=$2 root=$T_TMP/vm-root bin n
	local -a numa=()
	shift 2
	for ((n = 0; n < ${VM_NODES:-1} && ${VM_NODES:-1} > 1; n++)); do
		numa+=(-object "memory-backend-ram,id=m$n,size=$((mem / VM_NODES))M"
			-numa "node,nodeid=$n,memdev=m$n")
	done
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,run,tmp,etc}
	vm_add_bin "$root" "$(command -v busybox)"
	for bin in "$@"; do vm_add_bin "$root" "$bin"; done
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
		sh /case.sh
		echo "vm-exit $?"
		poweroff -f
	EOF
	chmod +x "$root/init"
	(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) | gzip -1 >"$T_TMP/vm-initrd.gz"
	# -no-reboot and panic=-1: a kernel panic ends QEMU instead of hanging the test.
	# init_on_alloc=0: Debian's kernels zero every page they hand out; emulated, zeroing a 1G
	# hugepage takes seconds and makes QEMU back all of it with host memory.
	timeout 600 qemu-system-x86_64 -machine q35 -accel tcg -cpu max -smp 1 -m "$mem" "${numa[@]}" \
		-nodefaults -nographic -no-reboot -monitor none -serial "file:$T_TMP/vm.console" \
		-kernel "$VM_KERNEL" -initrd "$T_TMP/vm-initrd.gz" \
		-append "console=ttyS0 quiet loglevel=1 panic=-1 init_on_alloc=0 ${VM_APPEND:-}" </dev/null ||
		fail "qemu failed: $(tail -n 20 "$T_TMP/vm.console" 2>/dev/null)"
	# A terminal's carriage returns (progress lines) become line ends; escape codes (the
	# firmware's screen resets, the erase-line of progress lines) go. The firmware's last line
	# has no line end, so "vm-begin" may follow it on the same line.
	tr '\r' '\n' <"$T_TMP/vm.console" | sed 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; /^$/d' |
		sed -n '/vm-begin$/,/^vm-exit/p' >"$T_TMP/vm.out"
	grep -q '^vm-exit ' "$T_TMP/vm.out" ||
		fail "the VM did not run its script to the end: $(tail -n 30 "$T_TMP/vm.console")"
}

vm_line() { sed -n "s/^$1 //p" "$T_TMP/vm.out"; }
