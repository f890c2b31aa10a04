/* SPDX-License-Identifier: MIT */
/* hugetlbfs mounts: mount(2) with pagesize, mode and gid; compare with mountinfo. */
#include "mount.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mount.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "policies/apply/dirs.h"

struct mount_seen {
        char fstype[64];
        uint64_t page_size; /* 0 = not shown */
        mode_t mode;
        gid_t gid;
        bool found;
};

struct mount_find {
        const char *target;
        struct mount_seen *seen;
};

/* The last entry for the target is the one on top (mounts stack). hugetlbfs shows mode only
 * when it is not 0755 and gid only when not 0 (hugetlbfs_show_options). */
static int find_cb(const struct mount_entry *e, void *userdata) {
        struct mount_find *f = userdata;
        struct mount_seen *m = f->seen;
        char v[64];

        if (!streq(e->target, f->target))
                return 0;
        *m = (struct mount_seen){ .found = true, .mode = 0755 };
        strscpy(m->fstype, sizeof(m->fstype), e->fstype);
        if (mount_option_find(e->super_options, "pagesize", v, sizeof(v)))
                (void) parse_size(v, 0, &m->page_size);
        if (mount_option_find(e->super_options, "mode", v, sizeof(v)))
                (void) parse_mode(v, &m->mode);
        if (mount_option_find(e->super_options, "gid", v, sizeof(v))) {
                unsigned g;
                if (parse_uint(v, &g) == 0)
                        m->gid = (gid_t) g;
        }
        return 0;
}

static int mount_lookup(int root_fd, const char *target, struct mount_seen *ret) {
        _cleanup_free_ char *text = NULL;
        struct mount_seen seen = { 0 };
        struct mount_find f = { target, &seen };
        int r;

        r = read_virtual_file_alloc_at(root_fd, "proc/self/mountinfo", VIRTUAL_FILE_MAX, &text,
                                       NULL);
        if (r < 0)
                return r;
        r = mountinfo_parse(text, find_cb, &f, NULL);
        if (r < 0)
                return r;
        *ret = seen;
        return 0;
}

static bool seen_matches(const struct mount_seen *m, const struct plan_step *s) {
        return m->found && streq(m->fstype, "hugetlbfs") &&
               (m->page_size == 0 || m->page_size == s->u.mount.page_size) &&
               m->mode == (s->u.mount.mode & 07777) && m->gid == s->u.mount.gid;
}

/* A path for mount(2)/umount2(2) that names the directory under the apply root: the magic link
 * of an O_PATH fd opened inside the root. */
static int root_path_fd(struct apply_ctx *c, const char *path, char *buf, size_t size) {
        int fd = open_in_root(c->o->root_fd, path, O_PATH | O_DIRECTORY, 0);

        int r;

        if (fd < 0)
                return fd;
        r = bufprintf(buf, size, "/proc/self/fd/%d", fd);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        return fd;
}

static int do_mount(struct apply_ctx *c, const struct plan_step *s) {
        char opts[128], where[64];
        _cleanup_close_ int fd = -1;

        xsprintf(opts, "pagesize=%" PRIu64 ",mode=%04o,gid=%u", s->u.mount.page_size,
                 (unsigned) (s->u.mount.mode & 07777), (unsigned) s->u.mount.gid);
        fd = root_path_fd(c, s->path, where, sizeof(where));
        if (fd < 0)
                return fd;
        if (mount("hugetlbfs", where, "hugetlbfs", MS_NOSUID | MS_NODEV, opts) < 0)
                return negative_errno();
        return 0;
}

/* umount2 needs a path: an O_PATH fd of the mount would itself keep the mount busy, so turn
 * the root-relative path into the real one and let go of the fd first. */
static int do_umount(struct apply_ctx *c, const char *path) {
        char where[64], real[PATH_MAX];
        int fd = root_path_fd(c, path, where, sizeof(where));
        ssize_t l;

        if (fd < 0)
                return fd;
        l = readlink(where, real, sizeof(real) - 1);
        safe_close(fd);
        if (l < 0)
                return negative_errno();
        real[l] = 0;
        return umount2(real, UMOUNT_NOFOLLOW) < 0 ? negative_errno() : 0;
}

int hugetlbfs_mount_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        struct mount_seen m;
        char ps[32];
        bool ours;
        int r;

        format_size(s->u.mount.page_size, ps, sizeof(ps));
        if (s->path[0] != '/') {
                step_set(res, STEP_FAILED, -EINVAL, "mount point '%s' is not an absolute path",
                         s->path);
                return 0;
        }
        r = mount_lookup(c->o->root_fd, s->path, &m);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "cannot read /proc/self/mountinfo: %s", strerror(-r));
                return 0;
        }
        if (seen_matches(&m, s)) {
                bufprintf_trunc(res->achieved, sizeof(res->achieved),
                                "hugetlbfs pagesize=%s mode=%04o gid=%u", ps, (unsigned) m.mode,
                                (unsigned) m.gid);
                step_set(res, STEP_UNCHANGED, 0, "%s is already hugetlbfs with pagesize=%s",
                         s->path, ps);
                return 0;
        }
        ours = journal_find(c->j, JOURNAL_MOUNT, s->path) != NULL;
        if (m.found && !(ours && streq(m.fstype, "hugetlbfs"))) {
                step_set(res, STEP_FAILED, -EBUSY,
                         "%s is already a %s mount%s that hosttune did not make; left alone",
                         s->path, m.fstype,
                         streq(m.fstype, "hugetlbfs") ? " with other options" : "");
                return 0;
        }
        if (m.found) {
                /* Ours with old options: hugetlbfs cannot change pagesize on remount. */
                r = do_umount(c, s->path);
                if (r < 0) {
                        step_set(res, STEP_FAILED, r, "cannot unmount %s to change its options: %s",
                                 s->path, strerror(-r));
                        return 0;
                }
        } else {
                r = dir_create(c, s->path, 0755, NULL);
                if (r < 0) {
                        if (c->journal_error < 0)
                                return r;
                        step_set(res, STEP_FAILED, r, "cannot create mount point %s: %s", s->path,
                                 strerror(-r));
                        return 0;
                }
                r = apply_record_created(c, JOURNAL_MOUNT, s->path, s->knob[0] ? s->knob : s->path);
                if (r < 0)
                        return r;
        }
        r = do_mount(c, s);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "mounting hugetlbfs (pagesize=%s) on %s failed: %s%s",
                         ps, s->path, strerror(-r),
                         r == -EINVAL ? " (is that page size supported?)" : "");
                return 0;
        }
        r = mount_lookup(c->o->root_fd, s->path, &m);
        if (r < 0 || !seen_matches(&m, s)) {
                step_set(res, STEP_FAILED, r < 0 ? r : -EIO,
                         "mounted hugetlbfs on %s but mountinfo does not show it as asked",
                         s->path);
                return 0;
        }
        bufprintf_trunc(res->achieved, sizeof(res->achieved),
                        "hugetlbfs pagesize=%s mode=%04o gid=%u", ps, (unsigned) m.mode,
                        (unsigned) m.gid);
        step_set(res, STEP_APPLIED, 0, "mounted hugetlbfs on %s (pagesize=%s, mode %04o, gid %u)",
                 s->path, ps, (unsigned) m.mode, (unsigned) m.gid);
        return 0;
}

void mount_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res) {
        struct mount_seen m;
        int r;

        r = mount_lookup(c->o->root_fd, e->object, &m);
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "cannot read /proc/self/mountinfo: %s",
                           strerror(-r));
                return;
        }
        if (!m.found || !streq(m.fstype, "hugetlbfs")) {
                revert_set(res, REVERT_GONE, 0, "no hugetlbfs mount on %s any more", e->object);
                return;
        }
        r = do_umount(c, e->object);
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "cannot unmount %s: %s%s", e->object,
                           strerror(-r), r == -EBUSY ? " (files in it are in use)" : "");
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "unmounted hugetlbfs from %s", e->object);
}
