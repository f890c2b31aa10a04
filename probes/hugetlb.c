/* SPDX-License-Identifier: MIT */
/* Hugepage probe: every page size's pool (global and per NUMA node), what the buddy allocator
 * could hand out now, and hugetlbfs mounts. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "probes/probes.h"

/* "hugepages-2048kB" -> 2 MiB in bytes. */
static int parse_size_dir(const char *name, uint64_t *ret) {
        const char *p = startswith(name, "hugepages-");
        char num[24];
        size_t l;
        uint64_t kib;

        if (!p)
                return -EINVAL;
        l = strspn(p, "0123456789");
        if (l == 0 || l >= sizeof(num) || !streq(p + l, "kB"))
                return -EINVAL;
        memcpy(num, p, l);
        num[l] = 0;
        if (parse_u64(num, &kib) < 0 || kib == 0 || kib > (UINT64_MAX >> 10))
                return -EINVAL;
        *ret = kib << 10;
        return 0;
}

/* Collect page sizes in ascending order (insertion keeps the array sorted; at most a handful
 * of sizes exist, and glibc's qsort would ask the kernel for sysinfo first). */
static int size_dir_cb(const char *name, void *userdata) {
        struct hugetlb_facts *h = userdata;
        uint64_t size;
        unsigned i;

        if (parse_size_dir(name, &size) < 0 || h->n_sizes >= HUGETLB_SIZES_MAX)
                return 0;
        for (i = h->n_sizes; i > 0 && h->sizes[i - 1].page_size > size; i--)
                h->sizes[i] = h->sizes[i - 1];
        memset(&h->sizes[i], 0, sizeof(h->sizes[i]));
        h->sizes[i].page_size = size;
        h->n_sizes++;
        return 0;
}

/* Read one counter of a pool directory; counters the kernel lacks stay 0. Garbage is noted in
 * bad (NULL for detail-only counters: they must not change the status). */
static int read_counter(struct probe_ctx *ctx, const char *dir, const char *name, uint64_t *ret,
                        struct probe_bad *bad) {
        char path[256];
        int r;

        r = bufprintf(path, sizeof(path), "%s/%s", dir, name);
        if (r >= 0)
                r = read_u64_at(ctx->root_fd, path, ret);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        if (r < 0 && bad)
                probe_bad_note(bad, r, path);
        return r;
}

/* One walk of /proc/buddyinfo for every pool size: what the host could give each now. */
struct buddy_walk {
        unsigned n;
        unsigned orders[HUGETLB_SIZES_MAX];
        struct buddy_obtainable acc[HUGETLB_SIZES_MAX];
};

static int buddy_walk_cb(const struct buddy_zone *z, void *userdata) {
        struct buddy_walk *w = userdata;

        for (unsigned i = 0; i < w->n; i++)
                buddy_obtainable_add(&w->acc[i], z, w->orders[i], -1);
        return 0;
}

struct node_list {
        unsigned ids[NUMA_NODES_MAX];
        unsigned n;
        bool truncated;
};

static int node_cb(unsigned id, void *userdata) {
        struct node_list *l = userdata;
        if (l->n >= NUMA_NODES_MAX) {
                l->truncated = true;
                return 0;
        }
        l->ids[l->n++] = id;
        return 0;
}

struct mount_args {
        struct hugetlb_facts *h;
};

static int hugetlbfs_mount_cb(const struct mount_entry *e, void *userdata) {
        struct hugetlb_facts *h = ((struct mount_args *) userdata)->h;
        struct hugetlb_mount *m;
        char v[64];

        if (!streq(e->fstype, "hugetlbfs") || h->n_mounts >= HUGETLB_MOUNTS_MAX)
                return 0;
        m = &h->mounts[h->n_mounts++];
        strscpy(m->path, sizeof(m->path), e->target);
        m->page_size = h->default_size;
        if (mount_option_find(e->super_options, "pagesize", v, sizeof(v)))
                (void) parse_size(v, 0, &m->page_size);
        m->mode = 01777;
        if (mount_option_find(e->super_options, "mode", v, sizeof(v)))
                (void) parse_mode(v, &m->mode);
        if (mount_option_find(e->super_options, "gid", v, sizeof(v))) {
                unsigned g;
                if (parse_uint(v, &g) == 0) {
                        m->gid = (gid_t) g;
                        m->has_gid = true;
                }
        }
        return 0;
}

/* meminfo_get from tail (the hugepage lines, near /proc/meminfo's end) first, the whole text
 * when the key is not there: a short scan per key in the usual order, the same answer in any. */
static int meminfo_get_from(const char *meminfo, const char *tail, const char *key, uint64_t *ret) {
        int e = meminfo_get(tail, key, ret);

        if (e == -ENOENT && tail != meminfo)
                e = meminfo_get(meminfo, key, ret);
        return e;
}

int probe_hugetlb(struct probe_ctx *ctx, struct host_report *r) {
        struct hugetlb_facts *h = &r->hugetlb;
        struct probe_result *res = &r->results[PROBE_HUGETLB];
        struct probe_bad bad = { 0 };
        char line[256], desc[REASON_MAX] = "";
        unsigned malformed = 0;
        _cleanup_free_ char *buddy = NULL;
        struct node_list nodes = { .n = 0 };
        struct buddy_walk walk = { .n = 0 };
        const char *meminfo = NULL, *tail, *mountinfo;
        bool have_buddy;
        long base_page = sysconf(_SC_PAGESIZE);
        int e;
        uint64_t kib;

        /* The sizes the kernel offers are fixed at boot: the agent's list, when it has one. */
        if (ctx->stable && ctx->stable->hugetlb) {
                h->n_sizes = ctx->stable->hugetlb->n_sizes;
                for (unsigned i = 0; i < h->n_sizes; i++)
                        h->sizes[i].page_size = ctx->stable->hugetlb->sizes[i].page_size;
                e = 0;
        } else
                e = read_dir_names_at(ctx->root_fd, "sys/kernel/mm/hugepages", size_dir_cb, h);
        if (e == -ENOENT) {
                probe_set(res, PROBE_ABSENT,
                          "kernel without hugetlbfs (no /sys/kernel/mm/hugepages)");
                probe_set_remedy(res, "use a kernel built with CONFIG_HUGETLBFS");
                return 0;
        }
        if (e < 0) {
                probe_set_error(res, PROBE_FAIL, e, "/sys/kernel/mm/hugepages");
                return 0;
        }
        h->supported = true;

        if (probe_ctx_meminfo(ctx, &meminfo) < 0)
                meminfo = NULL;
        tail = meminfo ? strstr(meminfo, "\nHugePages_Total:") : NULL;
        tail = tail ? tail + 1 : meminfo;
        if (meminfo && meminfo_get_from(meminfo, tail, "Hugepagesize", &kib) == 0)
                h->default_size = kib << 10;
        else if (h->n_sizes > 0)
                h->default_size = h->sizes[0].page_size;

        /* Nodes with memory; a kernel without NUMA has no node directory: one node, 0. */
        if (ctx->detail && read_line_at(ctx->root_fd, "sys/devices/system/node/has_memory", line,
                                        sizeof(line)) == 0) {
                if (parse_id_list(line, node_cb, &nodes) < 0)
                        nodes.n = 0;
        }
        h->n_numa_nodes = nodes.n;

        /* A pool's page as a buddy order: 2^order base pages. */
        walk.n = h->n_sizes;
        for (unsigned i = 0; i < h->n_sizes; i++)
                while (base_page > 0 &&
                       ((uint64_t) base_page << walk.orders[i]) < h->sizes[i].page_size &&
                       walk.orders[i] < 63)
                        walk.orders[i]++;
        e = read_virtual_file_alloc_at(ctx->root_fd, "proc/buddyinfo", 1024 * 1024, &buddy, NULL);
        have_buddy = e >= 0;
        if (have_buddy) {
                (void) buddyinfo_parse(buddy, buddy_walk_cb, &walk, &malformed);
                if (malformed)
                        e = -EBADMSG;
        }
        probe_bad_note(&bad, e, "proc/buddyinfo");

        /* Hugetlb: in /proc/meminfo is every pool's pages (surplus included) times their size;
         * when the default pool's HugePages_Total accounts for all of it, every other pool has no
         * page, so none free, reserved or surplus either: four files fewer per size. The kernel's
         * identity, valid on this machine's live files only (a fixture's may disagree). */
        bool others_empty = false;
        uint64_t total_kib, default_total;
        if (ctx->live && !ctx->detail && meminfo &&
            meminfo_get_from(meminfo, tail, "Hugetlb", &total_kib) == 0 &&
            meminfo_get_from(meminfo, tail, "HugePages_Total", &default_total) == 0 &&
            total_kib == default_total * (h->default_size >> 10))
                others_empty = true;

        for (unsigned i = 0; i < h->n_sizes; i++) {
                struct hugetlb_pool *p = &h->sizes[i];
                char dir[128];
                unsigned order = walk.orders[i];

                xsprintf(dir, "sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB",
                         p->page_size >> 10);
                /* /proc/meminfo, already read, carries the default size's counters: the same
                 * kernel numbers as sysfs, four files fewer. Used with and without detail, so
                 * the status never depends on it. */
                if (others_empty && p->page_size != h->default_size)
                        p->nr = p->free = p->resv = p->surplus = 0;
                else if (p->page_size != h->default_size || !meminfo ||
                         meminfo_get_from(meminfo, tail, "HugePages_Total", &p->nr) < 0 ||
                         meminfo_get_from(meminfo, tail, "HugePages_Free", &p->free) < 0 ||
                         meminfo_get_from(meminfo, tail, "HugePages_Rsvd", &p->resv) < 0 ||
                         meminfo_get_from(meminfo, tail, "HugePages_Surp", &p->surplus) < 0) {
                        (void) read_counter(ctx, dir, "nr_hugepages", &p->nr, &bad);
                        (void) read_counter(ctx, dir, "free_hugepages", &p->free, &bad);
                        (void) read_counter(ctx, dir, "resv_hugepages", &p->resv, &bad);
                        (void) read_counter(ctx, dir, "surplus_hugepages", &p->surplus, &bad);
                }
                if (ctx->detail)
                        (void) read_counter(ctx, dir, "nr_overcommit_hugepages", &p->nr_overcommit,
                                            NULL);
                p->obtainable_now = have_buddy ? buddy_obtainable_result(&walk.acc[i]) : 0;

                for (unsigned j = 0; j < nodes.n; j++) {
                        struct hugetlb_node_pool *np = &p->nodes[p->n_nodes];
                        char ndir[160];

                        xsprintf(ndir,
                                 "sys/devices/system/node/node%u/hugepages/hugepages-%" PRIu64 "kB",
                                 nodes.ids[j], p->page_size >> 10);
                        np->node = nodes.ids[j];
                        if (read_counter(ctx, ndir, "nr_hugepages", &np->nr, NULL) < 0)
                                continue;
                        (void) read_counter(ctx, ndir, "free_hugepages", &np->free, NULL);
                        (void) read_counter(ctx, ndir, "surplus_hugepages", &np->surplus, NULL);
                        np->obtainable_now =
                                have_buddy ? buddyinfo_obtainable(buddy, order, (int) nodes.ids[j])
                                           : 0;
                        p->n_nodes++;
                }
        }

        /* The agent's mounts while the mount table is the one it read (docs/check-facts.md). */
        if (ctx->stable && ctx->stable->hugetlb && ctx->stable->mounts_ok) {
                h->n_mounts = ctx->stable->hugetlb->n_mounts;
                memcpy(h->mounts, ctx->stable->hugetlb->mounts, sizeof(h->mounts));
        } else {
                e = probe_ctx_mountinfo(ctx, &mountinfo);
                if (e == 0) {
                        struct mount_args a = { h };
                        (void) mountinfo_parse_matching(mountinfo, " - hugetlbfs ",
                                                        hugetlbfs_mount_cb, &a, &malformed);
                        if (malformed)
                                e = -EBADMSG;
                }
                probe_bad_note(&bad, e, "proc/self/mountinfo");
        }

        for (unsigned i = 0; i < h->n_sizes; i++) {
                const struct hugetlb_pool *p = &h->sizes[i];
                char sz[FORMAT_SIZE_MAX], avail[64];

                if (p->obtainable_now == UINT64_MAX)
                        xsprintf(avail, "gigantic");
                else
                        xsprintf(avail, "at least %" PRIu64 " more obtainable now",
                                 p->obtainable_now);
                bufappendf_trunc(desc, sizeof(desc), "%s%s pool %" PRIu64 " (%" PRIu64 " free, %s)",
                                 i ? "; " : "", format_size(p->page_size, sz, sizeof(sz)), p->nr,
                                 p->free, avail);
        }
        if (h->n_sizes == 0)
                probe_set(res, PROBE_ABSENT, "no hugepage sizes offered by the kernel");
        else
                probe_set(res, PROBE_OK, "%s%s", desc,
                          h->n_mounts ? ""
                                      : "; no hugetlbfs mount (needed only for -mem-path users)");
        probe_bad_apply(&bad, res);
        return 0;
}
