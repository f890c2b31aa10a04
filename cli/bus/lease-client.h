/* SPDX-License-Identifier: MIT */
/* What `hosttune lease` and `hosttune run` share over D-Bus: the AcquireLease call (the request
 * options: cli/lease-args.h), and a grant (an a{sv}) read into JSON. docs/leases.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "cli/lease-args.h"
#include "cli/run-child.h"

/* Map an AcquireLease/ReleaseLease error to an exit code of the lease verbs. */
int lease_exit_for_error(const sd_bus_error *e);

/* Call AcquireLease with the request a describes (waiting up to a->wait seconds for capacity,
 * and for a pool reservation). Returns 0 with *ret_id and *ret_grant (the a{sv} as a JSON
 * object) set, or after printing "hosttune VERB: ..." the LEASE_EXIT_* code that fits. */
int lease_acquire(sd_bus *bus, const char *verb, const struct lease_args *a, char **ret_id,
                  json_object **ret_grant);

/* Read an a{sv} of strings, integers, booleans and string arrays into a JSON object. */
int lease_read_dict(sd_bus_message *m, json_object **ret);

/* The taps of a grant joined by sep into buf: 0, or -ENAMETOOLONG when they did not all fit (buf
 * then holds the whole names that did, enough for a listing but not for HOSTTUNE_TAPS). */
int lease_json_taps(json_object *o, const char *sep, char *buf, size_t size);

/* Release the lease id (errors printed as "hosttune VERB: ..."); returns an exit code. With
 * ret_error, the D-Bus error (if any) is also handed to the caller, who frees it. */
int lease_release_call(sd_bus *bus, const char *verb, const char *id);
int lease_release_call_error(sd_bus *bus, const char *verb, const char *id,
                             sd_bus_error *ret_error);

int cmd_bus_lease(int argc, char **argv);
int cmd_bus_run(int argc, char **argv);
