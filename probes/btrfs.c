/* SPDX-License-Identifier: MIT */
/* btrfs probe: mounts with their options, and what the snapshot root is (subvolume, NOCOW,
 * compression). */
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/xattr.h>

#include <btrfsutil.h>

#include "lib/fileio.h"
#include "lib/liberrors.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "probes/probes.h"

static int btrfs_mount_cb(const struct mount_entry *e, void *userdata) {
        struct btrfs_facts *b = userdata;
        struct btrfs_mount *m;
        char v[64];

        if (!streq(e->fstype, "btrfs") || b->n_mounts >= BTRFS_MOUNTS_MAX)
                return 0;
        m = &b->mounts[b->n_mounts++];
        strscpy(m->target, sizeof(m->target), e->target);
        strscpy(m->source, sizeof(m->source), e->source);
        if (mount_option_find(e->super_options, "subvol", v, sizeof(v)))
                strscpy(m->subvol, sizeof(m->subvol), v);
        if (mount_option_find(e->super_options, "compress", v, sizeof(v)) ||
            mount_option_find(e->super_options, "compress-force", v, sizeof(v)))
                strscpy(m->compress, sizeof(m->compress), v[0] ? v : "zlib");
        m->noatime = mount_option_find(e->mount_options, "noatime", NULL, 0);
        m->space_cache_v2 =
                mount_option_find(e->super_options, "space_cache", v, sizeof(v)) && streq(v, "v2");
        m->discard_async =
                mount_option_find(e->super_options, "discard", v, sizeof(v)) && streq(v, "async");
        m->ssd = mount_option_find(e->super_options, "ssd", NULL, 0);
        return 0;
}

/* Fixture form: "<path> fs=btrfs subvolume=1 nocow=0 compression=zstd". */
static int path_facts_fixture(struct probe_ctx *ctx, const char *rel, struct path_facts *p) {
        char v[256], word[64];
        const char *s;
        int r;

        r = probe_ctx_fixture_value(ctx, "paths", rel, v, sizeof(v));
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        p->exists = p->is_dir = true;
        for (s = v; *s;) {
                size_t l = strcspn(s, " ");
                if (l < sizeof(word)) {
                        memcpy(word, s, l);
                        word[l] = 0;
                        if (streq(word, "fs=btrfs"))
                                p->on_btrfs = true;
                        else if (streq(word, "subvolume=1"))
                                p->is_subvolume = true;
                        else if (streq(word, "nocow=1"))
                                p->nocow = 1;
                        else if (streq(word, "nocow=0"))
                                p->nocow = 0;
                        else if (startswith(word, "compression="))
                                strscpy(p->compression, sizeof(p->compression), word + 12);
                }
                s += l;
                s += strspn(s, " ");
        }
        return 0;
}

int probe_path_facts(struct probe_ctx *ctx, const char *path, struct path_facts *ret) {
        struct path_facts p = { .nocow = -1 };
        _cleanup_close_ int fd = -1;
        struct statfs sfs;
        struct stat st;
        int flags, r;
        ssize_t n;

        strscpy(p.path, sizeof(p.path), path);
        while (*path == '/')
                path++;
        if (ctx->fixture) {
                r = path_facts_fixture(ctx, path, &p);
                if (r < 0)
                        p.error = r;
                *ret = p;
                return 0;
        }
        fd = open_in_root(ctx->root_fd, path, O_RDONLY | O_DIRECTORY, 0);
        if (fd == -ENOENT || fd == -ENOTDIR) {
                p.exists = fd == -ENOTDIR;
                *ret = p;
                return 0;
        }
        if (fd < 0) {
                p.error = fd;
                *ret = p;
                return 0;
        }
        p.exists = p.is_dir = true;
        if (fstatfs(fd, &sfs) < 0 || fstat(fd, &st) < 0) {
                p.error = negative_errno();
                *ret = p;
                return 0;
        }
        p.on_btrfs = sfs.f_type == BTRFS_SUPER_MAGIC;
        if (p.on_btrfs) {
                enum btrfs_util_error be = btrfs_util_is_subvolume_fd(fd);
                p.is_subvolume = be == BTRFS_UTIL_OK;
                if (be != BTRFS_UTIL_OK && be != BTRFS_UTIL_ERROR_NOT_SUBVOLUME)
                        p.error = btrfs_error_to_errno(be);
                n = fgetxattr(fd, "btrfs.compression", p.compression, sizeof(p.compression) - 1);
                p.compression[n > 0 ? n : 0] = 0;
        }
        if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0)
                p.nocow = (flags & FS_NOCOW_FL) ? 1 : 0;
        *ret = p;
        return 0;
}

static int count_cb(const char *name, void *userdata) {
        if (name[0] != '.')
                (*(unsigned *) userdata)++;
        return 0;
}

/* Prepared slots are the entries of <root>/slots; a lease moves its slot out of there. */
static unsigned count_slots(struct probe_ctx *ctx, const char *root) {
        char path[300];
        unsigned n = 0;

        if (bufprintf(path, sizeof(path), "%s/slots", root) < 0 ||
            read_dir_names_at(ctx->root_fd, path, count_cb, &n) < 0)
                return 0;
        return n;
}

/* Read everything and decide the status; probe_btrfs applies the garbage note afterwards. */
static int btrfs_decide(struct probe_ctx *ctx, struct host_report *r, struct probe_bad *bad) {
        struct btrfs_facts *b = &r->btrfs;
        struct probe_result *res = &r->results[PROBE_BTRFS];
        struct path_facts *sr = &b->snapshot_root;
        char fs[4096];
        const char *mountinfo;
        unsigned malformed = 0;
        ssize_t n;
        int e;

        n = read_virtual_file_at(ctx->root_fd, "proc/filesystems", fs, sizeof(fs));
        if (n >= 0)
                b->supported = strstr(fs, "\tbtrfs\n") != NULL;
        probe_bad_note(bad, (int) n, "proc/filesystems");
        e = probe_ctx_mountinfo(ctx, &mountinfo);
        if (e < 0) {
                probe_set_error(res, PROBE_FAIL, e, "/proc/self/mountinfo");
                return 0;
        }
        (void) mountinfo_parse_matching(mountinfo, " - btrfs ", btrfs_mount_cb, b, &malformed);
        if (malformed)
                probe_bad_note(bad, -EBADMSG, "proc/self/mountinfo");
        (void) probe_path_facts(ctx, probe_ctx_snapshot_root(ctx), sr);
        if (sr->exists)
                b->free_slots = count_slots(ctx, probe_ctx_snapshot_root(ctx));

        if (!b->supported && b->n_mounts == 0) {
                probe_set(res, PROBE_ABSENT,
                          "kernel without btrfs; snapshot directories fall back to plain copies");
                probe_set_remedy(
                        res,
                        "modprobe btrfs and put the snapshot root on btrfs for O(1) snapshots");
                return 0;
        }
        if (sr->error < 0) {
                probe_set_error(res, PROBE_WARN, sr->error, sr->path);
                return 0;
        }
        if (!sr->exists) {
                probe_set(res, b->n_mounts ? PROBE_OK : PROBE_ABSENT,
                          "%u btrfs mount%s; snapshot root %s not created yet", b->n_mounts,
                          b->n_mounts == 1 ? "" : "s", sr->path);
                if (!b->n_mounts)
                        probe_set_remedy(res, "mount a btrfs file system for the snapshot root");
                return 0;
        }
        if (!sr->on_btrfs) {
                probe_set(res, PROBE_WARN,
                          "snapshot root %s is not on btrfs: every snapshot is a full copy",
                          sr->path);
                probe_set_remedy(res, "put %s on a btrfs file system", sr->path);
                return 0;
        }
        if (sr->nocow == 0) {
                probe_set(res, PROBE_WARN,
                          "snapshot root %s is copy-on-write: VM images and memory files fragment "
                          "and slow down",
                          sr->path);
                probe_set_remedy(res,
                                 "chattr +C %s while it is empty (hosttune apply with a "
                                 "[snapshots] policy does this)",
                                 sr->path);
                return 0;
        }
        if (sr->compression[0]) {
                /* btrfs never compresses NOCOW files (no checksums, overwritten in place):
                 * the property promises what cannot happen. */
                probe_set(res, PROBE_WARN,
                          "snapshot root %s is NOCOW and has compression %s: the two exclude "
                          "each other, nothing under it is compressed",
                          sr->path, sr->compression);
                probe_set_remedy(res, "btrfs property set %s compression none", sr->path);
                return 0;
        }
        probe_set(res, PROBE_OK, "%u btrfs mount%s; snapshot root %s: %s, NOCOW", b->n_mounts,
                  b->n_mounts == 1 ? "" : "s", sr->path,
                  sr->is_subvolume ? "subvolume" : "directory");
        return 0;
}

int probe_btrfs(struct probe_ctx *ctx, struct host_report *r) {
        struct probe_bad bad = { 0 };
        int e = btrfs_decide(ctx, r, &bad);

        if (e >= 0)
                probe_bad_apply(&bad, &r->results[PROBE_BTRFS]);
        return e;
}
