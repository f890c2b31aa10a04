/* SPDX-License-Identifier: MIT */
/* zram swap devices: sysfs configuration, an in-process swap header, swapon/swapoff. */
#include "zram.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/swap.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"

#define SWAP_MIN_PAGES 10
#define SWAP_PRIO_MAX 32767

int uuid_random(uint8_t ret[16]) {
        uint8_t u[16];
        size_t n = 0;

        while (n < sizeof(u)) {
                ssize_t k = getrandom(u + n, sizeof(u) - n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                n += (size_t) k;
        }
        u[6] = (uint8_t) ((u[6] & 0x0f) | 0x40); /* version 4 */
        u[8] = (uint8_t) ((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
        memcpy(ret, u, sizeof(u));
        return 0;
}

/* The layout of union swap_header's info part (include/linux/swap.h), which the kernel reads
 * from the first page of a swap device; "SWAPSPACE2" ends the page. */
struct swap_header_v1 {
        char bootbits[1024]; /* left for disk labels */
        uint32_t version;
        uint32_t last_page;
        uint32_t nr_badpages;
        uint8_t uuid[16];
        char volume[16];
        uint32_t padding[117];
        uint32_t badpages[1];
};

int swap_header_build(void *page, size_t page_size, uint64_t device_size, const uint8_t uuid[16],
                      const char *label) {
        struct swap_header_v1 h = { .version = 1 };
        uint64_t pages;

        if (page_size < 4096 || (page_size & (page_size - 1)))
                return -EINVAL;
        pages = device_size / page_size;
        if (pages < SWAP_MIN_PAGES)
                return -EINVAL;
        /* The kernel clamps to what its swap entry format can address; last_page is a u32. */
        h.last_page = (uint32_t) (pages - 1 > UINT32_MAX ? UINT32_MAX : pages - 1);
        memcpy(h.uuid, uuid, sizeof(h.uuid));
        if (label)
                memcpy(h.volume, label, strnlen(label, sizeof(h.volume)));
        memset(page, 0, page_size);
        memcpy(page, &h, sizeof(h));
        memcpy((char *) page + page_size - 10, "SWAPSPACE2", 10);
        return 0;
}

struct zram_state {
        uint64_t disksize;
        char algorithm[32];
        bool is_swap;
        int priority;
        bool mounted;
        bool busy; /* held exclusively by something else (O_EXCL open got EBUSY) */
};

struct swap_find {
        const char *dev;
        struct zram_state *z;
};

static int swap_cb(const struct swaps_entry *e, void *userdata) {
        struct swap_find *f = userdata;

        if (streq(e->path, f->dev)) {
                f->z->is_swap = true;
                f->z->priority = e->priority;
        }
        return 0;
}

static int mount_cb(const struct mount_entry *e, void *userdata) {
        struct swap_find *f = userdata;

        if (streq(e->source, f->dev))
                f->z->mounted = true;
        return 0;
}

static int read_state(int root_fd, const char *name, struct zram_state *ret) {
        struct zram_state z = { 0 };
        struct swap_find f = { NULL, &z };
        _cleanup_free_ char *text = NULL;
        char path[96], dev[32], alg[256];
        int r, fd;

        r = bufprintf(path, sizeof(path), "sys/block/%s/disksize", name);
        if (r < 0)
                return r;
        r = read_u64_at(root_fd, path, &z.disksize);
        if (r < 0)
                return r;
        if (bufprintf(path, sizeof(path), "sys/block/%s/comp_algorithm", name) >= 0 &&
            read_line_at(root_fd, path, alg, sizeof(alg)) == 0 &&
            word_list_selected(alg, z.algorithm, sizeof(z.algorithm)) < 0)
                z.algorithm[0] = 0;
        r = bufprintf(dev, sizeof(dev), "/dev/%s", name);
        if (r < 0)
                return r;
        f.dev = dev;
        r = read_virtual_file_alloc_at(root_fd, "proc/swaps", 1U << 20, &text, NULL);
        if (r < 0)
                return r;
        (void) swaps_parse(text, swap_cb, &f, NULL);
        free(TAKE_PTR(text));
        r = read_virtual_file_alloc_at(root_fd, "proc/self/mountinfo", VIRTUAL_FILE_MAX, &text,
                                       NULL);
        if (r < 0)
                return r;
        (void) mountinfo_parse(text, mount_cb, &f, NULL);
        /* Whatever else holds the device (a dm target, an md array, a program's O_EXCL open)
         * shows as EBUSY here. */
        if (z.disksize > 0) {
                /* The block device itself (O_EXCL asks the kernel who holds it): a device
                 * node by design, so not open_read_at; dev is /dev/zramN, built from the
                 * sysfs name, not configuration. */
                fd = open_in_root(root_fd, dev, O_RDONLY | O_EXCL, 0);
                if (fd == -EBUSY)
                        z.busy = true;
                safe_close(fd);
        }
        *ret = z;
        return 0;
}

static int write_attr(int root_fd, const char *name, const char *attr, const char *value) {
        char path[96];

        int r = bufprintf(path, sizeof(path), "sys/block/%s/%s", name, attr);

        return r < 0 ? r : write_virtual_file_at(root_fd, path, value);
}

/* swapon/swapoff name the device through the magic link of an O_PATH fd opened in the root;
 * /proc/swaps still shows /dev/zramN, the device's own name. */
static int swap_call(int root_fd, const char *name, int prio, bool on) {
        char dev[32], proc[64];
        _cleanup_close_ int fd = -1;
        int flags = 0;

        int r = bufprintf(dev, sizeof(dev), "dev/%s", name);

        if (r < 0)
                return r;
        fd = open_in_root(root_fd, dev, O_PATH, 0);
        if (fd < 0)
                return fd;
        xsprintf(proc, "/proc/self/fd/%d", fd);
        if (!on)
                return swapoff(proc) < 0 ? negative_errno() : 0;
        if (prio >= 0)
                flags = SWAP_FLAG_PREFER |
                        ((prio > SWAP_PRIO_MAX ? SWAP_PRIO_MAX : prio) & SWAP_FLAG_PRIO_MASK);
        return swapon(proc, flags) < 0 ? negative_errno() : 0;
}

static int write_swap_header(int root_fd, const char *name, uint64_t size) {
        _cleanup_close_ int fd = -1;
        /* The largest base page size Linux has (arm64 and ppc64 with 64 KiB pages). */
        static char page[65536];
        long ps = sysconf(_SC_PAGESIZE);
        uint8_t uuid[16];
        char dev[32];
        ssize_t k;
        int r;

        if (ps <= 0 || (size_t) ps > sizeof(page))
                return -EINVAL;
        r = uuid_random(uuid);
        if (r < 0)
                return r;
        r = swap_header_build(page, (size_t) ps, size, uuid, SWAP_LABEL);
        if (r < 0)
                return r;
        r = bufprintf(dev, sizeof(dev), "dev/%s", name);
        if (r < 0)
                return r;
        /* The block device, to write the swap header: a device node by design (see above). */
        fd = open_in_root(root_fd, dev, O_RDWR | O_EXCL, 0);
        if (fd < 0)
                return fd;
        do
                k = pwrite(fd, page, (size_t) ps, 0);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return negative_errno();
        if (k != ps)
                return -EIO;
        return fsync(fd) < 0 ? negative_errno() : 0;
}

/* reset, then algorithm, then disksize: the kernel takes comp_algorithm only while the device
 * is unconfigured. */
static int configure(int root_fd, const char *name, const char *algorithm, uint64_t disksize,
                     bool reset, char *err, size_t err_size) {
        char v[32];
        int r;

        if (reset) {
                r = write_attr(root_fd, name, "reset", "1");
                if (r < 0) {
                        bufprintf_trunc(err, err_size, "resetting %s failed: %s", name,
                                        strerror(-r));
                        return r;
                }
        }
        if (!isempty(algorithm)) {
                r = write_attr(root_fd, name, "comp_algorithm", algorithm);
                if (r < 0) {
                        char path[96], avail[256] = "";
                        if (bufprintf(path, sizeof(path), "sys/block/%s/comp_algorithm", name) >= 0)
                                (void) read_line_at(root_fd, path, avail, sizeof(avail));
                        bufprintf_trunc(err, err_size,
                                        "%s: algorithm %s refused (%s); available: %s", name,
                                        algorithm, strerror(-r), avail);
                        return r;
                }
        }
        xsprintf(v, "%" PRIu64, disksize);
        r = write_attr(root_fd, name, "disksize", v);
        if (r < 0)
                bufprintf_trunc(err, err_size, "%s: setting disksize %" PRIu64 " failed: %s", name,
                                disksize, strerror(-r));
        return r;
}

static bool zram_name_valid(const char *name) {
        const char *n = startswith(name, "zram");
        return n && *n && strspn(n, "0123456789") == strlen(n) && strlen(name) < 16;
}

/* Add the device name through zram-control. Reading hot_add creates a device and returns its
 * number, which the kernel picks (the lowest free): when that is not the one wanted, it is
 * removed again. 1 when name exists now; 0 with res FAILED; negative on journal failure. */
static int hot_add(struct apply_ctx *c, const char *name, struct step_result *res) {
        int root_fd = c->o->root_fd, r;
        char got[32], id[32];
        uint64_t n;

        if (faccessat(root_fd, "sys/class/zram-control/hot_add", F_OK, 0) < 0) {
                step_set(res, STEP_FAILED, -ENODEV,
                         "no /sys/block/%s and no /sys/class/zram-control: load the zram module",
                         name);
                return 0;
        }
        r = apply_record_created(c, JOURNAL_ZRAM_DEVICE, name, name);
        if (r < 0)
                return r;
        r = read_u64_at(root_fd, "sys/class/zram-control/hot_add", &n);
        if (r < 0) {
                (void) journal_forget(c->j, JOURNAL_ZRAM_DEVICE, name);
                step_set(res, STEP_FAILED, r, "adding %s through zram-control failed: %s", name,
                         strerror(-r));
                return 0;
        }
        xsprintf(got, "zram%" PRIu64, n);
        if (!streq(got, name)) {
                xsprintf(id, "%" PRIu64, n);
                (void) write_virtual_file_at(root_fd, "sys/class/zram-control/hot_remove", id);
                (void) journal_forget(c->j, JOURNAL_ZRAM_DEVICE, name);
                step_set(res, STEP_FAILED, -ENODEV,
                         "no %s, and zram-control adds the lowest free number (it gave %s, "
                         "removed again): name a device that exists or the next free one",
                         name, got);
                return 0;
        }
        return 1;
}

void zram_device_revert(struct apply_ctx *c, const struct journal_entry *e,
                        struct revert_result *res) {
        int root_fd = c->o->root_fd, r;
        char path[sizeof("sys/block/") + sizeof(e->object)];

        if (!zram_name_valid(e->object)) {
                revert_set(res, REVERT_FAILED, -EINVAL, "'%s' is not a zram device", e->object);
                return;
        }
        xsprintf(path, "sys/block/%s", e->object);
        if (faccessat(root_fd, path, F_OK, 0) < 0) {
                revert_set(res, REVERT_GONE, 0, "%s is already gone", e->object);
                return;
        }
        r = write_virtual_file_at(root_fd, "sys/class/zram-control/hot_remove",
                                  e->object + strlen("zram"));
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "removing %s failed: %s%s", e->object,
                           strerror(-r), r == -EBUSY ? " (in use)" : "");
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "removed %s", e->object);
}

static void describe(const struct zram_state *z, char *buf, size_t size) {
        char sz[32];

        bufprintf_trunc(buf, size, "%s, %s%s%s", format_size(z->disksize, sz, sizeof(sz)),
                        z->algorithm[0] ? z->algorithm : "default algorithm",
                        z->is_swap ? ", swap" : "", z->mounted ? ", mounted" : "");
}

int zram_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        const char *name = s->u.zram.device[0]     ? s->u.zram.device
                           : s->knob[0]            ? s->knob
                           : strrchr(s->path, '/') ? strrchr(s->path, '/') + 1
                                                   : s->path;
        const char *alg = s->u.zram.algorithm;
        int root_fd = c->o->root_fd, prio = s->u.zram.priority, r;
        long ps = sysconf(_SC_PAGESIZE);
        uint64_t want = s->u.zram.disksize;
        struct zram_state z;
        char was[128], now[128], err[384] = "", orig[96];
        bool alg_ok;

        if (!zram_name_valid(name)) {
                step_set(res, STEP_FAILED, -EINVAL, "'%s' is not a zram device name", name);
                return 0;
        }
        if (ps > 0)
                want = (want + (uint64_t) ps - 1) / (uint64_t) ps * (uint64_t) ps;
        r = read_state(root_fd, name, &z);
        if (r == -ENOENT) {
                r = hot_add(c, name, res);
                if (r <= 0)
                        return c->journal_error;
                r = read_state(root_fd, name, &z);
        }
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "cannot read the state of %s: %s", name,
                         strerror(-r));
                return 0;
        }
        describe(&z, was, sizeof(was));
        alg_ok = isempty(alg) || streq(z.algorithm, alg);
        if (z.is_swap || z.mounted || z.busy) {
                if (z.is_swap && z.disksize == want && alg_ok && (prio < 0 || z.priority == prio)) {
                        bufprintf_trunc(res->achieved, sizeof(res->achieved), "%s priority %d", was,
                                        z.priority);
                        step_set(res, STEP_UNCHANGED, 0, "%s is already swap (%s, priority %d)",
                                 name, was, z.priority);
                        return 0;
                }
                char sz[32], how[64];
                if (z.is_swap)
                        bufprintf_trunc(how, sizeof(how), "swapoff /dev/%s", name);
                else if (z.mounted)
                        bufprintf_trunc(how, sizeof(how), "umount /dev/%s", name);
                else
                        bufprintf_trunc(how, sizeof(how), "close what holds /dev/%s", name);
                step_set(res, STEP_FAILED, -EBUSY,
                         "%s is in use (%s%s); making it swap of %s%s%s would lose its contents, "
                         "so hosttune leaves it alone: %s first, or change the policy",
                         name, was, z.is_swap || z.mounted ? "" : ", held open",
                         format_size(want, sz, sizeof(sz)), isempty(alg) ? "" : " with ",
                         isempty(alg) ? "" : alg, how);
                return 0;
        }
        if (z.disksize == 0)
                r = apply_record_created(c, JOURNAL_ZRAM, name, name);
        else {
                xsprintf(orig, "disksize=%" PRIu64 " algorithm=%s", z.disksize, z.algorithm);
                r = apply_record_changed(c, JOURNAL_ZRAM, name, name, orig);
        }
        if (r < 0)
                return r;
        if (z.disksize != want || !alg_ok) {
                r = configure(root_fd, name, alg, want, z.disksize > 0, err, sizeof(err));
                if (r < 0) {
                        step_set(res, STEP_FAILED, r, "%s", err);
                        return 0;
                }
        }
        r = write_swap_header(root_fd, name, want);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "writing a swap header to /dev/%s failed: %s", name,
                         strerror(-r));
                return 0;
        }
        r = swap_call(root_fd, name, prio, true);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "swapon /dev/%s failed: %s", name, strerror(-r));
                return 0;
        }
        r = read_state(root_fd, name, &z);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "cannot read %s back: %s", name, strerror(-r));
                return 0;
        }
        describe(&z, now, sizeof(now));
        bufprintf_trunc(res->achieved, sizeof(res->achieved), "%s priority %d", now, z.priority);
        if (!z.is_swap || z.disksize != want || !(isempty(alg) || streq(z.algorithm, alg)) ||
            (prio >= 0 && z.priority != prio)) {
                step_set(res, STEP_FAILED, -EIO,
                         "%s: asked for swap of %" PRIu64
                         " bytes, %s, priority %d; the kernel shows %s",
                         name, want, isempty(alg) ? "default algorithm" : alg, prio, res->achieved);
                return 0;
        }
        step_set(res, STEP_APPLIED, 0, "%s: %s -> swap %s, priority %d", name, was, now,
                 z.priority);
        return 0;
}

void zram_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res) {
        int root_fd = c->o->root_fd, r;
        struct zram_state z;
        char err[384] = "";

        if (!zram_name_valid(e->object)) {
                revert_set(res, REVERT_FAILED, -EINVAL, "'%s' is not a zram device", e->object);
                return;
        }
        r = read_state(root_fd, e->object, &z);
        if (r == -ENOENT) {
                revert_set(res, REVERT_GONE, 0, "%s no longer exists", e->object);
                return;
        }
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "cannot read %s: %s", e->object, strerror(-r));
                return;
        }
        if (z.mounted) {
                revert_set(res, REVERT_FAILED, -EBUSY,
                           "%s is mounted now; hosttune does not reset a device in use", e->object);
                return;
        }
        if (z.is_swap) {
                r = swap_call(root_fd, e->object, -1, false);
                if (r < 0) {
                        revert_set(res, REVERT_FAILED, r, "swapoff /dev/%s failed: %s%s", e->object,
                                   strerror(-r),
                                   r == -ENOMEM ? " (its pages do not fit in memory)" : "");
                        return;
                }
        }
        if (e->action == JOURNAL_CREATED) {
                if (z.disksize == 0) {
                        revert_set(res, REVERT_GONE, 0, "%s is already unconfigured", e->object);
                        return;
                }
                r = write_attr(root_fd, e->object, "reset", "1");
                if (r < 0) {
                        revert_set(res, REVERT_FAILED, r, "resetting %s failed: %s", e->object,
                                   strerror(-r));
                        return;
                }
                revert_set(res, REVERT_RESTORED, 0, "%s%s reset", e->object,
                           z.is_swap ? " swapped off and" : "");
                return;
        }

        /* Changed from "disksize=N algorithm=X". */
        char alg[32] = "";
        uint64_t size = 0;
        const char *p = startswith(e->original, "disksize="),
                   *a = strstr(e->original, " algorithm=");
        char num[32];
        if (!p || !a || (size_t) (a - p) >= sizeof(num)) {
                revert_set(res, REVERT_FAILED, -EINVAL, "%s: bad journal value '%s'", e->object,
                           e->original);
                return;
        }
        memcpy(num, p, (size_t) (a - p));
        num[a - p] = 0;
        if (parse_u64(num, &size) < 0 || strscpy(alg, sizeof(alg), a + strlen(" algorithm=")) < 0) {
                revert_set(res, REVERT_FAILED, -EINVAL, "%s: bad journal value '%s'", e->object,
                           e->original);
                return;
        }
        r = configure(root_fd, e->object, alg, size, true, err, sizeof(err));
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "%s", err);
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "%s back to %s (%s); its earlier contents are gone",
                   e->object, num, alg[0] ? alg : "default algorithm");
}
