/* SPDX-License-Identifier: MIT */
/* The hugepage pools as leases grow and shrink them (agent/lease-pool.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct lease_manager;
struct lease_pool;
struct lease_pool_state;

/* The state of page_size's pool (made on first use; NULL when every entry is taken). */
struct lease_pool_state *lease_pool_find(struct lease_manager *m, uint64_t page_size);
/* The pool of page_size as the kernel has it now, with what leases hold of it and the most
 * the policy lets it hold. */
int lease_pool_read(struct lease_manager *m, uint64_t page_size, struct lease_pool *ret);
/* The numbers behind a hugepage answer, for people. */
void lease_pool_describe(const struct lease_pool *p, uint64_t page_size, uint64_t pages, char *buf,
                         size_t size);
/* HugePagesTotal after a resize (PropertiesChanged when it changed). */
void lease_pools_refresh_total(struct lease_manager *m);
/* Submit a RESIZE job taking st's pool from cur to pages pages (why is logged); the pool counts
 * as growing until it ended. */
void lease_pool_resize(struct lease_manager *m, struct lease_pool_state *st, uint64_t cur,
                       uint64_t pages, const char *why);
/* Shrink an idle pool after [hugepages] shrink-after; every lease change starts the wait anew. */
void lease_pools_arm_shrink(struct lease_manager *m);
/* Every pool the policy sizes is watched for shrinking, also one a crashed agent's leases
 * grew. */
void lease_pools_track_policy(struct lease_manager *m);
