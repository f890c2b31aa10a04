/* SPDX-License-Identifier: MIT */
/* The leases of an earlier run, after a restart or a crash (agent/lease-restore.c). */
#pragma once

struct lease_manager;

/* Load the lease file, keep the leases whose holder is still on the bus (or that persist),
 * give back what the others and any half-done acquire or release hold, and remove snapshot
 * directories under <root>/leases that no lease names. */
int lease_manager_restore(struct lease_manager *m);
