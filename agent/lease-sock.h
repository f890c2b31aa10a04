/* SPDX-License-Identifier: MIT */
/* The lease socket <runtime dir>/lease.sock: leases for processes that cannot reach the system
 * bus (Nix builds), with the same checks, accounting and enforcement as AcquireLease. */
#pragma once

#include "agent/agent.h"

struct lease;
struct lease_sock_conn;

/* Listen on <runtime dir>/lease.sock (mode 0666; replacing only a dead socket of ours) on the
 * agent's event loop. Needs the lease manager. Logs and returns the error when the endpoint
 * cannot be offered; the agent runs on without it. */
int agent_lease_sock_start(struct agent *a);

/* Close every connection without releasing (call after agent_leases_done()) and remove the
 * socket file if it is still the one we bound. Accepts a socket never started. */
void agent_lease_sock_stop(struct agent *a);

/* Answer a socket request: the grant line, or the refusal (from a D-Bus error name). */
int lease_sock_reply_grant(struct lease_sock_conn *c, const struct lease *l);
void lease_sock_reply_error(struct lease_sock_conn *c, const char *name, const char *message);
/* The request of c was freed (answered, or its holder left). */
void lease_sock_request_freed(struct lease_sock_conn *c);
