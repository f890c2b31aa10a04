/* SPDX-License-Identifier: MIT */
/* check.facts: the agent's probe facts for `hosttune check`, and what proves them current. */
#include "runtime/check-facts.h"

#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/util.h"

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

#ifndef __NR_listmount
#define __NR_listmount 458 /* the same number on every architecture (asm-generic table) */
#endif
#define LSMT_ROOT UINT64_MAX /* listmount(2): every mount of the caller's namespace */

/* struct mnt_id_req, version 0 (MNT_ID_REQ_SIZE_VER0): Debian 12's headers predate it. */
struct mnt_id_req_v0 {
        uint32_t size;
        uint32_t spare;
        uint64_t mnt_id;
        uint64_t param;
};

static size_t size_min(size_t a, size_t b) {
        return a < b ? a : b;
}

/* FNV-1a over n 64-bit words. */
static uint64_t fnv_words(uint64_t h, const uint64_t *w, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (int b = 0; b < 64; b += 8) {
                        h ^= (w[i] >> b) & 0xff;
                        h *= 0x100000001b3ULL;
                }
        return h;
}

uint64_t check_facts_layout_key(void) {
        const uint64_t parts[] = {
                sizeof(struct check_facts_header),
                sizeof(struct host_report),
                offsetof(struct host_report, kvm),
                offsetof(struct host_report, kvm.smoke),
                offsetof(struct host_report, memory),
                offsetof(struct host_report, hugetlb),
                offsetof(struct host_report, zram),
                offsetof(struct host_report, btrfs),
                offsetof(struct host_report, rng),
                offsetof(struct host_report, net),
                offsetof(struct host_report, userfaultfd),
                offsetof(struct host_report, userns),
                offsetof(struct host_report, nix),
                offsetof(struct host_report, knobs),
                offsetof(struct host_report, results),
                offsetof(struct host_report, probed),
                sizeof(struct probe_result),
                _PROBE_MAX,
        };
        return fnv_words(0xcbf29ce484222325ULL, parts, ELEMENTSOF(parts));
}

int check_facts_mounts_hash(uint64_t *ret_hash) {
        struct mnt_id_req_v0 req = { .size = sizeof(req), .mnt_id = LSMT_ROOT };
        uint64_t ids[4096];
        long n;

        n = syscall(__NR_listmount, &req, ids, ELEMENTSOF(ids), 0);
        if (n < 0)
                return negative_errno();
        if ((size_t) n >= ELEMENTSOF(ids))
                return -ENOBUFS;
        /* The count too, so that an empty list never hashes like the seed. */
        *ret_hash = fnv_words(fnv_words(0xcbf29ce484222325ULL, (uint64_t[]){ (uint64_t) n }, 1),
                              ids, (size_t) n) |
                    1; /* never 0: 0 means unknown */
        return 0;
}

int check_facts_stamp_read(const char *path, struct check_facts_stamp *ret) {
        struct stat st;

        ret->exists = false;
        ret->mode = ret->uid = ret->gid = 0;
        ret->dev = ret->ino = ret->rdev = ret->size = 0;
        ret->mtime_nsec = ret->ctime_nsec = 0;
        if (stat(path, &st) < 0)
                return errno == ENOENT || errno == ENOTDIR ? 0 : negative_errno();
        ret->exists = true;
        ret->mode = st.st_mode;
        ret->uid = st.st_uid;
        ret->gid = st.st_gid;
        ret->dev = st.st_dev;
        ret->ino = st.st_ino;
        ret->rdev = st.st_rdev;
        ret->size = (uint64_t) st.st_size;
        ret->mtime_nsec = (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        ret->ctime_nsec = (int64_t) st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
        return 0;
}

/* Add path to h's stamps (entries: compare a directory's mtime too). */
static int stamp_add(struct check_facts_header *h, const char *path, bool entries) {
        struct check_facts_stamp *s;
        int r;

        if (h->n_stamps >= CHECK_FACTS_STAMPS_MAX)
                return -ENOBUFS;
        s = &h->stamps[h->n_stamps];
        r = strscpy(s->path, sizeof(s->path), path);
        if (r < 0)
                return r;
        r = check_facts_stamp_read(path, s);
        if (r < 0)
                return r;
        s->entries = entries;
        h->n_stamps++;
        return 0;
}

int check_facts_stamps_take(const struct probe_targets *targets, struct check_facts_header *h) {
        const char *nix_conf = targets && targets->nix_conf ? targets->nix_conf : DEFAULT_NIX_CONF;
        const char *snap =
                targets && targets->snapshot_root ? targets->snapshot_root : DEFAULT_SNAPSHOT_ROOT;
        /* /dev's mtime changes when a node appears or goes (kvm, hwrng, userfaultfd, zramN,
         * vhost-*); the nodes whose mode, owner or ACL (ctime) decide a status are stamped
         * themselves. A KVM vendor module (kvm_intel, kvm_amd, kvm_pvm) registers /dev/kvm when
         * it loads and removes it when it goes, so /dev/kvm's inode covers it; kvm.ko alone
         * makes no node: its module directory is stamped. */
        static const char *const fixed[] = {
                "/dev/kvm", "/dev/hwrng", "/dev/userfaultfd", "/sys/module/kvm", "/nix/store",
        };
        char dir[sizeof(h->stamps[0].path)];
        char *slash;
        int r;

        h->n_stamps = 0;
        r = stamp_add(h, "/dev", true);
        if (r >= 0) /* /dev/net/tun */
                r = stamp_add(h, "/dev/net", true);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(fixed); i++)
                r = stamp_add(h, fixed[i], false);
        if (r >= 0)
                r = stamp_add(h, nix_conf, false);
        /* nix.conf's directory: a nix.conf that appears where none was. */
        if (r >= 0 && strscpy(dir, sizeof(dir), nix_conf) >= 0 && (slash = strrchr(dir, '/'))) {
                slash[slash == dir ? 1 : 0] = 0;
                r = stamp_add(h, dir, true);
        }
        if (r >= 0)
                r = stamp_add(h, snap, false);
        return r;
}

/* Are a and b the same for what the facts rest on? A directory's size and times change with
 * every entry (/nix/store at every build): only identity and mode count, and the mtime where
 * its entries matter. */
static bool stamp_same(const struct check_facts_stamp *a, const struct check_facts_stamp *b) {
        if (a->exists != b->exists)
                return false;
        if (!a->exists)
                return true;
        if (a->mode != b->mode || a->uid != b->uid || a->gid != b->gid || a->dev != b->dev ||
            a->ino != b->ino || a->rdev != b->rdev)
                return false;
        if (S_ISDIR(a->mode))
                return !a->entries || a->mtime_nsec == b->mtime_nsec;
        return a->size == b->size && a->mtime_nsec == b->mtime_nsec &&
               a->ctime_nsec == b->ctime_nsec;
}

bool check_facts_stamps_match(const struct check_facts_header *h) {
        if (h->n_stamps > CHECK_FACTS_STAMPS_MAX)
                return false;
        for (uint32_t i = 0; i < h->n_stamps; i++) {
                struct check_facts_stamp now;

                if (memchr(h->stamps[i].path, 0, sizeof(h->stamps[i].path)) == NULL ||
                    check_facts_stamp_read(h->stamps[i].path, &now) < 0)
                        return false;
                now.entries = h->stamps[i].entries;
                if (!stamp_same(&h->stamps[i], &now))
                        return false;
        }
        return true;
}

probe_mask_t check_facts_volatile_probes(const struct check_facts_header *h,
                                         const struct host_report *r, bool *ret_mounts_same) {
        probe_mask_t mask = PROBE_MASK(PROBE_MEMORY) | PROBE_MASK(PROBE_HUGETLB);
        uint64_t now = 0;
        bool same =
                h->mounts_hash != 0 && check_facts_mounts_hash(&now) >= 0 && now == h->mounts_hash;

        if (!same)
                mask |= PROBE_MASK(PROBE_BTRFS) | PROBE_MASK(PROBE_ZRAM) | PROBE_MASK(PROBE_NIX);
        if (r->nix.includes_followed > 0)
                mask |= PROBE_MASK(PROBE_NIX);
        *ret_mounts_same = same;
        return mask;
}

/* Append the iovec for report bytes [off, end) to iov (splitting where divert begins and
 * ends). */
static void iov_add_range(struct iovec *iov, unsigned *n, unsigned max, char *report, size_t off,
                          size_t end, const struct check_facts_divert *d) {
        while (off < end && *n < max) {
                size_t stop = end;
                char *at = report + off;

                if (d && off < d->from && d->from < stop)
                        stop = d->from;
                else if (d && off >= d->from && off < d->to) {
                        stop = size_min(stop, d->to);
                        at = (char *) d->buf + (off - d->from);
                }
                iov[*n].iov_base = at;
                iov[*n].iov_len = stop - off;
                (*n)++;
                off = stop;
        }
}

static bool block_stored(const struct check_facts_header *h, size_t b) {
        return b < CHECK_FACTS_BLOCKS_MAX && (h->blocks[b / 64] & (UINT64_C(1) << (b % 64)));
}

void check_facts_clear(const struct check_facts_header *h, struct host_report *report, size_t off,
                       size_t size) {
        size_t end = size_min(off + size, sizeof(*report));

        while (off < end) {
                size_t next = size_min((off / CHECK_FACTS_BLOCK + 1) * CHECK_FACTS_BLOCK, end);

                /* The other blocks are still the static storage's untouched zero pages: a
                 * memset would fault each in for nothing (the knobs' 18 KiB are 4 of them). */
                if (block_stored(h, off / CHECK_FACTS_BLOCK))
                        memset((char *) report + off, 0, next - off);
                off = next;
        }
}

int check_facts_read(const char *runtime_dir, struct check_facts_header *ret_h,
                     struct host_report *ret_report, const struct check_facts_divert *divert) {
        struct iovec iov[CHECK_FACTS_BLOCKS_MAX + 2];
        char path[512];
        _cleanup_close_ int fd = -1;
        size_t want = 0;
        unsigned n = 0;
        ssize_t got;
        int r;

        r = bufprintf(path, sizeof(path), "%s/%s", runtime_dir, CHECK_FACTS_FILE);
        if (r < 0)
                return r;
        /* The runtime directory is the agent's: a link or FIFO there is a trap. */
        fd = open_read_at(AT_FDCWD, path, READ_NOFOLLOW);
        if (fd < 0)
                return fd;
        got = read(fd, ret_h, sizeof(*ret_h));
        if (got < 0)
                return negative_errno();
        if ((size_t) got != sizeof(*ret_h) ||
            memcmp(ret_h->magic, CHECK_FACTS_MAGIC, sizeof(CHECK_FACTS_MAGIC)) != 0 ||
            strncmp(ret_h->version, HOSTTUNE_VERSION, sizeof(ret_h->version)) != 0 ||
            ret_h->layout_key != check_facts_layout_key())
                return -EBADMSG;
        for (size_t b = 0; b * CHECK_FACTS_BLOCK < sizeof(*ret_report); b++) {
                size_t off = b * CHECK_FACTS_BLOCK;
                size_t end = size_min(off + CHECK_FACTS_BLOCK, sizeof(*ret_report));

                if (!block_stored(ret_h, b))
                        continue;
                iov_add_range(iov, &n, ELEMENTSOF(iov), (char *) ret_report, off, end, divert);
                want += end - off;
        }
        /* One more byte than the blocks: a longer file is not one of this build's. */
        iov[n].iov_base = path;
        iov[n].iov_len = 1;
        got = readv(fd, iov, (int) n + 1);
        if (got < 0)
                return negative_errno();
        if ((size_t) got != want)
                return -EBADMSG;
        ret_report->kvm.smoke_source = ret_h->has_smoke_source ? "agent" : NULL;
        return 0;
}

static bool block_is_zero(const char *p, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (p[i])
                        return false;
        return true;
}

int check_facts_write(int runtime_fd, struct check_facts *f) {
        /* Room for the header and every block: the blocks are at most the report. */
        _cleanup_free_ struct check_facts *buf = NULL;
        size_t n;

        memset(f->h.magic, 0, sizeof(f->h.magic));
        memcpy(f->h.magic, CHECK_FACTS_MAGIC, sizeof(CHECK_FACTS_MAGIC));
        if (strscpy(f->h.version, sizeof(f->h.version), HOSTTUNE_VERSION) < 0)
                return -ENAMETOOLONG;
        f->h.layout_key = check_facts_layout_key();
        /* The pointer means nothing in another process: keep only whether it was set. */
        f->h.has_smoke_source = f->report.kvm.smoke_source != NULL;
        f->report.kvm.smoke_source = NULL;
        memset(f->h.blocks, 0, sizeof(f->h.blocks));
        buf = malloc(sizeof(*buf));
        if (!buf)
                return -ENOMEM;
        n = sizeof(f->h);
        for (size_t b = 0; b * CHECK_FACTS_BLOCK < sizeof(f->report); b++) {
                size_t off = b * CHECK_FACTS_BLOCK;
                size_t len = size_min(CHECK_FACTS_BLOCK, sizeof(f->report) - off);
                const char *p = (const char *) &f->report + off;

                if (b >= CHECK_FACTS_BLOCKS_MAX)
                        return -E2BIG;
                if (block_is_zero(p, len))
                        continue;
                f->h.blocks[b / 64] |= UINT64_C(1) << (b % 64);
                memcpy((char *) buf + n, p, len);
                n += len;
        }
        memcpy(buf, &f->h, sizeof(f->h));
        return write_file_replace_at(runtime_fd, CHECK_FACTS_FILE, buf, n, 0600);
}
