/* SPDX-License-Identifier: MIT */
/* The bus peers that hold leases or wait for them (agent/lease-client.c). */
#pragma once

#include <stdbool.h>

struct lease;
struct lease_client;
struct lease_manager;
struct lease_request;

/* The client struct of a unique bus name still on the bus, or NULL (no reference taken). */
struct lease_client *lease_client_find(struct lease_manager *m, const char *name);

/* The client struct for a unique bus name (created, watched), with a reference taken. A name
 * that does not start with ':' is a connection to lease.sock, which is not on the bus: not
 * watched, its owner calls lease_client_gone() when it closes. */
int lease_client_get(struct lease_manager *m, const char *name, struct lease_client **ret);
/* Drop a reference; a client that left the bus goes with its last one. */
void lease_client_unref(struct lease_client *c);

/* The client left: its waiting requests go, its leases are released (those being provisioned
 * once that ended), exactly as for a peer that left the bus. */
void lease_client_gone(struct lease_client *c);
