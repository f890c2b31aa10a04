/* SPDX-License-Identifier: MIT */
/* Journaled directory creation and its undo. */
#include "dirs.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "lib/fileio.h"
#include "lib/fsutil.h"
#include "lib/util.h"

/* mkdir one directory, journaled first; an EEXIST race means it is not ours. */
static int mkdir_journaled(struct apply_ctx *c, const char *path, mode_t mode, bool *ret_created) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        r = stat_in_root(c->o->root_fd, path, &st);
        if (r == 0) {
                *ret_created = false;
                return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        }
        if (r != -ENOENT)
                return r;
        r = apply_record_created(c, JOURNAL_DIR, path, path);
        if (r < 0)
                return r;
        if (mkdirat(c->o->root_fd, root_relative(path), mode) < 0) {
                int e = negative_errno();
                (void) journal_forget(c->j, JOURNAL_DIR, path);
                if (e == -EEXIST) {
                        *ret_created = false;
                        return 0;
                }
                return e;
        }
        /* mkdir's mode went through the umask. Set it on a descriptor of the directory, never by
         * path: fchmodat follows a symbolic link that someone swapped in since the mkdir, and
         * would chmod its target as root (lib/fileio.c). */
        fd = open_in_root(c->o->root_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
        if (fd < 0)
                return fd;
        if (fchmod(fd, mode) < 0)
                return negative_errno();
        *ret_created = true;
        return 0;
}

int dir_create_parents(struct apply_ctx *c, const char *path) {
        char buf[256];
        bool created = false;
        int r;

        if (path[0] != '/')
                return -EINVAL;
        r = strscpy(buf, sizeof(buf), path);
        if (r < 0)
                return r;
        for (char *p = buf + 1; (p = strchr(p, '/')); p++) {
                *p = 0;
                r = mkdir_journaled(c, buf, 0755, &created);
                *p = '/';
                if (r < 0)
                        return r;
        }
        return 0;
}

int dir_create(struct apply_ctx *c, const char *path, mode_t mode, bool *ret_created) {
        bool created = false;
        int r;

        r = dir_create_parents(c, path);
        if (r < 0)
                return r;
        r = mkdir_journaled(c, path, mode, &created);
        if (r < 0)
                return r;
        if (ret_created)
                *ret_created = created;
        return 0;
}

void dir_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res) {
        int n = dir_count_entries_at(c->o->root_fd, root_relative(e->object));

        if (n == -ENOENT) {
                revert_set(res, REVERT_GONE, 0, "directory %s is already gone", e->object);
                return;
        }
        if (n < 0) {
                revert_set(res, REVERT_FAILED, n, "cannot read directory %s: %s", e->object,
                           strerror(-n));
                return;
        }
        if (n > 0) {
                revert_set(res, REVERT_KEPT, 0,
                           "directory %s kept: it holds %d entr%s hosttune did not create",
                           e->object, n, n == 1 ? "y" : "ies");
                return;
        }
        if (unlinkat(c->o->root_fd, root_relative(e->object), AT_REMOVEDIR) < 0) {
                int r = negative_errno();
                revert_set(res, REVERT_FAILED, r, "cannot remove %s: %s", e->object, strerror(-r));
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "removed directory %s", e->object);
}
