/* SPDX-License-Identifier: MIT */
/* The request dictionaries (a{sv}) of org.hosttune.Agent1's methods, read into structs without
 * looking at the agent's state: Check's requirements and AcquireLease's request. What the values
 * mean for this host is decided by the callers (agent/bus.c, agent/lease-bus.c). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include "policies/readiness.h"

/* Set org.freedesktop.DBus.Error.InvalidArgs with a formatted message; returns its errno. */
int agent_bus_invalid_args(sd_bus_error *error, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* In an a{sv} dict entry whose key was read: enter the variant when it holds a value of
 * signature sig, else InvalidArgs naming method, key and both types. */
int agent_bus_enter_variant(sd_bus_message *m, const char *method, const char *key, const char *sig,
                            sd_bus_error *error);

/* Read an a{sv}: entry is called with each key, positioned at its variant (it enters the
 * variant and reads the value; agent_bus_enter_variant checks the type); the first negative
 * value it returns ends the reading. */
int agent_bus_read_dict(sd_bus_message *m,
                        int (*entry)(sd_bus_message *m, const char *key, void *userdata,
                                     sd_bus_error *error),
                        void *userdata, sd_bus_error *error);

/* Read Check's a{sv} (keys require, hugepages, hugepage-size, snapshots, taps, use-policy) into
 * the requirements to judge: policy's list first (unless use-policy is false), each of the
 * caller's tokens replacing the policy's of the same kind and page size. mem_total (bytes)
 * resolves percentages. InvalidArgs with a message for an unknown key, a wrong type or a bad
 * value; *ret and *ret_use_policy are set only on success. */
int agent_bus_read_check(sd_bus_message *m, uint64_t mem_total, const struct requirements *policy,
                         struct requirements *ret, bool *ret_use_policy, sd_bus_error *error);

/* AcquireLease's keys. */
enum lease_request_key {
        LEASE_KEY_HUGEPAGES,
        LEASE_KEY_HUGEPAGE_SIZE,
        LEASE_KEY_SNAPSHOT,
        LEASE_KEY_TAPS,
        LEASE_KEY_LABEL,
        LEASE_KEY_WAIT,
        LEASE_KEY_PERSIST,
        LEASE_KEY_ENFORCE,
        _LEASE_KEY_MAX,
};

/* The values as given, before they are checked against each other and the host. */
struct lease_request_values {
        unsigned seen; /* bit per enum lease_request_key */
        uint64_t hugepages, hugepage_size;
        const char *snapshot, *label;
        uint32_t taps, wait;
        int persist, enforce;
};

/* Was key k given in the request? */
static inline bool lease_request_given(const struct lease_request_values *v,
                                       enum lease_request_key k) {
        return v->seen & (1U << k);
}

/* Read AcquireLease's a{sv}: every key known, of its type, given once (InvalidArgs otherwise).
 * String values point into m and live as long as it does. *ret is set only on success. */
int agent_bus_read_lease_request(sd_bus_message *m, struct lease_request_values *ret,
                                 sd_bus_error *error);
