/* SPDX-License-Identifier: MIT */
/* The hugepage pools as leases use them: what a pool holds and may hold, growing it for
 * a request and shrinking it back once it was idle for [hugepages] shrink-after. */
#include "agent/lease.h"

#include "agent/log.h"
#include "lib/parse.h"
#include "policies/apply/hugepages.h"

struct lease_pool_state *lease_pool_find(struct lease_manager *m, uint64_t page_size) {
        for (unsigned i = 0; i < m->hugepages.n_pools; i++)
                if (m->hugepages.pools[i].page_size == page_size)
                        return &m->hugepages.pools[i];
        if (m->hugepages.n_pools >= HUGETLB_SIZES_MAX)
                return NULL;
        m->hugepages.pools[m->hugepages.n_pools] =
                (struct lease_pool_state){ .page_size = page_size };
        return &m->hugepages.pools[m->hugepages.n_pools++];
}

static const struct policy_hugepool *policy_pool(const struct policy *p, uint64_t page_size) {
        for (unsigned i = 0; i < p->n_pools; i++)
                if (p->pools[i].page_size == page_size)
                        return &p->pools[i];
        return NULL;
}

static uint64_t mem_total(const struct agent *a) {
        return a->verdict.as.report->memory.mem_total_kib * 1024;
}

/* Pages leases may grow the pool of page_size to: the policy's max (or pool); 0 when the policy
 * has no pool of that size (leases then use what is there). */
static uint64_t pool_max_pages(const struct agent *a, uint64_t page_size) {
        const struct policy_hugepool *h = policy_pool(a->in_force.policy, page_size);
        uint64_t pool, max;

        if (!h)
                return 0;
        pool = div_up(policy_size_resolve(&h->pool, mem_total(a)), page_size);
        max = h->max.set ? div_up(policy_size_resolve(&h->max, mem_total(a)), page_size) : pool;
        return max > pool ? max : pool;
}

static uint64_t leased_pages(const struct agent *a, uint64_t page_size) {
        for (unsigned i = 0; i < a->lease.held.n_sizes && i < HUGETLB_SIZES_MAX; i++)
                if (a->lease.held.hugepages[i].page_size == page_size)
                        return a->lease.held.hugepages[i].bytes / page_size;
        return 0;
}

int lease_pool_read(struct lease_manager *m, uint64_t page_size, struct lease_pool *ret) {
        struct hugepages_counts c;
        int r = hugepages_counts_read(m->root_fd, page_size, &c);

        if (r < 0)
                return r;
        *ret = (struct lease_pool){
                .nr = c.nr,
                .free = c.free,
                .resv = c.resv,
                .leased = leased_pages(m->a, page_size),
                .max = pool_max_pages(m->a, page_size),
        };
        return 0;
}

/* The numbers behind a hugepage answer, for people. */
void lease_pool_describe(const struct lease_pool *p, uint64_t page_size, uint64_t pages, char *buf,
                         size_t size) {
        char ps[32], want[32];

        bufprintf_trunc(buf, size,
                        "%s of hugepages (%" PRIu64
                        " page%s of %s) requested; the pool has %" PRIu64 " pages, %" PRIu64
                        " free, %" PRIu64 " reserved, %" PRIu64 " promised to leases, %" PRIu64
                        " available; leases may grow it to %" PRIu64 " pages",
                        format_size(pages * page_size, want, sizeof(want)), pages,
                        pages == 1 ? "" : "s", format_size(page_size, ps, sizeof(ps)), p->nr,
                        p->free, p->resv, p->leased, lease_hugepages_available(p),
                        p->max > p->nr ? p->max : p->nr);
}

void lease_pools_refresh_total(struct lease_manager *m) {
        struct agent *a = m->a;
        uint64_t total = 0;

        for (unsigned i = 0; i < a->verdict.as.report->hugetlb.n_sizes; i++) {
                struct hugepages_counts c;
                uint64_t ps = a->verdict.as.report->hugetlb.sizes[i].page_size;
                if (hugepages_counts_read(m->root_fd, ps, &c) >= 0)
                        total += c.nr * ps;
        }
        if (total != a->props.hugepages_total) {
                a->props.hugepages_total = total;
                agent_bus_properties_changed(a, "HugePagesTotal");
        }
}

void lease_pool_resize(struct lease_manager *m, struct lease_pool_state *st, uint64_t cur,
                       uint64_t pages, const char *why) {
        struct lease_job *job = calloc(1, sizeof(*job));
        const struct policy *p = m->a->in_force.policy;

        if (!job)
                return;
        job->kind = LEASE_JOB_RESIZE;
        hugepages_step_init(&job->step, st->page_size, cur, pages, p->reclaim,
                            p->reclaim_timeout_usec, why);
        st->growing = true;
        if (pages > cur && st->base == 0)
                st->base = cur;
        log_info("leases: %s hugepages-%" PRIu64 "kB from %" PRIu64 " to %" PRIu64 " pages (%s)",
                 pages > cur ? "growing" : "shrinking", st->page_size >> 10, cur, pages, why);
        lease_job_submit(m, job);
}

static int on_shrink(sd_event_source *s, uint64_t usec, void *userdata) {
        struct lease_manager *m = userdata;
        struct agent *a = m->a;

        (void) s;
        (void) usec;
        for (unsigned i = 0; i < m->hugepages.n_pools; i++) {
                struct lease_pool_state *st = &m->hugepages.pools[i];
                const struct policy_hugepool *h = policy_pool(a->in_force.policy, st->page_size);
                struct lease_pool p;
                uint64_t floor, target;
                bool wanted = false;

                if (st->growing || lease_pool_read(m, st->page_size, &p) < 0)
                        continue;
                for (unsigned k = 0; k < m->requests.n_queue; k++)
                        wanted = wanted ||
                                 (m->requests.queue[k]->pages > 0 &&
                                  m->requests.queue[k]->want.hugepage_size == st->page_size);
                if (wanted)
                        continue;
                /* Back toward the policy's pool; without one, toward what the pool held before
                 * leases grew it. */
                if (h && h->pool.set)
                        floor = div_up(policy_size_resolve(&h->pool, mem_total(a)), st->page_size);
                else if (st->base > 0)
                        floor = st->base;
                else
                        continue;
                target = lease_hugepages_shrink_target(&p, floor);
                if (target < p.nr) {
                        lease_pool_resize(m, st, p.nr, target,
                                          "leases ended and the pool was idle");
                        if (target <= floor)
                                st->base = 0;
                }
        }
        return 0;
}

/* Shrink an idle pool after [hugepages] shrink-after; every lease change starts the wait anew. */
void lease_pools_arm_shrink(struct lease_manager *m) {
        int r = agent_timer_arm(m->a, &m->timers.shrink, m->a->in_force.policy->shrink_after_usec,
                                USEC_PER_MSEC * 100, on_shrink, m);

        if (r < 0)
                log_warning("leases: cannot arm the pool shrink timer: %s", strerror(-r));
}

/* Every pool the policy sizes is watched for shrinking, also one a crashed agent's leases
 * grew. */
void lease_pools_track_policy(struct lease_manager *m) {
        for (unsigned i = 0; i < m->a->in_force.policy->n_pools; i++)
                if (m->a->in_force.policy->pools[i].pool.set)
                        (void) lease_pool_find(m, m->a->in_force.policy->pools[i].page_size);
}
