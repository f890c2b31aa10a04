/* Memory probe: RAM, THP, KSM, swap devices, swappiness, overcommit. */
#include <inttypes.h>
#include <stdio.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "probes/probes.h"

/* Read a small integer sysctl/sysfs value; -1 when missing or garbled. */
static int64_t read_int_or(struct probe_ctx *ctx, const char *path) {
        char v[32];
        int64_t n;

        if (read_line_at(ctx->root_fd, path, v, sizeof(v)) < 0 || parse_i64(v, &n) < 0)
                return -1;
        return n;
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
        const char *meminfo;
        char buf[4096], swapdesc[64];
        uint64_t swap_kib = 0;
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

        if (read_virtual_file_at(ctx->root_fd, "sys/kernel/mm/transparent_hugepage/enabled", buf,
                                 sizeof(buf)) >= 0)
                (void) word_list_selected(buf, m->thp_enabled, sizeof(m->thp_enabled));
        m->ksm_run = (int) read_int_or(ctx, "sys/kernel/mm/ksm/run");
        m->swappiness = (int) read_int_or(ctx, "proc/sys/vm/swappiness");
        m->overcommit_memory = -1;
        if (ctx->detail) {
                int64_t v;
                if (read_virtual_file_at(ctx->root_fd, "sys/kernel/mm/transparent_hugepage/defrag",
                                         buf, sizeof(buf)) >= 0)
                        (void) word_list_selected(buf, m->thp_defrag, sizeof(m->thp_defrag));
                v = read_int_or(ctx, "sys/kernel/mm/ksm/pages_sharing");
                m->ksm_pages_sharing = v < 0 ? 0 : (uint64_t) v;
                m->overcommit_memory = (int) read_int_or(ctx, "proc/sys/vm/overcommit_memory");
                v = read_int_or(ctx, "proc/sys/vm/min_free_kbytes");
                m->min_free_kbytes = v < 0 ? 0 : (uint64_t) v;
        }

        n = read_virtual_file_at(ctx->root_fd, "proc/swaps", buf, sizeof(buf));
        if (n >= 0)
                (void) swaps_parse(buf, swap_cb, m, NULL);
        for (unsigned i = 0; i < m->n_swaps; i++)
                swap_kib += m->swaps[i].size_kib;
        if (m->n_swaps == 0)
                snprintf(swapdesc, sizeof(swapdesc), "no swap");
        else
                snprintf(swapdesc, sizeof(swapdesc), "%u swap device%s (%" PRIu64 " MiB)",
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
        return 0;
}
