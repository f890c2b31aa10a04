/* SPDX-License-Identifier: MIT */
/* Capacity signals of the leases for fleet schedulers (docs/readiness-outputs.md): requests
 * granted, refused, waiting and abandoned, their wait, and what growing a pool for them did, per
 * hugepage size. Counted here on the event loop; agent/outputs.c writes them as metrics. */

#include <stdio.h>
#include <string.h>

#include "agent/lease.h"
#include "lib/parse.h"
#include "lib/util.h"

static const char *const lease_refusal_table[_LEASE_REFUSAL_MAX] = {
        [LEASE_REFUSAL_INSUFFICIENT_HUGEPAGES] = "insufficient_hugepages",
        [LEASE_REFUSAL_INSUFFICIENT_TAPS] = "insufficient_taps",
        [LEASE_REFUSAL_EXCEEDS_POOL] = "exceeds_pool",
        [LEASE_REFUSAL_LIMIT_EXCEEDED] = "limit_exceeded",
        [LEASE_REFUSAL_NOT_READY] = "not_ready",
        [LEASE_REFUSAL_ERROR] = "error",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(lease_refusal, enum lease_refusal, "error")

enum lease_refusal lease_refusal_from_error(const char *name) {
        static const struct {
                const char *error;
                enum lease_refusal reason;
        } map[] = {
                { AGENT_ERROR_INSUFFICIENT_HUGEPAGES, LEASE_REFUSAL_INSUFFICIENT_HUGEPAGES },
                { AGENT_ERROR_INSUFFICIENT_TAPS, LEASE_REFUSAL_INSUFFICIENT_TAPS },
                { AGENT_ERROR_EXCEEDS_POOL, LEASE_REFUSAL_EXCEEDS_POOL },
                { AGENT_ERROR_LIMIT_EXCEEDED, LEASE_REFUSAL_LIMIT_EXCEEDED },
                { AGENT_ERROR_NOT_READY, LEASE_REFUSAL_NOT_READY },
        };

        for (size_t i = 0; name && i < ELEMENTSOF(map); i++)
                if (streq(name, map[i].error))
                        return map[i].reason;
        return LEASE_REFUSAL_ERROR;
}

struct lease_stats *agent_lease_stats(struct agent *a, uint64_t page_size) {
        for (unsigned i = 0; i < a->lease.n_stats; i++)
                if (a->lease.stats[i].page_size == page_size)
                        return &a->lease.stats[i];
        if (a->lease.n_stats >= LEASE_STATS_MAX)
                return NULL;
        a->lease.stats[a->lease.n_stats] = (struct lease_stats){ .page_size = page_size };
        return &a->lease.stats[a->lease.n_stats++];
}

static uint64_t request_page_size(const struct lease_request *req) {
        return req->pages > 0 ? req->want.hugepage_size : 0;
}

void agent_lease_stats_refresh(struct agent *a) {
        const struct lease_manager *m = a->lease.mgr;

        for (unsigned i = 0; i < a->lease.n_stats; i++)
                a->lease.stats[i].waiting = a->lease.stats[i].queued = 0;
        for (unsigned i = 0; m && i < m->requests.n_queue; i++) {
                const struct lease_request *req = m->requests.queue[i];
                struct lease_stats *s = agent_lease_stats(a, request_page_size(req));
                if (!s)
                        continue;
                s->queued++;
                s->waiting += !req->lease;
        }
}

void lease_stats_answered(struct lease_manager *m, struct lease_request *req,
                          const char *error_name) {
        struct lease_stats *s = agent_lease_stats(m->a, request_page_size(req));
        uint64_t now = agent_now_usec(CLOCK_MONOTONIC);

        if (!s)
                return;
        if (error_name)
                s->refused[lease_refusal_from_error(error_name)]++;
        else
                s->granted++;
        if (req->arrived_usec > 0 && now > req->arrived_usec)
                s->wait_usec_sum += now - req->arrived_usec;
        /* A refusal changes no lease, so nothing else would rewrite the metrics. */
        agent_outputs_schedule(m->a);
}

void lease_stats_abandoned(struct lease_manager *m, const struct lease_request *req) {
        struct lease_stats *s = agent_lease_stats(m->a, request_page_size(req));

        if (s)
                s->abandoned++;
        agent_outputs_schedule(m->a);
}

void lease_stats_waits(struct lease_manager *m, struct lease_request *req) {
        struct lease_stats *s;

        if (req->waited)
                return;
        req->waited = true;
        s = agent_lease_stats(m->a, request_page_size(req));
        if (s)
                s->waited++;
        agent_outputs_schedule(m->a);
}

void lease_stats_resized(struct lease_manager *m, const struct lease_job *job) {
        uint64_t from = job->step.u.hugepages.current, to = job->step.u.hugepages.pages;
        uint64_t achieved = from;
        struct lease_stats *s;

        if (to <= from)
                return; /* a shrink back towards the policy's pool */
        s = agent_lease_stats(m->a, job->step.u.hugepages.page_size);
        if (!s)
                return;
        /* The applier reads nr_hugepages back into achieved; without it (the write failed)
         * nothing was obtained. */
        if (parse_u64(job->res.achieved, &achieved) < 0)
                achieved = from;
        s->growths++;
        s->growths_short += job->r < 0 || step_outcome_fell_short(job->res.outcome);
        s->growth_pages_asked += to - from;
        s->growth_pages_obtained += achieved > from ? achieved - from : 0;
        s->growth_reclaims += job->res.caches_dropped;
        s->growth_usec_sum += job->res.usec;
        agent_outputs_schedule(m->a);
}
