#!/bin/bash
# SPDX-License-Identifier: MIT
# `hosttune probe --root FIXTURE` never touches this machine's files: strace shows every file
# system call of a run over each fixture tree, and each must be relative to the root's
# directory fd (or to an fd opened through it). The only absolute paths allowed are the
# start-up ones: glibc's readlink of /proc/self/exe and the stat of "/" that tells whether
# the root is this machine's, and the reopening of an fd already opened through the root as
# /proc/self/fd/N (lib/fileio.c opens configuration files O_PATH first, checks that they are
# regular files, and only then opens them for reading: the same inode, as systemd's fd_reopen).
. "$(dirname "$0")/lib.sh"
need_cmd strace
# Under ASan the runtime reads /proc/self/maps and friends itself, and LeakSanitizer cannot
# run under ptrace: the plain build answers this question.
[ -z "${HOSTTUNE_SANITIZE:-}" ] || skip "sanitizer runtimes make their own file accesses and cannot be traced"
checked=0
for d in "$HOSTTUNE_FIXTURES"/*/; do
	log=$T_TMP/$(basename "$d").strace
	strace -f -qq -e trace=%file,getxattr,readlinkat -o "$log" "$HOSTTUNE" probe --json --root "$d" >/dev/null ||
		fail "probe --root $d failed"
	bad=$(grep -vE '^[0-9]+ +(execve\(|readlink\("/proc/self/exe"|openat\(AT_FDCWD, "'"${d%/}"'/?"|newfstatat\(AT_FDCWD, "/", |openat\(AT_FDCWD, "/proc/self/fd/[0-9]+", |newfstatat\([0-9]+, "", |[a-z0-9_]+\([0-9]+, "[^/])' "$log" || true)
	[ -z "$bad" ] || fail "$(basename "$d"): file access outside the root: $bad"
	checked=$((checked + 1))
done
ok "$checked fixture trees probed without one absolute path"
# The same check sees an escape: a run on the live root does use "/" paths of its own. The root
# fd is whatever open() gave (3, or 4 under `flock FILE cmd`, which passes its lock fd on).
strace -f -qq -e trace=%file -o "$T_TMP/live.strace" "$HOSTTUNE" probe --json >/dev/null
grep -qE 'faccessat2?\([0-9]+, "sys/module/kvm"|openat2\([0-9]+, "proc/meminfo"' "$T_TMP/live.strace" ||
	fail "the strace filter saw no probe reads on the live root"
ok "strace sees the probes' reads"
