/* SPDX-License-Identifier: MIT */
/* The leases' capacity signals in a->lease.stats (agent/lease-stats.c; docs/readiness-outputs.md):
 * per page size, what requests got and what growing the pool for them did. */
#pragma once

#include <stdint.h>

#include "probes/report.h"

struct agent;
struct lease_job;
struct lease_manager;
struct lease_request;

/* Why a lease request was refused: the label values of hosttune_lease_requests_refused_total
 * (docs/readiness-outputs.md), one per D-Bus error a request can end with. */
enum lease_refusal {
        LEASE_REFUSAL_INSUFFICIENT_HUGEPAGES,
        LEASE_REFUSAL_INSUFFICIENT_TAPS,
        LEASE_REFUSAL_EXCEEDS_POOL,
        LEASE_REFUSAL_LIMIT_EXCEEDED,
        LEASE_REFUSAL_NOT_READY,
        LEASE_REFUSAL_ERROR, /* anything else: a failure of the agent or the host */
        _LEASE_REFUSAL_MAX,
};

/* The label value of a refusal reason, "insufficient_hugepages". */
const char *lease_refusal_to_string(enum lease_refusal r);

/* The refusal reason of a D-Bus error name. */
enum lease_refusal lease_refusal_from_error(const char *name);

/* Capacity signals for fleet schedulers, per hugepage size (page_size 0: requests for taps or
 * snapshots only): the lease requests and what growing the pool for them did. Counters only
 * grow; the gauges (waiting, queued) are filled when the metrics are written. */
struct lease_stats {
        uint64_t page_size;
        uint64_t granted;
        uint64_t refused[_LEASE_REFUSAL_MAX];
        uint64_t abandoned;     /* the caller left the bus before its answer */
        uint64_t waited;        /* requests that were not served at once */
        uint64_t wait_usec_sum; /* arrival to answer, over the granted and refused ones */
        uint64_t waiting;       /* unanswered, not being provisioned: the queue */
        uint64_t queued;        /* unanswered: waiting or being provisioned */
        /* Growing the pool for leases (not the applies of the policy). */
        uint64_t growths, growths_short;
        uint64_t growth_pages_asked, growth_pages_obtained;
        uint64_t growth_reclaims; /* growths that dropped the page cache, dentries and inodes */
        uint64_t growth_usec_sum;
};

#define LEASE_STATS_MAX (HUGETLB_SIZES_MAX + 1)

/* The stats entry of page_size (created on first use; NULL when every entry is taken). */
struct lease_stats *agent_lease_stats(struct agent *a, uint64_t page_size);

/* Fill the gauges of a->lease.stats (waiting, queued) from the queue, for the metrics file. */
void agent_lease_stats_refresh(struct agent *a);

/* req is answered: granted (error_name NULL) or refused with that D-Bus error. */
void lease_stats_answered(struct lease_manager *m, struct lease_request *req,
                          const char *error_name);
/* req goes unanswered: its caller left the bus. */
void lease_stats_abandoned(struct lease_manager *m, const struct lease_request *req);
/* req could not be served at once (counted once per request). */
void lease_stats_waits(struct lease_manager *m, struct lease_request *req);
/* A RESIZE job ended: a growth's pages asked and obtained, reclaim, time (shrinks not counted). */
void lease_stats_resized(struct lease_manager *m, const struct lease_job *job);
