/* SPDX-License-Identifier: MIT */
/* NOCOW and the compression property on btrfs directories. */
#include "nocow.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

#include "lib/fileio.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#define COMPRESSION_XATTR "btrfs.compression"

int nocow_get(int fd, struct nocow_attrs *ret) {
        struct nocow_attrs a = { 0 };
        int flags;
        ssize_t n;

        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
                return negative_errno();
        a.nocow = flags & FS_NOCOW_FL;
        n = fgetxattr(fd, COMPRESSION_XATTR, a.compression, sizeof(a.compression) - 1);
        if (n < 0 && errno != ENODATA && errno != EOPNOTSUPP)
                return negative_errno();
        a.compression[n > 0 ? n : 0] = 0;
        *ret = a;
        return 0;
}

int nocow_set(int fd, const struct nocow_attrs *attrs) {
        int flags;

        if (!attrs->compression[0] || attrs->nocow) {
                if (fremovexattr(fd, COMPRESSION_XATTR) < 0 && errno != ENODATA)
                        return negative_errno();
        }
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) < 0)
                return negative_errno();
        /* GETFLAGS reports the compression property as FS_COMPR_FL; handing it back with
         * FS_NOCOW_FL is -EINVAL (they exclude each other). */
        flags &= ~(FS_COMPR_FL | FS_NOCOMP_FL | FS_NOCOW_FL);
        if (attrs->nocow)
                flags |= FS_NOCOW_FL;
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
                return negative_errno();
        if (attrs->compression[0] && !attrs->nocow &&
            fsetxattr(fd, COMPRESSION_XATTR, attrs->compression, strlen(attrs->compression), 0) < 0)
                return negative_errno();
        return 0;
}

int nocow_format(const struct nocow_attrs *a, char *buf, size_t size) {
        return bufprintf(buf, size, "nocow=%d compression=%s", a->nocow ? 1 : 0, a->compression);
}

int nocow_parse(const char *s, struct nocow_attrs *ret) {
        struct nocow_attrs a = { 0 };
        const char *p;

        if ((p = startswith(s, "nocow=1 compression=")))
                a.nocow = true;
        else if (!(p = startswith(s, "nocow=0 compression=")))
                return -EINVAL;
        if (strscpy(a.compression, sizeof(a.compression), p) < 0)
                return -EINVAL;
        *ret = a;
        return 0;
}

/* Set NOCOW on one directory, journaled. Returns 1 changed, 0 already so, negative errno. */
static int nocow_one(struct apply_ctx *c, const char *path, char *err, size_t err_size) {
        _cleanup_close_ int fd = open_in_root(c->o->root_fd, path, O_RDONLY | O_DIRECTORY, 0);
        struct nocow_attrs cur = { 0 }, want = { .nocow = true };
        char orig[NOCOW_FORMAT_MAX];
        int r;

        if (fd < 0) {
                bufprintf_trunc(err, err_size, "cannot open %s: %s", path, strerror(-fd));
                return fd;
        }
        r = nocow_get(fd, &cur);
        if (r < 0) {
                bufprintf_trunc(err, err_size, "cannot read the flags of %s: %s", path,
                                strerror(-r));
                return r;
        }
        if (cur.nocow && !cur.compression[0])
                return 0;
        r = nocow_format(&cur, orig, sizeof(orig));
        if (r < 0)
                return r;
        r = apply_record_changed(c, JOURNAL_NOCOW, path, path, orig);
        if (r < 0)
                return r;
        r = nocow_set(fd, &want);
        if (r == 0)
                r = nocow_get(fd, &cur);
        if (r == 0 && (!cur.nocow || cur.compression[0]))
                r = -EIO;
        if (r < 0)
                bufprintf_trunc(err, err_size, "setting NOCOW on %s failed: %s", path,
                                strerror(-r));
        return r < 0 ? r : 1;
}

int nocow_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        _cleanup_close_ int fd = open_in_root(c->o->root_fd, s->path, O_RDONLY | O_DIRECTORY, 0);
        size_t plen = strlen(s->path);
        unsigned changed = 0;
        struct statfs sfs;
        char err[384];
        int r;

        if (fd < 0) {
                step_set(res, STEP_FAILED, fd, "cannot open directory %s: %s", s->path,
                         strerror(-fd));
                return 0;
        }
        if (fstatfs(fd, &sfs) < 0) {
                r = negative_errno();
                step_set(res, STEP_FAILED, r, "statfs %s: %s", s->path, strerror(-r));
                return 0;
        }
        if (sfs.f_type != BTRFS_SUPER_MAGIC) {
                bufprintf_trunc(res->warning, sizeof(res->warning),
                                "%s is not on btrfs: NOCOW and compression do not apply", s->path);
                step_set(res, STEP_UNCHANGED, 0, "%s: nothing to do off btrfs", s->path);
                return 0;
        }
        /* The directory itself, then the ones below it that this apply (or an earlier one)
         * created, from the journal by index: nocow_one appends entries of another kind. */
        for (int i = -1; i < (int) journal_size(c->j); i++) {
                const struct journal_entry *e = i < 0 ? NULL : journal_entry_at(c->j, (unsigned) i);
                char path[sizeof(e->object)];

                if (e && (e->action != JOURNAL_CREATED ||
                          (e->kind != JOURNAL_DIR && e->kind != JOURNAL_SUBVOLUME &&
                           e->kind != JOURNAL_SNAPSHOT) ||
                          strncmp(e->object, s->path, plen) != 0 || e->object[plen] != '/'))
                        continue;
                strscpy(path, sizeof(path), e ? e->object : s->path);
                /* Only empty ones: a prepared snapshot keeps its template's attributes. */
                if (e && dir_is_empty_at(c->o->root_fd, path) != 1)
                        continue;
                r = nocow_one(c, path, err, sizeof(err));
                if (r == -ENOENT && e)
                        continue;
                if (r < 0) {
                        if (c->journal_error < 0)
                                return r;
                        step_set(res, STEP_FAILED, r, "%s", err);
                        return 0;
                }
                changed += (unsigned) r;
        }
        strscpy(res->achieved, sizeof(res->achieved), "nocow=1 compression=");
        if (changed == 0)
                step_set(res, STEP_UNCHANGED, 0, "%s is already NOCOW without compression",
                         s->path);
        else
                step_set(res, STEP_APPLIED, 0,
                         "NOCOW set and compression property removed on %u director%s at %s",
                         changed, changed == 1 ? "y" : "ies", s->path);
        return 0;
}

void nocow_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res) {
        _cleanup_close_ int fd = open_in_root(c->o->root_fd, e->object, O_RDONLY | O_DIRECTORY, 0);
        struct nocow_attrs orig, cur = { 0 };
        int r;

        if (nocow_parse(e->original, &orig) < 0) {
                revert_set(res, REVERT_FAILED, -EINVAL, "%s: bad journal value '%s'", e->object,
                           e->original);
                return;
        }
        if (fd == -ENOENT) {
                revert_set(res, REVERT_GONE, 0, "%s no longer exists", e->object);
                return;
        }
        r = fd < 0 ? fd : nocow_get(fd, &cur);
        if (r == 0 && cur.nocow == orig.nocow && streq(cur.compression, orig.compression)) {
                revert_set(res, REVERT_GONE, 0, "%s already has %s", e->object, e->original);
                return;
        }
        if (r == 0)
                r = nocow_set(fd, &orig);
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "restoring %s on %s failed: %s", e->original,
                           e->object, strerror(-r));
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "%s back to %s", e->object, e->original);
}
