/* SPDX-License-Identifier: MIT */
/* `hosttune check` and `hosttune probe`: run the probes, judge readiness, print. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "assess/assess.h"
#include "cli/check-agent.h"
#include "cli/check-leases.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "lib/util.h"
#include "runtime/agent-state.h"
#include "runtime/dir.h"
#include "policies/plan.h"
#include "policies/policy.h"
#include "policies/readiness-json.h"
#include "policies/readiness.h"
#include "probes/probes.h"
#include "probes/report-json.h"

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

struct check_options {
        const char *root;
        const char *require;
        const char *policy;
        bool json;
        bool offline;
        bool probe_only;
};

static int parse_options(int argc, char **argv, struct check_options *o) {
        enum { OPT_OFFLINE = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                { "root", required_argument, NULL, 'r' },
                { "require", required_argument, NULL, 'R' },
                { "policy", required_argument, NULL, 'p' },
                { "offline", no_argument, NULL, OPT_OFFLINE },
                {},
        };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "hjr:R:p:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf(o->probe_only ? "Usage: hosttune probe [--json] [--root DIR]\n"
                                             : "Usage: hosttune check [--policy FILE|NAME] "
                                               "[--require LIST] "
                                               "[--json] [--root DIR] [--offline]\n"
                                               "Exit status: 0 ready, 1 not ready, 2 usage or "
                                               "policy error, "
                                               "3 could not probe.\n");
                        return 1;
                case 'j':
                        o->json = true;
                        break;
                case 'r':
                        o->root = optarg;
                        break;
                case 'R':
                        if (o->probe_only)
                                goto bad;
                        o->require = optarg;
                        break;
                case 'p':
                        if (o->probe_only)
                                goto bad;
                        o->policy = optarg;
                        break;
                case OPT_OFFLINE:
                        o->offline = true;
                        break;
                default:
                bad:
                        return cli_error_errno(-EINVAL, "Try 'hosttune %s --help'.",
                                               o->probe_only ? "probe" : "check");
                }
        if (optind < argc)
                return cli_error_errno(-EINVAL, "hosttune: unexpected argument '%s'", argv[optind]);
        return 0;
}

/* What the live agent contributed, for --json. */
static json_object *agent_json(const struct agent_state *a, const char *policy_warning) {
        json_object *o = json_object_new_object();

        if (policy_warning[0])
                json_object_object_add(o, "policy_warning", json_object_new_string(policy_warning));
        json_object_object_add(o, "pid", json_object_new_int((int) a->pid));
        json_object_object_add(o, "generation", json_object_new_uint64(a->generation));
        json_object_object_add(o, "policy_name", json_object_new_string(a->policy_name));
        json_object_object_add(o, "policy_path", json_object_new_string(a->policy_path));
        return o;
}

/* Human output: one line per requirement, then one per probe no requirement covered. */
static void print_human(const struct assessment *as, bool probe_only,
                        const struct agent_state *agent) {
        const struct host_report *r = as->report;
        const struct requirement_result *res = as->results;
        const struct plan *plan = &as->plan;
        unsigned n = as->n_results;
        bool covered[_PROBE_MAX] = { false };
        char name[64], line[512];

        output_init(stdout);
        for (unsigned i = 0; i < n; i++) {
                covered[res[i].probe] = covered[res[i].probe] || res[i].req.kind != REQ_HUGEPAGES;
                output_line(stdout,
                            !res[i].satisfied ? LINE_FAIL
                            : res[i].caveat   ? LINE_WARN
                                              : LINE_PASS,
                            requirement_to_string(&res[i].req, name, sizeof(name)), res[i].reason,
                            res[i].remedy);
        }
        /* A host the policy would change is not tuned yet: one line per planned step. */
        for (unsigned i = 0; plan && i < plan->n; i++) {
                const struct plan_step *st = &plan->steps[i];
                output_line(stdout, LINE_FAIL, "policy", plan_step_describe(st, line, sizeof(line)),
                            st->manual ? st->note : "hosttune apply");
        }
        for (unsigned i = 0; i < _PROBE_MAX; i++) {
                const struct probe_result *pr = &r->results[i];
                enum line_level lvl;

                if (!r->probed[i] || covered[i])
                        continue;
                switch (pr->status) {
                case PROBE_OK:
                        lvl = LINE_PASS;
                        break;
                case PROBE_ABSENT:
                        lvl = LINE_INFO;
                        break;
                case PROBE_FAIL:
                        lvl = probe_only ? LINE_FAIL : LINE_WARN;
                        break;
                default:
                        lvl = LINE_WARN;
                }
                output_line(stdout, lvl, probe_id_to_string(i), pr->reason, pr->remedy);
        }
        /* What the running agent's leases need that the host does not give (docs/leases.md). */
        check_leases_print(stdout, agent, r);
        if (probe_only)
                return;
        if (as->ready)
                printf("\nREADY: %u of %u requirements met\n", n, n);
        else if (as->n_failed == 0)
                printf("\nNOT READY: %u of %u requirements met, but the policy wants %u "
                       "change%s\n",
                       n, n, plan->n, plan->n == 1 ? "" : "s");
        else {
                printf("\nNOT READY: %u of %u requirements not met (", as->n_failed, n);
                for (unsigned i = 0, k = 0; i < n; i++)
                        if (!res[i].satisfied)
                                printf("%s%s", k++ ? ", " : "",
                                       requirement_to_string(&res[i].req, name, sizeof(name)));
                printf(")%s\n", plan->n ? "; the policy wants changes too" : "");
                if (as->unprobed >= 0)
                        printf("COULD NOT PROBE: %s depends on a file hosttune could not read or "
                               "parse (see the WARN lines); exit status 3\n",
                               requirement_to_string(&res[as->unprobed].req, name, sizeof(name)));
        }
}

/* The agent's policy files changed on disk since it loaded them (a refused reload, or none
 * yet): load its copy of the policy in force into ret instead and say why in warning. Returns
 * false (ret zeroed again) when there is no copy to use (an older agent). */
static bool load_policy_in_force(const struct agent_state *agent, struct policy *ret, char *warning,
                                 size_t size) {
        struct policy_error err;
        char copy[POLICY_PATH_MAX + 32];

        if (bufprintf(copy, sizeof(copy), "%s/%s", runtime_dir_resolve(NULL),
                      AGENT_POLICY_COPY_FILE) < 0 ||
            policy_load_zeroed(copy, ret, &err) < 0) {
                memset(ret, 0, sizeof(*ret));
                return false;
        }
        if (!warning || size == 0)
                return true;
        if (agent->policy_refused[0])
                bufprintf_trunc(
                        warning, size,
                        "hosttuned refused the policy on disk: %s; judging by the policy in "
                        "force (generation %" PRIu64 ")",
                        agent->policy_refused, agent->generation);
        else
                bufprintf_trunc(
                        warning, size,
                        "%s changed since hosttuned loaded it; judging by the policy in force "
                        "(generation %" PRIu64 ") until `hosttune reload`",
                        agent->policy_path, agent->generation);
        return true;
}

int cli_load_policy(const char *policy, const struct agent_state *agent, struct policy *ret,
                    char *warning, size_t size) {
        struct policy_error err;
        char source[POLICY_PATH_MAX];
        int r;

        if (!policy && agent && agent_state_policy_changed(agent) &&
            load_policy_in_force(agent, ret, warning, size))
                return 0;
        /* ret is zeroed static storage, used once: load in place, no 55 KiB copy. */
        if (!policy && agent && agent_state_policy_source(agent, source, sizeof(source)) >= 0)
                r = policy_load_zeroed(source, ret, &err);
        else
                r = policy_load_configured_zeroed(policy, ret, &err);
        if (r < 0)
                return cli_policy_error(r, &err);
        return 0;
}

/* run's frame and its callees' (the agent's state is read and parsed through 30 KiB of stack
 * buffers) take about 56 KiB of stack, a dozen fresh pages: fault them in at once, like the
 * report (docs/bench/check.md). */
#define CHECK_STACK_BYTES (64 * 1024)
/* The heap check's probes, policy and output grow into (/proc files kept as exact-size copies,
 * json-c's objects): five fresh pages for the human output. */
#define CHECK_HEAP_BYTES (20 * 1024)

/* Say why assess() failed; returns the exit status. */
static int assess_failed(const char *root, const struct assess_error *e, int r) {
        switch (e->step) {
        case ASSESS_STEP_OPEN:
                fprintf(stderr, "hosttune: cannot open root %s: %s\n", root ? root : "/",
                        strerror(-r));
                return EXIT_PROBE_FAILED;
        case ASSESS_STEP_REQUIRE:
                fprintf(stderr, "hosttune: --require: %s\n", e->message);
                return EXIT_USAGE;
        case ASSESS_STEP_PLAN:
                fprintf(stderr, "hosttune: planning failed: %s\n", strerror(-r));
                return EXIT_PROBE_FAILED;
        case ASSESS_STEP_PROBE:
        default:
                fprintf(stderr, "hosttune: probing failed: %s\n", strerror(-r));
                return EXIT_PROBE_FAILED;
        }
}

/* assess()'s prefill: with a live agent (userdata, its state), take its published probe facts
 * and probe only what they cannot vouch for (cli/check-agent.h, docs/check-facts.md). */
static probe_mask_t check_prefill(struct probe_ctx *ctx, struct host_report *report,
                                  void *userdata) {
        probe_mask_t mask =
                userdata ? check_agent_facts_use(userdata, ctx, report) : PROBE_MASK_ALL;

        /* The report (62 KiB of static storage) is written in many scattered places: fault its
         * pages in with one system call rather than one page fault each, several times cheaper
         * where a fault exits to the hypervisor (docs/bench/check.md). From the agent's facts
         * only the pages that hold something are written: no need. */
        if (mask == PROBE_MASK_ALL)
                (void) prefault_write(report, sizeof(*report));
        return mask;
}

static int run(int argc, char **argv, bool probe_only) {
        struct check_options o = { .probe_only = probe_only };
        struct requirement_result res[REQUIREMENTS_MAX];
        /* Page-aligned: the agent's facts come as the report's 4 KiB blocks (check.facts), each
         * then one page to fault rather than two (docs/bench/check.md). */
        _Alignas(4096) static struct host_report report;
        static struct policy policy;
        static struct agent_state agent;
        struct assess_input in;
        struct assess_error aerr;
        struct assessment as;
        bool from_agent = false;
        char policy_warning[800] = "";
        int r, exit_code;

        r = parse_options(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : EXIT_USAGE;
        /* Not the policy's 55 KiB: a policy touches a few of its 14 pages, and on the PVM host
         * populating all of them costs more than faulting those (docs/bench/check.md). */
        (void) prefault_heap(CHECK_HEAP_BYTES);
        if (!probe_only) {
                if (!o.offline && !o.root)
                        (void) prefault_write(&agent, sizeof(agent));
                /* A running agent publishes its policy and what leases hold in the runtime
                 * dir, with a lock that proves it is alive (docs/agent-state.md): a few
                 * syscalls instead of a D-Bus round trip. The probes still run here, so the
                 * verdict is about the host now; the agent adds what only it knows. */
                from_agent = !o.offline && !o.root &&
                             agent_state_read_live(runtime_dir_resolve(NULL), &agent) >= 0;
                r = cli_load_policy(o.policy, from_agent ? &agent : NULL, &policy, policy_warning,
                                    sizeof(policy_warning));
                if (r != 0)
                        return r;
        }

        /* Every probe, for the lines of the probes no requirement covers; `probe` judges
         * nothing. */
        in = (struct assess_input){
                .root = o.root,
                .policy = probe_only ? NULL : &policy,
                .require = probe_only ? NULL : &policy.require,
                .require_list = o.require,
                /* What leases hold counts as taken, and is no drift (docs/leases.md). */
                .leases = from_agent ? &agent.leases : NULL,
                .probes = PROBE_MASK_ALL,
                .detail = probe_only || o.json,
                .plan = probe_only ? ASSESS_PLAN_NONE : ASSESS_PLAN_POLICY,
                /* The agent's KVM smoke verdict, so check runs no guest (the probe still
                 * compares /dev/kvm's identity and runs one itself when it changed since). */
                .kvm_smoke = from_agent && agent.kvm_smoke.root.tried ? &agent.kvm_smoke : NULL,
                .prefill = check_prefill,
                /* Not for --json, whose facts are the detailed ones; not for another policy's
                 * targets. */
                .prefill_userdata = from_agent && !o.policy && !o.json ? &agent : NULL,
        };
        r = assess(&in, &report, res, &as, &aerr);
        if (r < 0)
                return assess_failed(o.root, &aerr, r);

        exit_code = as.unprobed >= 0 ? EXIT_PROBE_FAILED : as.ready ? EXIT_READY : EXIT_NOT_READY;

        if (o.json) {
                json_object *doc;

                if (probe_only) {
                        doc = json_object_new_object();
                        json_object_object_add(doc, "schema",
                                               json_object_new_string(REPORT_SCHEMA));
                        json_object_object_add(doc, "version",
                                               json_object_new_string(HOSTTUNE_VERSION));
                        json_object_object_add(doc, "root",
                                               json_object_new_string(o.root ? o.root : "/"));
                        json_object_object_add(doc, "probes", report_probes_to_json(&report));
                } else {
                        doc = check_document_to_json(
                                &report, res, as.n_results, as.n_failed, &policy, &as.plan,
                                from_agent ? "agent" : "local", o.root ? o.root : "/");
                        if (doc && from_agent)
                                json_object_object_add(doc, "agent",
                                                       agent_json(&agent, policy_warning));
                }
                if (!doc || output_json(stdout, doc) < 0)
                        exit_code = EXIT_PROBE_FAILED;
                json_object_put(doc);
        } else {
                if (policy_warning[0])
                        output_line(stdout, LINE_WARN, "policy", policy_warning,
                                    "fix the file and run `hosttune reload`");
                print_human(&as, probe_only, from_agent ? &agent : NULL);
                if (from_agent)
                        printf("(policy %s of hosttuned, generation %" PRIu64 ")\n",
                               agent.policy_name, agent.generation);
        }
        assessment_done(&as);
        if (fflush(stdout) != 0)
                return EXIT_PROBE_FAILED;
        return probe_only ? 0 : exit_code;
}

int cmd_check(int argc, char **argv) {
        (void) prefault_stack(CHECK_STACK_BYTES);
        return run(argc, argv, false);
}

int cmd_probe(int argc, char **argv) {
        (void) prefault_stack(CHECK_STACK_BYTES);
        return run(argc, argv, true);
}
