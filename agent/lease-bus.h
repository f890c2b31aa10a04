/* SPDX-License-Identifier: MIT */
/* The lease methods of org.hosttune.Agent1 (agent/lease-bus.c; docs/leases.md) and the check of a
 * request's values that lease.sock shares. */
#pragma once

#include <systemd/sd-bus.h>

#include "agent/bus-request.h"

struct agent;
struct lease;
struct lease_request;

/* Check AcquireLease's values against the host and the policy into req (sizes, pages, taps,
 * label, wait, enforce): InvalidArgs and friends with a message naming the key. The socket's
 * requests go through the same checks. */
int lease_check_request(struct agent *a, const struct lease_request_values *v,
                        struct lease_request *req, sd_bus_error *error);

/* The lease methods of the vtable. */
int agent_method_acquire_lease(sd_bus_message *m, void *userdata, sd_bus_error *error);
int agent_method_release_lease(sd_bus_message *m, void *userdata, sd_bus_error *error);
int agent_method_list_leases(sd_bus_message *m, void *userdata, sd_bus_error *error);

/* The lease's fields as the a{sv} of a grant or of ListLeases (docs/leases.md). */
int lease_append_details(sd_bus_message *reply, const struct lease *l);
/* What a caller who does not own l and is not privileged sees of it: state, sizes, counts. */
int lease_append_sizes(sd_bus_message *reply, const struct lease *l);
