/* SPDX-License-Identifier: MIT */
/* The leases as the rest of the agent sees them (agent/lease-agent.c; docs/leases.md): start
 * and stop, what they hold, and the plan filter that leaves it alone. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct agent;
struct plan;

/* Start the leases from the lease file of an earlier run: leases whose
 * holder is still on the bus (or that persist) are kept, the rest given back, leftovers of a
 * crash removed. Call once the bus is attached and before the first apply (whose plan must
 * leave leased taps alone). */
int agent_leases_start(struct agent *a);

/* Answer waiting calls; leases stay on record. Call after the work queue was freed. */
void agent_leases_done(struct agent *a);

/* The policy changed (reload): pool ceilings and the idle shrink may be different. */
void agent_leases_policy_changed(struct agent *a);

/* Leases on record (granted, being provisioned or being given back). */
unsigned agent_leases_count(const struct agent *a);

/* Why hugepage leases are not enforced by the kernel here, "" when they are (agent.state). */
const char *agent_leases_unenforced(const struct agent *a);

/* The directory that holds the lease cgroups into buf, "" when leases are not enforced. */
void agent_leases_cgroups(const struct agent *a, char *buf, size_t size);

/* Bytes of page_size hugepages in use (faulted in) that no enforced lease accounts for: the
 * pool's in-use pages now minus what the lease cgroups are charged. -EOPNOTSUPP where leases are
 * not enforced (their holders' pages cannot be told from anyone else's). */
int agent_leases_unleased(const struct agent *a, uint64_t page_size, uint64_t *ret);

/* "hugepages_unleased" (bytes, all page sizes) into the agent object o of a JSON document, where
 * leases are enforced. */
void agent_add_unleased(const struct agent *a, json_object *o);
