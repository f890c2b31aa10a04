/* SPDX-License-Identifier: MIT */
/* hosttune: the command line. Dispatches to one function per verb (cli/cmd-*.c). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/util.h"

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

static const struct verb {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *help;
} verbs[] = {
        { "check", cmd_check, "is this host ready for VM tests? (exit 0 ready, 1 not ready)" },
        { "probe", cmd_probe, "everything the probes see, no verdict" },
        { "status", cmd_bus_exec, "what the running agent reports (readiness, policy, pools)" },
        { "reload", cmd_bus_exec, "make the agent load its policy again" },
        { "lease", cmd_lease_or_bus,
          "take, give back or list leases of hugepages, snapshots, taps" },
        { "run", cmd_run_or_bus, "run a command holding a lease (hosttune run [...] -- CMD)" },
        { "apply", cmd_apply, "make the host match the policy, journaling every original" },
        { "revert", cmd_revert, "restore every original value hosttune changed" },
        { "policy", cmd_policy, "validate a policy, or show the effective one" },
        { "machines-line", cmd_machines_line,
          "this host as a Nix machines-file line, with only verified features" },
};

static void usage(FILE *f) {
        fprintf(f, "Usage: hosttune [--version] [--help] VERB [OPTIONS...]\n\nVerbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-13s %s\n", verbs[i].name, verbs[i].help);
        fprintf(f, "\nSee hosttune(1) and `hosttune VERB --help`.\n");
}

int main(int argc, char **argv) {
        if (argc < 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                usage(stdout);
                return 0;
        }
        if (streq(argv[1], "--version")) {
                printf("hosttune %s\n", HOSTTUNE_VERSION);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[1], verbs[i].name))
                        return verbs[i].run(argc - 1, argv + 1);
        fprintf(stderr, "hosttune: unknown verb '%s'\n", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
}
