/* SPDX-License-Identifier: MIT */
/* Probe context: root directory fd, fixture detection, and lazily shared inputs. */
#include "probes/context.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "probes/report.h"

int probe_ctx_open(const char *root, const struct probe_targets *targets, struct probe_ctx *ret) {
        struct probe_ctx ctx = { .root_fd = -1 };
        struct stat st_root, st_slash;
        int fd;

        fd = open(root ? root : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        ctx.root_fd = fd;
        /* "Live" means the root is this machine's own "/" (same inode), whatever path named it. */
        if (fstat(fd, &st_root) == 0 && stat("/", &st_slash) == 0)
                ctx.live = st_root.st_dev == st_slash.st_dev && st_root.st_ino == st_slash.st_ino;
        ctx.fixture = !ctx.live && faccessat(fd, FIXTURE_DIR, F_OK, 0) == 0;
        fileio_trust_kernel_files_at(fd, ctx.live);
        ctx.detail = true;
        if (targets)
                ctx.targets = *targets;
        *ret = ctx;
        return 0;
}

void probe_ctx_done(struct probe_ctx *ctx) {
        if (ctx->root_fd >= 0)
                fileio_trust_kernel_files_at(ctx->root_fd, false);
        safe_close(ctx->root_fd);
        ctx->root_fd = -1;
        free(ctx->mountinfo);
        ctx->mountinfo = NULL;
        free(ctx->meminfo);
        ctx->meminfo = NULL;
}

/* Read a shared input once and remember the result (text or error). */
static int load_once(struct probe_ctx *ctx, const char *path, char **text, int *error, bool *loaded,
                     const char **ret) {
        if (!*loaded) {
                *error = read_virtual_file_alloc_at(ctx->root_fd, path, VIRTUAL_FILE_MAX, text,
                                                    NULL);
                *loaded = true;
        }
        if (*error < 0)
                return *error;
        *ret = *text;
        return 0;
}

int probe_ctx_mountinfo(struct probe_ctx *ctx, const char **ret) {
        return load_once(ctx, "proc/self/mountinfo", &ctx->mountinfo, &ctx->mountinfo_error,
                         &ctx->mountinfo_loaded, ret);
}

int probe_ctx_meminfo(struct probe_ctx *ctx, const char **ret) {
        return load_once(ctx, "proc/meminfo", &ctx->meminfo, &ctx->meminfo_error,
                         &ctx->meminfo_loaded, ret);
}

int probe_ctx_fixture_value(struct probe_ctx *ctx, const char *file, const char *key, char *buf,
                            size_t size) {
        char path[256], text[16384];
        size_t kl;
        ssize_t n;
        int r;

        if (!ctx->fixture)
                return -ENOENT;
        while (*key == '/')
                key++;
        kl = strlen(key);
        r = bufprintf(path, sizeof(path), FIXTURE_DIR "/%s", file);
        if (r < 0)
                return r;
        n = read_virtual_file_at(ctx->root_fd, path, text, sizeof(text));
        if (n < 0)
                return (int) n;
        for (char *line = text; line && *line;) {
                char *next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                while (*line == '/')
                        line++;
                if (strncmp(line, key, kl) == 0 && (line[kl] == ' ' || line[kl] == '\t')) {
                        const char *v = line + kl + strspn(line + kl, " \t");
                        r = strscpy(buf, size, v);
                        if (r < 0)
                                return r;
                        strstrip_trailing(buf);
                        return 0;
                }
                line = next;
        }
        return -ENOENT;
}

/* A fixture describes a device as "<type c|b> <major> <minor> <mode> <uid> <gid> [acl]". */
static int fixture_device(struct probe_ctx *ctx, const char *path, struct device_facts *ret) {
        struct device_facts d = { 0 };
        char v[128], type[4], acl[8] = "";
        unsigned major, minor, mode;
        unsigned long uid, gid;
        int r, n;

        while (*path == '/')
                path++;
        r = probe_ctx_fixture_value(ctx, "devices", path, v, sizeof(v));
        if (r == -ENOENT) {
                *ret = d;
                return 0;
        }
        if (r < 0)
                return r;
        n = sscanf(v, "%3s %u %u %o %lu %lu %7s", type, &major, &minor, &mode, &uid, &gid, acl);
        if (n < 6 || (!streq(type, "c") && !streq(type, "b")) || mode > 07777)
                return -EBADMSG;
        d.exists = true;
        d.is_char = streq(type, "c");
        d.is_block = streq(type, "b");
        d.major = major;
        d.minor = minor;
        d.mode = (mode_t) mode;
        d.uid = (uid_t) uid;
        d.gid = (gid_t) gid;
        d.has_acl = streq(acl, "acl");
        *ret = d;
        return 0;
}

static int device_facts(struct probe_ctx *ctx, const char *path, bool want_acl,
                        struct device_facts *ret) {
        struct device_facts d = { 0 };
        _cleanup_close_ int fd = -1;
        struct stat st;
        char fdpath[PATH_MAX];

        if (ctx->fixture)
                return fixture_device(ctx, path, ret);
        while (*path == '/')
                path++;
        if (ctx->live) {
                /* The root is "/": symlinks cannot leave it, one fstatat does. */
                if (fstatat(ctx->root_fd, path, &st, 0) < 0) {
                        if (errno == ENOENT) {
                                *ret = d;
                                return 0;
                        }
                        return negative_errno();
                }
        } else {
                fd = open_in_root(ctx->root_fd, path, O_PATH, 0);
                if (fd == -ENOENT) {
                        *ret = d;
                        return 0;
                }
                if (fd < 0)
                        return fd;
                if (fstat(fd, &st) < 0)
                        return negative_errno();
        }
        d.exists = true;
        d.is_char = S_ISCHR(st.st_mode);
        d.is_block = S_ISBLK(st.st_mode);
        d.major = major(st.st_rdev);
        d.minor = minor(st.st_rdev);
        d.mode = st.st_mode & 07777;
        d.uid = st.st_uid;
        d.gid = st.st_gid;
        /* An ACL matters only when the mode bits do not already let everyone in. An O_PATH fd
         * cannot take fgetxattr, so go through its /proc/self/fd link. */
        if (want_acl && (d.mode & 0006) != 0006) {
                int r = 0;

                if (fd >= 0)
                        xsprintf(fdpath, "/proc/self/fd/%d", fd);
                else
                        r = bufprintf(fdpath, sizeof(fdpath), "/%s", path);
                d.has_acl = r >= 0 && getxattr(fdpath, "system.posix_acl_access", NULL, 0) > 0;
        }
        *ret = d;
        return 0;
}

int probe_ctx_device(struct probe_ctx *ctx, const char *path, struct device_facts *ret) {
        return device_facts(ctx, path, ctx->detail, ret);
}

int probe_ctx_device_acl(struct probe_ctx *ctx, const char *path, struct device_facts *ret) {
        return device_facts(ctx, path, true, ret);
}

bool probe_ctx_exists(struct probe_ctx *ctx, const char *path) {
        _cleanup_close_ int fd = -1;

        while (*path == '/')
                path++;
        if (ctx->live)
                return faccessat(ctx->root_fd, path, F_OK, 0) == 0;
        fd = open_in_root(ctx->root_fd, path, O_PATH, 0);
        return fd >= 0;
}

int probe_ctx_readlink(struct probe_ctx *ctx, const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open_in_root(ctx->root_fd, path, O_PATH | O_NOFOLLOW, 0);
        ssize_t n;

        if (fd < 0)
                return fd;
        if (size < 2)
                return -EINVAL;
        /* An empty path reads the link an O_PATH|O_NOFOLLOW fd refers to. */
        n = readlinkat(fd, "", buf, size - 1);
        if (n < 0)
                return errno == ENOENT ? -EINVAL : negative_errno();
        buf[n] = 0;
        return (int) n;
}

const char *probe_ctx_snapshot_root(const struct probe_ctx *ctx) {
        return ctx->targets.snapshot_root ? ctx->targets.snapshot_root : DEFAULT_SNAPSHOT_ROOT;
}

const char *probe_ctx_tap_prefix(const struct probe_ctx *ctx) {
        return ctx->targets.tap_prefix ? ctx->targets.tap_prefix : DEFAULT_TAP_PREFIX;
}

const char *probe_ctx_nix_conf(const struct probe_ctx *ctx) {
        return ctx->targets.nix_conf ? ctx->targets.nix_conf : DEFAULT_NIX_CONF;
}
