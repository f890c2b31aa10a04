/* SPDX-License-Identifier: MIT */
/* The taps of the policy's pool as leases use them (agent/lease-tap.c). */
#pragma once

#include <sys/types.h>

struct lease_manager;
struct lease_tap;

/* Pass over a tap someone holds for a while (the oldest entry makes room). */
void lease_tap_mark_busy(struct lease_manager *m, const char *name);
/* Up to want free taps of the pool (lowest numbers first) into ret; returns how many. */
unsigned lease_taps_free(struct lease_manager *m, struct lease_tap *ret, unsigned want);
/* Give a tap back to its owner from before the lease (root when it had none: the kernel cannot
 * unset an owner, and the planner takes root for none). */
int lease_tap_give_back(struct lease_manager *m, const struct lease_tap *t, uid_t holder);
