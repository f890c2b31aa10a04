/* SPDX-License-Identifier: MIT */
/* The leases' jobs on the agent's work queue (agent/queue.h): what would hold the event loop for
 * milliseconds or seconds (growing a hugepage pool with the policy's reclaim strategy, a btrfs
 * snapshot's transaction commit, refilling the prepared set, removing a copied tree). A job gets
 * copies of everything it reads and touches nothing of the agent while it runs; its end is
 * reported to agent/lease-provision.c (lease_job_finished) on the event loop. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "assess/assess.h"
#include "agent/lease.h"
#include "agent/log.h"
#include "agent/queue.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/journal.h"
#include "probes/probes.h"

static void on_progress(unsigned index, const struct plan_step *step, const char *status,
                        void *userdata) {
        (void) index;
        (void) step;
        (void) userdata;
        (void) sd_notifyf(0, "STATUS=Leases: %s", status);
}

static void run_resize(struct lease_job *job, struct journal *j) {
        struct plan plan = { .n = 1, .steps = &job->step };
        struct apply_options o = { .root_fd = job->root_fd, .progress = on_progress };

        job->r = apply_plan(&plan, j, &o, &job->res);
}

static void run_refill(struct lease_job *job) {
        struct apply_options o = { .root_fd = job->root_fd, .progress = on_progress };
        struct assess_input in = { .policy = job->policy,
                                   .probes = PROBE_MASK(PROBE_BTRFS),
                                   .plan = ASSESS_PLAN_SNAPSHOT_REFILL };
        struct step_result *results = NULL;
        struct host_report *report = NULL;
        struct assessment as = { .ctx = { .root_fd = -1 } };
        struct plan plan = { 0 };
        struct journal *j = NULL;
        int r;

        /* What is missing now, counted afresh: leases may have taken more since this job was
         * asked for, and an apply may have refilled already. */
        report = calloc(1, sizeof(*report));
        r = report ? assess(&in, report, NULL, &as, NULL) : -ENOMEM;
        if (r >= 0) {
                plan = as.plan;
                as.plan = (struct plan){ 0 };
        }
        if (r >= 0 && plan_count_automatic(&plan) > 0) {
                results = calloc(plan.n, sizeof(*results));
                /* The journal only when there is something to make: a refill that finds the set
                 * full does not wait for another process's `hosttune apply`. */
                r = results ? job_journal(&job->job, &j) : -ENOMEM;
                if (r >= 0)
                        r = apply_plan(&plan, j, &o, results);
                for (unsigned i = 0; r >= 0 && i < plan.n; i++) {
                        if (plan.steps[i].manual)
                                continue;
                        if (step_outcome_fell_short(results[i].outcome)) {
                                job->short_steps++;
                                bufprintf_trunc(job->res.message, sizeof(job->res.message), "%s",
                                                results[i].message);
                        } else
                                job->made++;
                }
        }
        job->r = r;
        free(results);
        plan_free(&plan);
        assessment_done(&as);
        free(report);
}

static void lease_job_run(struct job *j, struct journal *journal) {
        struct lease_job *job = container_of(j, struct lease_job, job);

        switch (job->kind) {
        case LEASE_JOB_RESIZE:
                run_resize(job, journal);
                break;
        case LEASE_JOB_REFILL:
                run_refill(job);
                break;
        case LEASE_JOB_SNAPSHOT:
                job->r = snapshot_lease_make(job->root_fd, job->root, job->tmpl, job->id, job->uid,
                                             job->gid, &job->dir);
                break;
        case LEASE_JOB_DELETE:
                job->r = snapshot_lease_delete(job->root_fd, job->root, job->id);
                break;
        }
}

static void lease_job_done(struct agent *a, struct job *j) {
        struct lease_job *job = container_of(j, struct lease_job, job);

        (void) a;
        if (j->error < 0) {
                /* The journal could not be had: the job did not run. */
                job->r = j->error;
                job->res.outcome = STEP_FAILED;
                strscpy(job->res.message, sizeof(job->res.message), j->error_message);
        }
        if (job->kind == LEASE_JOB_REFILL)
                job->m->snapshots.refill_jobs--;
        lease_job_finished(job->m, job);
}

static void lease_job_free_job(struct job *j) {
        lease_job_free(container_of(j, struct lease_job, job));
}

void lease_job_free(struct lease_job *job) {
        if (!job)
                return;
        free(job->policy);
        free(job);
}

/* Growing and shrinking a pool and refilling the prepared set change what `hosttune revert`
 * restores: journaled (a refill opens the journal once it found something to make). */
#define LEASE_JOB_TYPE(n, j)                                                                       \
        {                                                                                          \
                .name = (n), .journaled = (j), .run = lease_job_run, .done = lease_job_done,       \
                .free = lease_job_free_job,                                                        \
        }
static const struct job_type lease_job_types[] = {
        [LEASE_JOB_RESIZE] = LEASE_JOB_TYPE("lease resize", true),
        [LEASE_JOB_REFILL] = LEASE_JOB_TYPE("lease refill", false), /* job_journal() */
        [LEASE_JOB_SNAPSHOT] = LEASE_JOB_TYPE("lease snapshot", false),
        [LEASE_JOB_DELETE] = LEASE_JOB_TYPE("lease delete", false),
};

void lease_job_submit(struct lease_manager *m, struct lease_job *job) {
        job->job.type = &lease_job_types[job->kind];
        job->m = m;
        job->root_fd = m->root_fd;
        if (job->kind == LEASE_JOB_REFILL)
                m->snapshots.refill_jobs++;
        work_queue_submit(m->a->queue, &job->job);
}

/* ---- waking the request queue after an apply ---- */

static void wake_done(struct agent *a, struct job *job) {
        struct lease_manager *m = a->lease.mgr;

        (void) job;
        if (!m)
                return;
        m->requests.wake_queued = false;
        lease_manager_run_queue(m);
}

static void wake_free(struct job *job) {
        free(job);
}

/* Nothing to run: its done() comes when the jobs before it ended. */
static const struct job_type wake_job_type = {
        .name = "lease wake",
        .done = wake_done,
        .free = wake_free,
};

void lease_wake_after_work(struct lease_manager *m) {
        struct job *job;

        if (m->requests.wake_queued)
                return;
        job = calloc(1, sizeof(*job));
        if (!job)
                return; /* the wait timer looks again later */
        job->type = &wake_job_type;
        m->requests.wake_queued = true;
        work_queue_submit(m->a->queue, job);
}
