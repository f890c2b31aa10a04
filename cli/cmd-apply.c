/* SPDX-License-Identifier: MIT */
/* `hosttune apply` and `hosttune revert`: probe, plan and run the plan through the executor, or
 * undo the journal; print per-step results. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "assess/assess.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "lib/fileio.h"
#include "lib/util.h"
#include "runtime/agent-state.h"
#include "runtime/dir.h"
#include "policies/apply/apply-json.h"
#include "policies/apply/apply.h"
#include "policies/plan-json.h"
#include "policies/plan.h"
#include "policies/policy.h"
#include "probes/probes.h"

static int open_root(const char *root) {
        int fd = open(root ? root : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return cli_error_errno(negative_errno(), "hosttune: cannot open root %s: %m",
                                       root ? root : "/");
        return fd;
}

/* Open the journal or say why not; returns the exit code to use on failure, 0 on success. */
static int open_journal(struct journal **ret) {
        const char *dir = runtime_dir_resolve(NULL);
        char why[512] = "";
        int r = journal_open_diag(dir, ret, why, sizeof(why));

        if (r == 0)
                return 0;
        if (r == -EBUSY)
                fprintf(stderr,
                        "hosttune: another apply or revert holds %s/%s; try again when it is "
                        "done\n",
                        dir, JOURNAL_LOCK_NAME);
        else if (!isempty(why))
                /* It is the only record of the original values: never discarded or rewritten
                 * by a hosttune that does not understand it. */
                fprintf(stderr, "hosttune: the revert journal %s/%s: %s; nothing was changed%s\n",
                        dir, JOURNAL_FILE_NAME, str_escape_control(why, (char[512]){ 0 }, 512),
                        strstr(why, "newer hosttune") ? "" : ": inspect it by hand");
        else
                fprintf(stderr, "hosttune: cannot open the revert journal in %s: %s\n", dir,
                        file_strerror(r));
        return EXIT_PROBE_FAILED;
}

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

struct apply_cli {
        const char *policy;
        const char *root;
        bool dry_run;
        bool json;
        bool tty;
};

static int apply_parse(int argc, char **argv, struct apply_cli *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "dry-run", no_argument, NULL, 'n' },
                { "json", no_argument, NULL, 'j' },
                { "policy", required_argument, NULL, 'p' },
                { "root", required_argument, NULL, 'r' },
                {},
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "hnjp:r:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: hosttune apply [--dry-run] [--json] [--policy FILE|NAME] "
                               "[--root DIR]\n"
                               "Make the host match the policy; every original value goes to the "
                               "revert journal first.\n"
                               "Exit status: 0 the host matches the plan, 1 a step fell short "
                               "(the reason is printed per step), 2 usage or policy error, 3 the "
                               "journal, the root or the probes could not be used.\n");
                        return 1;
                case 'n':
                        a->dry_run = true;
                        break;
                case 'j':
                        a->json = true;
                        break;
                case 'p':
                        a->policy = optarg;
                        break;
                case 'r':
                        a->root = optarg;
                        break;
                default:
                        return cli_error_errno(-EINVAL, "Try 'hosttune apply --help'.");
                }
        if (optind < argc)
                return cli_error_errno(-EINVAL, "hosttune: unexpected argument '%s'", argv[optind]);
        return 0;
}

/* Hugepage reservation can take seconds: show where it is, on a terminal only. */
static void apply_progress_print(unsigned index, const struct plan_step *s, const char *status,
                                 void *userdata) {
        const struct apply_cli *a = userdata;

        (void) s;
        if (a->tty)
                fprintf(stderr, "\r\033[K[%u] %s", index + 1, status);
}

static void print_plan(const struct plan *plan) {
        char line[768];

        if (plan->n == 0) {
                printf("Plan: nothing to change.\n");
                return;
        }
        printf("Plan: %u step%s\n", plan->n, plan->n == 1 ? "" : "s");
        for (unsigned i = 0; i < plan->n; i++)
                printf("  %2u. %s%s\n", i + 1, plan->steps[i].manual ? "[manual] " : "",
                       plan_step_describe(&plan->steps[i], line, sizeof(line)));
}

static void print_results(const struct plan *plan, const struct step_result *res) {
        unsigned fell_short = 0, changed = 0;

        printf("\nResults:\n");
        for (unsigned i = 0; i < plan->n; i++) {
                char word[16];
                const char *w = step_outcome_to_string(res[i].outcome);
                size_t k;

                for (k = 0; w[k] && k + 1 < sizeof(word); k++)
                        word[k] = (char) (w[k] >= 'a' && w[k] <= 'z' ? w[k] - 32 : w[k]);
                word[k] = 0;
                printf("  %-9s %s\n", word, res[i].message);
                if (res[i].warning[0])
                        printf("  %-9s warning: %s\n", "", res[i].warning);
                fell_short += step_outcome_fell_short(res[i].outcome);
                changed += res[i].outcome == STEP_APPLIED || res[i].outcome == STEP_SHORT;
        }
        if (fell_short)
                printf("\n%u of %u step%s fell short; `hosttune revert` restores every original.\n",
                       fell_short, plan->n, plan->n == 1 ? "" : "s");
        else
                printf("\nDone: %u change%s made%s.\n", changed, changed == 1 ? "" : "s",
                       changed ? "; `hosttune revert` restores every original" : "");
}

int cmd_apply(int argc, char **argv) {
        struct apply_cli a = { 0 };
        static struct policy policy;
        static struct host_report report;
        static struct agent_state agent;
        struct policy_error perr;
        struct assess_error aerr;
        struct assess_input in = { 0 };
        struct assessment as;
        struct plan *plan;
        struct apply_options o = { .root_fd = -1 };
        struct step_result *res = NULL;
        struct journal *j = NULL;
        int r, exit_code = 0;

        r = apply_parse(argc, argv, &a);
        if (r != 0)
                return r > 0 ? 0 : EXIT_USAGE;
        a.tty = isatty(STDERR_FILENO) && !a.json;
        /* policy is zeroed static storage: loading in place touches only the pages the
         * policy sets (struct policy is 55 KiB; see policy_load_configured_zeroed). */
        r = policy_load_configured_zeroed(a.policy, &policy, &perr);
        if (r < 0)
                return cli_policy_error(r, &perr);
        /* A running agent's leases: their taps' owners and the pages they hold are not this
         * policy's to take back (docs/leases.md). */
        if (!a.root && agent_state_read_live(runtime_dir_resolve(NULL), &agent) >= 0)
                in.leases = &agent.leases;
        in.root = a.root;
        in.policy = &policy;
        /* Only what the planner reads, without the JSON-only details (probe_knobs reads the few
         * the plan needs), as the agent plans: the probes of a whole host cost more than a small
         * pool's reservation on a clean host (docs/bench/apply.md). */
        in.probes = plan_probe_mask(&policy);
        in.plan = ASSESS_PLAN_POLICY;
        r = assess(&in, &report, NULL, &as, &aerr);
        if (r < 0) {
                if (aerr.step == ASSESS_STEP_OPEN)
                        fprintf(stderr, "hosttune: cannot open root %s: %s\n",
                                a.root ? a.root : "/", strerror(-r));
                else
                        fprintf(stderr, "hosttune: probing or planning failed: %s\n", strerror(-r));
                return EXIT_PROBE_FAILED;
        }
        plan = &as.plan;
        res = calloc(plan->n ? plan->n : 1, sizeof(*res));
        if (!res) {
                exit_code = EXIT_PROBE_FAILED;
                goto out;
        }
        if (!a.json)
                print_plan(plan);
        o = (struct apply_options){ .root_fd = as.ctx.root_fd,
                                    .dry_run = a.dry_run,
                                    .progress = apply_progress_print,
                                    .userdata = &a };
        if (!a.dry_run && plan->n > 0) {
                exit_code = open_journal(&j);
                if (exit_code != 0)
                        goto out;
        }
        r = plan->n > 0 ? apply_plan(plan, j, &o, res) : 0;
        if (a.tty)
                fprintf(stderr, "\r\033[K");
        if (r < 0) {
                fprintf(stderr,
                        "hosttune: the revert journal %s could not be written: %s; "
                        "nothing after that point was changed\n",
                        journal_path(j), strerror(-r));
                exit_code = EXIT_PROBE_FAILED;
        } else if (!a.dry_run)
                exit_code = r > 0 ? EXIT_NOT_READY : 0;
        if (a.json) {
                json_object *doc = json_object_new_object(), *pol = json_object_new_object();
                json_object_object_add(doc, "schema", json_object_new_string("hosttune.apply/1"));
                json_object_object_add(doc, "version", json_object_new_string(HOSTTUNE_VERSION));
                json_object_object_add(pol, "name", json_object_new_string(policy.name));
                json_object_object_add(pol, "file", json_object_new_string(policy.files[0]));
                json_object_object_add(doc, "policy", pol);
                json_object_object_add(doc, "dry_run", json_object_new_boolean(a.dry_run));
                json_object_object_add(doc, "plan", plan_to_json(plan));
                json_object_object_add(doc, "results", step_results_to_json(plan, res));
                json_object_object_add(doc, "fell_short", json_object_new_int(r > 0 ? r : 0));
                if (output_json(stdout, doc) < 0)
                        exit_code = EXIT_PROBE_FAILED;
                json_object_put(doc);
        } else if (!a.dry_run && plan->n > 0)
                print_results(plan, res);
out:
        free(res);
        journal_close(j);
        assessment_done(&as);
        if (fflush(stdout) != 0)
                return EXIT_PROBE_FAILED;
        return exit_code;
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
