/* SPDX-License-Identifier: MIT */
/* `hosttune run [REQUEST OPTIONS] -- CMD ARGS...`: take a lease, run CMD with what it holds in
 * its environment, and give the lease back when CMD ends. The lease lives on this process's bus
 * connection: if this process dies (even by SIGKILL) the agent takes the lease back, and CMD,
 * which would then use capacity it no longer holds, is killed with it (PR_SET_PDEATHSIG). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/bus/bus-client.h"
#include "cli/bus/lease-client.h"
#include "lib/json-util.h"
#include "lib/util.h"

static const char usage_text[] =
        "Usage: hosttune run [--hugepages SIZE] [--hugepage-size SIZE] [--snapshot TEMPLATE|\"\"]\n"
        "                    [--taps N] [--wait SECONDS] [--label LABEL] [--bus BUS] -- CMD "
        "[ARG...]\n"
        "Run CMD holding a lease of hugepages, a snapshot directory and taps. CMD gets\n"
        "HOSTTUNE_LEASE, HOSTTUNE_HUGEPAGES and HOSTTUNE_HUGEPAGE_SIZE (bytes),\n"
        "HOSTTUNE_SNAPSHOT_DIR and HOSTTUNE_TAPS (space separated). SIGINT, SIGTERM and SIGHUP\n"
        "are passed on to CMD. Exit status: CMD's (128+N when signal N killed it); 75 the\n"
        "capacity was not there within --wait; 125 bad usage, agent unreachable or request\n"
        "refused; 126 CMD cannot be run; 127 CMD not found.\n";

/* Put what the grant holds into the environment; clear what it does not (an outer run's). */
static int export_grant(const char *id, json_object *g) {
        char num[32], taps[1024];
        uint64_t hp = bus_json_u64(g, "hugepages");
        int r = setenv("HOSTTUNE_LEASE", id, 1);

        if (r == 0 && hp) {
                xsprintf(num, "%" PRIu64, hp);
                r = setenv("HOSTTUNE_HUGEPAGES", num, 1);
                xsprintf(num, "%" PRIu64, bus_json_u64(g, "hugepage-size"));
                if (r == 0)
                        r = setenv("HOSTTUNE_HUGEPAGE_SIZE", num, 1);
        } else if (r == 0) {
                (void) unsetenv("HOSTTUNE_HUGEPAGES");
                (void) unsetenv("HOSTTUNE_HUGEPAGE_SIZE");
        }
        if (r == 0 && *bus_json_str(g, "snapshot"))
                r = setenv("HOSTTUNE_SNAPSHOT_DIR", bus_json_str(g, "snapshot"), 1);
        else if (r == 0)
                (void) unsetenv("HOSTTUNE_SNAPSHOT_DIR");
        if (lease_json_taps(g, " ", taps, sizeof(taps)) < 0)
                return -ENAMETOOLONG;
        if (r == 0 && taps[0])
                r = setenv("HOSTTUNE_TAPS", taps, 1);
        else if (r == 0)
                (void) unsetenv("HOSTTUNE_TAPS");
        return r < 0 ? negative_errno() : 0;
}

int cmd_bus_run(int argc, char **argv) {
        static const struct option options[] = {
                LEASE_REQUEST_OPTIONS,
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *id = NULL;
        struct lease_args a = { 0 };
        _cleanup_(json_object_putp) json_object *grant = NULL;
        int r;

        /* "+": options end at CMD (or at "--"): CMD's own options are its own. */
        r = lease_args_parse_all(argc, argv, "+h", options, "run", usage_text, &a);
        if (r != 0)
                return r > 0 ? 0 : RUN_EXIT_FAILED;
        if (optind >= argc) {
                fprintf(stderr, "hosttune run: no command given (hosttune run [OPTIONS] -- CMD)\n");
                return RUN_EXIT_FAILED;
        }
        if (!a.hugepages && !a.snapshot && !a.taps_set) {
                fprintf(stderr, "hosttune run: the lease asks for nothing: give --hugepages, "
                                "--snapshot or --taps\n");
                return RUN_EXIT_FAILED;
        }

        /* The agent moves this process into the lease's cgroup (where the host can limit
         * hugetlb): CMD, forked after the grant, starts in it and cannot take more hugepages
         * than the lease holds. */
        a.enforce = a.hugepages > 0;

        /* Signals stay as they are while the request waits: ^C then ends this process, the
         * agent sees the connection close and drops the request. */
        if (bus_client_open(a.bus, &bus) < 0)
                return RUN_EXIT_FAILED;
        r = lease_acquire(bus, "run", &a, &id, &grant);
        if (r != LEASE_EXIT_OK)
                return r == LEASE_EXIT_UNAVAILABLE ? RUN_EXIT_UNAVAILABLE : RUN_EXIT_FAILED;
        r = export_grant(id, grant);
        json_object_put(TAKE_PTR(grant)); /* not kept for as long as CMD runs */
        if (r < 0) {
                fprintf(stderr, "hosttune run: cannot set the environment: %s\n", strerror(-r));
                (void) lease_release_call(bus, "run", id);
                return RUN_EXIT_FAILED;
        }

        r = run_child(argv + optind);
        /* Ended by its holder; a failure here is only reported: the lease dies with this
         * process's connection anyway. */
        (void) lease_release_call(bus, "run", id);
        return r;
}
