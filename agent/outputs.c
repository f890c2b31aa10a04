/* SPDX-License-Identifier: MIT */
/* Readiness outputs in files: ready.json, the Prometheus textfile, nix.conf with verified
 * system features, the node-feature-discovery feature file, and agent.state for
 * `hosttune check`. Every file is replaced atomically (temporary file + rename), so a reader never
 * sees half of one, and only through lib/fileio.c's tmpfile, which never opens an existing name (a
 * link planted in the directory is never written through). Formats: docs/readiness-outputs.md and
 * docs/agent-state.md. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/check-facts.h"
#include "agent/log.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "runtime/agent-state.h"
#include "policies/fleet.h"
#include "runtime/lease-file.h"
#include "policies/readiness-json.h"

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

#define READY_JSON_SCHEMA "hosttune.ready/1"

/* A growing text buffer for the metrics file. */
struct text {
        char *buf;
        size_t len, size;
        bool oom;
};

static void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...) {
        va_list ap;
        int k;

        if (t->oom)
                return;
        for (;;) {
                size_t avail = t->size - t->len;
                va_start(ap, fmt);
                k = vsnprintf(t->buf ? t->buf + t->len : NULL, avail, fmt, ap);
                va_end(ap);
                if (k < 0) {
                        t->oom = true;
                        return;
                }
                if ((size_t) k < avail) {
                        t->len += (size_t) k;
                        return;
                }
                size_t want = t->size ? t->size * 2 : 4096;
                while (want - t->len <= (size_t) k)
                        want *= 2;
                char *nb = realloc(t->buf, want);
                if (!nb) {
                        t->oom = true;
                        return;
                }
                t->buf = nb;
                t->size = want;
        }
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static const char *label_escape(const char *s, char *buf, size_t size) {
        size_t n = 0;

        for (; *s && n + 3 < size; s++) {
                if (*s == '\\' || *s == '"') {
                        buf[n++] = '\\';
                        buf[n++] = *s;
                } else if (*s == '\n') {
                        buf[n++] = '\\';
                        buf[n++] = 'n';
                } else
                        buf[n++] = *s;
        }
        buf[n] = 0;
        return buf;
}

/* The view fleet schedulers get (policies/fleet.h): what the last probe verified, the
 * verdict, and the pools net of leases. */
static void fleet_view_of(const struct agent *a, struct fleet_view *ret) {
        fleet_view_build(a->verdict.as.report, a->verdict.results, a->in_force.require.n,
                         a->props.ready && !a->stopping, &a->lease.held, ret);
}

void agent_verified_features(const struct agent *a, char *buf, size_t size) {
        struct fleet_view v;

        fleet_view_of(a, &v);
        if (fleet_nix_features(&v, buf, size) < 0)
                buf[0] = 0;
}

/* The names the outputs are written to, relative to the runtime directory (absolute when the
 * policy names a file elsewhere); the last, the NFD feature file, is "" when there is none. */
#define OUTPUT_PATHS 6
static void output_paths(const struct agent *a, const char *ret[static OUTPUT_PATHS]) {
        ret[0] = "ready.json";
        ret[1] = isempty(a->in_force.policy->metrics_file) ? "metrics.prom"
                                                           : a->in_force.policy->metrics_file;
        ret[2] = isempty(a->in_force.policy->features_file) ? "nix.conf"
                                                            : a->in_force.policy->features_file;
        ret[3] = AGENT_STATE_FILE;
        ret[4] = LEASES_FILE;
        ret[5] = a->in_force.policy->nfd_features_file;
}

static int write_ready_json(struct agent *a, const char *features) {
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object();
        json_object *ag, *pools, *feat;
        const char *text;
        char word[64];

        if (!doc)
                return -ENOMEM;
        json_object_object_add(doc, "schema", json_object_new_string(READY_JSON_SCHEMA));
        json_object_object_add(doc, "version", json_object_new_string(HOSTTUNE_VERSION));
        json_object_object_add(doc, "ready",
                               json_object_new_boolean(a->props.ready && !a->stopping));
        json_object_object_add(
                doc, "reason",
                json_object_new_string(a->stopping ? "hosttuned stopped" : a->verdict.reason));
        json_object_object_add(doc, "updated_realtime_usec",
                               json_object_new_uint64(a->stats.last_probe_realtime_usec));

        ag = json_object_new_object();
        json_object_object_add(ag, "running", json_object_new_boolean(!a->stopping));
        json_object_object_add(ag, "pid", json_object_new_int((int) getpid()));
        json_object_object_add(ag, "generation", json_object_new_uint64(a->props.generation));
        json_object_object_add(ag, "policy_name", json_object_new_string(a->props.policy_name));
        json_object_object_add(ag, "policy_path", json_object_new_string(a->props.policy_path));
        json_object_object_add(ag, "last_error", json_object_new_string(a->props.last_error));
        json_object_object_add(doc, "agent", ag);

        json_object_object_add(
                doc, "requirements",
                requirement_results_to_json(a->verdict.results, a->in_force.require.n));

        pools = json_object_new_array();
        for (unsigned i = 0; i < a->verdict.as.report->hugetlb.n_sizes; i++) {
                const struct hugetlb_pool *p = &a->verdict.as.report->hugetlb.sizes[i];
                json_object *o = json_object_new_object();
                uint64_t leased = 0;

                for (unsigned k = 0; k < a->lease.held.n_sizes && k < HUGETLB_SIZES_MAX; k++)
                        if (a->lease.held.hugepages[k].page_size == p->page_size)
                                leased = a->lease.held.hugepages[k].bytes;
                json_object_object_add(o, "page_size", json_object_new_uint64(p->page_size));
                json_object_object_add(o, "total", json_object_new_uint64(p->nr));
                json_object_object_add(o, "free", json_object_new_uint64(p->free));
                json_object_object_add(o, "reserved", json_object_new_uint64(p->resv));
                json_object_object_add(o, "surplus", json_object_new_uint64(p->surplus));
                json_object_object_add(o, "leased_bytes", json_object_new_uint64(leased));
                json_object_array_add(pools, o);
        }
        json_object_object_add(doc, "hugepages", pools);

        feat = json_object_new_array();
        for (const char *p = features; *p;) {
                size_t l = strcspn(p, " ");
                if (l > 0 && l < sizeof(word)) {
                        memcpy(word, p, l);
                        word[l] = 0;
                        json_object_array_add(feat, json_object_new_string(word));
                }
                p += l;
                p += strspn(p, " ");
        }
        json_object_object_add(doc, "system_features", feat);

        text = json_object_to_json_string_ext(doc,
                                              JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
        if (!text)
                return -ENOMEM;
        char *nl;
        if (asprintf(&nl, "%s\n", text) < 0)
                return -ENOMEM;
        int r = write_file_atomic_at(a->runtime_fd, "ready.json", nl, strlen(nl), 0644);
        free(nl);
        return r;
}

static void metric_header(struct text *t, const char *name, const char *type, const char *help) {
        text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One line per lease stats entry, name{page_size_bytes="N"} value; with pool only for page
 * sizes (entry 0 stands for requests without hugepages, which grow no pool). */
static void lease_stat_lines(struct text *t, const struct agent *a, const char *name, size_t offset,
                             bool pool) {
        for (unsigned i = 0; i < a->lease.n_stats; i++) {
                const struct lease_stats *s = &a->lease.stats[i];
                if (pool && s->page_size == 0)
                        continue;
                text_printf(t, "%s{page_size_bytes=\"%" PRIu64 "\"} %" PRIu64 "\n", name,
                            s->page_size, *(const uint64_t *) ((const char *) s + offset));
        }
}

/* The capacity signals of the leases (docs/readiness-outputs.md, "Lease capacity signals"),
 * per page size of the requests (0: no hugepages asked for). A page size shows once a request
 * for it came, so a counter never disappears once it was written. */
static void write_lease_metrics(struct agent *a, struct text *t) {
        static const struct {
                const char *name, *type, *help;
                size_t offset;
                bool pool;
        } simple[] = {
                { "hosttune_lease_requests_granted_total", "counter", "Lease requests granted.",
                  offsetof(struct lease_stats, granted), false },
                { "hosttune_lease_requests_waited_total", "counter",
                  "Lease requests that could not be served at once and waited (for capacity or a "
                  "pool growth).",
                  offsetof(struct lease_stats, waited), false },
                { "hosttune_lease_requests_abandoned_total", "counter",
                  "Lease requests whose caller left before the answer.",
                  offsetof(struct lease_stats, abandoned), false },
                { "hosttune_lease_pool_growth_pages_requested_total", "counter",
                  "Hugepages asked of the kernel when growing a pool for leases.",
                  offsetof(struct lease_stats, growth_pages_asked), true },
                { "hosttune_lease_pool_growth_pages_obtained_total", "counter",
                  "Hugepages the kernel gave when growing a pool for leases.",
                  offsetof(struct lease_stats, growth_pages_obtained), true },
                { "hosttune_lease_pool_growth_reclaims_total", "counter",
                  "Pool growths for leases that dropped the page cache, dentries and inodes.",
                  offsetof(struct lease_stats, growth_reclaims), true },
                { "hosttune_lease_requests_waiting", "gauge",
                  "Lease requests waiting for capacity now (the queue).",
                  offsetof(struct lease_stats, waiting), false },
                { "hosttune_lease_requests_queued", "gauge",
                  "Lease requests not answered yet: waiting, or being provisioned.",
                  offsetof(struct lease_stats, queued), false },
        };

        agent_lease_stats_refresh(a);
        for (size_t k = 0; k < ELEMENTSOF(simple); k++) {
                metric_header(t, simple[k].name, simple[k].type, simple[k].help);
                lease_stat_lines(t, a, simple[k].name, simple[k].offset, simple[k].pool);
        }
        metric_header(t, "hosttune_lease_requests_refused_total", "counter",
                      "Lease requests refused, by the D-Bus error they got.");
        for (unsigned i = 0; i < a->lease.n_stats; i++)
                for (int r = 0; r < _LEASE_REFUSAL_MAX; r++)
                        text_printf(
                                t,
                                "hosttune_lease_requests_refused_total{page_size_bytes=\"%" PRIu64
                                "\",reason=\"%s\"} %" PRIu64 "\n",
                                a->lease.stats[i].page_size, lease_refusal_to_string(r),
                                a->lease.stats[i].refused[r]);
        metric_header(t, "hosttune_lease_wait_seconds", "summary",
                      "Time from a lease request's arrival to its answer (grant or refusal).");
        for (unsigned i = 0; i < a->lease.n_stats; i++) {
                const struct lease_stats *s = &a->lease.stats[i];
                uint64_t answered = s->granted;
                for (int r = 0; r < _LEASE_REFUSAL_MAX; r++)
                        answered += s->refused[r];
                text_printf(t,
                            "hosttune_lease_wait_seconds_sum{page_size_bytes=\"%" PRIu64
                            "\"} %.6f\n"
                            "hosttune_lease_wait_seconds_count{page_size_bytes=\"%" PRIu64
                            "\"} %" PRIu64 "\n",
                            s->page_size, (double) s->wait_usec_sum / 1e6, s->page_size, answered);
        }
        metric_header(t, "hosttune_lease_pool_growths_total", "counter",
                      "Attempts to grow a hugepage pool for leases, by result.");
        for (unsigned i = 0; i < a->lease.n_stats; i++) {
                const struct lease_stats *s = &a->lease.stats[i];
                if (s->page_size == 0)
                        continue;
                text_printf(t,
                            "hosttune_lease_pool_growths_total{page_size_bytes=\"%" PRIu64
                            "\",result=\"ok\"} %" PRIu64 "\n"
                            "hosttune_lease_pool_growths_total{page_size_bytes=\"%" PRIu64
                            "\",result=\"fell_short\"} %" PRIu64 "\n",
                            s->page_size, s->growths - s->growths_short, s->page_size,
                            s->growths_short);
        }
        metric_header(t, "hosttune_lease_pool_growth_duration_seconds", "summary",
                      "Time growing a hugepage pool for leases took (writes, compaction, reclaim, "
                      "retries).");
        for (unsigned i = 0; i < a->lease.n_stats; i++) {
                const struct lease_stats *s = &a->lease.stats[i];
                if (s->page_size == 0)
                        continue;
                text_printf(
                        t,
                        "hosttune_lease_pool_growth_duration_seconds_sum{page_size_bytes=\"%" PRIu64
                        "\"} %.6f\n"
                        "hosttune_lease_pool_growth_duration_seconds_count{page_size_bytes="
                        "\"%" PRIu64 "\"} %" PRIu64 "\n",
                        s->page_size, (double) s->growth_usec_sum / 1e6, s->page_size, s->growths);
        }
}

static int write_metrics(struct agent *a) {
        const struct host_report *r = a->verdict.as.report;
        struct text t = { 0 };
        const char *paths[OUTPUT_PATHS];
        char e1[256], e2[512];
        int ret;

        metric_header(&t, "hosttune_agent_up", "gauge",
                      "1 while hosttuned runs; 0 once it stopped.");
        text_printf(&t, "hosttune_agent_up %d\n", a->stopping ? 0 : 1);
        metric_header(&t, "hosttune_ready", "gauge",
                      "1 when every readiness requirement of the policy is met.");
        text_printf(&t, "hosttune_ready %d\n", a->props.ready && !a->stopping ? 1 : 0);

        metric_header(&t, "hosttune_requirement_satisfied", "gauge",
                      "1 when the readiness requirement is met now.");
        for (unsigned i = 0; i < a->in_force.require.n; i++) {
                char name[64];
                text_printf(&t,
                            "hosttune_requirement_satisfied{requirement=\"%s\",probe=\"%s\"} %d\n",
                            label_escape(requirement_to_string(&a->verdict.results[i].req, name,
                                                               sizeof(name)),
                                         e1, sizeof(e1)),
                            probe_id_to_string(a->verdict.results[i].probe),
                            a->verdict.results[i].satisfied);
        }

        metric_header(&t, "hosttune_probe_status", "gauge",
                      "1 for the status each probe reports (ok, warn, fail, absent), else 0.");
        for (unsigned i = 0; i < _PROBE_MAX; i++) {
                if (!r->probed[i])
                        continue;
                for (unsigned s = 0; s < _PROBE_STATUS_MAX; s++)
                        text_printf(&t, "hosttune_probe_status{probe=\"%s\",status=\"%s\"} %d\n",
                                    probe_id_to_string(i), probe_status_to_string(s),
                                    r->results[i].status == s);
        }

        static const struct {
                const char *name, *help;
                size_t offset;
        } pool_gauges[] = {
                { "hosttune_hugepages_total", "Hugepages in the pool (nr_hugepages).",
                  offsetof(struct hugetlb_pool, nr) },
                { "hosttune_hugepages_free", "Hugepages free in the pool.",
                  offsetof(struct hugetlb_pool, free) },
                { "hosttune_hugepages_reserved", "Hugepages reserved but not yet faulted in.",
                  offsetof(struct hugetlb_pool, resv) },
                { "hosttune_hugepages_surplus", "Surplus (overcommitted) hugepages.",
                  offsetof(struct hugetlb_pool, surplus) },
        };
        for (size_t g = 0; g < ELEMENTSOF(pool_gauges); g++) {
                metric_header(&t, pool_gauges[g].name, "gauge", pool_gauges[g].help);
                for (unsigned i = 0; i < r->hugetlb.n_sizes; i++) {
                        const struct hugetlb_pool *p = &r->hugetlb.sizes[i];
                        text_printf(&t, "%s{page_size_bytes=\"%" PRIu64 "\"} %" PRIu64 "\n",
                                    pool_gauges[g].name, p->page_size,
                                    *(const uint64_t *) ((const char *) p + pool_gauges[g].offset));
                }
        }
        metric_header(&t, "hosttune_hugepages_leased_bytes", "gauge",
                      "Bytes of hugepages promised to leases.");
        for (unsigned i = 0; i < r->hugetlb.n_sizes; i++) {
                uint64_t leased = 0;
                for (unsigned k = 0; k < a->lease.held.n_sizes && k < HUGETLB_SIZES_MAX; k++)
                        if (a->lease.held.hugepages[k].page_size == r->hugetlb.sizes[i].page_size)
                                leased = a->lease.held.hugepages[k].bytes;
                text_printf(&t,
                            "hosttune_hugepages_leased_bytes{page_size_bytes=\"%" PRIu64
                            "\"} %" PRIu64 "\n",
                            r->hugetlb.sizes[i].page_size, leased);
        }

        metric_header(&t, "hosttune_hugepages_unleased_bytes", "gauge",
                      "Bytes of hugepages in use that no enforced lease accounts for (absent "
                      "where leases are not enforced).");
        for (unsigned i = 0; i < r->hugetlb.n_sizes; i++) {
                uint64_t unleased;
                if (agent_leases_unleased(a, r->hugetlb.sizes[i].page_size, &unleased) >= 0)
                        text_printf(&t,
                                    "hosttune_hugepages_unleased_bytes{page_size_bytes=\"%" PRIu64
                                    "\"} %" PRIu64 "\n",
                                    r->hugetlb.sizes[i].page_size, unleased);
        }
        write_lease_metrics(a, &t);
        metric_header(&t, "hosttune_policy_info", "gauge", "The policy in force (always 1).");
        text_printf(&t, "hosttune_policy_info{name=\"%s\",path=\"%s\"} 1\n",
                    label_escape(a->props.policy_name, e1, sizeof(e1)),
                    label_escape(a->props.policy_path, e2, sizeof(e2)));
        metric_header(&t, "hosttune_policy_generation", "gauge",
                      "Generation of the policy in force (1 at start, +1 per accepted reload).");
        text_printf(&t, "hosttune_policy_generation %" PRIu64 "\n", a->props.generation);
        metric_header(&t, "hosttune_reloads_total", "counter", "Policy reloads by result.");
        text_printf(&t, "hosttune_reloads_total{result=\"accepted\"} %" PRIu64 "\n",
                    a->stats.reloads);
        text_printf(&t, "hosttune_reloads_total{result=\"rejected\"} %" PRIu64 "\n",
                    a->stats.reloads_rejected);
        metric_header(&t, "hosttune_applies_total", "counter",
                      "Applies that changed something, by result.");
        text_printf(&t, "hosttune_applies_total{result=\"ok\"} %" PRIu64 "\n",
                    a->stats.applies - a->stats.applies_failed);
        text_printf(&t, "hosttune_applies_total{result=\"fell_short\"} %" PRIu64 "\n",
                    a->stats.applies_failed);
        metric_header(&t, "hosttune_apply_duration_seconds", "summary",
                      "Time applies took (plan execution, including hugepage reservation).");
        text_printf(&t, "hosttune_apply_duration_seconds_sum %.6f\n",
                    (double) a->stats.apply_usec_sum / 1e6);
        text_printf(&t, "hosttune_apply_duration_seconds_count %" PRIu64 "\n", a->stats.applies);
        metric_header(&t, "hosttune_last_apply_duration_seconds", "gauge",
                      "Time the last apply took.");
        text_printf(&t, "hosttune_last_apply_duration_seconds %.6f\n",
                    (double) a->stats.apply_usec_last / 1e6);
        metric_header(&t, "hosttune_reverts_total", "counter", "Reverts run.");
        text_printf(&t, "hosttune_reverts_total %" PRIu64 "\n", a->stats.reverts);
        metric_header(&t, "hosttune_reprobes_total", "counter", "Full probes of the host.");
        text_printf(&t, "hosttune_reprobes_total %" PRIu64 "\n", a->stats.reprobes);
        metric_header(&t, "hosttune_drifts_total", "counter",
                      "Times the host drifted: readiness lost, or the policy to re-apply.");
        text_printf(&t, "hosttune_drifts_total %" PRIu64 "\n", a->stats.drifts);
        metric_header(&t, "hosttune_checks_total", "counter", "Check calls answered over D-Bus.");
        text_printf(&t, "hosttune_checks_total %" PRIu64 "\n", a->stats.checks);
        metric_header(&t, "hosttune_last_probe_timestamp_seconds", "gauge",
                      "When the host was last probed (Unix time).");
        text_printf(&t, "hosttune_last_probe_timestamp_seconds %.3f\n",
                    (double) a->stats.last_probe_realtime_usec / 1e6);

        if (t.oom) {
                free(t.buf);
                return -ENOMEM;
        }
        output_paths(a, paths);
        ret = write_file_atomic_at(a->runtime_fd, paths[1], t.buf, t.len, 0644);
        free(t.buf);
        return ret;
}

static int write_nix_conf(struct agent *a, const char *features) {
        const char *paths[OUTPUT_PATHS], *path;
        char text[1024];
        int r;

        output_paths(a, paths);
        path = paths[2];

        r = bufprintf(text, sizeof(text),
                      "# Written by hosttuned (hosttuned(8)): only the system features this host "
                      "was\n# verified to provide. Include it from nix.conf with: !include %s%s%s\n"
                      "extra-system-features = %s\n",
                      path[0] == '/' ? "" : a->runtime_dir, path[0] == '/' ? "" : "/", path,
                      features);
        if (r < 0)
                return r;
        return write_file_atomic_at(a->runtime_fd, path, text, strlen(text), 0644);
}

/* The node-feature-discovery feature file ([agent] nfd-features-file). NFD reads every file of
 * features.d whose name does not start with a dot, and re-reads on every inotify event there.
 * A tmpfile (lib/fileio.h) has no name until it is complete, or a dotted one (".NAME.tmp-HEX")
 * that NFD skips, so the visible name only ever appears whole. */
static int write_nfd_file(struct agent *a) {
        const char *path = a->in_force.policy->nfd_features_file;
        char text[8192];
        struct fleet_view v;
        uint64_t expiry;
        int n;

        if (isempty(path))
                return 0;
        /* Later than the next re-probe, with one interval to spare for a slow one. NFD looks at
         * the expiry when it re-discovers (every sleep-interval, 60 s by default), so the labels
         * of an agent that died lapse within two intervals, a minute and that. */
        expiry = a->stats.last_probe_realtime_usec + 2 * a->in_force.policy->reprobe_interval_usec +
                 60 * USEC_PER_SEC;
        fleet_view_of(a, &v);
        n = fleet_nfd_format(&v, expiry, text, sizeof(text));
        if (n < 0)
                return n;
        /* The loader made the path absolute: the runtime directory fd is ignored. */
        return write_file_atomic_at(a->runtime_fd, path, text, (size_t) n, 0644);
}

/* Replace agent.state and move our lock to the new file: lock the temporary file first, so
 * the name never points at an unlocked file while we live. */
static int write_agent_state(struct agent *a) {
        struct agent_state s = {
                .pid = getpid(),
                .generation = a->props.generation,
                .ready = a->props.ready,
                .leases = a->lease.held,
        };
        if (a->smoke.valid)
                s.kvm_smoke = a->smoke.verdict;
        struct probe_targets t = policy_probe_targets(a->in_force.policy);
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        _cleanup_(tmpfile_done) struct tmpfile tf = { .fd = -1, .dir_fd = -1 };
        char text[AGENT_STATE_TEXT_MAX];
        int r;

        strscpy(s.policy_name, sizeof(s.policy_name), a->props.policy_name);
        strscpy(s.policy_path, sizeof(s.policy_path), a->props.policy_path);
        for (unsigned i = 0; i < a->in_force.require.n; i++) {
                char tok[REQUIREMENT_STRING_MAX];
                requirement_to_string(&a->in_force.require.items[i], tok, sizeof(tok));
                if (bufappendf(s.require, sizeof(s.require), "%s%s", i ? "," : "", tok) < 0)
                        return -ENOBUFS;
        }
        strscpy(s.snapshot_root, sizeof(s.snapshot_root), t.snapshot_root ? t.snapshot_root : "");
        strscpy(s.tap_prefix, sizeof(s.tap_prefix), t.tap_prefix ? t.tap_prefix : "");
        strscpy(s.bridge, sizeof(s.bridge), t.bridge ? t.bridge : "");
        strscpy(s.nix_conf, sizeof(s.nix_conf), t.nix_conf ? t.nix_conf : "");
        for (unsigned i = 0; i < a->in_force.n_files; i++)
                if (agent_state_add_policy_file(&s, &a->in_force.files[i]) < 0) {
                        /* No room for every file: one stamp that never matches makes check
                         * use the copy of the policy in force, which is always right. */
                        struct policy_file_stamp never = a->in_force.files[0];
                        never.ino = 0;
                        s.policy_files[0] = 0;
                        (void) agent_state_add_policy_file(&s, &never);
                        break;
                }
        strscpy(s.policy_refused, sizeof(s.policy_refused), a->in_force.refused);
        strscpy(s.leases_unenforced, sizeof(s.leases_unenforced), agent_leases_unenforced(a));
        agent_leases_cgroups(a, s.lease_cgroups, sizeof(s.lease_cgroups));
        r = agent_state_format(&s, text, sizeof(text));
        if (r < 0)
                return r;
        if (a->outputs.state_text && streq(a->outputs.state_text, text) && a->outputs.state_fd >= 0)
                return 0;

        r = tmpfile_open_at(a->runtime_fd, AGENT_STATE_FILE, 0644, &tf);
        if (r < 0)
                return r;
        if (fcntl(tf.fd, F_OFD_SETLK, &fl) < 0)
                return negative_errno();
        r = write_all(tf.fd, text, strlen(text));
        if (r < 0)
                return r;
        /* /run is a tmpfs: no fsync (a power loss wipes it anyway). */
        r = tmpfile_commit(&tf, false);
        if (r < 0)
                return r;
        /* Closing the old file's descriptor drops its lock: it is no longer the state. */
        safe_close(a->outputs.state_fd);
        a->outputs.state_fd = TAKE_FD(tf.fd);
        free(a->outputs.state_text);
        a->outputs.state_text = strdup(text);
        return 0;
}

void agent_outputs_clean_leftovers(struct agent *a) {
        const char *paths[OUTPUT_PATHS];

        if (a->runtime_fd < 0 || !a->in_force.policy)
                return;
        output_paths(a, paths);
        for (size_t i = 0; i < ELEMENTSOF(paths); i++) {
                int r = isempty(paths[i]) ? 0 : tmpfiles_clean_at(a->runtime_fd, paths[i]);
                if (r > 0)
                        log_info("removed %d leftover temporary file%s of %s", r, r == 1 ? "" : "s",
                                 paths[i]);
                else if (r < 0 && r != -ENOENT)
                        log_warning("cannot remove leftover temporary files of %s: %s", paths[i],
                                    strerror(-r));
        }
}

int agent_outputs_write(struct agent *a) {
        return agent_outputs_write_some(a, true);
}

int agent_outputs_write_some(struct agent *a, bool nix_conf) {
        char features[256];
        int r, ret = 0;

        if (a->runtime_fd < 0 || !a->in_force.policy || !a->verdict.evaluated)
                return 0;
        agent_verified_features(a, features, sizeof(features));
        r = write_ready_json(a, features);
        if (r < 0) {
                log_warning("cannot write %s/ready.json: %s", a->runtime_dir, strerror(-r));
                ret = ret ?: r;
        }
        r = write_metrics(a);
        if (r < 0) {
                log_warning("cannot write the metrics file: %s", strerror(-r));
                ret = ret ?: r;
        }
        /* Every time, leases included: the file carries what the pools can still give. */
        r = write_nfd_file(a);
        if (r < 0 && r != a->outputs.nfd_error)
                log_warning("cannot write the node-feature-discovery file %s: %s",
                            a->in_force.policy->nfd_features_file, strerror(-r));
        else if (r >= 0 && a->outputs.nfd_error < 0)
                log_info("wrote the node-feature-discovery file %s again",
                         a->in_force.policy->nfd_features_file);
        /* Logged when it changes: a missing features.d would otherwise log at every re-probe. */
        a->outputs.nfd_error = r;
        ret = ret ?: (r < 0 ? r : 0);
        r = nix_conf ? write_nix_conf(a, features) : 0;
        if (r < 0) {
                log_warning("cannot write the nix.conf features file: %s", strerror(-r));
                ret = ret ?: r;
        }
        if (!a->stopping) {
                r = write_agent_state(a);
                if (r < 0) {
                        log_warning("cannot write %s/%s: %s", a->runtime_dir, AGENT_STATE_FILE,
                                    strerror(-r));
                        ret = ret ?: r;
                }
                /* After agent.state: check trusts facts of the pid and generation it names. */
                agent_facts_outputs_written(a);
        }
        return ret;
}
