/* SPDX-License-Identifier: MIT */
/* The agent's D-Bus object (agent/bus.c): the one vtable, its signals and the check of who may
 * change things. */
#pragma once

#include <systemd/sd-bus.h>

struct agent;

/* Register the object's vtable on a->bus (before the name is requested). */
int agent_bus_register(struct agent *a);

/* Emit PropertiesChanged for the named properties (a NULL-terminated array); the macro takes
 * the names as arguments. */
void agent_bus_properties_changed_strv(struct agent *a, const char *const *names);
#define agent_bus_properties_changed(a, ...)                                                       \
        agent_bus_properties_changed_strv((a), (const char *const[]){ __VA_ARGS__, NULL })

/* Emit ReadinessChanged(ready, reason) and PolicyReloaded(generation, name). */
void agent_bus_emit_readiness_changed(struct agent *a);
void agent_bus_emit_policy_reloaded(struct agent *a);

/* Is the caller of m allowed to change things (Reload, Apply, Revert, leases)? root, or a
 * member (effective or supplementary gid) of the policy's [agent] lease-group, from the
 * sender's credentials as the bus reports them. Returns 1 when allowed, 0 with error set to
 * org.hosttune.Error.AccessDenied when not, or a negative errno when the credentials could
 * not be had. Lease handlers call this first. */
int agent_bus_check_privileged(struct agent *a, sd_bus_message *m, sd_bus_error *error);

/* The caller's credentials as agent_bus_check_privileged() needs them (effective uid and gid,
 * supplementary gids, pid). */
int agent_bus_sender_creds(sd_bus_message *m, sd_bus_creds **ret);

/* agent_bus_check_privileged() with credentials already had. */
int agent_bus_check_privileged_creds(struct agent *a, sd_bus_message *m, sd_bus_creds *creds,
                                     sd_bus_error *error);

/* agent_bus_check_privileged() for a handler: < 0 (error set, or a negative errno) when the
 * caller may not go on, 0 when it may. */
int agent_bus_require_privileged(struct agent *a, sd_bus_message *m, sd_bus_error *error);
