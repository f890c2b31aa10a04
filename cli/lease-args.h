/* SPDX-License-Identifier: MIT */
/* What the two clients of the lease verbs share: the D-Bus one (`hosttune-bus`: cli/bus/) and
 * the lease.sock one in the static `hosttune` (cli/cmd-lease-sock.c). The request options and
 * their parsing, and holding a lease until a signal. Linked into both binaries. */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

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

/* Block SIGINT, SIGTERM and SIGHUP: call it once the grant is in hand, before the grant is
 * printed, and then lease_hold_wait(). */
void lease_hold_begin(void);

/* Wait for SIGINT, SIGTERM or SIGHUP (blocked by lease_hold_begin); the lease is held
 * meanwhile, and the caller gives it back after. */
void lease_hold_wait(void);
