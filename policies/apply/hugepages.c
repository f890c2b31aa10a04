/* SPDX-License-Identifier: MIT */
/* Hugepage pools: write nr_hugepages, compact, drop caches (only as far as allowed), retry until
 * the timeout, and report obtained vs requested. hugeadm retries without compacting and exits 0
 * when short; a plain write gets ~97% on a host whose memory is held by caches (see
 * docs/bench/apply.md). */
#include "hugepages.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "policies/policy.h"

#define PAUSE_MIN_USEC (50 * USEC_PER_MSEC)
#define PAUSE_MAX_USEC (1000 * USEC_PER_MSEC)
/* Growing a pool back on revert: compaction allowed, a bounded wait. */
#define REVERT_TIMEOUT_USEC (10 * USEC_PER_SEC)

int hugepages_nr_path(uint64_t page_size, int node, char *buf, size_t size) {
        if (page_size < 1024)
                return -EINVAL;
        if (node < 0)
                return bufprintf(buf, size,
                                 "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
                                 page_size / 1024);
        return bufprintf(buf, size,
                         "/sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64
                         "kB/nr_hugepages",
                         node, page_size / 1024);
}

int hugepages_counts_read(int root_fd, uint64_t page_size, struct hugepages_counts *ret) {
        static const char *const names[] = { "nr_hugepages", "free_hugepages", "resv_hugepages",
                                             "surplus_hugepages" };
        uint64_t v[ELEMENTSOF(names)];
        char path[128];

        if (page_size < 1024)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                int r = bufprintf(path, sizeof(path),
                                  "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/%s",
                                  page_size / 1024, names[i]);
                if (r == 0)
                        r = read_u64_at(root_fd, path, &v[i]);
                if (r < 0)
                        return r;
        }
        *ret = (struct hugepages_counts){ .nr = v[0], .free = v[1], .resv = v[2], .surplus = v[3] };
        return 0;
}

void hugepages_step_init(struct plan_step *s, uint64_t page_size, uint64_t current, uint64_t pages,
                         int reclaim, uint64_t timeout_usec, const char *why) {
        memset(s, 0, sizeof(*s));
        s->kind = PLAN_HUGEPAGES;
        plan_hugepages_text(s, page_size, -1, current, pages);
        strscpy(s->why, sizeof(s->why), why);
        s->u.hugepages.page_size = page_size;
        s->u.hugepages.pages = pages;
        s->u.hugepages.node = -1;
        s->u.hugepages.reclaim = (enum policy_reclaim) reclaim;
        s->u.hugepages.timeout_usec = timeout_usec;
}

bool hugepages_path_allowed(const char *path) {
        const char *rest = startswith(path, "/sys/kernel/mm/hugepages/hugepages-");
        unsigned long long kb;
        unsigned node;
        int n = 0;

        if (rest)
                return sscanf(rest, "%llukB/nr_hugepages%n", &kb, &n) == 1 &&
                       (size_t) n == strlen(rest);
        rest = startswith(path, "/sys/devices/system/node/node");
        if (!rest)
                return false;
        return sscanf(rest, "%u/hugepages/hugepages-%llukB/nr_hugepages%n", &node, &kb, &n) == 2 &&
               (size_t) n == strlen(rest);
}

/* The node of a per-node pool path ("/sys/devices/system/node/node3/hugepages/..."), or -1
 * for the global pool (and for a path that names no node). */
static int path_node(const char *path) {
        const char *rest = startswith(path, "/sys/devices/system/node/node");
        char num[DECIMAL_STR_MAX(unsigned)];
        size_t l = rest ? strcspn(rest, "/") : 0;
        unsigned node;

        if (!rest || l == 0 || l >= sizeof(num))
                return -1;
        memcpy(num, rest, l);
        num[l] = 0;
        return parse_uint(num, &node) >= 0 && node <= (unsigned) INT_MAX ? (int) node : -1;
}

/* "1.2G": sizes in messages read better rounded. */
static char *human_size(uint64_t bytes, char *buf, size_t size) {
        static const char units[] = "KMGTP";
        double v = (double) bytes;
        int u = -1;

        while (v >= 1024.0 && u < (int) sizeof(units) - 2) {
                v /= 1024.0;
                u++;
        }
        if (u < 0)
                bufprintf_trunc(buf, size, "%" PRIu64 "B", bytes);
        else
                bufprintf_trunc(buf, size,
                                v < 10.0 && v != (double) (uint64_t) v ? "%.1f%c" : "%.0f%c", v,
                                units[u]);
        return buf;
}

static const char *reclaim_name(int reclaim) {
        return reclaim == RECLAIM_NONE      ? "none"
               : reclaim == RECLAIM_COMPACT ? "compact"
                                            : "drop-caches";
}

void hugepages_explain(const struct hugepages_shortfall *f, char *buf, size_t size) {
        uint64_t missing = f->requested > f->obtained ? f->requested - f->obtained : 0;
        uint64_t need = missing * f->page_size, droppable = f->page_cache + f->slab_reclaimable;
        char ps[32], a[32], b[32], d[32];
        const char *after = f->caches_dropped ? "after compaction and dropping caches"
                            : f->compacted    ? "after compaction"
                                              : "without compaction";

        human_size(f->page_size, ps, sizeof(ps));
        bufprintf_trunc(buf, size, "obtained %" PRIu64 " of %" PRIu64 " %s pages %s; ", f->obtained,
                        f->requested, ps, after);
        human_size(f->mem_free, a, sizeof(a));
        human_size(need, d, sizeof(d));
        /* Advise drop-caches only when the caches would make up the difference. */
        if (!f->caches_dropped && f->reclaim != RECLAIM_DROP_CACHES && f->mem_free < need &&
            f->mem_free + droppable >= need) {
                human_size(f->page_cache, b, sizeof(b));
                human_size(f->slab_reclaimable, d, sizeof(d));
                bufappendf_trunc(
                        buf, size,
                        "%s held by page cache and %s by dentries and inodes, and reclaim=%s "
                        "forbids dropping them (reclaim = drop-caches would)",
                        b, d, reclaim_name(f->reclaim));
        } else if (f->reclaim == RECLAIM_NONE && f->mem_free >= need)
                bufappendf_trunc(
                        buf, size,
                        "%s free but not in contiguous %s blocks, and reclaim=none forbids "
                        "compaction (reclaim = compact would)",
                        a, ps);
        else if (f->mem_free + (f->caches_dropped ? 0 : droppable) < need) {
                human_size(droppable, b, sizeof(b));
                bufappendf_trunc(buf, size,
                                 "the memory is not there: %s more needed, %s free%s%s%s", d, a,
                                 f->caches_dropped ? "" : " and ", f->caches_dropped ? "" : b,
                                 f->caches_dropped ? "" : " in caches");
        } else
                bufappendf_trunc(
                        buf, size,
                        "%s free but not in contiguous %s blocks (unmovable kernel memory in the "
                        "way)",
                        a, ps);
}

uint64_t hugepages_keep_free(uint64_t mem_total) {
        const uint64_t M = UINT64_C(1) << 20;
        uint64_t keep = mem_total / 32;

        keep = keep < 64 * M ? 64 * M : keep > 1024 * M ? 1024 * M : keep;
        return keep > mem_total / 2 ? mem_total / 2 : keep;
}

bool hugepages_growth_fits(uint64_t mem_total, uint64_t mem_available, uint64_t need, char *why,
                           size_t size) {
        uint64_t keep = hugepages_keep_free(mem_total);
        char a[32], b[32], c[32];

        if (mem_total == 0 || (need <= mem_available && mem_available - need >= keep))
                return true;
        bufprintf_trunc(why, size, "%s more needed, %s available, %s kept free",
                        human_size(need, a, sizeof(a)), human_size(mem_available, b, sizeof(b)),
                        human_size(keep, c, sizeof(c)));
        return false;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = (time_t) (usec / USEC_PER_SEC),
                               .tv_nsec = (long) (usec % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int write_u64(int root_fd, const char *path, uint64_t v) {
        char buf[32];

        xsprintf(buf, "%" PRIu64, v);
        return write_virtual_file_at(root_fd, path, buf);
}

/* Compact the pool's node (or every node). Synchronous: the write returns when done. */
static int compact(int root_fd, int node) {
        char path[96];

        if (node < 0)
                return write_virtual_file_at(root_fd, "/proc/sys/vm/compact_memory", "1");
        xsprintf(path, "/sys/devices/system/node/node%d/compact", node);
        return write_virtual_file_at(root_fd, path, "1");
}

/* Drop clean page cache, dentries and inodes; sync first so dirty pages become droppable. */
static int drop_caches(int root_fd) {
        sync();
        return write_virtual_file_at(root_fd, "/proc/sys/vm/drop_caches", "3");
}

/* Memory figures of the pool's node (node meminfo lines read "Node 0 MemFree: ..."; the prefix
 * is cut so the /proc/meminfo parser reads both). */
static int read_memory(int root_fd, int node, struct hugepages_shortfall *f) {
        _cleanup_free_ char *text = NULL;
        char path[96];
        uint64_t cached = 0, shmem = 0;
        int r;

        if (node < 0)
                strscpy(path, sizeof(path), "/proc/meminfo");
        else
                xsprintf(path, "/sys/devices/system/node/node%d/meminfo", node);
        r = read_virtual_file_alloc_at(root_fd, path, 1U << 20, &text, NULL);
        if (r < 0)
                return r;
        if (node >= 0) {
                char *w = text;
                for (const char *line = text; *line;) {
                        const char *end = strchrnul(line, '\n');
                        const char *p = startswith(line, "Node ");
                        if (p) {
                                p += strspn(p, "0123456789");
                                p += strspn(p, " ");
                        } else
                                p = line;
                        memmove(w, p, (size_t) (end - p));
                        w += end - p;
                        if (*end)
                                *w++ = '\n';
                        line = *end ? end + 1 : end;
                }
                *w = 0;
        }
        (void) meminfo_get(text, "MemTotal", &f->mem_total);
        (void) meminfo_get(text, "MemFree", &f->mem_free);
        (void) meminfo_get(text, "MemAvailable", &f->mem_available); /* not in a node's */
        (void) meminfo_get(text, "Cached", &cached);
        (void) meminfo_get(text, "Shmem", &shmem);
        (void) meminfo_get(text, "SReclaimable", &f->slab_reclaimable);
        f->mem_total *= 1024;
        f->mem_free *= 1024;
        f->mem_available *= 1024;
        f->slab_reclaimable *= 1024;
        f->page_cache = cached > shmem ? (cached - shmem) * 1024 : 0;
        return 0;
}

int hugepages_meminfo_read(int root_fd, uint64_t *ret_total, uint64_t *ret_available) {
        struct hugepages_shortfall f = { 0 };
        int r = read_memory(root_fd, -1, &f);

        if (r < 0)
                return r;
        if (f.mem_total == 0 || f.mem_available == 0)
                return -ENODATA;
        *ret_total = f.mem_total;
        *ret_available = f.mem_available;
        return 0;
}

struct grow {
        struct apply_ctx *c;
        const char *label;
        const char *path;
        int node;
        uint64_t page_size, want, timeout_usec;
        int reclaim;
        /* results */
        uint64_t start, nr;
        bool compacted, dropped;
        int error;
};

static void grow_progress(struct grow *g, const char *stage) {
        char a[32], b[32];

        if (!g->c)
                return;
        format_duration(now_usec() - g->start, a, sizeof(a));
        format_duration(g->timeout_usec, b, sizeof(b));
        apply_progress(g->c, "%s: %" PRIu64 " of %" PRIu64 " pages%s%s, %s%s%s", g->label, g->nr,
                       g->want, stage[0] ? " " : "", stage, a, g->timeout_usec ? " of " : "",
                       g->timeout_usec ? b : "");
}

/* One attempt: write the wanted count, read what the kernel got. */
static int attempt(struct grow *g, int root_fd) {
        int r = write_u64(root_fd, g->path, g->want);

        /* The write reports no shortfall itself (it allocates what it can); read back. A
         * failed write (-ENOMEM from a gigantic-page allocation, for one) is not fatal to the
         * loop: the next stage may free memory. */
        if (r < 0)
                g->error = r;
        return read_u64_at(root_fd, g->path, &g->nr);
}

/* Retry until the pool is full or the timeout has passed, even when rounds gain nothing: memory
 * comes free when a VM exits or writeback ends, and the timeout is the operator's word on how long
 * that may take. */
static int grow_pool(struct grow *g, int root_fd) {
        uint64_t deadline, pause = PAUSE_MIN_USEC;
        int top = g->reclaim, stage = RECLAIM_NONE, r;

        g->start = now_usec();
        deadline = g->start + g->timeout_usec;

        for (;;) {
                uint64_t t;

                r = attempt(g, root_fd);
                if (r < 0)
                        return r;
                grow_progress(g, g->dropped     ? "after dropping caches"
                                 : g->compacted ? "after compaction"
                                                : "");
                if (g->nr >= g->want)
                        return 0;
                if (stage < top) {
                        /* Escalate one level before any waiting: each level is tried once as
                         * soon as the one below fell short. */
                        stage++;
                        if (stage == RECLAIM_DROP_CACHES) {
                                r = drop_caches(root_fd);
                                if (r < 0)
                                        return r;
                                g->dropped = true;
                        }
                        r = compact(root_fd, g->node);
                        if (r < 0)
                                return r;
                        g->compacted = true;
                        continue;
                }
                t = now_usec();
                if (t >= deadline)
                        return 0;
                sleep_usec(pause < deadline - t ? pause : deadline - t);
                pause = pause * 2 > PAUSE_MAX_USEC ? PAUSE_MAX_USEC : pause * 2;
                if (top >= RECLAIM_COMPACT) {
                        r = compact(root_fd, g->node);
                        if (r < 0)
                                return r;
                }
        }
}

/* A pool short for want of memory holds all but the kernel's min watermark: give back pages
 * this step added (never below `before`) until hugepages_keep_free() is free on the pool's node.
 * Fills *f with the memory figures after that; returns the pages given back. */
static uint64_t give_back(struct grow *g, int root_fd, uint64_t before,
                          struct hugepages_shortfall *f) {
        uint64_t keep, pages, target, nr;

        (void) read_memory(root_fd, g->node, f);
        keep = hugepages_keep_free(f->mem_total);
        if (f->mem_total == 0 || f->mem_free >= keep || g->nr <= before)
                return 0;
        pages = (keep - f->mem_free + g->page_size - 1) / g->page_size;
        target = g->nr - before > pages ? g->nr - pages : before;
        if (write_u64(root_fd, g->path, target) < 0 || read_u64_at(root_fd, g->path, &nr) < 0 ||
            nr >= g->nr)
                return 0;
        pages = g->nr - nr;
        g->nr = nr;
        (void) read_memory(root_fd, g->node, f);
        grow_progress(g, "after giving pages back to keep memory free");
        return pages;
}

int hugepages_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        const typeof(s->u.hugepages) *h = &s->u.hugepages;
        int root_fd = c->o->root_fd;
        char path[160], label[128], cur_s[32];
        uint64_t cur;
        int r;

        r = hugepages_nr_path(h->page_size, h->node, path, sizeof(path));
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "%s: invalid page size %" PRIu64, s->knob,
                         h->page_size);
                return 0;
        }
        if (s->knob[0])
                strscpy(label, sizeof(label), s->knob);
        else if (h->node < 0)
                xsprintf(label, "hugepages-%" PRIu64 "kB", h->page_size / 1024);
        else
                xsprintf(label, "hugepages-%" PRIu64 "kB/node%d", h->page_size / 1024, h->node);
        r = read_u64_at(root_fd, path, &cur);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "%s: cannot read %s: %s%s", label, path, strerror(-r),
                         r == -ENOENT ? " (no such page size or node on this kernel)" : "");
                return 0;
        }
        if (cur == h->pages) {
                xsprintf(res->achieved, "%" PRIu64, cur);
                step_set(res, STEP_UNCHANGED, 0, "%s already holds %" PRIu64 " pages", label, cur);
                return 0;
        }
        xsprintf(cur_s, "%" PRIu64, cur);
        r = apply_record_changed(c, JOURNAL_HUGEPAGES, path, label, cur_s);
        if (r < 0)
                return r;

        if (h->pages < cur) {
                uint64_t nr = 0;
                r = write_u64(root_fd, path, h->pages);
                if (r == 0)
                        r = read_u64_at(root_fd, path, &nr);
                if (r < 0) {
                        step_set(res, STEP_FAILED, r, "%s: shrinking to %" PRIu64 " failed: %s",
                                 label, h->pages, strerror(-r));
                        return 0;
                }
                xsprintf(res->achieved, "%" PRIu64, nr);
                /* Pages in use when the pool shrinks become surplus and are freed when their
                 * user lets go; nr_hugepages already shows the new persistent size. */
                step_set(res, nr == h->pages ? STEP_APPLIED : STEP_FAILED,
                         nr == h->pages ? 0 : -EIO, "%s: %" PRIu64 " -> %" PRIu64 " pages", label,
                         cur, nr);
                return 0;
        }

        struct grow g = {
                .c = c,
                .label = label,
                .path = path,
                .node = h->node,
                .page_size = h->page_size,
                .want = h->pages,
                .timeout_usec = h->timeout_usec,
                .reclaim = h->reclaim,
                .nr = cur,
        };
        r = grow_pool(&g, root_fd);
        res->caches_dropped = g.dropped;
        xsprintf(res->achieved, "%" PRIu64, g.nr);
        if (r < 0) {
                step_set(res, g.nr > cur ? STEP_SHORT : STEP_FAILED, r,
                         "%s: %" PRIu64 " of %" PRIu64 " pages; reclaim failed: %s", label, g.nr,
                         h->pages, strerror(-r));
                return 0;
        }
        if (g.nr >= h->pages) {
                step_set(res, STEP_APPLIED, 0, "%s: %" PRIu64 " -> %" PRIu64 " pages%s", label, cur,
                         g.nr,
                         g.dropped     ? " (after compaction and dropping the page cache, "
                                         "dentries and inodes)"
                         : g.compacted ? " (after compaction)"
                                       : "");
                return 0;
        }

        struct hugepages_shortfall f = { 0 };
        uint64_t gave_back = give_back(&g, root_fd, cur, &f);
        char why[400], keep[32];

        xsprintf(res->achieved, "%" PRIu64, g.nr);
        f.page_size = h->page_size;
        f.requested = h->pages;
        f.obtained = g.nr;
        f.reclaim = h->reclaim;
        f.compacted = g.compacted;
        f.caches_dropped = g.dropped;
        hugepages_explain(&f, why, sizeof(why));
        step_set(res, STEP_SHORT, g.error, "%s: %s%s", label, why,
                 g.dropped ? "; caches were dropped" : "");
        if (gave_back > 0) {
                bufappendf_trunc(res->message, sizeof(res->message),
                                 "; gave back %" PRIu64
                                 " of the pages it added so that %s stay free",
                                 gave_back,
                                 human_size(hugepages_keep_free(f.mem_total), keep, sizeof(keep)));
        }
        return 0;
}

void hugepages_revert(struct apply_ctx *c, const struct journal_entry *e,
                      struct revert_result *res) {
        int root_fd = c->o->root_fd;
        uint64_t orig, cur;
        int r;

        if (!hugepages_path_allowed(e->object) || parse_u64(e->original, &orig) < 0) {
                revert_set(res, REVERT_FAILED, -EINVAL, "%s: not a hugepage pool entry", e->object);
                return;
        }
        r = read_u64_at(root_fd, e->object, &cur);
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "cannot read %s: %s", e->object, strerror(-r));
                return;
        }
        if (cur == orig) {
                revert_set(res, REVERT_GONE, 0, "%s already holds %" PRIu64 " pages", e->object,
                           orig);
                return;
        }
        if (orig < cur) {
                r = write_u64(root_fd, e->object, orig);
                if (r == 0)
                        r = read_u64_at(root_fd, e->object, &cur);
        } else {
                struct grow g = {
                        .label = e->label,
                        .path = e->object,
                        .node = -1,
                        .want = orig,
                        .timeout_usec = REVERT_TIMEOUT_USEC,
                        .reclaim = RECLAIM_COMPACT,
                        .nr = cur,
                };
                g.node = path_node(e->object);
                r = grow_pool(&g, root_fd);
                cur = g.nr;
        }
        if (r < 0 || cur != orig) {
                revert_set(res, REVERT_FAILED, r < 0 ? r : -ENOMEM,
                           "%s: %" PRIu64 " pages instead of the original %" PRIu64 "%s%s",
                           e->object, cur, orig, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "%s restored to %" PRIu64 " pages", e->object, orig);
}
