/* `hosttune apply` and `hosttune revert`: run the plan through the executor, or undo the
 * journal; print per-step results. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "lib/util.h"
#include "policies/apply/apply-json.h"
#include "policies/apply/apply.h"

static int open_root(const char *root) {
        int fd = open(root ? root : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                fprintf(stderr, "hosttune: cannot open root %s: %m\n", root ? root : "/");
        return fd;
}

/* Open the journal or say why not; returns the exit code to use on failure, 0 on success. */
static int open_journal(struct journal **ret) {
        int r = journal_open(NULL, ret);

        if (r == 0)
                return 0;
        if (r == -EBUSY)
                fprintf(stderr,
                        "hosttune: another apply or revert holds %s/%s; try again when it is "
                        "done\n",
                        journal_runtime_dir(), JOURNAL_LOCK_NAME);
        else if (r == -EBADMSG)
                fprintf(stderr,
                        "hosttune: the revert journal %s/%s cannot be read; it is the only record "
                        "of the original values, so nothing was changed: inspect it by hand\n",
                        journal_runtime_dir(), JOURNAL_FILE_NAME);
        else
                fprintf(stderr, "hosttune: cannot open the revert journal in %s: %s\n",
                        journal_runtime_dir(), strerror(-r));
        return EXIT_PROBE_FAILED;
}

struct revert_print {
        bool json;
        json_object *entries;
};

static void revert_report(const struct journal_entry *e, const struct revert_result *r,
                          void *userdata) {
        struct revert_print *p = userdata;

        if (p->json) {
                json_object_array_add(p->entries, revert_result_to_json(e, r));
                return;
        }
        output_line(stdout,
                    r->outcome == REVERT_FAILED ? LINE_FAIL
                    : r->outcome == REVERT_KEPT ? LINE_WARN
                    : r->outcome == REVERT_GONE ? LINE_INFO
                                                : LINE_PASS,
                    e->label[0] ? e->label : e->object, r->message, "");
}

int cmd_revert(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                { "root", required_argument, NULL, 'r' },
                {},
        };
        struct apply_options o = { .root_fd = -1 };
        struct revert_print p = { 0 };
        struct journal *j = NULL;
        const char *root = NULL;
        unsigned n;
        int c, r, exit_code;

        optind = 1;
        while ((c = getopt_long(argc, argv, "hjr:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: hosttune revert [--json] [--root DIR]\n"
                               "Restore every original value in the revert journal and remove "
                               "what hosttune created.\n"
                               "Exit status: 0 all restored, 1 something could not be restored "
                               "(it stays in the journal), 3 the journal could not be used.\n");
                        return 0;
                case 'j':
                        p.json = true;
                        break;
                case 'r':
                        root = optarg;
                        break;
                default:
                        fprintf(stderr, "Try 'hosttune revert --help'.\n");
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "hosttune: unexpected argument '%s'\n", argv[optind]);
                return EXIT_USAGE;
        }
        o.root_fd = open_root(root);
        if (o.root_fd < 0)
                return EXIT_PROBE_FAILED;
        exit_code = open_journal(&j);
        if (exit_code != 0) {
                close(o.root_fd);
                return exit_code;
        }
        n = journal_size(j);
        output_init(stdout);
        if (p.json)
                p.entries = json_object_new_array();
        r = apply_revert(j, &o, revert_report, &p);
        if (r < 0)
                fprintf(stderr, "hosttune: writing the revert journal %s failed: %s\n",
                        journal_path(j), strerror(-r));
        exit_code = r < 0 ? EXIT_PROBE_FAILED : r > 0 ? 1 : 0;
        if (p.json) {
                json_object *doc = json_object_new_object();
                json_object_object_add(doc, "schema", json_object_new_string("hosttune.revert/1"));
                json_object_object_add(doc, "journal", json_object_new_string(journal_path(j)));
                json_object_object_add(doc, "entries", p.entries);
                json_object_object_add(doc, "failed", json_object_new_int(r > 0 ? r : 0));
                if (output_json(stdout, doc) < 0)
                        exit_code = EXIT_PROBE_FAILED;
                json_object_put(doc);
        } else if (n == 0)
                printf("Nothing to revert: the journal %s is empty.\n", journal_path(j));
        else if (r == 0)
                printf("\nReverted %u change%s.\n", n, n == 1 ? "" : "s");
        else if (r > 0)
                printf("\n%d of %u changes could not be reverted; they stay in %s for another "
                       "`hosttune revert`.\n",
                       r, n, journal_path(j));
        journal_close(j);
        close(o.root_fd);
        if (fflush(stdout) != 0)
                return EXIT_PROBE_FAILED;
        return exit_code;
}
