/* SPDX-License-Identifier: MIT */
/* Applying and reverting from the agent. An apply runs the executor (policies/apply) on a worker
 * thread, because reserving hugepages can take the policy's whole timeout (30 s by default) and
 * the bus must keep answering Check meanwhile; the thread touches nothing of the agent but its
 * own struct apply_run and reports the end through an eventfd the event loop watches. */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/log.h"
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

struct apply_run {
        struct agent *agent;
        enum apply_cause cause;
        sd_bus_message *reply_to; /* Apply(false) waiting for its answer */

        struct plan plan;
        struct step_result *results;
        struct journal *journal;
        int root_fd;

        pthread_t thread;
        bool thread_started;
        int event_fd;
        sd_event_source *event_source;

        int ret; /* of apply_plan: steps that fell short, or a negative errno */
        uint64_t start_usec, duration_usec;
        uint64_t start_realtime_usec;
};

static void apply_run_free(struct apply_run *run) {
        if (!run)
                return;
        if (run->thread_started)
                pthread_join(run->thread, NULL);
        sd_event_source_disable_unref(run->event_source);
        safe_close(run->event_fd);
        safe_close(run->root_fd);
        journal_close(run->journal);
        sd_bus_message_unref(run->reply_to);
        plan_free(&run->plan);
        free(run->results);
        free(run);
}

/* Worker thread: progress goes straight to sd_notify (a datagram send, safe from any thread). */
static void on_progress(unsigned index, const struct plan_step *step, const char *status,
                        void *userdata) {
        (void) index;
        (void) step;
        (void) userdata;
        (void) sd_notifyf(0, "STATUS=Applying: %s", status);
}

static void *apply_thread(void *userdata) {
        struct apply_run *run = userdata;
        struct apply_options o = {
                .root_fd = run->root_fd,
                .progress = on_progress,
                .userdata = run,
        };
        uint64_t one = 1;

        run->ret = apply_plan(&run->plan, run->journal, &o, run->results);
        run->duration_usec = agent_now_usec(CLOCK_MONOTONIC) - run->start_usec;
        /* Wakes the event loop; the thread ends right after and is joined there. */
        if (write(run->event_fd, &one, sizeof(one)) < 0)
                log_error("cannot signal the end of the apply: %m");
        return NULL;
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
        json_object_object_add(pol, "name", json_object_new_string(a->policy_name));
        json_object_object_add(pol, "file", json_object_new_string(a->policy_path));
        json_object_object_add(doc, "policy", pol);
        json_object_object_add(doc, "dry_run", json_object_new_boolean(run == NULL));
        json_object_object_add(doc, "plan", plan_to_json(plan));
        json_object_object_add(doc, "results", step_results_to_json(plan, results));
        json_object_object_add(doc, "fell_short", json_object_new_int(fell_short));
        json_object_object_add(doc, "generation", json_object_new_uint64(a->generation));
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
        if (!a->last_apply)
                return NULL;
        return apply_document(a, &a->last_apply->plan, a->last_apply->results, a->last_apply,
                              fell_short(a->last_apply));
}

int agent_plan_json(struct agent *a, json_object **ret) {
        struct step_result *results;
        struct apply_options o = { .dry_run = true };
        json_object *doc;
        int r;

        /* agent_reprobe plans too: a->plan is the plan for the host as it is now. */
        r = agent_reprobe(a, "plan");
        if (r < 0)
                return r;
        o.root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (o.root_fd < 0)
                return negative_errno();
        results = calloc(a->plan.n ? a->plan.n : 1, sizeof(*results));
        /* A dry run through the executor gives each step the outcome `hosttune apply
         * --dry-run` shows (planned, or unchanged when a value already matches). */
        r = !results ? -ENOMEM : a->plan.n ? apply_plan(&a->plan, NULL, &o, results) : 0;
        doc = r >= 0 ? apply_document(a, &a->plan, results, NULL, 0) : NULL;
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

/* Everything that follows the end of an apply, whatever its cause. */
static void finish(struct agent *a, struct apply_run *run) {
        enum apply_cause cause = run->cause;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply_to = TAKE_PTR(run->reply_to);

        if (run->plan.n > 0)
                account(a, run);
        if (a->last_apply != run) {
                apply_run_free(a->last_apply);
                a->last_apply = run;
        }
        switch (cause) {
        case APPLY_CAUSE_START:
                agent_start_finished(a, run->plan.n > 0);
                break;
        case APPLY_CAUSE_RELOAD:
                agent_reload_finished(a, run->plan.n > 0);
                break;
        case APPLY_CAUSE_METHOD:
        case APPLY_CAUSE_DRIFT:
                if (run->plan.n > 0)
                        (void) agent_reprobe(a, cause == APPLY_CAUSE_DRIFT
                                                        ? "re-applied after drift"
                                                        : "applied");
                break;
        }
        if (reply_to) {
                _cleanup_(json_object_putp) json_object *doc =
                        apply_document(a, &run->plan, run->results, run, fell_short(run));
                const char *text =
                        doc ? json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN) : NULL;
                if (text)
                        (void) sd_bus_reply_method_return(reply_to, "s", text);
                else
                        (void) sd_bus_reply_method_errno(reply_to, ENOMEM, NULL);
        }
        agent_run_queued_reload(a);
        agent_apply_run_deferred(a);
        agent_leases_apply_ended(a);
        agent_stop_if_pending(a);
}

static int on_apply_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct agent *a = userdata;
        struct apply_run *run = a->apply;
        uint64_t v;

        (void) s;
        (void) revents;
        (void) !read(fd, &v, sizeof(v));
        pthread_join(run->thread, NULL);
        run->thread_started = false;
        run->event_source = sd_event_source_disable_unref(run->event_source);
        run->event_fd = safe_close(run->event_fd);
        run->root_fd = safe_close(run->root_fd);
        /* Unlock the journal at once: `hosttune revert` may run now. */
        journal_close(run->journal);
        run->journal = NULL;
        a->apply = NULL;
        finish(a, run);
        return 0;
}

/* Remember an apply asked for while the lease worker holds the journal. One re-apply after
 * drift stands for any number. */
static int defer(struct agent *a, enum apply_cause cause, sd_bus_message *reply_to) {
        struct deferred_apply *d;

        if (cause == APPLY_CAUSE_DRIFT)
                for (unsigned i = 0; i < a->n_deferred_applies; i++)
                        if (a->deferred_applies[i].cause == APPLY_CAUSE_DRIFT)
                                return 1;
        d = realloc(a->deferred_applies, (a->n_deferred_applies + 1) * sizeof(*d));
        if (!d)
                return -ENOMEM;
        a->deferred_applies = d;
        d[a->n_deferred_applies++] = (struct deferred_apply){
                .cause = cause,
                .reply_to = sd_bus_message_ref(reply_to),
        };
        log_info("%s waits until the lease worker let go of the revert journal",
                 cause == APPLY_CAUSE_METHOD   ? "Apply()"
                 : cause == APPLY_CAUSE_RELOAD ? "the reload's apply"
                 : cause == APPLY_CAUSE_DRIFT  ? "re-applying after drift"
                                               : "the first apply");
        return 1;
}

void agent_apply_run_deferred(struct agent *a) {
        while (a->n_deferred_applies > 0 && !a->apply && !agent_leases_journal_busy(a)) {
                struct deferred_apply d = a->deferred_applies[0];
                int r;

                memmove(&a->deferred_applies[0], &a->deferred_applies[1],
                        (a->n_deferred_applies - 1) * sizeof(d));
                a->n_deferred_applies--;
                r = agent_apply_start(a, (enum apply_cause) d.cause, d.reply_to);
                if (r < 0 && d.reply_to)
                        (void) sd_bus_reply_method_errnof(d.reply_to, -r, "apply failed: %s",
                                                          strerror(-r));
                if (r < 0 && d.cause == APPLY_CAUSE_RELOAD)
                        agent_reload_apply_failed(a, r);
                sd_bus_message_unref(d.reply_to);
        }
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
        char why[256] = "", what[sizeof(a->drift_left_alone)] = "";
        unsigned n = 0;

        for (unsigned i = 0; i < plan->n; i++) {
                const struct plan_step *s = &plan->steps[i];
                if (a->report && growth_out_of_reach(s, &a->report->memory, why, sizeof(why))) {
                        bufappendf_trunc(what, sizeof(what), "%s=%s;", s->knob, s->wanted);
                        continue;
                }
                plan->steps[n++] = *s;
        }
        plan->n = n;
        if (!streq(what, a->drift_left_alone)) {
                if (what[0])
                        log_notice("re-apply on drift leaves a pool alone while the memory cannot "
                                   "hold it: %s",
                                   why);
                strscpy(a->drift_left_alone, sizeof(a->drift_left_alone), what);
        }
}

int agent_apply_start(struct agent *a, enum apply_cause cause, sd_bus_message *reply_to) {
        struct apply_run *run;
        char why[512] = "";
        int r;

        if (a->apply)
                return -EBUSY;
        /* The lease worker resizes the pool or refills snapshots under the journal: an apply
         * planned now could undo what it is about to do. It starts once the worker let go. */
        if (agent_leases_journal_busy(a))
                return defer(a, cause, reply_to);
        run = calloc(1, sizeof(*run));
        if (!run)
                return -ENOMEM;
        run->agent = a;
        run->cause = cause;
        run->root_fd = -1;
        run->event_fd = -1;
        run->reply_to = sd_bus_message_ref(reply_to);
        run->start_usec = agent_now_usec(CLOCK_MONOTONIC);
        run->start_realtime_usec = agent_now_usec(CLOCK_REALTIME);
        if (cause == APPLY_CAUSE_METHOD)
                a->reverted = false;

        /* The plan is made from a fresh probe: it must be about the host as it is now
         * (agent_reprobe plans; the run takes that plan over). */
        r = agent_reprobe(a, "before apply");
        if (r < 0)
                goto fail;
        run->plan = a->plan;
        r = plan_build(a->report, a->policy, &a->plan);
        if (r >= 0)
                agent_leases_filter_plan(a, &a->plan);
        if (r < 0) {
                a->plan = run->plan;
                run->plan = (struct plan){ 0 };
                goto fail;
        }
        if (cause == APPLY_CAUSE_DRIFT)
                drop_out_of_reach(a, &run->plan);
        if (run->plan.n == 0 ||
            (cause == APPLY_CAUSE_DRIFT && plan_count_automatic(&run->plan) == 0)) {
                /* Nothing to change (or only what a person must do): the apply is complete now.
                 * Drift checks end here quietly (no new "last apply" either). */
                if (cause == APPLY_CAUSE_DRIFT) {
                        apply_run_free(run);
                        return 0;
                }
                finish(a, run);
                return 0;
        }
        if (cause == APPLY_CAUSE_DRIFT) {
                a->stats.drifts++;
                log_notice("the host drifted from policy %s: %u steps to re-apply", a->policy_name,
                           run->plan.n);
        }

        run->results = calloc(run->plan.n, sizeof(*run->results));
        if (!run->results) {
                r = -ENOMEM;
                goto fail;
        }
        r = journal_open_diag(a->runtime_dir, &run->journal, why, sizeof(why));
        if (r < 0) {
                if (!isempty(why))
                        log_error("the revert journal %s/%s: %s", a->runtime_dir, JOURNAL_FILE_NAME,
                                  why);
                else
                        log_error("cannot open the revert journal in %s: %s", a->runtime_dir,
                                  file_strerror(r));
                goto fail;
        }
        run->root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        run->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (run->root_fd < 0 || run->event_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = sd_event_add_io(a->event, &run->event_source, run->event_fd, EPOLLIN, on_apply_done, a);
        if (r < 0)
                goto fail;
        agent_notify_status(a, "Applying policy %s: %u steps", a->policy_name, run->plan.n);
        r = -pthread_create(&run->thread, NULL, apply_thread, run);
        if (r < 0)
                goto fail;
        run->thread_started = true;
        a->apply = run;
        return 1;
fail:
        apply_run_free(run);
        return r;
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

int agent_revert(struct agent *a, char *err, size_t errsize) {
        struct journal *j = NULL;
        _cleanup_close_ int root_fd = -1;
        char why[512] = "";
        unsigned failed = 0;
        int r;

        if (a->apply) {
                bufprintf_trunc(err, errsize, "an apply is running");
                return -EBUSY;
        }
        r = journal_open_diag(a->runtime_dir, &j, why, sizeof(why));
        if (r < 0) {
                if (!isempty(why))
                        bufprintf_trunc(err, errsize, "the revert journal %s/%s: %s",
                                        a->runtime_dir, JOURNAL_FILE_NAME, why);
                else
                        bufprintf_trunc(err, errsize, "cannot open the revert journal in %s: %s",
                                        a->runtime_dir, file_strerror(r));
                return r;
        }
        root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                journal_close(j);
                bufprintf_trunc(err, errsize, "cannot open /: %m");
                return negative_errno();
        }
        struct apply_options o = { .root_fd = root_fd };
        r = apply_revert(j, &o, on_reverted, &failed);
        journal_close(j);
        a->stats.reverts++;
        a->reverted = true;
        if (r < 0) {
                bufprintf_trunc(err, errsize, "the revert journal could not be written: %s",
                                strerror(-r));
                agent_set_last_error(a, "revert: %s", err);
        } else if (r > 0) {
                bufprintf_trunc(err, errsize,
                                "%d journal entries could not be restored (kept for a retry)", r);
                agent_set_last_error(a, "revert: %s", err);
                r = -EIO;
        }
        (void) agent_reprobe(a, "reverted");
        return r < 0 ? r : 0;
}

void agent_apply_done(struct agent *a) {
        for (unsigned i = 0; i < a->n_deferred_applies; i++) {
                if (a->deferred_applies[i].reply_to)
                        (void) sd_bus_reply_method_errorf(a->deferred_applies[i].reply_to,
                                                          AGENT_ERROR_NOT_READY,
                                                          "hosttuned stopped");
                sd_bus_message_unref(a->deferred_applies[i].reply_to);
        }
        free(a->deferred_applies);
        a->deferred_applies = NULL;
        a->n_deferred_applies = 0;
        apply_run_free(a->apply);
        a->apply = NULL;
        apply_run_free(a->last_apply);
        a->last_apply = NULL;
}
