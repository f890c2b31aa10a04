/* `hosttune check` and `hosttune probe`: run the probes, judge readiness, print. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/output.h"
#include "lib/util.h"
#include "policies/agent-state.h"
#include "policies/readiness-json.h"
#include "policies/readiness.h"
#include "probes/probes.h"
#include "probes/report-json.h"

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

/* Until the policy loader lands, the default policy's readiness list. */
#define DEFAULT_REQUIRE "kvm,rng,tun,userfaultfd"

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
                        fprintf(stderr, "Try 'hosttune %s --help'.\n",
                                o->probe_only ? "probe" : "check");
                        return -EINVAL;
                }
        if (optind < argc) {
                fprintf(stderr, "hosttune: unexpected argument '%s'\n", argv[optind]);
                return -EINVAL;
        }
        return 0;
}

/* What the live agent contributed, for --json. */
static json_object *agent_json(const struct agent_state *a) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "pid", json_object_new_int((int) a->pid));
        json_object_object_add(o, "generation", json_object_new_uint64(a->generation));
        json_object_object_add(o, "policy_name", json_object_new_string(a->policy_name));
        json_object_object_add(o, "policy_path", json_object_new_string(a->policy_path));
        return o;
}

/* Human output: one line per requirement, then one per probe no requirement covered. */
static void print_human(const struct host_report *r, const struct requirements *req,
                        const struct requirement_result *res, unsigned failed, bool probe_only) {
        bool covered[_PROBE_MAX] = { false };
        char name[64];

        output_init(stdout);
        for (unsigned i = 0; i < req->n; i++) {
                covered[res[i].probe] = covered[res[i].probe] || res[i].req.kind != REQ_HUGEPAGES;
                output_line(stdout,
                            !res[i].satisfied ? LINE_FAIL
                            : res[i].caveat   ? LINE_WARN
                                              : LINE_PASS,
                            requirement_to_string(&res[i].req, name, sizeof(name)), res[i].reason,
                            res[i].remedy);
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
        if (probe_only)
                return;
        if (failed == 0)
                printf("\nREADY: %u of %u requirements met\n", req->n, req->n);
        else {
                printf("\nNOT READY: %u of %u requirements not met (", failed, req->n);
                for (unsigned i = 0, k = 0; i < req->n; i++)
                        if (!res[i].satisfied)
                                printf("%s%s", k++ ? ", " : "",
                                       requirement_to_string(&res[i].req, name, sizeof(name)));
                printf(")\n");
        }
}

static int run(int argc, char **argv, bool probe_only) {
        struct check_options o = { .probe_only = probe_only };
        struct requirements req = { 0 };
        struct requirement_result res[REQUIREMENTS_MAX];
        struct probe_ctx ctx = { .root_fd = -1 };
        static struct host_report report;
        static struct agent_state agent;
        struct probe_targets targets = { 0 };
        bool from_agent = false;
        char err[256];
        unsigned failed = 0;
        int r, exit_code;

        r = parse_options(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : EXIT_USAGE;

        /* A running agent publishes its policy's requirements and what leases hold in the
         * runtime dir, with a lock that proves it is alive (docs/agent-state.md): a few
         * syscalls instead of a D-Bus round trip. The probes still run here, so the verdict
         * is about the host now; the agent adds what only it knows. */
        if (!probe_only && !o.offline && !o.root &&
            agent_state_read_live(runtime_dir_resolve(NULL), &agent) >= 0) {
                from_agent = true;
                if (!o.policy)
                        targets = agent_state_probe_targets(&agent);
        }

        r = probe_ctx_open(o.root, &targets, &ctx);
        if (r < 0) {
                fprintf(stderr, "hosttune: cannot open root %s: %s\n", o.root ? o.root : "/",
                        strerror(-r));
                return EXIT_PROBE_FAILED;
        }
        ctx.detail = probe_only || o.json;
        r = probe_run(&ctx, PROBE_MASK_ALL, &report);
        if (r < 0) {
                fprintf(stderr, "hosttune: probing failed: %s\n", strerror(-r));
                probe_ctx_done(&ctx);
                return EXIT_PROBE_FAILED;
        }
        if (!probe_only) {
                uint64_t mem_total = report.memory.mem_total_kib * 1024;
                const char *list = o.require                 ? o.require
                                   : from_agent && !o.policy ? agent.require
                                                             : DEFAULT_REQUIRE;
                r = requirements_parse(list, mem_total, &req, err, sizeof(err));
                if (r < 0) {
                        fprintf(stderr, "hosttune: %s: %s\n", o.require ? "--require" : "agent",
                                err);
                        probe_ctx_done(&ctx);
                        return o.require ? EXIT_USAGE : EXIT_PROBE_FAILED;
                }
                failed = requirements_evaluate(&req, &report, from_agent ? &agent.leases : NULL,
                                               res);
        }

        exit_code = failed ? EXIT_NOT_READY : EXIT_READY;
        for (unsigned i = 0; i < req.n; i++)
                if (!res[i].satisfied && res[i].error < 0)
                        exit_code = EXIT_PROBE_FAILED;

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
                        doc = check_document_to_json(&report, res, req.n, failed,
                                                     from_agent ? "agent" : "local",
                                                     o.root ? o.root : "/");
                        if (doc && from_agent)
                                json_object_object_add(doc, "agent", agent_json(&agent));
                }
                if (!doc || output_json(stdout, doc) < 0)
                        exit_code = EXIT_PROBE_FAILED;
                json_object_put(doc);
        } else {
                print_human(&report, &req, res, failed, probe_only);
                if (from_agent)
                        printf("(policy %s of hosttuned, generation %" PRIu64 ")\n",
                               agent.policy_name, agent.generation);
        }
        probe_ctx_done(&ctx);
        if (fflush(stdout) != 0)
                return EXIT_PROBE_FAILED;
        return probe_only ? 0 : exit_code;
}

int cmd_check(int argc, char **argv) {
        return run(argc, argv, false);
}

int cmd_probe(int argc, char **argv) {
        return run(argc, argv, true);
}
