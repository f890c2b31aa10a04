/* SPDX-License-Identifier: MIT */
/* Unit tests for the agent's work queue (agent/queue.c), with a real sd_event loop and the real
 * worker thread: jobs run one at a time in submission order on a thread that is not the event
 * loop's, their done() callbacks come in the same order on the event loop's thread, a job that
 * done() submits runs after it, start() can spare a job its run, the revert journal is open
 * (its lock held, as a second journal_open() finds) exactly while a journaled job runs or after a
 * job asked for it while running, a job waits while someone else holds the journal, and freeing or
 * closing the queue cancels what did not run. Nothing here measures time. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <systemd/sd-event.h>

#include "agent/queue.h"
#include "lib/fileio.h"
#include "lib/util.h"
#include "policies/apply/journal.h"

#define MAX_JOBS 16

/* The queue never looks into its agent: the tests' own bookkeeping stands in for it. */
struct agent {
        sd_event *event;
        struct work_queue *q;
        char dir[64];
        pthread_t loop_thread;

        pthread_mutex_t lock; /* the fields run() writes */
        int ran[MAX_JOBS];
        unsigned n_ran;
        int active, max_active;
        bool run_on_loop_thread;

        int done[MAX_JOBS];
        unsigned n_done;
        int cancelled[MAX_JOBS];
        unsigned n_cancelled;
        unsigned n_freed;
        unsigned n_expected; /* done() calls after which the loop ends */
        bool done_off_loop_thread;
};

struct test_job {
        struct job job;
        struct agent *a;
        int id;
        int start_ret;         /* what start() returns */
        struct test_job *then; /* submitted by done() */
        bool on_demand;        /* run() asks for the journal (job_journal) */
        bool had_journal;      /* run() was given one, or got it asking */
        int second_open;       /* journal_open() of the same directory from run() */
};

static int tj_start(struct agent *a, struct job *j) {
        (void) a;
        return container_of(j, struct test_job, job)->start_ret;
}

static void tj_run(struct job *j, struct journal *journal) {
        struct test_job *job = container_of(j, struct test_job, job);
        struct agent *a = job->a;
        struct journal *other = NULL;

        pthread_mutex_lock(&a->lock);
        a->active++;
        if (a->active > a->max_active)
                a->max_active = a->active;
        if (pthread_equal(pthread_self(), a->loop_thread))
                a->run_on_loop_thread = true;
        pthread_mutex_unlock(&a->lock);

        if (job->on_demand && job_journal(j, &journal) < 0)
                journal = NULL;
        job->had_journal = journal != NULL;
        /* A second open description of the journal conflicts with the queue's lock. */
        job->second_open = journal_open(a->dir, &other);
        journal_close(other);
        /* Give a job that was wrongly started beside this one the chance to show. */
        usleep(2000);

        pthread_mutex_lock(&a->lock);
        a->ran[a->n_ran++] = job->id;
        a->active--;
        pthread_mutex_unlock(&a->lock);
}

static void tj_done(struct agent *a, struct job *j) {
        struct test_job *job = container_of(j, struct test_job, job);

        if (!pthread_equal(pthread_self(), a->loop_thread))
                a->done_off_loop_thread = true;
        a->done[a->n_done++] = job->id;
        if (job->then) {
                work_queue_submit(a->q, &job->then->job);
                job->then = NULL;
        }
        if (a->n_done == a->n_expected)
                (void) sd_event_exit(a->event, 0);
}

static void tj_cancel(struct agent *a, struct job *j) {
        a->cancelled[a->n_cancelled++] = container_of(j, struct test_job, job)->id;
}

static void tj_free(struct job *j) {
        struct test_job *job = container_of(j, struct test_job, job);

        job->a->n_freed++;
        free(job->then);
        free(job);
}

#define TEST_JOB_TYPE(n, j, d)                                                                     \
        {                                                                                          \
                .name = (n), .journaled = (j), .start = tj_start, .run = tj_run, .done = (d),      \
                .cancel = tj_cancel, .free = tj_free,                                              \
        }

static const struct job_type plain_type = TEST_JOB_TYPE("test", false, tj_done);
static const struct job_type journaled_type = TEST_JOB_TYPE("test journaled", true, tj_done);

/* The outcomes the tests look at after the jobs were freed. */
static struct {
        bool had_journal[MAX_JOBS];
        int second_open[MAX_JOBS];
        int error[MAX_JOBS];
} seen;

static void record_done(struct agent *a, struct job *j) {
        struct test_job *job = container_of(j, struct test_job, job);

        seen.had_journal[job->id] = job->had_journal;
        seen.second_open[job->id] = job->second_open;
        seen.error[job->id] = j->error;
        tj_done(a, j);
}

static const struct job_type recorded_plain_type = TEST_JOB_TYPE("recorded", false, record_done);
static const struct job_type recorded_journaled_type =
        TEST_JOB_TYPE("recorded journaled", true, record_done);

static struct test_job *new_job(struct agent *a, const struct job_type *type, int id) {
        struct test_job *job = calloc(1, sizeof(*job));

        assert_non_null(job);
        job->job.type = type;
        job->a = a;
        job->id = id;
        job->start_ret = 1;
        job->second_open = 1; /* not set by run() */
        return job;
}

static int setup(void **state) {
        struct agent *a = calloc(1, sizeof(*a));

        assert_non_null(a);
        strscpy(a->dir, sizeof(a->dir), "/tmp/hosttune-test-queue-XXXXXX");
        assert_non_null(mkdtemp(a->dir));
        pthread_mutex_init(&a->lock, NULL);
        a->loop_thread = pthread_self();
        assert_int_equal(sd_event_new(&a->event), 0);
        assert_int_equal(work_queue_new(a, a->event, a->dir, &a->q), 0);
        memset(&seen, 0, sizeof(seen));
        *state = a;
        return 0;
}

static int teardown(void **state) {
        struct agent *a = *state;
        char cmd[128];

        work_queue_free(a->q);
        sd_event_unref(a->event);
        pthread_mutex_destroy(&a->lock);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", a->dir);
        assert_int_equal(system(cmd), 0);
        free(a);
        return 0;
}

static void run_loop(struct agent *a) {
        assert_int_equal(sd_event_loop(a->event), 0);
}

/* Jobs run in submission order, never two at once, off the loop's thread; done() follows on the
 * loop's thread in the same order. */
static void test_order(void **state) {
        struct agent *a = *state;
        const unsigned n = 8;

        a->n_expected = n;
        for (unsigned i = 0; i < n; i++)
                work_queue_submit(a->q,
                                  &new_job(a, i % 2 ? &journaled_type : &plain_type, (int) i)->job);
        assert_true(work_queue_busy(a->q));
        assert_int_equal(work_queue_count(a->q, &plain_type), n / 2);
        assert_int_equal(work_queue_count(a->q, &journaled_type), n / 2);
        run_loop(a);
        assert_int_equal(a->n_ran, n);
        assert_int_equal(a->n_done, n);
        for (unsigned i = 0; i < n; i++) {
                assert_int_equal(a->ran[i], (int) i);
                assert_int_equal(a->done[i], (int) i);
        }
        assert_int_equal(a->max_active, 1);
        assert_false(a->run_on_loop_thread);
        assert_false(a->done_off_loop_thread);
        assert_int_equal(a->n_freed, n);
        assert_false(work_queue_busy(a->q));
        assert_int_equal(work_queue_count(a->q, &plain_type), 0);
}

/* The journal is open only for journaled jobs: a second open meanwhile is refused (-EBUSY), and
 * succeeds from a plain job's run. */
static void test_journal(void **state) {
        struct agent *a = *state;

        a->n_expected = 3;
        work_queue_submit(a->q, &new_job(a, &recorded_plain_type, 0)->job);
        work_queue_submit(a->q, &new_job(a, &recorded_journaled_type, 1)->job);
        work_queue_submit(a->q, &new_job(a, &recorded_plain_type, 2)->job);
        run_loop(a);
        assert_false(seen.had_journal[0]);
        assert_int_equal(seen.second_open[0], 0);
        assert_true(seen.had_journal[1]);
        assert_int_equal(seen.second_open[1], -EBUSY);
        assert_false(seen.had_journal[2]);
        assert_int_equal(seen.second_open[2], 0);
        for (int i = 0; i < 3; i++)
                assert_int_equal(seen.error[i], 0);
}

/* A plain job that asks for the journal while it runs gets it, locked as for a journaled one, and
 * the queue closes it after the run: the event loop can open it then. */
static void test_journal_on_demand(void **state) {
        struct agent *a = *state;
        struct test_job *job = new_job(a, &recorded_plain_type, 0);
        struct journal *j = NULL;

        job->on_demand = true;
        a->n_expected = 1;
        work_queue_submit(a->q, &job->job);
        run_loop(a);
        assert_true(seen.had_journal[0]);
        assert_int_equal(seen.second_open[0], -EBUSY);
        assert_int_equal(journal_open(a->dir, &j), 0);
        journal_close(j);
}

static struct journal *held;

static int on_let_go(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        (void) userdata;
        journal_close(held);
        held = NULL;
        return 0;
}

/* While another holder has the journal, a journaled job waits for it instead of failing. */
static void test_journal_wait(void **state) {
        struct agent *a = *state;

        assert_int_equal(journal_open(a->dir, &held), 0);
        a->n_expected = 1;
        work_queue_submit(a->q, &new_job(a, &recorded_journaled_type, 0)->job);
        assert_int_equal(sd_event_add_time_relative(a->event, NULL, CLOCK_MONOTONIC, 200 * 1000, 0,
                                                    on_let_go, NULL),
                         0);
        run_loop(a);
        assert_null(held);
        assert_int_equal(seen.error[0], 0);
        assert_true(seen.had_journal[0]);
        assert_int_equal(a->n_ran, 1);
}

/* A job done() submits runs after the jobs submitted before it. */
static void test_submit_from_done(void **state) {
        struct agent *a = *state;
        struct test_job *first = new_job(a, &plain_type, 0);

        first->then = new_job(a, &journaled_type, 2);
        a->n_expected = 3;
        work_queue_submit(a->q, &first->job);
        work_queue_submit(a->q, &new_job(a, &plain_type, 1)->job);
        run_loop(a);
        assert_int_equal(a->n_done, 3);
        for (int i = 0; i < 3; i++) {
                assert_int_equal(a->ran[i], i);
                assert_int_equal(a->done[i], i);
        }
}

/* start() == 0: nothing to run, done() at once (while the queue is idle, before submit
 * returns); start() < 0: done() sees the error. Neither reaches the worker. */
static void test_start_skips(void **state) {
        struct agent *a = *state;
        struct test_job *none = new_job(a, &recorded_plain_type, 0),
                        *bad = new_job(a, &recorded_journaled_type, 1);

        none->start_ret = 0;
        bad->start_ret = -ENOENT;
        a->n_expected = 3;
        work_queue_submit(a->q, &none->job);
        assert_int_equal(a->n_done, 1);
        work_queue_submit(a->q, &bad->job);
        assert_int_equal(a->n_done, 2);
        assert_int_equal(seen.error[1], -ENOENT);
        work_queue_submit(a->q, &new_job(a, &recorded_plain_type, 2)->job);
        run_loop(a);
        assert_int_equal(a->n_ran, 1);
        assert_int_equal(a->ran[0], 2);
        assert_int_equal(a->done[2], 2);
        assert_false(seen.had_journal[1]);
}

/* Freeing the queue lets the job the worker has end, then cancels it (its done() never ran)
 * and every job whose turn did not come, closed-out ones included. */
static void test_cancel_on_free(void **state) {
        struct agent *a = *state;

        for (int i = 0; i < 3; i++)
                work_queue_submit(a->q, &new_job(a, &plain_type, i)->job);
        work_queue_close(a->q);
        work_queue_submit(a->q, &new_job(a, &plain_type, 3)->job);
        work_queue_free(a->q);
        a->q = NULL;
        assert_int_equal(a->n_ran, 1);
        assert_int_equal(a->ran[0], 0);
        assert_int_equal(a->n_done, 0);
        assert_int_equal(a->n_cancelled, 4);
        assert_int_equal(a->cancelled[0], 0);
        assert_int_equal(a->n_freed, 4);
}

/* After work_queue_cancel_pending() and close, only the job under way and the ones submitted
 * between the two run. */
static void test_cancel_pending_close(void **state) {
        struct agent *a = *state;

        for (int i = 0; i < 3; i++)
                work_queue_submit(a->q, &new_job(a, &plain_type, i)->job);
        work_queue_cancel_pending(a->q);
        assert_int_equal(a->n_cancelled, 2);
        work_queue_submit(a->q, &new_job(a, &plain_type, 4)->job);
        work_queue_close(a->q);
        work_queue_submit(a->q, &new_job(a, &plain_type, 5)->job);
        a->n_expected = 2;
        run_loop(a);
        assert_int_equal(a->n_ran, 2);
        assert_int_equal(a->ran[0], 0);
        assert_int_equal(a->ran[1], 4);
        assert_int_equal(a->done[1], 4);
        work_queue_free(a->q);
        a->q = NULL;
        assert_int_equal(a->n_cancelled, 3);
        assert_int_equal(a->cancelled[2], 5);
        assert_int_equal(a->n_freed, 5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_order, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_wait, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_on_demand, setup, teardown),
                cmocka_unit_test_setup_teardown(test_submit_from_done, setup, teardown),
                cmocka_unit_test_setup_teardown(test_start_skips, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_on_free, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_pending_close, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
