/* SPDX-License-Identifier: MIT */
/* hosttuned: command line, start-up order and the event loop. */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "lib/util.h"

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

static const char *arg_policy;
static const char *arg_runtime_dir;
static const char *arg_bus = "system";

static void help(void) {
        printf("Usage: hosttuned [--policy FILE|NAME] [--runtime-dir DIR] "
               "[--bus system|session|ADDRESS]\n"
               "\n"
               "The hosttune agent: applies the policy, keeps the host ready for VM tests and\n"
               "reports readiness over D-Bus (org.hosttune.Agent1), sd_notify, ready.json,\n"
               "Prometheus metrics and nix.conf. See hosttuned(8).\n"
               "\n"
               "  --policy FILE|NAME   policy file or shipped profile (default:\n"
               "                       /etc/hosttune/policy.ini, else the built-in default)\n"
               "  --runtime-dir DIR    where outputs go (default: $HOSTTUNE_RUNTIME_DIR or\n"
               "                       /run/hosttune)\n"
               "  --bus BUS            system (default), session, or a D-Bus address\n"
               "  --version\n");
}

static int parse_argv(int argc, char **argv) {
        enum { OPT_VERSION = 0x100, OPT_RUNTIME_DIR, OPT_BUS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                { "policy", required_argument, NULL, 'p' },
                { "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
                { "bus", required_argument, NULL, OPT_BUS },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "hp:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case OPT_VERSION:
                        printf("hosttuned %s\n", HOSTTUNE_VERSION);
                        return 0;
                case 'p':
                        arg_policy = optarg;
                        break;
                case OPT_RUNTIME_DIR:
                        arg_runtime_dir = optarg;
                        break;
                case OPT_BUS:
                        if (isempty(optarg))
                                return log_error_errno(-EINVAL,
                                                       "--bus needs system, session or an address");
                        arg_bus = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "unexpected argument '%s'", argv[optind]);
        return 1;
}

/* glibc's allocator, tuned for a small long-running daemon (docs/bench/agent.md, "Memory").
 * Blocks of 32 KiB and more (the host report, ~80 KiB and made afresh by every Check and
 * re-probe; the policy, ~55 KiB; large D-Bus messages and JSON texts) come from their own
 * mmap(): calloc() then needs no memset, so the pages of a worst-case-sized struct that nothing
 * writes are never touched, and free() gives them all back at once instead of leaving holes in
 * the heap that stay resident. glibc's default threshold starts at 128 KiB and rises to the
 * largest block freed, which would put all of these on the heap; setting it fixes it. One
 * arena: the work queue's worker is the only other thread and rarely allocates; a second arena
 * would keep its own resident free memory. Trimming the heap top from 64 KiB (default 128 KiB)
 * gives back what a burst of calls left over. Failing mallopt() calls only cost memory. */
static void agent_malloc_setup(void) {
        (void) mallopt(M_MMAP_THRESHOLD, 32 * 1024);
        (void) mallopt(M_TRIM_THRESHOLD, 64 * 1024);
        (void) mallopt(M_ARENA_MAX, 1);
}

/* The one agent, in .bss rather than in main()'s frame: it is ~27 KiB (results for
 * REQUIREMENTS_MAX requirements), and zero pages nothing writes stay untouched there, while on
 * the stack the initialiser would write them all and every call would run below them. */
static struct agent a;

int main(int argc, char **argv) {
        sigset_t mask;
        int r;

        agent_malloc_setup();
        log_open();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        a.runtime_fd = -1;
        a.outputs.state_fd = -1;
        a.opt = (struct agent_options){
                .policy = arg_policy,
                .runtime_dir = arg_runtime_dir,
                .bus = arg_bus,
        };

        /* Block the signals the event loop handles as signalfd sources before anything else,
         * so none arrives as a default action in between. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                log_error("sigprocmask: %m");
                return 1;
        }

        r = agent_start(&a);
        if (r >= 0) {
                /* The exit code of sd_event_exit(): 0 after a clean stop; non-zero when the bus
                 * went away (exit on disconnect). */
                r = sd_event_loop(a.event);
                if (r < 0)
                        log_error("event loop failed: %s", strerror(-r));
                else if (r > 0)
                        log_error("lost the connection to the bus, exiting");
        }
        (void) sd_notify(0, "STOPPING=1");
        agent_done(&a);
        return r != 0 ? 1 : 0;
}
