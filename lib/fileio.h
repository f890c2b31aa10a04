/* SPDX-License-Identifier: MIT */
/* Reading and writing files: virtual files (sysfs, procfs) relative to a root directory fd, the
 * configuration hosttune reads, and the files it writes. Every file hosttune reads is opened by
 * open_read_at() and every file it writes whole is written through a struct tmpfile; the rules
 * and their reasons are in fileio.c and docs/apply.md ("How hosttune reads and writes files"). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Upper bound for files read into a heap buffer (mountinfo on a container host with
 * thousands of mounts stays well under this). */
#define VIRTUAL_FILE_MAX (16U * 1024U * 1024U)

/* Open path relative to root_fd as if root_fd were "/": absolute symlinks and ".." are
 * resolved inside the root (openat2 RESOLVE_IN_ROOT), so a fixture tree captured from another
 * machine can never make a probe read this machine's files. Leading slashes of path are
 * ignored. O_CLOEXEC and O_NOCTTY are always added. Returns an fd or a negative errno. */
int open_in_root(int root_fd, const char *path, int flags, mode_t mode);

/* How open_read_at() resolves and checks a path. */
enum {
        /* Resolve path with dir_fd as "/" (open_in_root): probes and --root fixture trees. */
        READ_IN_ROOT = 1U << 0,
        /* Refuse a symbolic link as the last component (-ELOOP): for files in the directories
         * hosttune owns and writes (the runtime directory: journal, agent.state, leases), where
         * a link can only be someone's attempt to make hosttune read or clobber another file. */
        READ_NOFOLLOW = 1U << 1,
        /* The path comes from configuration (nix.conf and its includes, [nix] conf, policy
         * files): look at it through an O_PATH descriptor first and open only a regular file,
         * so that naming a device never runs its driver's open (a watchdog arms, a tape
         * rewinds). Files hosttune names itself under /sys and /proc skip this extra step. */
        READ_CHECK_FIRST = 1U << 2,
};

/* THE way hosttune opens a file for reading. Opens path (relative to dir_fd, which may be
 * AT_FDCWD) with O_RDONLY|O_CLOEXEC|O_NOCTTY and O_NONBLOCK, so that a FIFO cannot block the
 * open; checks with fstat that it is a regular file (sysfs and procfs files are); then clears
 * O_NONBLOCK again so reads behave as usual. Returns the fd, or -EISDIR for a directory, -ELOOP
 * for a symbolic link under READ_NOFOLLOW, -EBADFD for anything else that is not a regular file
 * (FIFO, socket, device node), or the negative errno of open. file_strerror() words these. */
int open_read_at(int dir_fd, const char *path, unsigned flags);

/* Declare root_fd the live root "/" (trust true, probe_ctx_open does) or no longer (false,
 * probe_ctx_done): while it is, the readers below skip the fstat that refuses non-regular files
 * for paths under proc/ and sys/ of that root (without ".."), where only the kernel makes files
 * and every file is regular, or a directory that the read refuses with EISDIR. One root at a
 * time per thread; --root trees are never declared, so every file in them is checked. */
void fileio_trust_kernel_files_at(int root_fd, bool trust);

/* Is the open fd a regular file? 0, or -EISDIR, -ELOOP (an O_PATH|O_NOFOLLOW fd of a link) or
 * -EBADFD (FIFO, socket, device node), or the negative errno of fstat. */
int fd_verify_regular(int fd);

/* strerror() for the errors of open_read_at() and the tmpfile functions: -EBADFD and -ELOOP get
 * words that say what was refused and why; anything else is strerror(-r). */
const char *file_strerror(int r);

/* Read the whole file into buf (size bytes including the terminating NUL). Returns the length
 * read, -EFBIG when the file does not fit, -EBADMSG when it holds a NUL byte (not text), or
 * the negative errno of open/read. */
ssize_t read_virtual_file_at(int root_fd, const char *path, char *buf, size_t size);

/* Read a sysfs attribute or a sysctl (one value, at most a page) with a single read(2), as the
 * kernel wants them read: kernfs hands the whole value to the first read, and for "raw"
 * attributes a second read would ask the driver again and may see a new value instead of
 * EOF. Regular files (fixture trees) also return everything a read asks for. Only when the
 * buffer fills is a second read made, to tell a file that fits exactly from one that does
 * not (-EFBIG). Otherwise as read_virtual_file_at. */
ssize_t read_attribute_at(int root_fd, const char *path, char *buf, size_t size);

/* read_virtual_file_at for a file already open (from its current offset). A read that fails
 * with EAGAIN clears O_NONBLOCK on fd and is repeated (so do the readers above: the fds they
 * open keep O_NONBLOCK, which regular files of local file systems ignore, until then). */
ssize_t read_text_fd(int fd, char *buf, size_t size);

/* Open path with open_read_at(dir_fd, path, flags) and read it whole into a heap buffer that
 * grows up to max bytes. -EFBIG when larger, -EBADMSG when it holds a NUL byte, else the errors
 * of open_read_at() and read. *ret is set only on success and must be freed. */
int read_file_alloc_at(int dir_fd, const char *path, unsigned flags, size_t max, char **ret,
                       size_t *ret_len);

/* read_file_alloc_at(root_fd, path, READ_IN_ROOT, ...): sysfs and procfs files. */
int read_virtual_file_alloc_at(int root_fd, const char *path, size_t max, char **ret,
                               size_t *ret_len);

/* read_file_alloc_at(AT_FDCWD, path, READ_CHECK_FIRST, ...): a file named by an ordinary path
 * that configuration gave (policy files and their includes). */
int read_regular_file_alloc(const char *path, size_t max, char **ret, size_t *ret_len);

/* Read only the beginning of a file: stop at EOF, when buf is full, or once the text read so
 * far contains until (a line end after it included). Used for /proc/cpuinfo, whose first CPU
 * block is all that is needed and whose full text costs time on large machines. Returns the
 * length read (a full buffer is not an error) or a negative errno. */
ssize_t read_file_head_at(int root_fd, const char *path, char *buf, size_t size, const char *until);

/* Read an attribute (read_attribute_at) holding one unsigned decimal number (trailing newline
 * allowed). -EINVAL when it holds anything else. */
int read_u64_at(int root_fd, const char *path, uint64_t *ret);

/* Read a one-line attribute (read_attribute_at), trailing whitespace stripped; -EINVAL when it
 * holds more than one line. */
int read_line_at(int root_fd, const char *path, char *buf, size_t size);

/* Call cb with the name of every entry of the directory at path (relative to the root), "."
 * and ".." excluded, in the order the file system returns them. Uses getdents64 directly (no
 * DIR stream: two fcntl and an fstat fewer per directory). Returns the first negative value of
 * cb, the negative errno of open/getdents, or 0. */
int read_dir_names_at(int root_fd, const char *path, int (*cb)(const char *name, void *userdata),
                      void *userdata);

/* fstatat relative to the root, through open_in_root (O_PATH) so symlinks stay inside. */
int stat_in_root(int root_fd, const char *path, struct stat *ret);

/* Write value with a single write(2), as sysfs and procfs require; no O_CREAT, no O_TRUNC; the
 * file must be a regular file (sysfs and procfs files are), opened without blocking as in
 * open_read_at(). Returns 0, the negative errno of open/write, -EBADFD for a file that is not
 * regular, or -EIO on a short write. */
int write_virtual_file_at(int root_fd, const char *path, const char *value);

/* A new version of a file, written whole and then put in place by rename: THE way hosttune
 * writes a file. Until tmpfile_commit() it has no name (O_TMPFILE), or, where the file system
 * has no O_TMPFILE, a name no one can predict (".NAME.tmp-" and 16 random hex digits) created
 * with O_EXCL|O_NOFOLLOW: an existing file is never opened, so a link planted anywhere in the
 * directory is never written through. */
struct tmpfile {
        int fd;           /* the new content goes here (open O_RDWR) */
        int dir_fd;       /* the target's directory */
        mode_t mode;      /* set by fchmod at commit */
        bool named;       /* the file exists as name (the fallback, or linked at commit) */
        char name[256];   /* the temporary name once it has one */
        char target[256]; /* the target's last path component */
};

/* Start a new version of path (relative to dir_fd; absolute paths ignore it, as openat does).
 * The file is created mode 0600 and gets mode by fchmod() at commit, never by path. The
 * directory part of path is followed as given (a person names it); the last component is
 * replaced, never followed. ret->fd is where the caller writes (and may lock). Returns 0 or a
 * negative errno; *ret is initialised either way, and tmpfile_done() must be called. */
int tmpfile_open_at(int dir_fd, const char *path, mode_t mode, struct tmpfile *ret);

/* Put the new version in place: fchmod to the mode given at open, fsync the file when sync,
 * give it a random temporary name (linkat of the anonymous file) and rename that over the
 * target, then fsync the directory when sync. Readers see the old or the new content, never a
 * mix. ret->fd stays open (the caller may keep it; tmpfile_done() closes what is left). */
int tmpfile_commit(struct tmpfile *t, bool sync);

/* Write all of data to fd (retrying short writes and EINTR). 0 or a negative errno. */
int write_all(int fd, const void *data, size_t len);

/* Release a tmpfile: close its fds and remove the temporary name when it was not committed.
 * Accepts a tmpfile that was never opened (fd -1). */
void tmpfile_done(struct tmpfile *t);

/* For unit tests: make tmpfile_open_at() act as on a file system without O_TMPFILE, so the
 * O_EXCL fallback runs on this machine's tmpfs. */
extern bool fileio_test_no_tmpfile;

/* Remove the temporary files that a writer killed mid-write left next to path (relative to
 * dir_fd): "NAME.tmp.PID" of versions before tmpfile_open_at() (whose predictable names an
 * attacker could plant links at) and ".NAME.tmp-HEX" of its fallback. Only names are removed
 * (unlinkat, which never follows a link); directories are left alone. Call it only while no
 * other writer of path can be running (the journal lock held, the agent starting). Returns the
 * number removed or a negative errno. */
int tmpfiles_clean_at(int dir_fd, const char *path);

/* Replace path (relative to dir_fd) atomically through a tmpfile: write the data, fsync it,
 * rename it over path, fsync the directory. Readers see the old or the new content, never a
 * mix. */
int write_file_atomic_at(int dir_fd, const char *path, const void *data, size_t len, mode_t mode);

/* The same without fsync: for state under the runtime directory (/run, a tmpfs), which a power
 * loss wipes anyway. The rename still makes every reader and a restart after a crash of the
 * writing process see the old or the new content, never a mix; only durability against a
 * crash of the whole machine is given up, and with it a disk flush per write. */
int write_file_replace_at(int dir_fd, const char *path, const void *data, size_t len, mode_t mode);
