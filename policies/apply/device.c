/* SPDX-License-Identifier: MIT */
/* Device node modes: chmod through an O_PATH fd opened inside the apply root (opening the
 * device itself could have side effects). */
#include "device.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"

/* stat and, when mode >= 0, chmod the char device at path. */
static int chmod_device(int root_fd, const char *path, int mode, struct stat *ret) {
        _cleanup_close_ int fd = open_in_root(root_fd, path, O_PATH | O_NOFOLLOW, 0);
        char proc[64];
        struct stat st;

        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISCHR(st.st_mode))
                return -ENODEV;
        if (mode >= 0) {
                /* fchmod does not take O_PATH fds; its magic link does. */
                xsprintf(proc, "/proc/self/fd/%d", fd);
                if (chmod(proc, (mode_t) mode) < 0 || fstat(fd, &st) < 0)
                        return negative_errno();
        }
        *ret = st;
        return 0;
}

int device_mode_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        mode_t want = s->u.device.mode & 07777;
        char orig[16];
        struct stat st = { 0 };
        int r;

        r = chmod_device(c->o->root_fd, s->path, -1, &st);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "%s: %s", s->path,
                         r == -ENODEV ? "not a character device" : strerror(-r));
                return 0;
        }
        if ((st.st_mode & 07777) == want) {
                xsprintf(res->achieved, "%04o", (unsigned) want);
                step_set(res, STEP_UNCHANGED, 0, "%s already has mode %04o", s->path,
                         (unsigned) want);
                return 0;
        }
        xsprintf(orig, "%04o", (unsigned) (st.st_mode & 07777));
        r = apply_record_changed(c, JOURNAL_MODE, s->path, s->knob[0] ? s->knob : s->path, orig);
        if (r < 0)
                return r;
        r = chmod_device(c->o->root_fd, s->path, (int) want, &st);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "chmod %04o %s failed: %s", (unsigned) want, s->path,
                         strerror(-r));
                return 0;
        }
        xsprintf(res->achieved, "%04o", (unsigned) (st.st_mode & 07777));
        if ((st.st_mode & 07777) != want) {
                step_set(res, STEP_FAILED, -EIO, "%s: set mode %04o but it shows %s", s->path,
                         (unsigned) want, res->achieved);
                return 0;
        }
        step_set(res, STEP_APPLIED, 0, "%s: mode %s -> %s", s->path, orig, res->achieved);
        return 0;
}

void device_mode_revert(struct apply_ctx *c, const struct journal_entry *e,
                        struct revert_result *res) {
        mode_t orig;
        struct stat st = { 0 };
        int r;

        if (parse_mode(e->original, &orig) < 0) {
                revert_set(res, REVERT_FAILED, -EINVAL, "%s: bad mode '%s' in the journal",
                           e->object, e->original);
                return;
        }
        r = chmod_device(c->o->root_fd, e->object, -1, &st);
        if (r == -ENOENT) {
                revert_set(res, REVERT_GONE, 0, "%s no longer exists", e->object);
                return;
        }
        if (r == 0 && (st.st_mode & 07777) == orig) {
                revert_set(res, REVERT_GONE, 0, "%s already has mode %s", e->object, e->original);
                return;
        }
        if (r == 0)
                r = chmod_device(c->o->root_fd, e->object, (int) orig, &st);
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "chmod %s %s failed: %s", e->original, e->object,
                           strerror(-r));
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "%s mode restored to %s", e->object, e->original);
}
