/* SPDX-License-Identifier: MIT */
/* The assessment of a host: probe it, read the knobs its policy names, judge the requirements,
 * plan what the policy still wants changed, leave alone what leases hold, and say whether it is
 * ready and why. Written once for the agent (agent/agent.c), `hosttune check`, `hosttune apply`
 * and `hosttune machines-line`, so they give one answer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policies/plan.h"
#include "policies/policy.h"
#include "policies/readiness.h"
#include "probes/context.h"
#include "probes/probes.h"
#include "probes/report.h"

/* What the policy's plan covers. */
enum assess_plan {
        ASSESS_PLAN_NONE,            /* judge the requirements only */
        ASSESS_PLAN_POLICY,          /* every step the policy wants (plan_build) */
        ASSESS_PLAN_SNAPSHOT_REFILL, /* only the prepared snapshots' refill (the lease worker) */
};

struct assess_input {
        const char *root; /* the host's root directory; NULL: this machine's "/" */
        /* The policy: its probe targets (snapshot root, taps, nix.conf), the knobs it names
         * (probe_knobs, read whenever a policy is given) and its plan. NULL: probes only. */
        const struct policy *policy;
        /* The requirements to judge; NULL: none. */
        const struct requirements *require;
        /* A requirement list ("kvm,hugepages=10%"), parsed against the probed RAM, that
         * replaces require; NULL: none. */
        const char *require_list;
        /* What the agent's leases hold (NULL: no agent): counted as taken by the requirements,
         * and left out of the plan (lease_plan_filter). */
        const struct lease_usage *leases;
        probe_mask_t probes; /* probe_run's mask (it adds the probes' dependencies) */
        bool detail;         /* facts only JSON shows (struct probe_ctx) */
        enum assess_plan plan;
        /* A KVM smoke verdict to reuse instead of running the guest (struct probe_ctx), or NULL. */
        const struct kvm_smoke_verdict *kvm_smoke;
};

struct assessment {
        /* The probe context, still open on the root (`apply` changes the host through its
         * root_fd); assessment_done closes it. */
        struct probe_ctx ctx;
        struct host_report *report;         /* the caller's storage, filled */
        struct requirement_result *results; /* the caller's storage: n_results of them */
        unsigned n_results;                 /* the requirements judged */
        unsigned n_failed;                  /* of them, not met */
        int unprobed;     /* the first unmet requirement that rests on a file the probes could not
                           * read or parse (`check` exits 3), or -1 */
        struct plan plan; /* empty with ASSESS_PLAN_NONE; leased resources filtered out */
        /* Ready: every requirement met and nothing left that the policy wants changed. */
        bool ready;
};

/* The step of assess() that failed. */
enum assess_step {
        ASSESS_STEP_OPEN,    /* the root could not be opened */
        ASSESS_STEP_PROBE,   /* probe_run or probe_knobs */
        ASSESS_STEP_REQUIRE, /* require_list is not a requirement list */
        ASSESS_STEP_PLAN,    /* the planner */
};

struct assess_error {
        enum assess_step step;
        char message[256]; /* ASSESS_STEP_REQUIRE: the bad token and why; else empty */
};

/* Assess the host at in->root into report (zeroed by the caller: static storage or calloc, so
 * that pages no probe writes stay untouched; see probe_run) and results (room for
 * REQUIREMENTS_MAX; may be NULL when nothing is judged). The order is probe, knobs, plan, lease
 * filter, then the requirements, so a failure never leaves results half written. On success
 * fills *ret (release it with assessment_done) and returns 0; on failure returns a negative
 * errno, closes what it opened, and says in *ret_error (may be NULL) which step failed. */
int assess(const struct assess_input *in, struct host_report *report,
           struct requirement_result *results, struct assessment *ret,
           struct assess_error *ret_error);

/* Close the probe context and free the plan (take the plan first to keep it). */
void assessment_done(struct assessment *as);

/* The one-line verdict the agent publishes (ReadinessChanged, ready.json, the log):
 * "ready: 3 of 3 requirements met", or "not ready: kvm (why); the policy wants 2 changes (first
 * step, ...)". Truncated to size; returns buf. */
char *assessment_reason(const struct assessment *as, char *buf, size_t size);
