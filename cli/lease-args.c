/* SPDX-License-Identifier: MIT */
/* The lease request on the command line and the hold of a granted lease, for both lease clients
 * (cli/lease-args.h). */
#include "cli/lease-args.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "cli/output.h"
#include "lib/parse.h"
#include "lib/util.h"

int lease_args_parse(int c, const char *verb, struct lease_args *a) {
        uint64_t v;

        switch (c) {
        case LEASE_OPT_HUGEPAGES:
        case LEASE_OPT_HUGEPAGE_SIZE:
                /* Sizes as in a policy ("2G", "512M", bytes); no percentages, no signs. */
                if (parse_size(optarg, 0, &v) < 0 || v == 0)
                        return cli_error_errno(
                                -EINVAL,
                                "hosttune %s: --%s: '%s' is not a size > 0 (2G, 512M, "
                                "bytes)",
                                verb, c == LEASE_OPT_HUGEPAGES ? "hugepages" : "hugepage-size",
                                optarg);
                if (c == LEASE_OPT_HUGEPAGES)
                        a->hugepages = v;
                else
                        a->hugepage_size = v;
                return 1;
        case LEASE_OPT_SNAPSHOT:
                a->snapshot = optarg;
                return 1;
        case LEASE_OPT_TAPS:
                if (parse_u64(optarg, &v) < 0 || v == 0 || v > UINT32_MAX)
                        return cli_error_errno(-EINVAL,
                                               "hosttune %s: --taps: '%s' is not a count > 0", verb,
                                               optarg);
                a->taps = (uint32_t) v;
                a->taps_set = true;
                return 1;
        case LEASE_OPT_WAIT:
                /* Seconds, or a duration ("2min"); rounded up to whole seconds. */
                if (parse_duration(optarg, &v) < 0 || v / USEC_PER_SEC >= UINT32_MAX)
                        return cli_error_errno(
                                -EINVAL,
                                "hosttune %s: --wait: '%s' is not a duration (60, 90s, "
                                "5min)",
                                verb, optarg);
                a->wait = (uint32_t) ((v + USEC_PER_SEC - 1) / USEC_PER_SEC);
                return 1;
        case LEASE_OPT_PERSIST:
                a->persist = true;
                return 1;
        case LEASE_OPT_LABEL:
                a->label = optarg;
                return 1;
        case LEASE_OPT_BUS:
                a->bus = optarg;
                return 1;
        case LEASE_OPT_JSON:
                a->json = true;
                return 1;
        default:
                return 0;
        }
}

int lease_args_parse_all(int argc, char **argv, const char *optstring, const struct option *options,
                         const char *verb, const char *usage, struct lease_args *a) {
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
                if (c == 'h') {
                        fputs(usage, stdout);
                        return 1;
                }
                r = lease_args_parse(c, verb, a);
                if (r < 0)
                        return r;
                if (r == 0)
                        return cli_error_errno(-EINVAL, "Try 'hosttune %s --help'.", verb);
        }
        return 0;
}

/* Why the signals are blocked only once the grant is in hand, not before the request: while
 * the request waits for capacity (--wait, up to a day), SIGINT or SIGTERM must end the command
 * at once, with their default action. That is safe: the kernel closes the process's bus
 * connection or lease.sock socket, and the agent drops a request whose caller left, or ends the
 * lease when its holder's connection goes, exactly as after a SIGKILL. Blocking them before the
 * request would hold a Ctrl-C back until the wait ended. Blocking them before the grant is
 * printed means that a signal sent by someone who saw the grant (a script that read it, a person)
 * always finds the hold, which gives the lease back and exits 0; one that arrives in the moment
 * between the reply and the block ends the process, and the lease with its connection. */
static void hold_signals(sigset_t *ret) {
        sigemptyset(ret);
        sigaddset(ret, SIGINT);
        sigaddset(ret, SIGTERM);
        sigaddset(ret, SIGHUP);
}

void lease_hold_begin(void) {
        sigset_t mask;

        hold_signals(&mask);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
}

void lease_hold_wait(void) {
        sigset_t mask;
        int sig;

        hold_signals(&mask);
        (void) sigwait(&mask, &sig);
}
