/* SPDX-License-Identifier: MIT */
/* Directory tree helpers built on *at() system calls. */
#include "fsutil.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "lib/fileio.h"
#include "lib/util.h"

static int fail_on_entry(const char *name, void *userdata) {
        (void) name;
        (void) userdata;
        return -ENOTEMPTY;
}

int dir_is_empty_at(int dir_fd, const char *path) {
        int r = read_dir_names_at(dir_fd, path, fail_on_entry, NULL);

        if (r == -ENOTEMPTY)
                return 0;
        return r < 0 ? r : 1;
}

static int count_entry(const char *name, void *userdata) {
        (void) name;
        (*(int *) userdata)++;
        return 0;
}

int dir_count_entries_at(int dir_fd, const char *path) {
        int n = 0, r = read_dir_names_at(dir_fd, path, count_entry, &n);

        return r < 0 ? r : n;
}

struct remove_walk {
        int fd;
        dev_t dev;
};

static int remove_entry(const char *name, void *userdata);

/* Remove the contents of the directory open at fd (on device dev). */
static int remove_contents(int fd, dev_t dev) {
        struct remove_walk w = { fd, dev };

        return read_dir_names_at(fd, ".", remove_entry, &w);
}

static int remove_entry(const char *name, void *userdata) {
        struct remove_walk *w = userdata;
        struct stat st;
        int r;

        if (fstatat(w->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int sub = -1;

                if (st.st_dev != w->dev)
                        return -EXDEV;
                sub = openat(w->fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub < 0)
                        return negative_errno();
                r = remove_contents(sub, w->dev);
                if (r < 0)
                        return r;
                if (unlinkat(w->fd, name, AT_REMOVEDIR) < 0)
                        return negative_errno();
                return 0;
        }
        if (unlinkat(w->fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        return 0;
}

int remove_tree_at(int dir_fd, const char *path) {
        _cleanup_close_ int fd =
                openat(dir_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        int r;

        if (fd < 0) {
                if (errno == ENOTDIR || errno == ELOOP)
                        return unlinkat(dir_fd, path, 0) < 0 ? negative_errno() : 0;
                return negative_errno();
        }
        if (fstat(fd, &st) < 0)
                return negative_errno();
        r = remove_contents(fd, st.st_dev);
        if (r < 0)
                return r;
        return unlinkat(dir_fd, path, AT_REMOVEDIR) < 0 ? negative_errno() : 0;
}

/* Owner, mode and timestamps of st onto the file open at fd (or the symlink name in dir_fd). */
static int copy_attrs(int fd, int dir_fd, const char *name, const struct stat *st) {
        struct timespec ts[2] = { st->st_atim, st->st_mtim };

        if (fd < 0) {
                if (fchownat(dir_fd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                    utimensat(dir_fd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return negative_errno();
                return 0;
        }
        if (fchown(fd, st->st_uid, st->st_gid) < 0 || fchmod(fd, st->st_mode & 07777) < 0 ||
            futimens(fd, ts) < 0)
                return negative_errno();
        return 0;
}

static int copy_data(int in, int out, off_t size) {
        if (ioctl(out, FICLONE, in) == 0)
                return 0;
        while (size > 0) {
                ssize_t k = copy_file_range(in, NULL, out, NULL, (size_t) size, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break; /* the file shrank meanwhile */
                size -= k;
        }
        return 0;
}

struct copy_walk {
        int src, dst;
};

static int copy_entry(const char *name, void *userdata);

static int copy_dir_contents(int src, int dst) {
        struct copy_walk w = { src, dst };

        return read_dir_names_at(src, ".", copy_entry, &w);
}

static int copy_one(int src_dir, const char *src, int dst_dir, const char *dst) {
        struct stat st;
        int r;

        if (fstatat(src_dir, src, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int in = -1, out = -1;

                in = openat(src_dir, src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (in < 0)
                        return negative_errno();
                if (mkdirat(dst_dir, dst, 0700) < 0)
                        return negative_errno();
                out = openat(dst_dir, dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (out < 0)
                        return negative_errno();
                r = copy_dir_contents(in, out);
                if (r < 0)
                        return r;
                return copy_attrs(out, -1, NULL, &st);
        }
        if (S_ISREG(st.st_mode)) {
                _cleanup_close_ int in = -1, out = -1;

                /* open_read_at: the file may have been swapped for a FIFO since the fstatat. */
                in = open_read_at(src_dir, src, READ_NOFOLLOW);
                if (in < 0)
                        return in;
                /* A new name in a directory just made by mkdirat above (or the new snapshot
                 * itself): O_EXCL|O_NOFOLLOW never opens anything that is already there. This
                 * is a copy, not a replacement, so it is not a tmpfile (lib/fileio.h). */
                out = openat(dst_dir, dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             0600);
                if (out < 0)
                        return negative_errno();
                r = copy_data(in, out, st.st_size);
                if (r < 0)
                        return r;
                return copy_attrs(out, -1, NULL, &st);
        }
        if (S_ISLNK(st.st_mode)) {
                char target[4096];
                ssize_t l = readlinkat(src_dir, src, target, sizeof(target) - 1);

                if (l < 0)
                        return negative_errno();
                target[l] = 0;
                if (symlinkat(target, dst_dir, dst) < 0)
                        return negative_errno();
                return copy_attrs(-1, dst_dir, dst, &st);
        }
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
                if (mknodat(dst_dir, dst, st.st_mode, st.st_rdev) < 0)
                        return negative_errno();
                r = copy_attrs(-1, dst_dir, dst, &st);
                if (r < 0)
                        return r;
                /* After chown, which clears set-id bits; mknod's mode went through umask. */
                return fchmodat(dst_dir, dst, st.st_mode & 07777, 0) < 0 ? negative_errno() : 0;
        }
        return 0; /* sockets belong to a running program, not to a template */
}

static int copy_entry(const char *name, void *userdata) {
        struct copy_walk *w = userdata;

        return copy_one(w->src, name, w->dst, name);
}

int copy_tree_at(int src_dir_fd, const char *src, int dst_dir_fd, const char *dst) {
        int r = copy_one(src_dir_fd, src, dst_dir_fd, dst);

        if (r < 0 && r != -EEXIST)
                (void) remove_tree_at(dst_dir_fd, dst);
        return r;
}

/* The permission bits of st that apply to id (shifted down to rwx). */
static unsigned class_bits(const struct stat *st, const struct access_identity *id) {
        if (st->st_uid == id->uid)
                return (st->st_mode >> 6) & 7;
        for (size_t i = 0; i < id->n_gids && i < ELEMENTSOF(id->gids); i++)
                if (st->st_gid == id->gids[i])
                        return (st->st_mode >> 3) & 7;
        return st->st_mode & 7;
}

bool path_reachable_as(const char *path, const struct access_identity *id, bool contents) {
        char prefix[4096];
        struct stat st;
        size_t len = strlen(path);

        if (id->uid == 0)
                return true;
        if (path[0] != '/' || len >= sizeof(prefix))
                return false;
        /* Each directory above the last component, "/" first. */
        for (size_t i = 0; i < len; i++) {
                if (path[i] != '/')
                        continue;
                memcpy(prefix, path, i ? i : 1);
                prefix[i ? i : 1] = 0;
                if (stat(prefix, &st) < 0)
                        return true; /* nothing below it exists to be seen */
                if (!S_ISDIR(st.st_mode) || !(class_bits(&st, id) & 1))
                        return false;
        }
        if (!contents || stat(path, &st) < 0)
                return true;
        return (class_bits(&st, id) & 4) != 0;
}
