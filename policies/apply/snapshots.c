/* The snapshot tree: root subvolume, empty slots, prepared snapshots (libbtrfsutil), with a
 * plain-directory fallback off btrfs. */
#include "snapshots.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "lib/fileio.h"
#include "lib/fsutil.h"
#include "lib/liberrors.h"
#include "lib/util.h"
#include "policies/apply/dirs.h"
#include "policies/apply/nocow.h"

static const char *const layout_dirs[] = { "slots", "templates", "prepared" };

static bool fd_on_btrfs(int fd) {
        struct statfs sfs;

        return fstatfs(fd, &sfs) == 0 && sfs.f_type == BTRFS_SUPER_MAGIC;
}

/* Split an absolute path into its directory and last component ("/a/b/" -> "/a/b", "" when
 * the path names a directory to pick a name in). */
static int split_path(const char *path, char *dir, size_t dir_size, char *name, size_t name_size) {
        const char *slash = strrchr(path, '/');

        if (path[0] != '/' || !slash || slash == path)
                return -EINVAL;
        if ((size_t) (slash - path) >= dir_size)
                return -ENAMETOOLONG;
        memcpy(dir, path, (size_t) (slash - path));
        dir[slash - path] = 0;
        return strscpy(name, name_size, slash + 1);
}

static bool name_valid(const char *name) {
        return name[0] && !strchr(name, '/') && !streq(name, ".") && !streq(name, "..");
}

/* The lowest free "<prefix>N" in the directory at dir_fd. */
static int pick_name(int dir_fd, const char *prefix, char *buf, size_t size) {
        struct stat st;

        for (unsigned n = 0; n < 100000; n++) {
                int r = bufprintf(buf, size, "%s%u", prefix, n);
                if (r < 0)
                        return r;
                if (fstatat(dir_fd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                return 0;
                        return negative_errno();
                }
        }
        return -ENOSPC;
}

/* Open the directory a slot or prepared snapshot goes into and pick the lowest free
 * "<prefix>N" in it. */
static int resolve_dest(struct apply_ctx *c, const char *dir, const char *prefix, char *name,
                        size_t name_size, int *ret_dir_fd) {
        int r, fd;

        fd = open_in_root(c->o->root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0)
                return fd;
        r = pick_name(fd, prefix, name, name_size);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        *ret_dir_fd = fd;
        return 0;
}

/* The step's path without trailing slashes. */
static int step_dir(const struct plan_step *s, char *buf, size_t size) {
        size_t l;
        int r = strscpy(buf, size, s->path);

        if (r < 0)
                return r;
        for (l = strlen(buf); l > 1 && buf[l - 1] == '/'; l--)
                buf[l - 1] = 0;
        return buf[0] == '/' && l > 1 ? 0 : -EINVAL;
}

/* Record, then create an empty subvolume (btrfs) or directory named name in dir_fd. Returns
 * 1 for a subvolume, 0 for a directory, or a negative errno (an EEXIST race is not ours: the
 * journal entry is dropped again). */
static int create_container(struct apply_ctx *c, int dir_fd, const char *full, const char *name,
                            enum journal_kind kind, bool btrfs) {
        int r = apply_record_created(c, kind, full, full);

        if (r < 0)
                return r;
        if (btrfs) {
                enum btrfs_util_error be =
                        btrfs_util_create_subvolume_fd(dir_fd, name, 0, NULL, NULL);
                r = be == BTRFS_UTIL_OK ? 1 : btrfs_error_to_errno(be);
        } else
                r = mkdirat(dir_fd, name, 0755) < 0 ? negative_errno() : 0;
        if (r == -EEXIST)
                (void) journal_forget(c->j, kind, full);
        return r;
}

static void set_failed(struct apply_ctx *c, struct step_result *res, int r, const char *what,
                       const char *path) {
        if (c->journal_error < 0)
                return; /* the executor reports it */
        step_set(res, STEP_FAILED, r, "%s %s: %s", what, path, strerror(-r));
}

int snapshot_root_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        char dir[256], name[128], sub[300];
        _cleanup_close_ int parent = -1, fd = -1;
        bool created_root = false, btrfs;
        unsigned made = 0;
        struct stat st;
        int r;

        r = split_path(s->path, dir, sizeof(dir), name, sizeof(name));
        if (r < 0 || !name_valid(name)) {
                step_set(res, STEP_FAILED, -EINVAL, "snapshot root '%s' is not an absolute path",
                         s->path);
                return 0;
        }
        r = stat_in_root(c->o->root_fd, s->path, &st);
        if (r == 0 && !S_ISDIR(st.st_mode)) {
                step_set(res, STEP_FAILED, -ENOTDIR, "%s exists and is not a directory", s->path);
                return 0;
        }
        if (r < 0 && r != -ENOENT) {
                set_failed(c, res, r, "cannot look at", s->path);
                return 0;
        }
        if (r == -ENOENT) {
                r = dir_create_parents(c, s->path);
                if (r < 0) {
                        set_failed(c, res, r, "cannot create the parents of", s->path);
                        return c->journal_error;
                }
                parent = open_in_root(c->o->root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
                if (parent < 0) {
                        set_failed(c, res, parent, "cannot open", dir);
                        return 0;
                }
                btrfs = fd_on_btrfs(parent);
                r = create_container(c, parent, s->path, name,
                                     btrfs ? JOURNAL_SUBVOLUME : JOURNAL_DIR, btrfs);
                if (r < 0) {
                        set_failed(c, res, r,
                                   btrfs ? "cannot create subvolume" : "cannot create directory",
                                   s->path);
                        return c->journal_error;
                }
                created_root = true;
        }
        fd = open_in_root(c->o->root_fd, s->path, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0) {
                set_failed(c, res, fd, "cannot open", s->path);
                return 0;
        }
        btrfs = fd_on_btrfs(fd);
        if (!btrfs)
                snprintf(res->warning, sizeof(res->warning),
                         "%s is not on btrfs: plain directories, and every prepared snapshot is a "
                         "full copy",
                         s->path);
        for (size_t i = 0; i < ELEMENTSOF(layout_dirs); i++) {
                bool created;

                snprintf(sub, sizeof(sub), "%s/%s", s->path, layout_dirs[i]);
                r = dir_create(c, sub, 0755, &created);
                if (r < 0) {
                        set_failed(c, res, r, "cannot create", sub);
                        return c->journal_error;
                }
                made += created;
        }
        strscpy(res->achieved, sizeof(res->achieved),
                btrfs && btrfs_util_is_subvolume_fd(fd) == BTRFS_UTIL_OK ? "subvolume"
                                                                         : "directory");
        if (!created_root && made == 0) {
                step_set(res, STEP_UNCHANGED, 0, "%s exists with slots/, templates/, prepared/",
                         s->path);
                return 0;
        }
        step_set(res, STEP_APPLIED, 0, "%s %s %s with %s", created_root ? "created" : "completed",
                 res->achieved, s->path,
                 made == ELEMENTSOF(layout_dirs) ? "slots/, templates/, prepared/"
                                                 : "its missing subdirectories");
        return 0;
}

int snapshot_slot_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        char dir[256], name[128], full[400];
        _cleanup_close_ int dir_fd = -1, slot = -1;
        struct nocow_attrs attrs;
        bool btrfs;
        int r;

        r = step_dir(s, dir, sizeof(dir));
        if (r == 0)
                r = resolve_dest(c, dir, "slot-", name, sizeof(name), &dir_fd);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "slot in %s: %s%s", s->path, strerror(-r),
                         r == -ENOENT ? " (create the snapshot root first)" : "");
                return 0;
        }
        snprintf(full, sizeof(full), "%s/%s", dir, name);
        btrfs = fd_on_btrfs(dir_fd);
        r = create_container(c, dir_fd, full, name, JOURNAL_SNAPSHOT, btrfs);
        if (r < 0) {
                set_failed(c, res, r, "cannot create slot", full);
                return c->journal_error;
        }
        /* A new subvolume's root inode does not inherit the parent directory's flags. */
        if (btrfs && nocow_get(dir_fd, &attrs) == 0 && (attrs.nocow || attrs.compression[0])) {
                slot = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                r = slot < 0 ? negative_errno() : nocow_set(slot, &attrs);
                if (r < 0)
                        snprintf(res->warning, sizeof(res->warning),
                                 "slot %s did not take NOCOW from %s: %s", full, dir, strerror(-r));
        }
        strscpy(res->achieved, sizeof(res->achieved), full);
        if (!btrfs && !res->warning[0])
                snprintf(res->warning, sizeof(res->warning),
                         "%s is not on btrfs: a plain directory", dir);
        step_set(res, STEP_APPLIED, 0, "created empty %s %s", btrfs ? "subvolume" : "directory",
                 full);
        return 0;
}

int snapshot_prepared_apply(struct apply_ctx *c, const struct plan_step *s,
                            struct step_result *res) {
        const char *tmpl = s->u.snapshot.template_name;
        char dir[256], name[128], full[400], prepared[256], root[256], src[400], last[128];
        _cleanup_close_ int dir_fd = -1, src_fd = -1;
        int r;

        if (!name_valid(tmpl)) {
                step_set(res, STEP_FAILED, -EINVAL, "'%s' is not a template name", tmpl);
                return 0;
        }
        /* path is <root>/prepared/<template>: two levels below the root. */
        r = step_dir(s, dir, sizeof(dir));
        if (r == 0)
                r = split_path(dir, prepared, sizeof(prepared), last, sizeof(last));
        if (r == 0)
                r = split_path(prepared, root, sizeof(root), last, sizeof(last));
        if (r < 0) {
                step_set(res, STEP_FAILED, -EINVAL,
                         "'%s' is not <snapshot root>/prepared/<template>", s->path);
                return 0;
        }
        snprintf(src, sizeof(src), "%s/templates/%s", root, tmpl);
        src_fd = open_in_root(c->o->root_fd, src, O_RDONLY | O_DIRECTORY, 0);
        if (src_fd < 0) {
                step_set(res, STEP_FAILED, src_fd, "template %s: %s", src, strerror(-src_fd));
                return 0;
        }
        r = dir_create(c, dir, 0755, NULL);
        if (r == 0)
                r = resolve_dest(c, dir, "snap-", name, sizeof(name), &dir_fd);
        if (r < 0) {
                set_failed(c, res, r, "cannot create", dir);
                return c->journal_error;
        }
        snprintf(full, sizeof(full), "%s/%s", dir, name);
        r = apply_record_created(c, JOURNAL_SNAPSHOT, full, full);
        if (r < 0)
                return r;
        if (fd_on_btrfs(src_fd) && fd_on_btrfs(dir_fd) &&
            btrfs_util_is_subvolume_fd(src_fd) == BTRFS_UTIL_OK) {
                enum btrfs_util_error be =
                        btrfs_util_create_snapshot_fd2(src_fd, dir_fd, name, 0, NULL, NULL);
                r = btrfs_error_to_errno(be);
                if (r < 0) {
                        if (r == -EEXIST)
                                (void) journal_forget(c->j, JOURNAL_SNAPSHOT, full);
                        step_set(res, STEP_FAILED, r, "snapshot of %s to %s failed: %s", src, full,
                                 strerror(-r));
                        return 0;
                }
                strscpy(res->achieved, sizeof(res->achieved), full);
                step_set(res, STEP_APPLIED, 0, "snapshot of %s at %s", src, full);
                return 0;
        }
        r = copy_tree_at(src_fd, ".", dir_fd, name);
        if (r < 0) {
                if (r == -EEXIST)
                        (void) journal_forget(c->j, JOURNAL_SNAPSHOT, full);
                step_set(res, STEP_FAILED, r, "copying %s to %s failed: %s", src, full,
                         strerror(-r));
                return 0;
        }
        snprintf(res->warning, sizeof(res->warning),
                 "template %s is not a btrfs subvolume on the same file system: copied (reflinks "
                 "where possible)",
                 src);
        strscpy(res->achieved, sizeof(res->achieved), full);
        step_set(res, STEP_APPLIED, 0, "copy of %s at %s", src, full);
        return 0;
}

/* Open the parent of an absolute path and give the last component. */
static int open_parent(struct apply_ctx *c, const char *path, char *name, size_t size) {
        char dir[256];
        int r = split_path(path, dir, sizeof(dir), name, size);

        if (r < 0)
                return r;
        if (!name_valid(name))
                return -EINVAL;
        return open_in_root(c->o->root_fd, dir, O_RDONLY | O_DIRECTORY, 0);
}

/* Delete a subvolume, or remove a directory (the tree when whole is set). */
static int remove_container(int parent, const char *name, bool whole) {
        _cleanup_close_ int fd =
                openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0)
                return negative_errno();
        if (fd_on_btrfs(fd) && btrfs_util_is_subvolume_fd(fd) == BTRFS_UTIL_OK) {
                safe_close(TAKE_FD(fd));
                return btrfs_error_to_errno(btrfs_util_delete_subvolume_fd(parent, name, 0));
        }
        if (whole)
                return remove_tree_at(parent, name);
        return unlinkat(parent, name, AT_REMOVEDIR) < 0 ? negative_errno() : 0;
}

static void revert_container(struct apply_ctx *c, const struct journal_entry *e, bool whole,
                             struct revert_result *res) {
        _cleanup_close_ int parent = -1;
        char name[128];
        int n, r;

        parent = open_parent(c, e->object, name, sizeof(name));
        if (parent == -ENOENT ||
            (parent >= 0 && faccessat(parent, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
             errno == ENOENT)) {
                revert_set(res, REVERT_GONE, 0, "%s is gone%s", e->object,
                           whole ? " (taken by a lease or removed)" : "");
                return;
        }
        if (parent < 0) {
                revert_set(res, REVERT_FAILED, parent, "cannot open the parent of %s: %s",
                           e->object, strerror(-parent));
                return;
        }
        if (!whole) {
                n = dir_count_entries_at(parent, name);
                if (n > 0) {
                        revert_set(res, REVERT_KEPT, 0,
                                   "%s kept: it holds %d entr%s hosttune did not create", e->object,
                                   n, n == 1 ? "y" : "ies");
                        return;
                }
        }
        r = remove_container(parent, name, whole);
        if (r == -ENOTEMPTY || r == -EXDEV || r == -EBUSY) {
                revert_set(res, REVERT_KEPT, 0,
                           "%s kept: it holds a subvolume or mount hosttune did not create",
                           e->object);
                return;
        }
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "removing %s failed: %s", e->object,
                           strerror(-r));
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "removed %s", e->object);
}

void subvolume_revert(struct apply_ctx *c, const struct journal_entry *e,
                      struct revert_result *res) {
        revert_container(c, e, false, res);
}

void snapshot_revert(struct apply_ctx *c, const struct journal_entry *e,
                     struct revert_result *res) {
        revert_container(c, e, true, res);
}
