/* SPDX-License-Identifier: MIT */
/* The jobs that bring the host to the policy or back: an apply (at start, after a reload, for
 * Apply(), after drift) and a revert, run on the agent's work queue (agent/queue.h), since
 * reserving hugepages can take the policy's whole timeout (30 s by default) and the bus must
 * keep answering Check meanwhile. A reload is an apply job that first loads the policy file, on
 * the event loop when its turn comes: a Reload() that arrives while earlier work is under way
 * reads the file as it is once that ended, and its call is answered by that job. */
#include "agent/apply.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/check-facts.h"
#include "agent/log.h"
#include "agent/queue.h"
#include "lib/fileio.h"
#include "lib/util.h"
#include "policies/apply/apply.h"
#include "policies/apply/apply-json.h"
#include "policies/apply/hugepages.h"
#include "policies/apply/journal.h"
#include "policies/plan-json.h"
#include "policies/plan.h"

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

/* An apply's plan and outcome: what GetReport shows as the last apply. */
struct apply_run {
        struct plan plan;
        struct step_result *results;
        int ret; /* of apply_plan: steps that fell short, or a negative errno */
        uint64_t start_usec, duration_usec;
        uint64_t start_realtime_usec;
};

/* Reload() calls waiting for their answer. */
struct reload_calls {
        sd_bus_message **calls;
        unsigned n;
};

struct apply_job {
        struct job job;
        enum apply_cause cause;
        sd_bus_message *reply_to;  /* METHOD: the Apply(false) call */
        struct reload_calls calls; /* RELOAD: the Reload() calls it answers */
        bool rejected;             /* RELOAD: the policy file was refused, why in message */
        bool quiet;                /* DRIFT: nothing to re-apply; no report, no last apply */
        char message[1024];
        int root_fd;
        struct apply_run *run;
};

struct revert_job {
        struct job job;
        sd_bus_message *reply_to; /* Revert(), or NULL (revert-on-stop) */
        bool reverted;            /* apply_revert ran (root_fd could be opened) */
        int ret;                  /* of apply_revert, or a negative errno */
        char message[512];        /* why it failed */
};

static void apply_run_free(struct apply_run *run) {
        if (!run)
                return;
        plan_free(&run->plan);
        free(run->results);
        free(run);
}

/* The document of `hosttune apply --json` (schema hosttune.apply/1) plus what the agent knows
 * about the run: generation, start time, duration. run NULL: a dry run of plan. */
static json_object *apply_document(const struct agent *a, const struct plan *plan,
                                   const struct step_result *results, const struct apply_run *run,
                                   int fell_short) {
        json_object *doc = json_object_new_object(), *pol = json_object_new_object();

        if (!doc || !pol) {
                json_object_put(doc);
                json_object_put(pol);
                return NULL;
        }
        json_object_object_add(doc, "schema", json_object_new_string("hosttune.apply/1"));
        json_object_object_add(doc, "version", json_object_new_string(HOSTTUNE_VERSION));
        json_object_object_add(pol, "name", json_object_new_string(a->props.policy_name));
        json_object_object_add(pol, "file", json_object_new_string(a->props.policy_path));
        json_object_object_add(doc, "policy", pol);
        json_object_object_add(doc, "dry_run", json_object_new_boolean(run == NULL));
        json_object_object_add(doc, "plan", plan_to_json(plan));
        json_object_object_add(doc, "results", step_results_to_json(plan, results));
        json_object_object_add(doc, "fell_short", json_object_new_int(fell_short));
        json_object_object_add(doc, "generation", json_object_new_uint64(a->props.generation));
        if (run) {
                json_object_object_add(doc, "started_realtime_usec",
                                       json_object_new_uint64(run->start_realtime_usec));
                json_object_object_add(doc, "duration_usec",
                                       json_object_new_uint64(run->duration_usec));
                json_object_object_add(doc, "journal_error",
                                       json_object_new_int(run->ret < 0 ? run->ret : 0));
        }
        return doc;
}

static int fell_short(const struct apply_run *run) {
        int n = 0;

        for (unsigned i = 0; i < run->plan.n; i++)
                n += step_outcome_fell_short(run->results[i].outcome);
        return n;
}

json_object *agent_apply_last_json(struct agent *a) {
        const struct apply_run *run = a->apply.last;

        if (!run)
                return NULL;
        return apply_document(a, &run->plan, run->results, run, fell_short(run));
}

int agent_plan_json(struct agent *a, json_object **ret) {
        struct step_result *results;
        struct apply_options o = { .dry_run = true };
        json_object *doc;
        int r;

        /* agent_reprobe plans too: a->verdict.as.plan is the plan for the host as it is now. */
        r = agent_reprobe(a, "plan");
        if (r < 0)
                return r;
        o.root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (o.root_fd < 0)
                return negative_errno();
        results = calloc(a->verdict.as.plan.n ? a->verdict.as.plan.n : 1, sizeof(*results));
        /* A dry run through the executor gives each step the outcome `hosttune apply
         * --dry-run` shows (planned, or unchanged when a value already matches). */
        r = !results               ? -ENOMEM
            : a->verdict.as.plan.n ? apply_plan(&a->verdict.as.plan, NULL, &o, results)
                                   : 0;
        doc = r >= 0 ? apply_document(a, &a->verdict.as.plan, results, NULL, 0) : NULL;
        free(results);
        safe_close(o.root_fd);
        if (r < 0)
                return r;
        if (!doc)
                return -ENOMEM;
        *ret = doc;
        return 0;
}

/* "knob: message", or the message alone when it already starts with the knob (the hugepage
 * applier's do: "hugepages-2048kB: obtained ..."). */
static const char *step_said(const struct plan_step *s, const struct step_result *res, char *buf,
                             size_t size) {
        if (startswith(res->message, s->knob))
                return res->message;
        bufprintf_trunc(buf, size, "%s: %s", s->knob, res->message);
        return buf;
}

/* Say what an ended apply did: log, LastError, counters. */
static void account(struct agent *a, struct apply_run *run) {
        char said[sizeof(run->results[0].message) + sizeof(run->plan.steps[0].knob) + 2];
        int short_steps = 0;

        a->stats.applies++;
        a->stats.apply_usec_last = run->duration_usec;
        a->stats.apply_usec_sum += run->duration_usec;
        for (unsigned i = 0; i < run->plan.n; i++) {
                const struct step_result *res = &run->results[i];
                bool bad = step_outcome_fell_short(res->outcome);

                short_steps += bad;
                log_at(bad ? LOG_WARNING : LOG_INFO, "%s %s%s%s",
                       step_outcome_to_string(res->outcome),
                       step_said(&run->plan.steps[i], res, said, sizeof(said)),
                       isempty(res->warning) ? "" : "; ", res->warning);
        }
        if (run->ret < 0) {
                a->stats.applies_failed++;
                agent_set_last_error(a, "apply stopped: the journal could not be written: %s",
                                     strerror(-run->ret));
        } else if (short_steps > 0) {
                a->stats.applies_failed++;
                for (unsigned i = 0; i < run->plan.n; i++)
                        if (step_outcome_fell_short(run->results[i].outcome)) {
                                agent_set_last_error(a, "apply: %d of %u steps fell short; %s",
                                                     short_steps, run->plan.n,
                                                     step_said(&run->plan.steps[i],
                                                               &run->results[i], said,
                                                               sizeof(said)));
                                break;
                        }
        } else
                agent_set_last_error(a, "%s", "");
}

/* Can the host's memory hold this pool growth? A growth that cannot fills the pool down to the
 * kernel's min watermark for the policy's whole timeout before the applier gives the pages back
 * (hugepages_keep_free); on drift that would happen at every re-probe, so such a step waits
 * until MemAvailable covers the pages missing plus what must stay free. Global pools only: the
 * report has no per-node MemAvailable. */
static bool growth_out_of_reach(const struct plan_step *s, const struct memory_facts *m, char *why,
                                size_t size) {
        const typeof(s->u.hugepages) *h = &s->u.hugepages;
        char reason[160];
        uint64_t need;

        if (s->kind != PLAN_HUGEPAGES || s->manual || h->node >= 0 || h->pages <= h->current ||
            h->page_size == 0)
                return false;
        need = h->pages - h->current > UINT64_MAX / h->page_size
                       ? UINT64_MAX
                       : (h->pages - h->current) * h->page_size;
        if (hugepages_growth_fits(m->mem_total_kib * 1024, m->mem_available_kib * 1024, need,
                                  reason, sizeof(reason)))
                return false;
        bufprintf_trunc(why, size, "%s: %s", s->knob, reason);
        return true;
}

/* Take the pool growths the memory cannot hold out of a drift re-apply (the policy's own applies
 * still try them: start, reload, Apply()). Logs when the pools left alone change (their knob and
 * wanted size, not the memory figures, which move at every re-probe). */
static void drop_out_of_reach(struct agent *a, struct plan *plan) {
        char why[256] = "", what[sizeof(a->apply.drift_left_alone)] = "";
        unsigned n = 0;

        for (unsigned i = 0; i < plan->n; i++) {
                const struct plan_step *s = &plan->steps[i];
                if (a->verdict.as.report &&
                    growth_out_of_reach(s, &a->verdict.as.report->memory, why, sizeof(why))) {
                        bufappendf_trunc(what, sizeof(what), "%s=%s;", s->knob, s->wanted);
                        continue;
                }
                plan->steps[n++] = *s;
        }
        plan->n = n;
        if (!streq(what, a->apply.drift_left_alone)) {
                if (what[0])
                        log_notice("re-apply on drift leaves a pool alone while the memory cannot "
                                   "hold it: %s",
                                   why);
                strscpy(a->apply.drift_left_alone, sizeof(a->apply.drift_left_alone), what);
        }
}

static const struct job_type apply_job_type;

bool agent_apply_running(const struct agent *a) {
        const struct job *j = work_queue_current(a->queue);

        return j && j->type == &apply_job_type;
}

bool agent_apply_queued(const struct agent *a) {
        return work_queue_count(a->queue, &apply_job_type) > 0;
}

static int add_reload_call(struct reload_calls *c, sd_bus_message *m) {
        sd_bus_message **w;

        if (!m)
                return 0;
        w = realloc(c->calls, (c->n + 1) * sizeof(sd_bus_message *));
        if (!w)
                return -ENOMEM;
        c->calls = w;
        w[c->n++] = sd_bus_message_ref(m);
        return 0;
}

/* Answer every call of c: the generation, or the error when error_name is set. */
static void answer_reload_calls(struct agent *a, struct reload_calls *c, const char *error_name,
                                const char *message) {
        for (unsigned i = 0; i < c->n; i++) {
                if (error_name)
                        (void) sd_bus_reply_method_errorf(c->calls[i], error_name, "%s", message);
                else
                        (void) sd_bus_reply_method_return(c->calls[i], "t", a->props.generation);
                sd_bus_message_unref(c->calls[i]);
        }
        c->n = 0;
}

/* Worker thread: progress goes straight to sd_notify (a datagram send, safe from any thread). */
static void on_progress(unsigned index, const struct plan_step *step, const char *status,
                        void *userdata) {
        (void) index;
        (void) step;
        (void) userdata;
        (void) sd_notifyf(0, "STATUS=Applying: %s", status);
}

/* The plan for the host as it is now: a fresh probe (agent_reprobe assesses, plan and lease filter
 * included; the run takes a copy of that plan). Returns 1 when there are steps to run, 0 when
 * not. */
static int apply_prepare(struct agent *a, struct apply_job *job) {
        struct apply_run *run = job->run;
        int r;

        run->start_usec = agent_now_usec(CLOCK_MONOTONIC);
        run->start_realtime_usec = agent_now_usec(CLOCK_REALTIME);
        r = agent_reprobe(a, "before apply");
        if (r < 0)
                return r;
        r = plan_copy(&a->verdict.as.plan, &run->plan);
        if (r < 0)
                return r;
        if (job->cause == APPLY_CAUSE_DRIFT) {
                drop_out_of_reach(a, &run->plan);
                /* Nothing to change (or only what a person must do): drift checks end here
                 * quietly (no new "last apply" either). */
                if (plan_count_automatic(&run->plan) == 0) {
                        job->quiet = true;
                        return 0;
                }
                a->stats.drifts++;
                log_notice("the host drifted from policy %s: %u steps to re-apply",
                           a->props.policy_name, run->plan.n);
        }
        /* Nothing to change: the apply is complete now. */
        if (run->plan.n == 0)
                return 0;
        run->results = calloc(run->plan.n, sizeof(*run->results));
        if (!run->results)
                return -ENOMEM;
        job->root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (job->root_fd < 0)
                return negative_errno();
        agent_notify_status(a, "Applying policy %s: %u steps", a->props.policy_name, run->plan.n);
        return 1;
}

static int apply_job_start(struct agent *a, struct job *j) {
        struct apply_job *job = container_of(j, struct apply_job, job);
        int r;

        if (job->cause == APPLY_CAUSE_RELOAD) {
                /* Reloads that come from now on wait for the next reload job. */
                if (a->apply.reload_waiting == job)
                        a->apply.reload_waiting = NULL;
                /* Type=notify-reload: systemd waits for READY=1 after a RELOADING=1 whose
                 * MONOTONIC_USEC is newer than its own request, so an older reload cannot be
                 * taken for the one it asked for. */
                (void) sd_notifyf(0,
                                  "RELOADING=1\nSTATUS=Reloading policy\nMONOTONIC_USEC=%" PRIu64,
                                  agent_now_usec(CLOCK_MONOTONIC));
                r = agent_policy_reload(a, job->message, sizeof(job->message));
                if (r < 0)
                        return r;
                if (r > 0) {
                        job->rejected = true;
                        return 0;
                }
        }
        if (job->cause == APPLY_CAUSE_METHOD)
                a->apply.reverted = false;
        return apply_prepare(a, job);
}

static void apply_job_run(struct job *j, struct journal *journal) {
        struct apply_job *job = container_of(j, struct apply_job, job);
        struct apply_run *run = job->run;
        struct apply_options o = {
                .root_fd = job->root_fd,
                .progress = on_progress,
        };

        run->ret = apply_plan(&run->plan, journal, &o, run->results);
        run->duration_usec = agent_now_usec(CLOCK_MONOTONIC) - run->start_usec;
}

/* A reload's apply ended (changed: it ran steps; otherwise the probe made for its plan is still
 * current), or it could not run: READY=1 and the answers. */
static void reload_finished(struct agent *a, struct apply_job *job, bool changed) {
        if (changed)
                (void) agent_reprobe(a, "policy reloaded");
        (void) sd_notifyf(0, "READY=1\nSTATUS=%s; policy %s, generation %" PRIu64,
                          a->props.ready ? "Ready" : "Not ready", a->props.policy_name,
                          a->props.generation);
        answer_reload_calls(a, &job->calls, NULL, NULL);
}

/* The first apply ended (or there was nothing to apply): the agent is up. */
static void start_finished(struct agent *a, bool changed) {
        if (changed)
                (void) agent_reprobe(a, "first apply done");
        a->started = true;
        (void) sd_notifyf(0, "READY=1\nSTATUS=%s; policy %s, generation %" PRIu64,
                          a->props.ready ? "Ready" : "Not ready", a->props.policy_name,
                          a->props.generation);
        log_info("started: %s", a->verdict.reason);
        /* The probe facts for `hosttune check`, once the loop is idle after READY=1. */
        agent_facts_outputs_written(a);
}

/* The apply could not run: start() or the journal failed. */
static void apply_failed(struct agent *a, struct apply_job *job) {
        int r = job->job.error;

        if (!isempty(job->job.error_message))
                log_error("%s", job->job.error_message);
        switch (job->cause) {
        case APPLY_CAUSE_START:
                /* A daemon that cannot apply its policy does not claim to be up. */
                log_error("cannot apply the policy: %s", strerror(-r));
                (void) sd_event_exit(a->event, r);
                break;
        case APPLY_CAUSE_RELOAD:
                agent_set_last_error(a, "the reloaded policy could not be applied: %s",
                                     strerror(-r));
                reload_finished(a, job, false);
                break;
        case APPLY_CAUSE_METHOD:
                (void) sd_bus_reply_method_errnof(job->reply_to, -r, "apply failed: %s",
                                                  strerror(-r));
                break;
        case APPLY_CAUSE_DRIFT:
                log_warning("re-applying after drift failed: %s", strerror(-r));
                break;
        }
}

/* Everything that follows the end of an apply, whatever its cause. */
static void apply_job_done(struct agent *a, struct job *j) {
        struct apply_job *job = container_of(j, struct apply_job, job);
        bool changed = job->run->plan.n > 0;

        if (job->rejected) {
                /* Nothing changed: the old policy, its generation and its outputs stay. */
                answer_reload_calls(a, &job->calls, AGENT_ERROR_INVALID_POLICY, job->message);
                (void) sd_notifyf(0, "READY=1\nSTATUS=%s; policy rejected: %.400s",
                                  a->props.ready ? "Ready" : "Not ready", job->message);
                return;
        }
        if (j->error < 0) {
                apply_failed(a, job);
                return;
        }
        if (job->quiet)
                return;
        if (changed)
                account(a, job->run);
        apply_run_free(a->apply.last);
        a->apply.last = TAKE_PTR(job->run);
        switch (job->cause) {
        case APPLY_CAUSE_START:
                start_finished(a, changed);
                break;
        case APPLY_CAUSE_RELOAD:
                reload_finished(a, job, changed);
                break;
        case APPLY_CAUSE_METHOD:
        case APPLY_CAUSE_DRIFT:
                if (changed)
                        (void) agent_reprobe(a, job->cause == APPLY_CAUSE_DRIFT
                                                        ? "re-applied after drift"
                                                        : "applied");
                break;
        }
        if (job->reply_to) {
                const struct apply_run *run = a->apply.last;
                _cleanup_(json_object_putp) json_object *doc =
                        apply_document(a, &run->plan, run->results, run, fell_short(run));
                const char *text =
                        doc ? json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN) : NULL;
                if (text)
                        (void) sd_bus_reply_method_return(job->reply_to, "s", text);
                else
                        (void) sd_bus_reply_method_errno(job->reply_to, ENOMEM, NULL);
        }
}

static void apply_job_cancel(struct agent *a, struct job *j) {
        struct apply_job *job = container_of(j, struct apply_job, job);

        if (a->apply.reload_waiting == job)
                a->apply.reload_waiting = NULL;
        if (job->reply_to)
                (void) sd_bus_reply_method_errorf(job->reply_to, AGENT_ERROR_NOT_READY,
                                                  "hosttuned stopped");
        answer_reload_calls(a, &job->calls, AGENT_ERROR_NOT_READY, "hosttuned stopped");
}

static void apply_job_free(struct job *j) {
        struct apply_job *job = container_of(j, struct apply_job, job);

        for (unsigned i = 0; i < job->calls.n; i++)
                sd_bus_message_unref(job->calls.calls[i]);
        free(job->calls.calls);
        sd_bus_message_unref(job->reply_to);
        safe_close(job->root_fd);
        apply_run_free(job->run);
        free(job);
}

static const struct job_type apply_job_type = {
        .name = "apply",
        .journaled = true,
        .start = apply_job_start,
        .run = apply_job_run,
        .done = apply_job_done,
        .cancel = apply_job_cancel,
        .free = apply_job_free,
};

/* Say in the log what a job submitted now waits for (nothing when the queue is idle). */
static void log_waits(struct agent *a, const char *what) {
        const struct job *cur = work_queue_current(a->queue);

        if (cur)
                log_info("%s waits for its turn: a%s %s is under way", what,
                         strchr("aeiou", cur->type->name[0]) ? "n" : "", cur->type->name);
}

static struct apply_job *apply_job_new(enum apply_cause cause, sd_bus_message *reply_to) {
        struct apply_job *job = calloc(1, sizeof(*job));

        if (!job)
                return NULL;
        job->run = calloc(1, sizeof(*job->run));
        if (!job->run) {
                free(job);
                return NULL;
        }
        job->job.type = &apply_job_type;
        job->cause = cause;
        job->root_fd = -1;
        job->reply_to = sd_bus_message_ref(reply_to);
        return job;
}

int agent_apply_submit(struct agent *a, enum apply_cause cause, sd_bus_message *reply_to) {
        struct apply_job *job;

        /* One re-apply after drift stands for any number: an apply under way or waiting plans
         * from a probe made when it starts. */
        if (cause == APPLY_CAUSE_DRIFT && agent_apply_queued(a))
                return 0;
        job = apply_job_new(cause, reply_to);
        if (!job)
                return -ENOMEM;
        log_waits(a, cause == APPLY_CAUSE_METHOD  ? "Apply()"
                     : cause == APPLY_CAUSE_DRIFT ? "re-applying after drift"
                                                  : "the first apply");
        work_queue_submit(a->queue, &job->job);
        return 0;
}

int agent_reload(struct agent *a, sd_bus_message *reply_to) {
        struct apply_job *job = a->apply.reload_waiting;
        int r;

        if (job)
                /* A reload waits for its turn already: it serves this call too. Each asked for
                 * the policy file as it is when the reload starts, and that is what it reads. */
                return add_reload_call(&job->calls, reply_to);
        job = apply_job_new(APPLY_CAUSE_RELOAD, NULL);
        if (!job)
                return -ENOMEM;
        r = add_reload_call(&job->calls, reply_to);
        if (r < 0) {
                apply_job_free(&job->job);
                return r;
        }
        if (work_queue_busy(a->queue))
                log_info("reload queued: it starts when the running work ended");
        a->apply.reload_waiting = job;
        work_queue_submit(a->queue, &job->job);
        return 0;
}

/* Revert report callback: log each entry's outcome. */
static void on_reverted(const struct journal_entry *e, const struct revert_result *res,
                        void *userdata) {
        unsigned *failed = userdata;

        if (res->outcome == REVERT_FAILED) {
                (*failed)++;
                log_warning("revert %s: %s: %s", e->label, revert_outcome_to_string(res->outcome),
                            res->message);
        } else
                log_info("revert %s: %s%s%s", e->label, revert_outcome_to_string(res->outcome),
                         isempty(res->message) ? "" : ": ", res->message);
}

static void revert_job_run(struct job *j, struct journal *journal) {
        struct revert_job *job = container_of(j, struct revert_job, job);
        _cleanup_close_ int root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        unsigned failed = 0;

        if (root_fd < 0) {
                job->ret = negative_errno();
                bufprintf_trunc(job->message, sizeof(job->message), "cannot open /: %s",
                                strerror(-job->ret));
                return;
        }
        struct apply_options o = { .root_fd = root_fd };
        job->ret = apply_revert(journal, &o, on_reverted, &failed);
        job->reverted = true;
        if (job->ret < 0)
                bufprintf_trunc(job->message, sizeof(job->message),
                                "the revert journal could not be written: %s", strerror(-job->ret));
        else if (job->ret > 0) {
                bufprintf_trunc(job->message, sizeof(job->message),
                                "%d journal entries could not be restored (kept for a retry)",
                                job->ret);
                job->ret = -EIO;
        }
}

static void revert_job_done(struct agent *a, struct job *j) {
        struct revert_job *job = container_of(j, struct revert_job, job);
        const char *err = job->message;
        int r = job->ret;

        if (j->error < 0) {
                r = j->error;
                err = j->error_message;
        } else if (job->reverted) {
                a->stats.reverts++;
                a->apply.reverted = true;
                if (r < 0)
                        agent_set_last_error(a, "revert: %s", job->message);
                (void) agent_reprobe(a, "reverted");
        }
        if (job->reply_to) {
                if (r < 0)
                        (void) sd_bus_reply_method_errnof(job->reply_to, -r, "%s", err);
                else
                        (void) sd_bus_reply_method_return(job->reply_to, NULL);
        } else if (r < 0)
                log_error("revert on stop failed: %s", err);
}

static void revert_job_cancel(struct agent *a, struct job *j) {
        struct revert_job *job = container_of(j, struct revert_job, job);

        (void) a;
        if (job->reply_to)
                (void) sd_bus_reply_method_errorf(job->reply_to, AGENT_ERROR_NOT_READY,
                                                  "hosttuned stopped");
}

static void revert_job_free(struct job *j) {
        struct revert_job *job = container_of(j, struct revert_job, job);

        sd_bus_message_unref(job->reply_to);
        free(job);
}

static const struct job_type revert_job_type = {
        .name = "revert",
        .journaled = true,
        .run = revert_job_run,
        .done = revert_job_done,
        .cancel = revert_job_cancel,
        .free = revert_job_free,
};

int agent_revert_submit(struct agent *a, sd_bus_message *reply_to) {
        struct revert_job *job = calloc(1, sizeof(*job));

        if (!job)
                return -ENOMEM;
        job->job.type = &revert_job_type;
        job->reply_to = sd_bus_message_ref(reply_to);
        log_waits(a, reply_to ? "Revert()" : "revert-on-stop");
        work_queue_submit(a->queue, &job->job);
        return 0;
}

void agent_apply_done(struct agent *a) {
        apply_run_free(a->apply.last);
        a->apply.last = NULL;
}
