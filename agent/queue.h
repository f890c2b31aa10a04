/* SPDX-License-Identifier: MIT */
/* The agent's one work queue (docs/dbus-api.md, "The work queue"): every job that changes the host
 * (an apply, a revert, growing or shrinking a hugepage pool for leases, refilling the prepared
 * snapshots, taking or removing a lease's snapshot) runs here, one at a time, in the order it
 * was submitted, on at most one worker thread, while the event loop keeps answering the bus.
 * The queue owns the revert journal: it opens it on the worker for the jobs whose type says so
 * and hands it to their run(); nothing else in the agent opens it. In the manner of tmux's job.c
 * the submitter hands over a job with its completion callback and forgets it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <systemd/sd-event.h>

/* The struct of a kind of job from its struct job (or any member from its struct). */
#define container_of(ptr, type, member)                                                            \
        ((type *) (void *) ((char *) (ptr) - (size_t) offsetof(type, member)))

struct agent;
struct journal;
struct job;

/* What a kind of job does at each stage. Only run() runs on the worker thread. */
struct job_type {
        const char *name; /* for the log: "apply", "lease resize" */
        /* run() gets the revert journal, opened by the queue before and closed after it. A job
         * that knows only while it runs whether it will change anything (a refill that probes
         * first) is not journaled and calls job_journal() when it needs the journal. */
        bool journaled;
        /* On the event loop when the job's turn comes (the jobs before it ended), before run():
         * what must be current when the job starts (a probe and the plan from it). Returns > 0
         * to go on with run(), 0 when there is nothing to run, or a negative errno (put in
         * job->error); in both of the latter done() follows at once. NULL: go on with run(). */
        int (*start)(struct agent *a, struct job *job);
        /* On the worker thread: touches only the job (copies of what it reads, its results).
         * journal is the open revert journal for a journaled type, NULL otherwise. NULL: the
         * job has nothing to run off the event loop (done() follows start()). */
        void (*run)(struct job *job, struct journal *journal);
        /* On the event loop after the job ended, in submission order: the reporting (bus
         * replies, LastError, stats, signals, outputs). May submit further jobs. */
        void (*done)(struct agent *a, struct job *job);
        /* The queue goes away before the job's turn came, or before its done() ran: answer who
         * waits for it (optional). */
        void (*cancel)(struct agent *a, struct job *job);
        void (*free)(struct job *job);
};

/* The head of every job, embedded in the struct of its kind (container_of). */
struct job {
        const struct job_type *type;
        struct job *next;
        /* Why the job did not run: start() failed, or the journal could not be opened (its
         * message in error_message then). 0 when it ran or had nothing to run. */
        int error;
        char error_message[400];
        /* The queue's: the journal open for this job's run, closed when run() returned. */
        struct journal *journal;
        const char *journal_dir;
};

/* From run(): the revert journal, opened now (waiting up to 10 s while another process holds
 * it) unless it is open for this job already; the queue closes it when run() returned. Returns
 * 0, or a negative errno with job->error_message saying why. */
int job_journal(struct job *job, struct journal **ret);

struct work_queue;

/* A queue whose done() and start() callbacks get a, whose journal is <runtime_dir>/journal.json,
 * watched by event (the worker signals the end of a job through an eventfd). Starts the worker
 * thread. */
int work_queue_new(struct agent *a, sd_event *event, const char *runtime_dir,
                   struct work_queue **ret);

/* Wait for the job that runs on the worker (a pool reservation is bounded by the policy's
 * timeout; cutting it short would leave the pool between values), stop the worker, cancel and
 * free every job whose done() did not run. Accepts NULL. */
void work_queue_free(struct work_queue *q);

/* Queue job (taken over) behind every job submitted before it. When the queue is idle its turn
 * comes at once: start() and, when that finds nothing to run, done() may run before this
 * returns, so set up what they look at first. */
void work_queue_submit(struct work_queue *q, struct job *job);

/* Cancel and free the jobs whose turn has not come (the job that runs goes on). */
void work_queue_cancel_pending(struct work_queue *q);

/* The jobs submitted from now on never start (cancelled when the queue is freed); the ones
 * already submitted still run. For the stop: its last jobs are submitted, then the queue is
 * closed. */
void work_queue_close(struct work_queue *q);

/* Is a job under way (started, its done() not ended)? */
bool work_queue_busy(const struct work_queue *q);

/* The job under way, NULL when idle. */
const struct job *work_queue_current(const struct work_queue *q);

/* How many jobs of type are under way or waiting for their turn. */
unsigned work_queue_count(const struct work_queue *q, const struct job_type *type);
