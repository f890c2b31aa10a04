/* Virtual file reading and writing through a root directory fd. */
#include "fileio.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
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

/* Read once into buf + n, retrying on EINTR; returns bytes read (0 at EOF) or negative errno. */
static ssize_t read_some(int fd, char *buf, size_t len) {
        for (;;) {
                ssize_t k = read(fd, buf, len);
                if (k >= 0 || errno != EINTR)
                        return k < 0 ? negative_errno() : k;
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
        fd = open_in_root(root_fd, path, O_RDONLY, 0);
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

int read_virtual_file_alloc_at(int root_fd, const char *path, size_t max, char **ret,
                               size_t *ret_len) {
        _cleanup_close_ int fd = -1;

        fd = open_in_root(root_fd, path, O_RDONLY, 0);
        if (fd < 0)
                return fd;
        return read_fd_alloc(fd, max, ret, ret_len);
}

int read_regular_file_alloc(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        struct stat st;

        /* O_NONBLOCK: opening a FIFO named by mistake must not hang; it is refused below. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        return read_fd_alloc(fd, max, ret, ret_len);
}

ssize_t read_file_head_at(int root_fd, const char *path, char *buf, size_t size,
                          const char *until) {
        _cleanup_close_ int fd = -1;
        size_t n = 0;

        if (size < 2)
                return -EINVAL;
        fd = open_in_root(root_fd, path, O_RDONLY, 0);
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

        fd = open_in_root(root_fd, path, O_WRONLY, 0);
        if (fd < 0)
                return fd;
        do
                k = write(fd, value, l);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        if ((size_t) k != l)
                return -EIO;
        return 0;
}

static int write_file_replace(int dir_fd, const char *path, const void *data, size_t len,
                              mode_t mode, bool sync) {
        char tmp[4096];
        _cleanup_close_ int fd = -1;
        const char *p = data;
        size_t done = 0;
        int r;

        r = bufprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int) getpid());
        if (r < 0)
                return r;
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return negative_errno();
        while (done < len) {
                ssize_t k = write(fd, p + done, len - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        goto fail;
                }
                done += (size_t) k;
        }
        if (fchmod(fd, mode) < 0 || (sync && fsync(fd) < 0)) {
                r = negative_errno();
                goto fail;
        }
        if (renameat(dir_fd, tmp, dir_fd, path) < 0) {
                r = negative_errno();
                goto fail;
        }
        return 0;
fail:
        (void) unlinkat(dir_fd, tmp, 0);
        return r;
}

int write_file_atomic_at(int dir_fd, const char *path, const void *data, size_t len, mode_t mode) {
        return write_file_replace(dir_fd, path, data, len, mode, true);
}

int write_file_replace_at(int dir_fd, const char *path, const void *data, size_t len, mode_t mode) {
        return write_file_replace(dir_fd, path, data, len, mode, false);
}
