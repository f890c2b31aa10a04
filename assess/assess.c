/* SPDX-License-Identifier: MIT */
/* The assessment of a host (probe, knobs, plan, lease filter, requirements, ready), once for
 * every caller. */
#include "assess/assess.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"
#include "policies/lease-rules.h"

/* The first unmet requirement that rests on something the probes could not read or parse, or
 * -1. */
static int first_unprobed(const struct requirement_result *res, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                if (!res[i].satisfied && res[i].error < 0)
                        return (int) i;
        return -1;
}

/* Release what as holds, say which step failed, and return r. */
static int fail(struct assessment *as, struct assess_error *ret_error, enum assess_step step,
                const char *message, int r) {
        assessment_done(as);
        if (ret_error) {
                ret_error->step = step;
                strscpy(ret_error->message, sizeof(ret_error->message), message);
        }
        return r;
}

int assess(const struct assess_input *in, struct host_report *report,
           struct requirement_result *results, struct assessment *ret,
           struct assess_error *ret_error) {
        struct assessment as = {
                .ctx = { .root_fd = -1 }, .report = report, .results = results, .unprobed = -1
        };
        struct probe_targets targets = { 0 };
        struct requirements parsed;
        const struct requirements *req = in->require;
        probe_mask_t mask;
        int r;

        if (in->policy)
                targets = policy_probe_targets(in->policy);
        r = probe_ctx_open(in->root, in->policy ? &targets : NULL, &as.ctx);
        if (r < 0)
                return fail(&as, ret_error, ASSESS_STEP_OPEN, "", r);
        as.ctx.detail = in->detail;
        as.ctx.kvm_smoke = in->kvm_smoke;
        mask = in->prefill ? in->prefill(&as.ctx, report, in->prefill_userdata) : in->probes;
        r = mask == in->probes ? probe_run(&as.ctx, mask, report)
                               : probe_run_exact(&as.ctx, mask, report);
        /* The knobs the policy names that no probe reads: the planner's input, and the tap and
         * THP details a probe without detail skipped. */
        if (r >= 0 && in->policy) {
                struct knob_request kreq;
                plan_knob_request(in->policy, &kreq);
                r = probe_knobs(&as.ctx, &kreq, report);
        }
        if (r < 0)
                return fail(&as, ret_error, ASSESS_STEP_PROBE, "", r);

        /* "hugepages=10%" means a share of the RAM just probed. */
        if (in->require_list) {
                char err[sizeof(ret_error->message)];

                parsed = (struct requirements){ 0 };
                r = requirements_parse(in->require_list, report->memory.mem_total_kib * 1024,
                                       &parsed, err, sizeof(err));
                if (r < 0)
                        return fail(&as, ret_error, ASSESS_STEP_REQUIRE, err, r);
                req = &parsed;
        }

        if (in->policy && in->plan == ASSESS_PLAN_POLICY)
                r = plan_build(report, in->policy, &as.plan);
        else if (in->policy && in->plan == ASSESS_PLAN_SNAPSHOT_REFILL)
                r = plan_build_snapshot_refill(report, in->policy, &as.plan);
        if (r < 0)
                return fail(&as, ret_error, ASSESS_STEP_PLAN, "", r);
        /* What leases hold (a tap's owner, a pool grown for them) is no drift. */
        lease_plan_filter(&as.plan, in->leases);

        if (req && req->n > 0) {
                assert(results);
                as.n_results = req->n;
                as.n_failed = requirements_evaluate(req, report, in->leases, results);
                as.unprobed = first_unprobed(results, req->n);
        }
        /* The one definition of ready, as `check`, Check and the agent's Ready say it. */
        as.ready = as.n_failed == 0 && as.plan.n == 0;
        *ret = as;
        return 0;
}

void assessment_done(struct assessment *as) {
        plan_free(&as->plan);
        probe_ctx_done(&as->ctx);
}

/* Append to buf at *n as snprintf would, keeping *n at most size - 1 so that a truncated text
 * ends the appending. Returns false once the buffer is full. */
static bool append(char *buf, size_t size, size_t *n, const char *fmt, ...) _printf_(4, 5);

static bool append(char *buf, size_t size, size_t *n, const char *fmt, ...) {
        va_list ap;
        int k;

        if (*n + 1 >= size)
                return false;
        va_start(ap, fmt);
        k = vsnprintf(buf + *n, size - *n, fmt, ap);
        va_end(ap);
        if (k < 0 || (size_t) k >= size - *n) {
                *n = size - 1;
                return false;
        }
        *n += (size_t) k;
        return true;
}

char *assessment_reason(const struct assessment *as, char *buf, size_t size) {
        static const size_t prefix = sizeof("not ready:") - 1;
        char name[64], step[320];
        size_t n = 0;

        if (size == 0)
                return buf;
        buf[0] = 0;
        if (as->ready) {
                (void) append(buf, size, &n, "ready: %u of %u requirements met", as->n_results,
                              as->n_results);
                return buf;
        }
        (void) append(buf, size, &n, "not ready:");
        for (unsigned i = 0; i < as->n_results; i++)
                if (!as->results[i].satisfied &&
                    !append(buf, size, &n, "%s %s (%s)", n > prefix ? ";" : "",
                            requirement_to_string(&as->results[i].req, name, sizeof(name)),
                            as->results[i].reason))
                        return buf;
        if (as->plan.n > 0)
                (void) append(buf, size, &n, "%s the policy wants %u change%s (%s%s)",
                              n > prefix ? ";" : "", as->plan.n, as->plan.n == 1 ? "" : "s",
                              plan_step_describe(&as->plan.steps[0], step, sizeof(step)),
                              as->plan.n > 1 ? ", ..." : "");
        return buf;
}
