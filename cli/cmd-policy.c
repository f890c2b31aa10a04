/* SPDX-License-Identifier: MIT */
/* `hosttune policy validate FILE` and `hosttune policy show [FILE|NAME] [--json]`. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/util.h"
#include "policies/policy.h"
#include "policies/profiles.h"

static void usage(FILE *f) {
        fprintf(f, "Usage: hosttune policy validate FILE\n"
                   "       hosttune policy show [FILE|NAME] [--json]\n"
                   "       hosttune policy list\n"
                   "       hosttune policy keys --json\n"
                   "validate exits 0 for a good policy, 2 with 'file:line: key: message' on "
                   "stderr.\n"
                   "show prints the effective policy after includes (by default the one "
                   "`hosttune check` uses:\n" POLICY_DEFAULT_PATH
                   " if it exists, else the built-in default).\n"
                   "keys prints the table of sections and keys with their value syntax "
                   "(what the NixOS\nmodule checks settings against).\n");
}

/* Print a load error once, at the boundary. */
int cli_policy_error(int r, const struct policy_error *err) {
        char buf[POLICY_PATH_MAX + 512];

        fprintf(stderr, "%s\n", policy_error_format(err, buf, sizeof(buf)));
        return r == -ENOMEM ? EXIT_PROBE_FAILED : EXIT_USAGE;
}

static int policy_validate(int argc, char **argv) {
        static struct policy p;
        struct policy_error err;
        int r;

        if (argc != 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        r = policy_load_file(argv[1], &p, &err);
        if (r < 0)
                return cli_policy_error(r, &err);
        printf("%s: valid policy '%s' (%u file%s)\n", argv[1], p.name, p.n_files,
               p.n_files == 1 ? "" : "s");
        return 0;
}

static int policy_show(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        static struct policy p;
        struct policy_error err;
        _cleanup_free_ char *text = NULL;
        bool json = false;
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, "hj", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        usage(stdout);
                        return 0;
                case 'j':
                        json = true;
                        break;
                default:
                        return EXIT_USAGE;
                }
        if (argc - optind > 1) {
                usage(stderr);
                return EXIT_USAGE;
        }
        r = policy_load_configured(optind < argc ? argv[optind] : NULL, &p, &err);
        if (r < 0)
                return cli_policy_error(r, &err);
        text = json ? policy_to_json(&p) : policy_to_ini(&p);
        if (!text) {
                fprintf(stderr, "hosttune: out of memory\n");
                return EXIT_PROBE_FAILED;
        }
        fputs(text, stdout);
        if (json)
                fputc('\n', stdout);
        return fflush(stdout) == 0 ? 0 : EXIT_PROBE_FAILED;
}

static int policy_list(void) {
        for (unsigned i = 0; i < n_embedded_profiles; i++)
                printf("%s\n", embedded_profiles[i].name);
        return 0;
}

static int policy_keys(int argc, char **argv) {
        _cleanup_free_ char *text = NULL;

        /* JSON only: the table is for programs; `policy show` is the form for people. */
        if (argc != 2 || !streq(argv[1], "--json")) {
                usage(stderr);
                return EXIT_USAGE;
        }
        text = policy_keys_to_json();
        if (!text) {
                fprintf(stderr, "hosttune: out of memory\n");
                return EXIT_PROBE_FAILED;
        }
        puts(text);
        return fflush(stdout) == 0 ? 0 : EXIT_PROBE_FAILED;
}

int cmd_policy(int argc, char **argv) {
        if (argc < 2) {
                usage(stderr);
                return EXIT_USAGE;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                usage(stdout);
                return 0;
        }
        if (streq(argv[1], "validate"))
                return policy_validate(argc - 1, argv + 1);
        if (streq(argv[1], "show"))
                return policy_show(argc - 1, argv + 1);
        if (streq(argv[1], "list") && argc == 2)
                return policy_list();
        if (streq(argv[1], "keys"))
                return policy_keys(argc - 1, argv + 1);
        fprintf(stderr, "hosttune policy: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
}
