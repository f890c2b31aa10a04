/* SPDX-License-Identifier: MIT */
/* What `hosttune lease` and `hosttune run` share: the request options, the AcquireLease call,
 * and a grant (an a{sv}) read into JSON. docs/leases.md. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "cli/run-child.h"

struct lease_args {
        uint64_t hugepages, hugepage_size; /* bytes; 0 = not given */
        const char *snapshot;              /* NULL = none, "" = an empty slot */
        uint32_t taps;
        bool taps_set;
        uint32_t wait; /* seconds */
        bool persist;
        bool enforce; /* ask the agent to move this process into the lease's cgroup */
        const char *label;
        const char *bus;
        bool json;
};

/* The long options of a request (with the values lease_args_parse takes). */
enum {
        LEASE_OPT_HUGEPAGES = 0x200,
        LEASE_OPT_HUGEPAGE_SIZE,
        LEASE_OPT_SNAPSHOT,
        LEASE_OPT_TAPS,
        LEASE_OPT_WAIT,
        LEASE_OPT_PERSIST,
        LEASE_OPT_LABEL,
        LEASE_OPT_BUS,
        LEASE_OPT_JSON,
};
#define LEASE_REQUEST_OPTIONS                                                                      \
        { "hugepages", required_argument, NULL, LEASE_OPT_HUGEPAGES },                             \
                { "hugepage-size", required_argument, NULL, LEASE_OPT_HUGEPAGE_SIZE },             \
                { "snapshot", required_argument, NULL, LEASE_OPT_SNAPSHOT },                       \
                { "taps", required_argument, NULL, LEASE_OPT_TAPS },                               \
                { "wait", required_argument, NULL, LEASE_OPT_WAIT },                               \
                { "label", required_argument, NULL, LEASE_OPT_LABEL }, {                           \
                "bus", required_argument, NULL, LEASE_OPT_BUS                                      \
        }

/* Take one option getopt_long returned. 1 when it was one of ours, 0 when not, -EINVAL after
 * printing what is wrong with its value. */
int lease_args_parse(int c, const char *verb, struct lease_args *a);

/* Parse argv with getopt_long (optstring and options as given; 'h' prints usage), every
 * option through lease_args_parse. 0: go on, optind at the first operand; 1: --help was
 * printed; -EINVAL: bad usage (said on stderr). */
int lease_args_parse_all(int argc, char **argv, const char *optstring, const struct option *options,
                         const char *verb, const char *usage, struct lease_args *a);

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
