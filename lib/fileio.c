/* SPDX-License-Identifier: MIT */
/* File reading and writing: the one audited way hosttune opens a file to read it
 * (open_read_at) and the one way it writes a file whole (struct tmpfile), plus the virtual-file
 * readers built on them.
 *
 * Why these rules (an attack run found each hole, issue 12):
 *
 * - hosttuned runs as root and reads files that others can influence: nix.conf and whatever it
 *   !includes, the file [nix] conf names, policy includes, and its own runtime directory. A
 *   blocking open(2) of a FIFO waits for a writer forever: one `mkfifo` named by an include
 *   stopped Check, GetReport and Ping. So every open for reading is O_NONBLOCK (a FIFO opens at
 *   once, without a writer), and fstat must then say "regular file" before a byte is read; a
 *   FIFO, socket or device node is refused with -EBADFD, a directory with -EISDIR. sysfs and
 *   procfs attributes are regular files, so the same check holds for them (and is skipped for
 *   them under the live root, where no one else can make a file: kernel_file()); only device nodes
 *   (/dev/kvm, /dev/net/tun, /dev/zramN) are opened elsewhere, on purpose, each with a comment.
 *   Directories are opened with O_DIRECTORY (or O_PATH), which fails on anything else without
 *   running any open of it, so they need no helper.
 * - Opening a device node runs its driver's open: for paths that configuration names
 *   (READ_CHECK_FIRST) the file is looked at through an O_PATH descriptor, which opens nothing,
 *   and reopened through /proc/self/fd only when it is a regular file: same inode, no race.
 * - In the directories hosttune owns (the runtime directory) a symbolic link is never
 *   followed (READ_NOFOLLOW, O_NOFOLLOW): there it can only be a trap.
 * - Writing: the old code opened NAME.tmp.PID with O_CREAT|O_TRUNC. That name is predictable;
 *   a hard link planted there made root truncate, overwrite and chmod the linked file (any file
 *   on the same file system, /etc/shadow included). A struct tmpfile never opens a name that
 *   exists: the new file is anonymous (O_TMPFILE) until it is complete, then linked under a
 *   random name and renamed over the target; without O_TMPFILE it is created under a random name
 *   with O_CREAT|O_EXCL|O_NOFOLLOW, which fails rather than open anything planted there. The mode
 *   is set with fchmod on the descriptor, never chmod by path, which would follow a swapped name.
 *   rename(2) replaces the target's directory entry and never writes through it, so a link
 *   planted at the target's own name is simply replaced. */
#include "fileio.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/syscall.h>

#include "parse.h"
#include "util.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Set once openat2 turned out to be missing (kernel < 5.6, or a seccomp filter that answers
 * ENOSYS); later opens go straight to openat. */
static bool openat2_missing;

int open_in_root(int root_fd, const char *path, int flags, mode_t mode) {
        /* openat2 rejects O_NOCTTY together with O_PATH (plain openat ignores it). */
        int extra = (flags & O_PATH) ? O_CLOEXEC : O_CLOEXEC | O_NOCTTY;
        struct open_how how = {
                .flags = (uint64_t) (flags | extra),
                .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                .resolve = RESOLVE_IN_ROOT,
        };
        int fd;

        while (*path == '/')
                path++;
        if (!*path)
                path = ".";
        if (!openat2_missing) {
                fd = (int) syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
                if (fd >= 0)
                        return fd;
                if (errno != ENOSYS && errno != EPERM)
                        return negative_errno();
                /* EPERM: some container seccomp profiles deny unknown syscalls with EPERM. */
                if (errno == ENOSYS)
                        openat2_missing = true;
        }
        fd = openat(root_fd, path, flags | extra, mode);
        return fd >= 0 ? fd : negative_errno();
}

bool fileio_test_no_tmpfile;

int fd_verify_regular(int fd) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISREG(st.st_mode))
                return 0;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        return -EBADFD;
}

/* The end of every open for reading or writing a file in place: the file opened O_NONBLOCK
 * must be regular, and then loses O_NONBLOCK again, which has done its work (some network and
 * FUSE file systems honour it for regular files, and a read should not see EAGAIN). */
static int fd_finish_open(int fd) {
        int r = fd_verify_regular(fd);

        if (r < 0)
                return r;
        return fcntl(fd, F_SETFL, 0) < 0 ? negative_errno() : 0;
}

/* openat or open_in_root, as flags say; an fd or a negative errno. */
static int open_as(int dir_fd, const char *path, unsigned flags, int oflags) {
        int fd;

        if (flags & READ_NOFOLLOW)
                oflags |= O_NOFOLLOW;
        if (flags & READ_IN_ROOT)
                return open_in_root(dir_fd, path, oflags, 0);
        fd = openat(dir_fd, path, oflags | O_CLOEXEC | ((oflags & O_PATH) ? 0 : O_NOCTTY));
        return fd >= 0 ? fd : negative_errno();
}

/* The live root's fd while a probe context on "/" is open (fileio_trust_kernel_files_at). Per
 * thread: the agent's worker threads open and close their own contexts, and a context is used
 * by the thread that opened it; another thread's reads just keep their fstat. */
static _Thread_local int kernel_root_fd = -1;

void fileio_trust_kernel_files_at(int root_fd, bool trust) {
        if (trust)
                kernel_root_fd = root_fd;
        else if (kernel_root_fd == root_fd)
                kernel_root_fd = -1;
}

/* Is path, under the root dir_fd, a file only the kernel makes? Under the live root, proc/ and
 * sys/ are procfs and sysfs: no one creates a FIFO, socket or device node there (only root
 * could mount something else over them, and root is who hosttune answers to). A ".." could walk
 * out of them, so a path with one does not count. */
static bool kernel_file(int dir_fd, const char *path, unsigned flags) {
        if (kernel_root_fd < 0 || dir_fd != kernel_root_fd || !(flags & READ_IN_ROOT))
                return false;
        while (*path == '/')
                path++;
        if (!startswith(path, "proc/") && !startswith(path, "sys/"))
                return false;
        return !strstr(path, "..");
}

/* open_read_at; with keep_nonblock the fd keeps O_NONBLOCK (one fcntl fewer per file: 20 of
 * them in a `check`), for the readers below, whose read_some clears it on the first EAGAIN. On
 * a regular file of a local file system, sysfs and procfs included, O_NONBLOCK does nothing. */
static int open_read_at_mode(int dir_fd, const char *path, unsigned flags, bool keep_nonblock) {
        _cleanup_close_ int fd = -1;
        int r;

        if (flags & READ_CHECK_FIRST) {
                _cleanup_close_ int pfd = open_as(dir_fd, path, flags, O_PATH);
                char proc[64];

                if (pfd < 0)
                        return pfd;
                r = fd_verify_regular(pfd);
                if (r < 0)
                        return r;
                /* Reopen the very inode just checked. Without /proc (an unusual chroot) fall
                 * back to the path: O_NONBLOCK and the fstat below still hold. */
                xsprintf(proc, "/proc/self/fd/%d", pfd);
                fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0 && errno != ENOENT)
                        return negative_errno();
        }
        if (fd < 0)
                fd = open_as(dir_fd, path, flags, O_RDONLY | O_NONBLOCK);
        if (fd < 0)
                return fd;
        /* A procfs or sysfs file of the live root is regular by construction: no fstat. */
        if (keep_nonblock && kernel_file(dir_fd, path, flags))
                return TAKE_FD(fd);
        r = keep_nonblock ? fd_verify_regular(fd) : fd_finish_open(fd);
        return r < 0 ? r : TAKE_FD(fd);
}

int open_read_at(int dir_fd, const char *path, unsigned flags) {
        return open_read_at_mode(dir_fd, path, flags, false);
}

const char *file_strerror(int r) {
        switch (r) {
        case -EBADFD:
                return "not a regular file (a FIFO, socket or device node), refused";
        case -ELOOP:
                return "a symbolic link (or a loop of them) where hosttune follows none, refused";
        default:
                return strerror(-r);
        }
}

/* Read once into buf + n, retrying on EINTR; returns bytes read (0 at EOF) or negative errno.
 * EAGAIN: a file system that honours O_NONBLOCK for a regular file (some network and FUSE ones)
 * and an fd from open_read_at_mode(..., true): read blocking from then on, as open_read_at's
 * fds do. */
static ssize_t read_some(int fd, char *buf, size_t len) {
        for (;;) {
                ssize_t k = read(fd, buf, len);
                if (k >= 0)
                        return k;
                if (errno == EAGAIN) {
                        if (fcntl(fd, F_SETFL, 0) < 0)
                                return negative_errno();
                        continue;
                }
                if (errno != EINTR)
                        return negative_errno();
        }
}

/* Read until EOF or until size-1 bytes are in buf. Returns length, or negative errno. */
static ssize_t read_all(int fd, char *buf, size_t size, bool *ret_full) {
        size_t n = 0;

        while (n < size - 1) {
                ssize_t k = read_some(fd, buf + n, size - 1 - n);
                if (k < 0)
                        return k;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        *ret_full = n == size - 1;
        return (ssize_t) n;
}

/* Does the file end here? A full buffer might be exactly the file's size. */
static int at_eof(int fd) {
        char c;
        ssize_t k = read_some(fd, &c, 1);

        return k < 0 ? (int) k : k == 0;
}

/* Read fd into buf, either until EOF (read_all) or with one read(2) (single). */
static ssize_t read_text_fd_mode(int fd, char *buf, size_t size, bool single) {
        bool full;
        ssize_t n;
        int r;

        if (size < 2)
                return -EINVAL;
        if (single) {
                n = read_some(fd, buf, size - 1);
                if (n < 0)
                        return n;
                buf[n] = 0;
                full = (size_t) n == size - 1;
        } else
                n = read_all(fd, buf, size, &full);
        if (n < 0)
                return n;
        if (full) {
                r = at_eof(fd);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -EFBIG;
        }
        if (memchr(buf, 0, (size_t) n))
                return -EBADMSG;
        return n;
}

ssize_t read_text_fd(int fd, char *buf, size_t size) {
        return read_text_fd_mode(fd, buf, size, false);
}

/* Open path under the root and read it (read_text_fd_mode). */
static ssize_t read_text_at(int root_fd, const char *path, char *buf, size_t size, bool single) {
        _cleanup_close_ int fd = -1;

        if (size < 2)
                return -EINVAL;
        fd = open_read_at_mode(root_fd, path, READ_IN_ROOT, true);
        if (fd < 0)
                return fd;
        return read_text_fd_mode(fd, buf, size, single);
}

ssize_t read_virtual_file_at(int root_fd, const char *path, char *buf, size_t size) {
        return read_text_at(root_fd, path, buf, size, false);
}

ssize_t read_attribute_at(int root_fd, const char *path, char *buf, size_t size) {
        return read_text_at(root_fd, path, buf, size, true);
}

/* Read fd to EOF into a heap buffer that grows up to max bytes; rejects NUL bytes. */
static int read_fd_alloc(int fd, size_t max, char **ret, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        char first[4096];
        size_t size, n;
        bool full;
        ssize_t k;

        /* Most of these files (meminfo, mountinfo, buddyinfo, nix.conf) are a few KiB: read
         * them onto the stack first and keep an exact-size copy, so that several share one
         * heap page. Every fresh page costs a page fault, which costs more than the copy. */
        k = read_all(fd, first, sizeof(first), &full);
        if (k < 0)
                return (int) k;
        n = (size_t) k;
        size = full ? 2 * sizeof(first) : n + 1;
        if (size > max)
                size = max;
        if (n + 1 > size)
                return -EFBIG;
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, first, n);
        /* The stack buffer filled: the rest grows on the heap, up to max. */
        while (full) {
                if (n + 1 >= size) {
                        char *nb;
                        /* buf is freed by _cleanup_free_; the analyzer loses track of it
                         * across the memcpy above. */
                        if (size >= max)
                                return -EFBIG; /* NOLINT(clang-analyzer-unix.Malloc) */
                        size = size * 2 > max ? max : size * 2;
                        nb = realloc(buf, size);
                        if (!nb)
                                return -ENOMEM;
                        buf = nb;
                }
                k = read_some(fd, buf + n, size - 1 - n);
                if (k < 0)
                        return (int) k;
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        buf[n] = 0;
        if (memchr(buf, 0, n))
                return -EBADMSG;
        if (ret_len)
                *ret_len = n;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_file_alloc_at(int dir_fd, const char *path, unsigned flags, size_t max, char **ret,
                       size_t *ret_len) {
        _cleanup_close_ int fd = open_read_at_mode(dir_fd, path, flags, true);

        if (fd < 0)
                return fd;
        return read_fd_alloc(fd, max, ret, ret_len);
}

int read_virtual_file_alloc_at(int root_fd, const char *path, size_t max, char **ret,
                               size_t *ret_len) {
        return read_file_alloc_at(root_fd, path, READ_IN_ROOT, max, ret, ret_len);
}

int read_regular_file_alloc(const char *path, size_t max, char **ret, size_t *ret_len) {
        return read_file_alloc_at(AT_FDCWD, path, READ_CHECK_FIRST, max, ret, ret_len);
}

ssize_t read_file_head_at(int root_fd, const char *path, char *buf, size_t size,
                          const char *until) {
        _cleanup_close_ int fd = -1;
        size_t n = 0;

        if (size < 2)
                return -EINVAL;
        fd = open_read_at_mode(root_fd, path, READ_IN_ROOT, true);
        if (fd < 0)
                return fd;
        buf[0] = 0;
        while (n < size - 1) {
                ssize_t k = read_some(fd, buf + n, size - 1 - n);
                const char *hit;

                if (k < 0)
                        return k;
                if (k == 0)
                        break;
                if (memchr(buf + n, 0, (size_t) k))
                        return -EBADMSG;
                n += (size_t) k;
                buf[n] = 0;
                hit = until ? strstr(buf, until) : NULL;
                if (hit && strchr(hit + strlen(until), '\n'))
                        break;
        }
        return (ssize_t) n;
}

int read_u64_at(int root_fd, const char *path, uint64_t *ret) {
        char buf[64];
        ssize_t n = read_attribute_at(root_fd, path, buf, sizeof(buf));

        if (n < 0)
                return (int) n;
        return parse_u64(buf, ret);
}

int read_line_at(int root_fd, const char *path, char *buf, size_t size) {
        ssize_t n = read_attribute_at(root_fd, path, buf, size);

        if (n < 0)
                return (int) n;
        strstrip_trailing(buf);
        if (strchr(buf, '\n'))
                return -EINVAL;
        return 0;
}

struct linux_dirent64 {
        uint64_t d_ino;
        int64_t d_off;
        unsigned short d_reclen;
        unsigned char d_type;
        char d_name[];
};

int read_dir_names_at(int root_fd, const char *path, int (*cb)(const char *name, void *userdata),
                      void *userdata) {
        _cleanup_close_ int fd = open_in_root(root_fd, path, O_RDONLY | O_DIRECTORY, 0);
        /* Aligned for the kernel's struct linux_dirent64 records. */
        union {
                struct linux_dirent64 d;
                char buf[8192];
        } u;

        if (fd < 0)
                return fd;
        for (;;) {
                long n = syscall(SYS_getdents64, fd, u.buf, sizeof(u.buf));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return 0;
                for (long off = 0; off < n;) {
                        const struct linux_dirent64 *d = (const void *) (u.buf + off);
                        int r;

                        if (d->d_reclen == 0 || off + d->d_reclen > n)
                                return -EIO;
                        off += d->d_reclen;
                        if (streq(d->d_name, ".") || streq(d->d_name, ".."))
                                continue;
                        r = cb(d->d_name, userdata);
                        if (r < 0)
                                return r;
                }
        }
}

int stat_in_root(int root_fd, const char *path, struct stat *ret) {
        _cleanup_close_ int fd = open_in_root(root_fd, path, O_PATH, 0);
        struct stat st;

        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        *ret = st;
        return 0;
}

int write_virtual_file_at(int root_fd, const char *path, const char *value) {
        _cleanup_close_ int fd = -1;
        size_t l = strlen(value);
        ssize_t k;
        int r;

        /* As open_read_at: a FIFO at the path must not block (O_NONBLOCK makes its open fail
         * with ENXIO without a reader) and nothing but a regular file is written. */
        fd = open_in_root(root_fd, path, O_WRONLY | O_NONBLOCK, 0);
        if (fd < 0)
                return fd;
        r = fd_finish_open(fd);
        if (r < 0)
                return r;
        do
                k = write(fd, value, l);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        if ((size_t) k != l)
                return -EIO;
        return 0;
}

/* A temporary name no one can predict: ".TARGET.tmp-" and 64 random bits in hex. The target
 * part is cut so the whole stays a valid file name. */
static int random_tmp_name(const char *target, char *buf, size_t size) {
        uint64_t rnd;
        ssize_t k;

        do
                k = getrandom(&rnd, sizeof(rnd), 0);
        while (k < 0 && errno == EINTR);
        if (k != (ssize_t) sizeof(rnd))
                return k < 0 ? negative_errno() : -EIO;
        return bufprintf(buf, size, ".%.200s.tmp-%016llx", target, (unsigned long long) rnd);
}

/* Is name a temporary name of target's: "TARGET.tmp.DIGITS" (old) or ".TARGET.tmp-HEX"? */
static bool is_tmp_name_of(const char *name, const char *target) {
        char prefix[256];
        const char *rest;

        rest = startswith(name, target);
        if (rest && (rest = startswith(rest, ".tmp.")) && *rest &&
            strspn(rest, "0123456789") == strlen(rest))
                return true;
        if (bufprintf(prefix, sizeof(prefix), ".%.200s.tmp-", target) < 0)
                return false;
        rest = startswith(name, prefix);
        return rest && strlen(rest) == 16 && strspn(rest, "0123456789abcdef") == 16;
}

/* Split path into its directory (opened, O_RDONLY so it can be fsynced) and last component. */
static int open_parent(int dir_fd, const char *path, int *ret_fd, char *target, size_t size) {
        const char *slash = strrchr(path, '/');
        char dir[4096];
        int fd, r;

        if (slash) {
                size_t n = (size_t) (slash - path);
                if (n >= sizeof(dir))
                        return -ENAMETOOLONG;
                memcpy(dir, path, n);
                dir[n] = 0;
                if (n == 0)
                        strscpy(dir, sizeof(dir), "/");
                path = slash + 1;
        } else
                strscpy(dir, sizeof(dir), ".");
        if (!*path || streq(path, ".") || streq(path, ".."))
                return -EISDIR;
        r = strscpy(target, size, path);
        if (r < 0)
                return r;
        fd = openat(dir_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        *ret_fd = fd;
        return 0;
}

int tmpfile_open_at(int dir_fd, const char *path, mode_t mode, struct tmpfile *ret) {
        int r;

        *ret = (struct tmpfile){ .fd = -1, .dir_fd = -1, .mode = mode };
        r = open_parent(dir_fd, path, &ret->dir_fd, ret->target, sizeof(ret->target));
        if (r < 0)
                return r;
        if (!fileio_test_no_tmpfile) {
                ret->fd = openat(ret->dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
                if (ret->fd >= 0)
                        return 0;
                /* EOPNOTSUPP: the file system has no O_TMPFILE; EISDIR or EINVAL: a kernel
                 * that does not know the flag. Any other error is real. */
                if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                        return negative_errno();
        }
        for (int attempt = 0; attempt < 16; attempt++) {
                r = random_tmp_name(ret->target, ret->name, sizeof(ret->name));
                if (r < 0)
                        return r;
                /* O_EXCL: fail on any existing name, a planted link or file included, rather
                 * than open it; O_NOFOLLOW makes a dangling symlink count as existing too. */
                ret->fd = openat(ret->dir_fd, ret->name,
                                 O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (ret->fd >= 0) {
                        ret->named = true;
                        return 0;
                }
                if (errno != EEXIST)
                        return negative_errno();
        }
        ret->name[0] = 0;
        return -EEXIST;
}

/* Give the anonymous O_TMPFILE file a random name in its directory. linkat through
 * /proc/self/fd works for everyone; AT_EMPTY_PATH (no /proc) needs CAP_DAC_READ_SEARCH. */
static int tmpfile_link(struct tmpfile *t) {
        char proc[64];

        xsprintf(proc, "/proc/self/fd/%d", t->fd);
        for (int attempt = 0; attempt < 16; attempt++) {
                int r = random_tmp_name(t->target, t->name, sizeof(t->name));
                if (r < 0)
                        return r;
                r = linkat(AT_FDCWD, proc, t->dir_fd, t->name, AT_SYMLINK_FOLLOW);
                if (r < 0 && errno == ENOENT)
                        r = linkat(t->fd, "", t->dir_fd, t->name, AT_EMPTY_PATH);
                if (r >= 0) {
                        t->named = true;
                        return 0;
                }
                if (errno != EEXIST)
                        return negative_errno();
        }
        return -EEXIST;
}

int tmpfile_commit(struct tmpfile *t, bool sync) {
        int r;

        if (t->fd < 0 || t->dir_fd < 0)
                return -EBADF;
        if (fchmod(t->fd, t->mode) < 0 || (sync && fsync(t->fd) < 0))
                return negative_errno();
        if (!t->named) {
                r = tmpfile_link(t);
                if (r < 0)
                        return r;
        }
        if (renameat(t->dir_fd, t->name, t->dir_fd, t->target) < 0)
                return negative_errno();
        t->named = false; /* the name is the target's now: nothing to remove */
        /* The rename is durable only once the directory is. */
        if (sync && fsync(t->dir_fd) < 0)
                return negative_errno();
        return 0;
}

void tmpfile_done(struct tmpfile *t) {
        if (t->named && t->dir_fd >= 0)
                (void) unlinkat(t->dir_fd, t->name, 0);
        t->named = false;
        t->fd = safe_close(t->fd);
        t->dir_fd = safe_close(t->dir_fd);
}

struct clean_args {
        int dir_fd;
        const char *target;
        int removed;
};

static int clean_cb(const char *name, void *userdata) {
        struct clean_args *c = userdata;

        if (!is_tmp_name_of(name, c->target))
                return 0;
        /* unlinkat removes the name only: a planted symlink or hard link loses that name and
         * its target is not touched. A directory (flag 0) fails with EISDIR and stays. */
        if (unlinkat(c->dir_fd, name, 0) < 0) {
                if (errno == ENOENT || errno == EISDIR)
                        return 0;
                return negative_errno();
        }
        c->removed++;
        return 0;
}

int tmpfiles_clean_at(int dir_fd, const char *path) {
        _cleanup_close_ int fd = -1;
        char target[256];
        struct clean_args c;
        int r;

        r = open_parent(dir_fd, path, &fd, target, sizeof(target));
        if (r < 0)
                return r;
        c = (struct clean_args){ .dir_fd = fd, .target = target };
        r = read_dir_names_at(fd, ".", clean_cb, &c);
        return r < 0 ? r : c.removed;
}

int write_all(int fd, const void *data, size_t len) {
        const char *p = data;

        for (size_t done = 0; done < len;) {
                ssize_t k = write(fd, p + done, len - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                done += (size_t) k;
        }
        return 0;
}

static int write_file_replace(int dir_fd, const char *path, const void *data, size_t len,
                              mode_t mode, bool sync) {
        _cleanup_(tmpfile_done) struct tmpfile t = { .fd = -1, .dir_fd = -1 };
        int r;

        r = tmpfile_open_at(dir_fd, path, mode, &t);
        if (r < 0)
                return r;
        r = write_all(t.fd, data, len);
        if (r < 0)
                return r;
        return tmpfile_commit(&t, sync);
}

int write_file_atomic_at(int dir_fd, const char *path, const void *data, size_t len, mode_t mode) {
        return write_file_replace(dir_fd, path, data, len, mode, true);
}

int write_file_replace_at(int dir_fd, const char *path, const void *data, size_t len, mode_t mode) {
        return write_file_replace(dir_fd, path, data, len, mode, false);
}
