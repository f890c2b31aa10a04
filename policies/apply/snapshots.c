/* SPDX-License-Identifier: MIT */
/* The snapshot tree: root subvolume, empty slots, prepared snapshots (libbtrfsutil), with a
 * plain-directory fallback off btrfs. */
#include "snapshots.h"

#include <btrfsutil.h>
#include <fcntl.h>
#include <linux/btrfs_tree.h>
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
#include "policies/lease-rules.h"
#include "policies/policy.h"

static const char *const layout_dirs[] = { "slots", "templates", "prepared" };

static int count_visible_cb(const char *name, void *userdata) {
        if (name[0] != '.')
                (*(int *) userdata)++;
        return 0;
}

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
                bufprintf_trunc(res->warning, sizeof(res->warning),
                                "%s is not on btrfs: plain directories, and every prepared "
                                "snapshot is a full copy",
                                s->path);
        for (size_t i = 0; i < ELEMENTSOF(layout_dirs); i++) {
                bool created;

                r = bufprintf(sub, sizeof(sub), "%s/%s", s->path, layout_dirs[i]);
                if (r < 0) {
                        set_failed(c, res, r, "cannot create a directory in", s->path);
                        return c->journal_error;
                }
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

/* Give the new subvolume name (in parent_fd) the NOCOW flag and compression property of the
 * directory open at from_fd: a subvolume's root inode inherits nothing. */
static int inherit_attrs(int from_fd, int parent_fd, const char *name) {
        _cleanup_close_ int fd = -1;
        struct nocow_attrs attrs;

        if (nocow_get(from_fd, &attrs) < 0 || (!attrs.nocow && !attrs.compression[0]))
                return 0;
        fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? negative_errno() : nocow_set(fd, &attrs);
}

int snapshot_slot_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        char dir[256], name[128], full[400];
        _cleanup_close_ int dir_fd = -1;
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
        xsprintf(full, "%s/%s", dir, name);
        btrfs = fd_on_btrfs(dir_fd);
        r = create_container(c, dir_fd, full, name, JOURNAL_SNAPSHOT, btrfs);
        if (r < 0) {
                set_failed(c, res, r, "cannot create slot", full);
                return c->journal_error;
        }
        /* A new subvolume's root inode does not inherit the parent directory's flags. */
        if (btrfs) {
                r = inherit_attrs(dir_fd, dir_fd, name);
                if (r < 0)
                        bufprintf_trunc(res->warning, sizeof(res->warning),
                                        "slot %s did not take NOCOW from %s: %s", full, dir,
                                        strerror(-r));
        }
        strscpy(res->achieved, sizeof(res->achieved), full);
        if (!btrfs && !res->warning[0])
                bufprintf_trunc(res->warning, sizeof(res->warning),
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
        r = bufprintf(src, sizeof(src), "%s/templates/%s", root, tmpl);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "template %s under %s: %s", tmpl, root, strerror(-r));
                return 0;
        }
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
        xsprintf(full, "%s/%s", dir, name);
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
        bufprintf_trunc(res->warning, sizeof(res->warning),
                        "template %s is not a btrfs subvolume on the same file system: copied "
                        "(reflinks where possible)",
                        src);
        strscpy(res->achieved, sizeof(res->achieved), full);
        step_set(res, STEP_APPLIED, 0, "copy of %s at %s", src, full);
        return 0;
}

/* The components of an absolute path (at most max), or -EINVAL for an empty, "." or ".."
 * component anywhere: a journal entry names exactly what apply created. */
static int path_components(char *path, char **comp, unsigned max, unsigned *ret_n) {
        unsigned n = 0;

        if (path[0] != '/')
                return -EINVAL;
        for (char *s = path + 1, *slash;; s = slash + 1) {
                slash = strchr(s, '/');
                if (slash)
                        *slash = 0;
                if (!name_valid(s) || n == max)
                        return -EINVAL;
                comp[n++] = s;
                if (!slash)
                        break;
        }
        *ret_n = n;
        return 0;
}

/* Is a journal entry's object one that apply creates in a snapshot root the allow-list admits?
 * A snapshot (deleted whole) is <root>/slots/slot-N or <root>/prepared/<template>/snap-N; a
 * subvolume (removed only when empty) is the root itself. NULL, or why not. */
static const char *revert_shape_refused(const struct journal_entry *e, char **comp, unsigned n) {
        char root[POLICY_PATH_MAX] = "";
        unsigned root_n;
        const char *why;

        if (e->kind == JOURNAL_SUBVOLUME)
                root_n = n;
        else if (n >= 3 && streq(comp[n - 2], "slots") && startswith(comp[n - 1], "slot-"))
                root_n = n - 2;
        else if (n >= 4 && streq(comp[n - 3], "prepared") && startswith(comp[n - 1], "snap-"))
                root_n = n - 3;
        else
                return "is not <snapshot root>/slots/slot-N or <snapshot root>/prepared/"
                       "<template>/snap-N";
        for (unsigned i = 0; i < root_n; i++)
                if (strlen(root) + 1 + strlen(comp[i]) < sizeof(root))
                        strcat(strcat(root, "/"), comp[i]);
        why = policy_path_refused(POLICY_PATH_SNAPSHOT_ROOT, root);
        return why ? "is not inside a snapshot root hosttune may use (docs/policy.md, Paths)"
                   : NULL;
}

/* Open the directory that holds a journal entry's object, walking down from the apply root one
 * component at a time with O_NOFOLLOW, so a symlink planted anywhere on the way (or an entry
 * crafted to name another tree) cannot make revert delete outside the snapshot root. Gives
 * the last component in name; *ret_why says why an entry is refused (-EPERM). */
static int open_parent(struct apply_ctx *c, const struct journal_entry *e, char *name, size_t size,
                       const char **ret_why) {
        char path[sizeof(e->object)], *comp[64];
        _cleanup_close_ int fd = -1;
        unsigned n;
        int r;

        *ret_why = NULL;
        strscpy(path, sizeof(path), e->object);
        if (path_components(path, comp, ELEMENTSOF(comp), &n) < 0) {
                *ret_why = "is not an absolute path without '.', '..' or empty components";
                return -EPERM;
        }
        *ret_why = revert_shape_refused(e, comp, n);
        if (*ret_why)
                return -EPERM;
        fd = fcntl(c->o->root_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return negative_errno();
        for (unsigned i = 0; i + 1 < n; i++) {
                int next = openat(fd, comp[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (next < 0) {
                        r = negative_errno();
                        if (r == -ELOOP || r == -ENOTDIR) {
                                *ret_why = "has a symlink or a non-directory on its way";
                                return -EPERM;
                        }
                        return r;
                }
                safe_close(fd);
                fd = next;
        }
        r = strscpy(name, size, comp[n - 1]);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* Delete a subvolume (with the subvolumes below it when recursive), or remove a directory
 * (the tree when whole is set). */
static int remove_container(int parent, const char *name, bool whole, bool recursive) {
        _cleanup_close_ int fd =
                openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (fd < 0)
                return negative_errno();
        if (fd_on_btrfs(fd) && btrfs_util_is_subvolume_fd(fd) == BTRFS_UTIL_OK) {
                safe_close(TAKE_FD(fd));
                return btrfs_error_to_errno(btrfs_util_delete_subvolume_fd(
                        parent, name, recursive ? BTRFS_UTIL_DELETE_SUBVOLUME_RECURSIVE : 0));
        }
        if (whole)
                return remove_tree_at(parent, name);
        return unlinkat(parent, name, AT_REMOVEDIR) < 0 ? negative_errno() : 0;
}

static void revert_container(struct apply_ctx *c, const struct journal_entry *e, bool whole,
                             struct revert_result *res) {
        _cleanup_close_ int parent = -1;
        const char *why;
        char name[128];
        struct stat pst, st;
        int n, r;

        parent = open_parent(c, e, name, sizeof(name), &why);
        if (why) {
                revert_set(res, REVERT_FAILED, -EPERM,
                           "refused to remove %s: it %s; the entry stays in the journal", e->object,
                           why);
                return;
        }
        /* Only a subvolume (its own st_dev) or a directory of the root's file system: a
         * symlink or a mount point put there is not what apply created. */
        if (parent >= 0 && fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            (!S_ISDIR(st.st_mode) ||
             (fstat(parent, &pst) == 0 && st.st_dev != pst.st_dev &&
              !(fd_on_btrfs(parent) && st.st_ino == BTRFS_FIRST_FREE_OBJECTID)))) {
                revert_set(res, REVERT_FAILED, -EPERM,
                           "refused to remove %s: it is %s, not the directory or subvolume "
                           "hosttune created; the entry stays in the journal",
                           e->object, S_ISDIR(st.st_mode) ? "a mount point" : "not a directory");
                return;
        }
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
                /* The directory leases keep their snapshot directories in (docs/leases.md)
                 * is not content of the root's: removed with it when empty. */
                _cleanup_close_ int self =
                        openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (self >= 0)
                        (void) unlinkat(self, LEASES_SNAPSHOT_DIR, AT_REMOVEDIR);
                n = dir_count_entries_at(parent, name);
                if (n > 0) {
                        revert_set(res, REVERT_KEPT, 0,
                                   "%s kept: it holds %d entr%s hosttune did not create", e->object,
                                   n, n == 1 ? "y" : "ies");
                        return;
                }
        }
        r = remove_container(parent, name, whole, false);
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

/* ---- leases ---- */

/* Open <root>/<sub> (a directory) under the root fd. */
static int open_sub(int root_fd, const char *root, const char *sub) {
        char path[LEASE_PATH_MAX];
        int r = bufprintf(path, sizeof(path), "%s/%s", root, sub);

        return r < 0 ? r : open_in_root(root_fd, path, O_RDONLY | O_DIRECTORY, 0);
}

/* <root>/leases, created when missing. World-traversable: a lease's directory belongs to its
 * holder, who must reach it through here. */
static int open_leases_dir(int root_fd, const char *root) {
        _cleanup_close_ int root_dir = open_in_root(root_fd, root, O_RDONLY | O_DIRECTORY, 0);
        int fd;

        if (root_dir < 0)
                return root_dir;
        if (mkdirat(root_dir, LEASES_SNAPSHOT_DIR, 0755) < 0 && errno != EEXIST)
                return negative_errno();
        fd = openat(root_dir, LEASES_SNAPSHOT_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? negative_errno() : fd;
}

static void lease_dir_result(int leases_fd, const char *root, const char *id,
                             enum lease_snapshot_source source, struct snapshot_lease_dir *ret) {
        _cleanup_close_ int fd =
                openat(leases_fd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        /* LEASE_PATH_MAX holds a snapshot root, "/leases/" and a lease id. */
        xsprintf(ret->path, "%s/%s/%s", root, LEASES_SNAPSHOT_DIR, id);
        ret->subvolume =
                fd >= 0 && fd_on_btrfs(fd) && btrfs_util_is_subvolume_fd(fd) == BTRFS_UTIL_OK;
        ret->source = source;
}

/* The directory is the holder's: owner and group, nothing below (O(1); a template's files keep
 * their owners, so give them to the VM user or make them group-writable). */
static int give(int leases_fd, const char *id, uid_t uid, gid_t gid) {
        return fchownat(leases_fd, id, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? negative_errno() : 0;
}

struct first_name {
        char name[256];
        const char *skip; /* an entry a failed rename showed to be gone */
};

static int first_name_cb(const char *name, void *userdata) {
        struct first_name *f = userdata;

        /* Hidden names are not prepared entries (the probes do not count them either). */
        if (name[0] == '.' || (f->skip && streq(name, f->skip)))
                return 0;
        if (strscpy(f->name, sizeof(f->name), name) < 0)
                return 0;
        return -ECANCELED;
}

int snapshot_lease_take(int root_fd, const char *root, const char *tmpl, const char *id, uid_t uid,
                        gid_t gid, struct snapshot_lease_dir *ret) {
        _cleanup_close_ int src = -1, leases = -1;
        char sub[LEASE_PATH_MAX];
        struct first_name f = { .skip = NULL };
        char gone[256] = "";
        int r;

        if ((tmpl[0] && !lease_template_name_valid(tmpl)) || !lease_id_valid(id))
                return -EINVAL;
        r = tmpl[0] ? bufprintf(sub, sizeof(sub), "prepared/%s", tmpl)
                    : strscpy(sub, sizeof(sub), "slots");
        if (r < 0)
                return r;
        src = open_sub(root_fd, root, sub);
        if (src == -ENOENT)
                return -EAGAIN;
        if (src < 0)
                return src;
        /* The first entry: rename(2) is atomic, so an entry is moved exactly once; one that
         * vanished between listing and renaming (a revert) makes us look again. */
        for (int attempt = 0; attempt < 8; attempt++) {
                f.name[0] = 0;
                f.skip = gone[0] ? gone : NULL;
                r = read_dir_names_at(src, ".", first_name_cb, &f);
                if (r < 0 && r != -ECANCELED)
                        return r;
                if (!f.name[0])
                        return -EAGAIN;
                if (leases < 0) {
                        leases = open_leases_dir(root_fd, root);
                        if (leases < 0)
                                return leases;
                }
                if (renameat(src, f.name, leases, id) == 0) {
                        r = give(leases, id, uid, gid);
                        if (r < 0) {
                                (void) remove_container(leases, id, true, true);
                                return r;
                        }
                        lease_dir_result(leases, root, id,
                                         tmpl[0] ? LEASE_SNAPSHOT_PREPARED : LEASE_SNAPSHOT_SLOT,
                                         ret);
                        return 0;
                }
                if (errno != ENOENT)
                        return negative_errno();
                strscpy(gone, sizeof(gone), f.name);
        }
        return -EAGAIN;
}

int snapshot_lease_make(int root_fd, const char *root, const char *tmpl, const char *id, uid_t uid,
                        gid_t gid, struct snapshot_lease_dir *ret) {
        _cleanup_close_ int leases = -1, src = -1;
        enum lease_snapshot_source source;
        char sub[LEASE_PATH_MAX];
        bool btrfs;
        int r;

        if ((tmpl[0] && !lease_template_name_valid(tmpl)) || !lease_id_valid(id))
                return -EINVAL;
        leases = open_leases_dir(root_fd, root);
        if (leases < 0)
                return leases;
        btrfs = fd_on_btrfs(leases);
        if (tmpl[0]) {
                r = bufprintf(sub, sizeof(sub), "templates/%s", tmpl);
                if (r < 0)
                        return r;
                src = open_sub(root_fd, root, sub);
                if (src < 0)
                        return src;
                if (btrfs && fd_on_btrfs(src) && btrfs_util_is_subvolume_fd(src) == BTRFS_UTIL_OK) {
                        r = btrfs_error_to_errno(
                                btrfs_util_create_snapshot_fd2(src, leases, id, 0, NULL, NULL));
                        source = LEASE_SNAPSHOT_SNAPSHOT;
                } else {
                        r = copy_tree_at(src, ".", leases, id);
                        source = LEASE_SNAPSHOT_COPY;
                }
        } else if (btrfs) {
                r = btrfs_error_to_errno(btrfs_util_create_subvolume_fd(leases, id, 0, NULL, NULL));
                source = LEASE_SNAPSHOT_NEW_SUBVOLUME;
                if (r == 0) {
                        /* Like a prepared slot: the attributes of slots/ (NOCOW for images). */
                        src = open_sub(root_fd, root, "slots");
                        if (src >= 0)
                                (void) inherit_attrs(src, leases, id);
                }
        } else {
                r = mkdirat(leases, id, 0755) < 0 ? negative_errno() : 0;
                source = LEASE_SNAPSHOT_NEW_DIRECTORY;
        }
        if (r < 0)
                return r;
        r = give(leases, id, uid, gid);
        if (r < 0) {
                (void) remove_container(leases, id, true, true);
                return r;
        }
        lease_dir_result(leases, root, id, source, ret);
        return 0;
}

int snapshot_lease_delete(int root_fd, const char *root, const char *id) {
        _cleanup_close_ int leases = -1;
        int r;

        if (!lease_id_valid(id))
                return -EINVAL;
        leases = open_sub(root_fd, root, LEASES_SNAPSHOT_DIR);
        if (leases == -ENOENT)
                return 0;
        if (leases < 0)
                return leases;
        r = remove_container(leases, id, true, true);
        return r == -ENOENT ? 0 : r;
}

int snapshot_template_lookup(int root_fd, const char *root, const char *tmpl) {
        _cleanup_close_ int dir = -1;
        struct stat st;

        if (!lease_template_name_valid(tmpl))
                return -EINVAL;
        dir = open_sub(root_fd, root, "templates");
        if (dir < 0)
                return dir;
        /* A symlink is no template: it could point anywhere. */
        if (fstatat(dir, tmpl, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (S_ISLNK(st.st_mode))
                return -ELOOP;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int snapshot_prepared_count(int root_fd, const char *root, const char *tmpl) {
        char path[LEASE_PATH_MAX];
        int n = 0, r;

        r = tmpl[0] ? bufprintf(path, sizeof(path), "%s/prepared/%s", root, tmpl)
                    : bufprintf(path, sizeof(path), "%s/slots", root);
        if (r < 0)
                return r;
        r = read_dir_names_at(root_fd, path, count_visible_cb, &n);
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : n;
}
