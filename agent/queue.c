/* SPDX-License-Identifier: MIT */
/* The agent's one work queue: a FIFO of jobs, the one worker thread that runs them one at a
 * time, and the revert journal it opens for them (agent/queue.h). The worker is handed one job
 * under a lock and signals its end through an eventfd the event loop watches; everything else
 * here runs on the event loop's thread. */
#include "agent/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/log.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/journal.h"

/* How long a journaled job waits for another process (`hosttune apply`, `hosttune revert`) to
 * let go of the revert journal before it gives up. */
#define JOURNAL_WAIT_USEC (10 * USEC_PER_SEC)
#define JOURNAL_POLL_USEC (50 * USEC_PER_MSEC)

struct work_queue {
        struct agent *agent;
        char *runtime_dir;

        struct job *pending, *pending_tail; /* their turn has not come */
        struct job *current;                /* under way: started, its done() not ended */
        struct job *orphans;                /* submitted after close: never started */
        bool dispatching;                   /* in dispatch(): a submit only queues */
        bool closed;

        pthread_t thread;
        bool thread_started;
        int event_fd;
        sd_event_source *event_source;
        /* Shared with the worker, under lock. */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct job *handed;   /* for the worker to run */
        struct job *finished; /* run by the worker, for the event loop to end */
        bool stop;
};

/* journal_open_diag, waiting while another process holds the journal; on failure a message for
 * job->error_message. */
static int journal_open_waiting(const char *dir, struct journal **ret, char *msg, size_t size) {
        uint64_t waited = 0;
        char why[256] = "";
        int r;

        for (;;) {
                r = journal_open_diag(dir, ret, why, sizeof(why));
                if (r != -EBUSY || waited >= JOURNAL_WAIT_USEC)
                        break;
                struct timespec ts = { .tv_nsec = (long) (JOURNAL_POLL_USEC * 1000) };
                nanosleep(&ts, NULL);
                waited += JOURNAL_POLL_USEC;
        }
        if (r >= 0)
                return r;
        if (!isempty(why))
                bufprintf_trunc(msg, size, "the revert journal %s/%s: %s", dir, JOURNAL_FILE_NAME,
                                why);
        else
                bufprintf_trunc(msg, size, "cannot open the revert journal in %s: %s%s", dir,
                                file_strerror(r),
                                r == -EBUSY ? " (another hosttune apply or revert holds it)" : "");
        return r;
}

int job_journal(struct job *job, struct journal **ret) {
        int r;

        if (!job->journal) {
                r = journal_open_waiting(job->journal_dir, &job->journal, job->error_message,
                                         sizeof(job->error_message));
                if (r < 0)
                        return r;
        }
        *ret = job->journal;
        return 0;
}

/* On the worker: one job, with the journal around it when its type asks for one. */
static void run_job(struct work_queue *q, struct job *job) {
        struct journal *j = NULL;

        job->journal_dir = q->runtime_dir;
        if (job->type->journaled) {
                job->error = job_journal(job, &j);
                if (job->error < 0)
                        return;
        }
        job->type->run(job, j);
        /* Closed at once: `hosttune revert` may run while the event loop reports. */
        journal_close(TAKE_PTR(job->journal));
}

static void *worker_main(void *userdata) {
        struct work_queue *q = userdata;
        uint64_t one = 1;

        pthread_mutex_lock(&q->lock);
        for (;;) {
                while (!q->stop && !q->handed)
                        pthread_cond_wait(&q->cond, &q->lock);
                if (!q->handed)
                        break;
                struct job *job = TAKE_PTR(q->handed);
                pthread_mutex_unlock(&q->lock);
                run_job(q, job);
                pthread_mutex_lock(&q->lock);
                q->finished = job;
                if (write(q->event_fd, &one, sizeof(one)) < 0)
                        log_error("work queue: cannot signal the end of a job: %m");
        }
        pthread_mutex_unlock(&q->lock);
        return NULL;
}

static void job_free(struct job *job) {
        if (job)
                job->type->free(job);
}

static void job_cancel(struct work_queue *q, struct job *job) {
        if (job->type->cancel)
                job->type->cancel(q->agent, job);
        job_free(job);
}

/* The current job ended: report, free, and let the next one come. */
static void end_current(struct work_queue *q) {
        struct job *job = q->current;

        job->type->done(q->agent, job);
        q->current = NULL;
        job_free(job);
}

/* Start the jobs whose turn came: those with nothing to run off the event loop end here, the
 * first one that has goes to the worker. */
static void dispatch(struct work_queue *q) {
        if (q->dispatching)
                return;
        q->dispatching = true;
        while (!q->current && q->pending) {
                struct job *job = q->pending;
                int r;

                q->pending = job->next;
                if (!q->pending)
                        q->pending_tail = NULL;
                job->next = NULL;
                q->current = job;
                r = job->type->start ? job->type->start(q->agent, job) : 1;
                if (r < 0)
                        job->error = r;
                if (r > 0 && job->type->run) {
                        pthread_mutex_lock(&q->lock);
                        q->handed = job;
                        pthread_cond_signal(&q->cond);
                        pthread_mutex_unlock(&q->lock);
                        break;
                }
                end_current(q);
        }
        q->dispatching = false;
}

static int on_job_finished(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct work_queue *q = userdata;
        struct job *job;
        uint64_t v;

        (void) s;
        (void) revents;
        (void) !read(fd, &v, sizeof(v));
        pthread_mutex_lock(&q->lock);
        job = TAKE_PTR(q->finished);
        pthread_mutex_unlock(&q->lock);
        if (!job)
                return 0;
        end_current(q);
        dispatch(q);
        return 0;
}

int work_queue_new(struct agent *a, sd_event *event, const char *runtime_dir,
                   struct work_queue **ret) {
        struct work_queue *q = calloc(1, sizeof(*q));
        int r;

        if (!q)
                return -ENOMEM;
        q->agent = a;
        q->event_fd = -1;
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->cond, NULL);
        q->runtime_dir = strdup(runtime_dir);
        if (!q->runtime_dir) {
                r = -ENOMEM;
                goto fail;
        }
        q->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (q->event_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = sd_event_add_io(event, &q->event_source, q->event_fd, EPOLLIN, on_job_finished, q);
        if (r < 0)
                goto fail;
        r = -pthread_create(&q->thread, NULL, worker_main, q);
        if (r < 0)
                goto fail;
        q->thread_started = true;
        *ret = q;
        return 0;
fail:
        work_queue_free(q);
        return r;
}

static void cancel_list(struct work_queue *q, struct job **list) {
        while (*list) {
                struct job *job = *list;
                *list = job->next;
                job_cancel(q, job);
        }
}

void work_queue_free(struct work_queue *q) {
        if (!q)
                return;
        if (q->thread_started) {
                pthread_mutex_lock(&q->lock);
                q->stop = true;
                pthread_cond_signal(&q->cond);
                pthread_mutex_unlock(&q->lock);
                /* The worker ends the job it runs first. */
                pthread_join(q->thread, NULL);
        }
        /* What ran but was not reported, what was handed over but not run, and everything
         * whose turn did not come: answered by cancel(). */
        if (q->current)
                job_cancel(q, TAKE_PTR(q->current));
        cancel_list(q, &q->pending);
        cancel_list(q, &q->orphans);
        sd_event_source_disable_unref(q->event_source);
        safe_close(q->event_fd);
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->cond);
        free(q->runtime_dir);
        free(q);
}

void work_queue_submit(struct work_queue *q, struct job *job) {
        job->next = NULL;
        if (q->closed) {
                job->next = q->orphans;
                q->orphans = job;
                return;
        }
        if (q->pending_tail)
                q->pending_tail->next = job;
        else
                q->pending = job;
        q->pending_tail = job;
        dispatch(q);
}

void work_queue_cancel_pending(struct work_queue *q) {
        cancel_list(q, &q->pending);
        q->pending_tail = NULL;
}

void work_queue_close(struct work_queue *q) {
        q->closed = true;
}

bool work_queue_busy(const struct work_queue *q) {
        return q && q->current;
}

const struct job *work_queue_current(const struct work_queue *q) {
        return q ? q->current : NULL;
}

unsigned work_queue_count(const struct work_queue *q, const struct job_type *type) {
        unsigned n = 0;

        if (!q)
                return 0;
        n += q->current && q->current->type == type;
        for (const struct job *j = q->pending; j; j = j->next)
                n += j->type == type;
        return n;
}
