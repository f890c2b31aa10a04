/* SPDX-License-Identifier: MIT */
/* Memory probe: RAM, THP, KSM, swap devices, swappiness, overcommit. */
#include <inttypes.h>
#include <stdio.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "probes/probes.h"

/* Read a small non-negative integer sysctl/sysfs value; -1 when missing or garbled. Garbage
 * is noted in bad (NULL for detail-only values, which must not change the status). */
static int64_t read_int_or(struct probe_ctx *ctx, const char *path, struct probe_bad *bad) {
        char v[32];
        int64_t n;
        int r = read_line_at(ctx->root_fd, path, v, sizeof(v));

        if (r == 0)
                r = parse_i64(v, &n);
        if (r == 0 && n < 0)
                r = -ERANGE;
        if (r == 0)
                return n;
        if (bad)
                probe_bad_note(bad, r, path);
        return -1;
}

static int swap_cb(const struct swaps_entry *e, void *userdata) {
        struct memory_facts *m = userdata;
        struct swap_entry *s;

        if (m->n_swaps >= SWAP_MAX)
                return 0;
        s = &m->swaps[m->n_swaps++];
        strscpy(s->path, sizeof(s->path), e->path);
        strscpy(s->type, sizeof(s->type), e->type);
        s->size_kib = e->size_kib;
        s->used_kib = e->used_kib;
        s->priority = e->priority;
        return 0;
}

int probe_memory(struct probe_ctx *ctx, struct host_report *r) {
        struct memory_facts *m = &r->memory;
        struct probe_result *res = &r->results[PROBE_MEMORY];
        struct probe_bad bad = { 0 };
        const char *meminfo;
        char buf[4096], swapdesc[64];
        uint64_t swap_kib = 0;
        unsigned malformed = 0;
        ssize_t n;
        int e;

        e = probe_ctx_meminfo(ctx, &meminfo);
        if (e < 0) {
                probe_set_error(res, PROBE_FAIL, e, "/proc/meminfo");
                return 0;
        }
        if (meminfo_get(meminfo, "MemTotal", &m->mem_total_kib) < 0) {
                probe_set_error(res, PROBE_FAIL, -EBADMSG, "/proc/meminfo");
                return 0;
        }
        (void) meminfo_get(meminfo, "MemFree", &m->mem_free_kib);
        (void) meminfo_get(meminfo, "MemAvailable", &m->mem_available_kib);
        (void) meminfo_get(meminfo, "Cached", &m->cached_kib);
        (void) meminfo_get(meminfo, "SReclaimable", &m->slab_reclaimable_kib);

        n = read_attribute_at(ctx->root_fd, "sys/kernel/mm/transparent_hugepage/enabled", buf,
                              sizeof(buf));
        if (n >= 0 && word_list_selected(buf, m->thp_enabled, sizeof(m->thp_enabled)) < 0)
                n = -EINVAL; /* no bracketed choice */
        probe_bad_note(&bad, (int) n, "sys/kernel/mm/transparent_hugepage/enabled");
        m->ksm_run = (int) read_int_or(ctx, "sys/kernel/mm/ksm/run", &bad);
        if (m->ksm_run > 2) {
                probe_bad_note(&bad, -ERANGE, "sys/kernel/mm/ksm/run");
                m->ksm_run = -1;
        }
        m->swappiness = (int) read_int_or(ctx, "proc/sys/vm/swappiness", &bad);
        m->overcommit_memory = -1;
        if (ctx->detail) {
                int64_t v;
                if (read_attribute_at(ctx->root_fd, "sys/kernel/mm/transparent_hugepage/defrag",
                                      buf, sizeof(buf)) >= 0)
                        (void) word_list_selected(buf, m->thp_defrag, sizeof(m->thp_defrag));
                v = read_int_or(ctx, "sys/kernel/mm/ksm/pages_sharing", NULL);
                m->ksm_pages_sharing = v < 0 ? 0 : (uint64_t) v;
                m->overcommit_memory =
                        (int) read_int_or(ctx, "proc/sys/vm/overcommit_memory", NULL);
                v = read_int_or(ctx, "proc/sys/vm/min_free_kbytes", NULL);
                m->min_free_kbytes = v < 0 ? 0 : (uint64_t) v;
        }

        n = read_virtual_file_at(ctx->root_fd, "proc/swaps", buf, sizeof(buf));
        if (n >= 0)
                (void) swaps_parse(buf, swap_cb, m, &malformed);
        probe_bad_note(&bad, malformed ? -EBADMSG : (int) n, "proc/swaps");
        for (unsigned i = 0; i < m->n_swaps; i++)
                swap_kib += m->swaps[i].size_kib;
        if (m->n_swaps == 0)
                bufprintf_trunc(swapdesc, sizeof(swapdesc), "no swap");
        else
                bufprintf_trunc(swapdesc, sizeof(swapdesc), "%u swap device%s (%" PRIu64 " MiB)",
                                m->n_swaps, m->n_swaps == 1 ? "" : "s", swap_kib / 1024);

        probe_set(res, PROBE_OK,
                  "%" PRIu64 " MiB RAM, %" PRIu64
                  " MiB available, THP %s, KSM %s, %s, swappiness %d",
                  m->mem_total_kib / 1024, m->mem_available_kib / 1024,
                  m->thp_enabled[0] ? m->thp_enabled : "unknown",
                  m->ksm_run == 1   ? "running"
                  : m->ksm_run == 0 ? "off"
                  : m->ksm_run == 2 ? "unmerging"
                                    : "unknown",
                  swapdesc, m->swappiness);
        probe_bad_apply(&bad, res);
        return 0;
}
