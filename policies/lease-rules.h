/* SPDX-License-Identifier: MIT */
/* What a lease (docs/leases.md) may ask for and take, without a kernel and without state: the
 * name rules, the hugepage admission arithmetic against a pool, the size an idle pool may shrink
 * to, and the plan filter that keeps an apply off what leases hold. Pure functions of their
 * arguments, used by the agent, the command line and the snapshot applier; the lease records and
 * the lease file are runtime state (runtime/lease-record.h, runtime/lease-file.h). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policies/plan.h"
#include "policies/readiness.h"

/* The directory under the snapshot root that holds the leased snapshot directories, one per
 * lease, named by the lease id. */
#define LEASES_SNAPSHOT_DIR "leases"

#define LEASE_ID_LEN 16 /* hex digits */
#define LEASE_LABEL_MAX 128
#define LEASE_TEMPLATE_NAME_MAX 63
#define LEASE_TAPS_MAX 64 /* per lease */
#define LEASE_WAIT_MAX_SEC 86400
#define LEASE_PATH_MAX 512

/* A template name a request may give: 1..63 letters, digits, '.', '_', '-', not starting with
 * '.' and without "..", so that "<root>/templates/<name>" can never leave templates/ and never
 * names a temporary or hidden entry. */
bool lease_template_name_valid(const char *name);

/* A label: at most LEASE_LABEL_MAX bytes, no control characters (it is logged and listed). */
bool lease_label_valid(const char *label);

/* A lease id: LEASE_ID_LEN lowercase hex digits (also the name of its snapshot directory). */
bool lease_id_valid(const char *id);

/* Write a fresh random lease id (LEASE_ID_LEN + 1 bytes) into buf. */
int lease_id_new(char *buf, size_t size);

/* Where a lease's snapshot directory came from (the snapshot applier says, the record keeps it). */
enum lease_snapshot_source {
        LEASE_SNAPSHOT_NONE,
        LEASE_SNAPSHOT_PREPARED,      /* a prepared snapshot moved out of prepared/<t>/ */
        LEASE_SNAPSHOT_SLOT,          /* an empty slot moved out of slots/ */
        LEASE_SNAPSHOT_SNAPSHOT,      /* a snapshot of the template taken for this lease */
        LEASE_SNAPSHOT_COPY,          /* a copy of the template (not on btrfs) */
        LEASE_SNAPSHOT_NEW_SUBVOLUME, /* an empty subvolume made for this lease */
        LEASE_SNAPSHOT_NEW_DIRECTORY, /* an empty directory made for this lease (not on btrfs) */
        _LEASE_SNAPSHOT_SOURCE_MAX,
};

const char *lease_snapshot_source_to_string(enum lease_snapshot_source s);
/* The source named s (lease_snapshot_source_to_string's words); -EINVAL when none is. */
int lease_snapshot_source_from_string(const char *s, enum lease_snapshot_source *ret);

/* The hugepage pool of one page size as leases see it. */
struct lease_pool {
        uint64_t nr, free, resv; /* the kernel's counters now (pages) */
        uint64_t leased;         /* pages promised to leases */
        uint64_t max;            /* pages leases may grow the pool to */
};

enum lease_fit {
        LEASE_FIT_NOW,   /* the pages are there: take them */
        LEASE_FIT_GROW,  /* grow the pool to *ret_target first */
        LEASE_FIT_WAIT,  /* not now: other holders must give pages back */
        LEASE_FIT_NEVER, /* more than the pool may ever hold */
};

/* Pages a new lease can have now: free pages not reserved by a mapping (pages someone else
 * took are not leasable), and not more than the pool holds beyond what leases were promised.
 * The lesser of the two bounds. */
uint64_t lease_hugepages_available(const struct lease_pool *p);

/* Can a request for pages be met? The ceiling is max, or the pool's size when someone made it
 * larger. FIT_GROW sets *ret_target to the smallest pool that serves the request: one that
 * holds every leased page plus these, with these free. */
enum lease_fit lease_hugepages_fit(const struct lease_pool *p, uint64_t pages,
                                   uint64_t *ret_target);

/* The size an idle pool can shrink to: not below floor (the policy's pool), not below what
 * leases were promised plus every page in use or reserved now (in-use leased pages counted
 * twice: the pool never shrinks under a holder). Returns p->nr when it cannot shrink. */
uint64_t lease_hugepages_shrink_target(const struct lease_pool *p, uint64_t floor);

/* Take out of plan what would undo a lease: an owner change of a leased tap (its holder owns it
 * on purpose), and a pool shrink below the pages leased (a shrink step is clamped to them, and
 * dropped when that leaves nothing to do). u may be NULL (nothing to do). */
void lease_plan_filter(struct plan *plan, const struct lease_usage *u);

/* Do a and b say the same (every member; not their padding)? */
bool lease_usage_equal(const struct lease_usage *a, const struct lease_usage *b);
