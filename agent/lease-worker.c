/* SPDX-License-Identifier: MIT */
/* The leases' worker thread: what would hold the event loop for milliseconds or seconds (growing
 * a hugepage pool with the policy's reclaim strategy, a btrfs snapshot's transaction commit,
 * refilling the prepared set, removing a copied tree) runs here, one job at a time. A job gets
 * copies of everything it reads and touches nothing of the agent; its end is signalled through
 * an eventfd that the event loop watches (agent/apply.c does the same for applies). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "agent/lease.h"
#include "agent/log.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/journal.h"
#include "probes/probes.h"

/* How long a journaled job waits for another process (`hosttune apply`, `hosttune revert`) to
 * let go of the revert journal before it gives up. */
#define JOURNAL_WAIT_USEC (10 * USEC_PER_SEC)
#define JOURNAL_POLL_USEC (50 * USEC_PER_MSEC)

static bool job_journaled(const struct lease_job *job) {
        return job->kind == LEASE_JOB_RESIZE || job->kind == LEASE_JOB_REFILL;
}

void lease_job_free(struct lease_job *job) {
        if (!job)
                return;
        free(job->policy);
        free(job);
}

static int journal_open_waiting(const char *dir, struct journal **ret) {
        uint64_t waited = 0;

        for (;;) {
                int r = journal_open(dir, ret);
                if (r != -EBUSY || waited >= JOURNAL_WAIT_USEC)
                        return r;
                struct timespec ts = { .tv_nsec = (long) (JOURNAL_POLL_USEC * 1000) };
                nanosleep(&ts, NULL);
                waited += JOURNAL_POLL_USEC;
        }
}

static void on_progress(unsigned index, const struct plan_step *step, const char *status,
                        void *userdata) {
        (void) index;
        (void) step;
        (void) userdata;
        (void) sd_notifyf(0, "STATUS=Leases: %s", status);
}

static void run_resize(struct lease_job *job) {
        struct plan plan = { .n = 1, .steps = &job->step };
        struct apply_options o = { .root_fd = job->root_fd, .progress = on_progress };
        struct journal *j = NULL;

        job->r = journal_open_waiting(job->runtime_dir, &j);
        if (job->r < 0) {
                snprintf(job->res.message, sizeof(job->res.message),
                         "cannot open the revert journal in %s: %s%s", job->runtime_dir,
                         file_strerror(job->r),
                         job->r == -EBUSY ? " (another hosttune apply or revert holds it)" : "");
                job->res.outcome = STEP_FAILED;
                return;
        }
        job->r = apply_plan(&plan, j, &o, &job->res);
        journal_close(j);
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
                r = results ? journal_open_waiting(job->runtime_dir, &j) : -ENOMEM;
                if (r >= 0) {
                        r = apply_plan(&plan, j, &o, results);
                        journal_close(j);
                }
                for (unsigned i = 0; r >= 0 && i < plan.n; i++) {
                        if (plan.steps[i].manual)
                                continue;
                        if (step_outcome_fell_short(results[i].outcome)) {
                                job->short_steps++;
                                snprintf(job->res.message, sizeof(job->res.message), "%s",
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

static void run_job(struct lease_job *job) {
        switch (job->kind) {
        case LEASE_JOB_RESIZE:
                run_resize(job);
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

static void *worker_main(void *userdata) {
        struct lease_manager *m = userdata;
        uint64_t one = 1;

        pthread_mutex_lock(&m->lock);
        for (;;) {
                while (!m->stop && (!m->current || m->current_done))
                        pthread_cond_wait(&m->cond, &m->lock);
                if (m->stop)
                        break;
                struct lease_job *job = m->current;
                pthread_mutex_unlock(&m->lock);
                run_job(job);
                pthread_mutex_lock(&m->lock);
                m->current_done = true;
                if (write(m->event_fd, &one, sizeof(one)) < 0)
                        log_error("leases: cannot signal the end of a job: %m");
        }
        pthread_mutex_unlock(&m->lock);
        return NULL;
}

static int on_job_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct lease_manager *m = userdata;
        struct lease_job *job = NULL;
        uint64_t v;

        (void) s;
        (void) revents;
        (void) !read(fd, &v, sizeof(v));
        pthread_mutex_lock(&m->lock);
        if (m->current && m->current_done) {
                job = m->current;
                m->current = NULL;
                m->current_done = false;
        }
        pthread_mutex_unlock(&m->lock);
        if (!job)
                return 0;
        lease_job_finished(m, job);
        lease_job_free(job);
        lease_worker_kick(m);
        return 0;
}

int lease_worker_start(struct lease_manager *m) {
        int r;

        m->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->event_fd < 0)
                return negative_errno();
        r = sd_event_add_io(m->a->event, &m->event_source, m->event_fd, EPOLLIN, on_job_done, m);
        if (r < 0)
                return r;
        r = -pthread_create(&m->thread, NULL, worker_main, m);
        if (r < 0)
                return r;
        m->thread_started = true;
        return 0;
}

void lease_worker_stop(struct lease_manager *m) {
        if (m->thread_started) {
                /* A job that runs is finished first (a pool reservation is bounded by the
                 * policy's timeout; cutting it short would leave the pool between values). */
                pthread_mutex_lock(&m->lock);
                while (m->current && !m->current_done) {
                        pthread_mutex_unlock(&m->lock);
                        struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                        pthread_mutex_lock(&m->lock);
                }
                m->stop = true;
                pthread_cond_signal(&m->cond);
                pthread_mutex_unlock(&m->lock);
                pthread_join(m->thread, NULL);
                m->thread_started = false;
        }
        lease_job_free(m->current);
        m->current = NULL;
        while (m->pending) {
                struct lease_job *next = m->pending->next;
                lease_job_free(m->pending);
                m->pending = next;
        }
        m->pending_tail = NULL;
        m->event_source = sd_event_source_disable_unref(m->event_source);
        m->event_fd = safe_close(m->event_fd);
}

void lease_job_submit(struct lease_manager *m, struct lease_job *job) {
        job->next = NULL;
        job->root_fd = m->root_fd;
        if (m->pending_tail)
                m->pending_tail->next = job;
        else
                m->pending = job;
        m->pending_tail = job;
        lease_worker_kick(m);
}

bool lease_worker_journal_busy(const struct lease_manager *m) {
        return m && m->current && job_journaled(m->current);
}

/* May job run now? A journaled job waits for the first apply, for a running apply and for the
 * applies that waited for an earlier lease job (they go first: an apply plans from a probe
 * that a pool resize in between would make stale). */
static bool job_may_run(const struct lease_manager *m, const struct lease_job *job) {
        const struct agent *a = m->a;

        if (!job_journaled(job))
                return true;
        return a->started && !a->apply && a->n_deferred_applies == 0 && !a->stopping;
}

void lease_worker_kick(struct lease_manager *m) {
        struct lease_job *prev = NULL, *job;

        if (!m->thread_started || m->current)
                return;
        for (job = m->pending; job; prev = job, job = job->next)
                if (job_may_run(m, job))
                        break;
        if (!job)
                return;
        if (prev)
                prev->next = job->next;
        else
                m->pending = job->next;
        if (m->pending_tail == job)
                m->pending_tail = prev;
        job->next = NULL;
        pthread_mutex_lock(&m->lock);
        m->current = job;
        m->current_done = false;
        pthread_cond_signal(&m->cond);
        pthread_mutex_unlock(&m->lock);
}
