/* SPDX-License-Identifier: MIT */
/* Applier for hugepage pools: grow or shrink one pool (global or one NUMA node) to a page count,
 * escalating reclaim only as far as the policy allows, and say truthfully how far it got. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policies/apply/applier.h"

/* PLAN_HUGEPAGES: u.hugepages names the pool (page_size, node -1 = global) and the wanted page
 * count, the reclaim strategy and a timeout; knob labels it ("hugepages-2048kB/node0").
 * Shrinking is one write. Growing writes nr_hugepages, then, while short and only as far as
 * reclaim allows: writes /proc/sys/vm/compact_memory (RECLAIM_COMPACT) and tries again; then
 * syncs and writes 3 to /proc/sys/vm/drop_caches (RECLAIM_DROP_CACHES, res->caches_dropped set
 * and said in the message) and compacts and tries again; then keeps retrying at the strongest
 * allowed level with a growing pause until timeout_usec has passed (also when rounds gain
 * nothing: memory may come free within the timeout). Progress is reported after every attempt.
 * APPLIED when the pool holds the wanted count; SHORT otherwise, with obtained vs requested and why
 * ("obtained 900 of 1024 2M pages after compaction; 1.2G held by page cache and reclaim=compact
 * forbids dropping it"). The pages obtained are kept when short (revert gives them back), but never
 * below hugepages_keep_free() of free memory: pages this step added are given back until that much
 * is free, and the message says how many. */
int hugepages_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* Undo a JOURNAL_HUGEPAGES entry: set the pool back to its original count (growing back uses
 * compaction, never drops caches). */
void hugepages_revert(struct apply_ctx *c, const struct journal_entry *e,
                      struct revert_result *res);

/* The nr_hugepages file of a pool: /sys/kernel/mm/hugepages/hugepages-<kB>kB/nr_hugepages, or
 * below /sys/devices/system/node/node<N>/ for node >= 0. */
int hugepages_nr_path(uint64_t page_size, int node, char *buf, size_t size);

/* The global counters of the pool of page_size, read from
 * /sys/kernel/mm/hugepages/hugepages-<kB>kB/: a few microseconds, for decisions that cannot wait
 * for a full probe (leases). */
struct hugepages_counts {
        uint64_t nr, free, resv, surplus;
};
int hugepages_counts_read(int root_fd, uint64_t page_size, struct hugepages_counts *ret);

/* A PLAN_HUGEPAGES step that sets the global pool of page_size from current to pages pages,
 * as the planner makes them (knob, path, values), with reclaim and timeout, why as given. */
void hugepages_step_init(struct plan_step *s, uint64_t page_size, uint64_t current, uint64_t pages,
                         int reclaim, uint64_t timeout_usec, const char *why);

/* Is path an nr_hugepages file of one of those two forms? */
bool hugepages_path_allowed(const char *path);

/* What a reservation that fell short saw, for hugepages_explain. Memory figures in bytes,
 * from the pool's node meminfo (or /proc/meminfo for the global pool) after the last attempt. */
struct hugepages_shortfall {
        uint64_t page_size;
        uint64_t requested, obtained; /* pages in the pool */
        int reclaim;                  /* enum policy_reclaim allowed */
        bool compacted, caches_dropped;
        uint64_t mem_total, mem_free, mem_available; /* mem_available: 0 for a node */
        uint64_t page_cache;       /* Cached minus Shmem: what drop_caches can free */
        uint64_t slab_reclaimable; /* dentries and inodes, mostly */
};

/* Memory a growing pool leaves free on its node (or the host, for the global pool) of
 * mem_total bytes: 1/32 of it, at least 64M and at most 1G, but never more than half of it.
 * The kernel fills a pool down to its min watermark, a few MiB, and then every process that
 * allocates meets the OOM killer; a pool that falls short for want of memory gives back pages it
 * added until this much is free again. Pure. */
uint64_t hugepages_keep_free(uint64_t mem_total);

/* Whether a pool growth of need bytes fits in memory of mem_total bytes with mem_available
 * (MemAvailable) and still leaves hugepages_keep_free(mem_total) free. When it does not, why:
 * "920M more needed, 67M available, 64M kept free". Callers that repeat a growth on their own
 * (the agent on drift, leases) check this first instead of filling the memory for the
 * policy's timeout only to give the pages back. Pure. */
bool hugepages_growth_fits(uint64_t mem_total, uint64_t mem_available, uint64_t need, char *why,
                           size_t size);

/* MemTotal and MemAvailable of /proc/meminfo under root_fd, in bytes. */
int hugepages_meminfo_read(int root_fd, uint64_t *ret_total, uint64_t *ret_available);

/* One sentence: what was obtained, after what, and why not more. Pure. */
void hugepages_explain(const struct hugepages_shortfall *f, char *buf, size_t size);
