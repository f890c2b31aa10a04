/* SPDX-License-Identifier: MIT */
/* hosttuned's life cycle: start-up, policy loading and reload, probing and readiness, drift
 * detection on a timer, and a clean stop. */
#include "agent/agent.h"
#include "agent/check-facts.h"
#include "agent/lease-sock.h"

#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "agent/log.h"
#include "agent/queue.h"
#include "assess/assess.h"
#include "lib/bus-open.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "runtime/agent-state.h"
#include "runtime/dir.h"
#include "policies/plan.h"
#include "probes/probes.h"

/* A re-probe may come a little late; letting sd-event coalesce wake-ups saves power. */
#define REPROBE_ACCURACY_USEC (USEC_PER_SEC)

uint64_t agent_now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

void agent_notify_status(struct agent *a, const char *fmt, ...) {
        char buf[512];
        va_list ap;

        (void) a;
        va_start(ap, fmt);
        vbufprintf_trunc(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_debug("status: %s", buf);
        (void) sd_notifyf(0, "STATUS=%s", buf);
}

static int set_string(char **field, const char *value) {
        char *s;

        if (*field && streq(*field, value))
                return 0;
        s = strdup(value);
        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 1;
}

void agent_set_last_error(struct agent *a, const char *fmt, ...) {
        char raw[1024], buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vbufprintf_trunc(raw, sizeof(raw), fmt, ap);
        va_end(ap);
        /* LastError quotes policy values, file contents and paths: no raw control characters
         * for the clients that print it. */
        str_escape_control(raw, buf, sizeof(buf));
        if (!isempty(buf))
                log_warning("%s", buf);
        if (set_string(&a->props.last_error, buf) > 0)
                agent_bus_properties_changed(a, "LastError");
}

/* Resolve [agent] lease-group once per policy load: a numeric gid or a group name through NSS
 * (the agent is dynamically linked; the static CLI never needs this). */
static int resolve_lease_group(const struct policy *p, bool *ret_set, gid_t *ret_gid, char *err,
                               size_t errsize) {
        struct group grp, *res = NULL;
        char buf[4096];
        uint64_t id;
        int r;

        if (isempty(p->lease_group)) {
                *ret_set = false;
                return 0;
        }
        if (parse_u64(p->lease_group, &id) >= 0) {
                if (id >= UINT32_MAX) {
                        bufprintf_trunc(err, errsize, "[agent] lease-group: bad gid %s",
                                        p->lease_group);
                        return -EINVAL;
                }
                *ret_gid = (gid_t) id;
                *ret_set = true;
                return 0;
        }
        r = getgrnam_r(p->lease_group, &grp, buf, sizeof(buf), &res);
        if (r != 0 || !res) {
                bufprintf_trunc(err, errsize, "%s: [agent] lease-group: no such group '%s'%s%s",
                                p->files[0], p->lease_group, r ? ": " : "", r ? strerror(r) : "");
                return r ? -r : -ENOENT;
        }
        *ret_gid = res->gr_gid;
        *ret_set = true;
        return 0;
}

/* A new policy, loaded and validated completely (the group included) before anything uses it.
 * On error msg holds "file:line: key: message". */
struct loaded_policy {
        struct policy *policy;
        bool lease_gid_set;
        gid_t lease_gid;
        unsigned n_files;
        struct policy_file_stamp files[AGENT_STATE_POLICY_FILES_MAX];
};

/* Stamp the files p was read from. The main file is stamped before the load too (before): when
 * it changed while being read, its stamp is left unmatchable (inode 0), so `check` uses the
 * copy of the policy in force rather than a file that may not be what was loaded. */
static void stamp_policy_files(const struct policy *p, const struct policy_file_stamp *before,
                               struct loaded_policy *l) {
        l->n_files = 0;
        for (unsigned i = 0; i < p->n_files && l->n_files < AGENT_STATE_POLICY_FILES_MAX; i++) {
                struct policy_file_stamp *st = &l->files[l->n_files];
                if (p->files[i][0] != '/' || policy_file_stamp_read(p->files[i], st) < 0)
                        continue;
                if (i == 0 && (!before || before->ino != st->ino || before->size != st->size ||
                               before->mtime_nsec != st->mtime_nsec))
                        st->ino = 0;
                l->n_files++;
        }
}

static int load_new_policy(struct agent *a, struct loaded_policy *ret, char *msg, size_t size) {
        _cleanup_free_ struct policy *p = calloc(1, sizeof(*p));
        struct policy_error perr = { 0 };
        struct loaded_policy l = { 0 };
        int r;

        if (!p) {
                bufprintf_trunc(msg, size, "out of memory");
                return -ENOMEM;
        }
        /* Without --policy: /etc/hosttune/policy.ini when it exists (looked at again on every
         * reload, so creating it and reloading switches to it), else the embedded default. */
        const char *main_file = a->opt.policy ?: POLICY_DEFAULT_PATH;
        struct policy_file_stamp before;
        bool stamped = strchr(main_file, '/') && policy_file_stamp_read(main_file, &before) >= 0;

        r = policy_load_configured(a->opt.policy, p, &perr);
        if (r < 0) {
                policy_error_format(&perr, msg, size);
                return r;
        }
        stamp_policy_files(p, stamped ? &before : NULL, &l);
        r = resolve_lease_group(p, &l.lease_gid_set, &l.lease_gid, msg, size);
        if (r < 0)
                return r;
        l.policy = TAKE_PTR(p);
        *ret = l;
        return 0;
}

static void arm_reprobe(struct agent *a);

/* Write the policy in force as one INI file for `check` (docs/agent-state.md), readable by
 * everyone only when every file it came from is: a policy that includes a 0600 file must not
 * leak it through the copy. */
static void write_policy_copy(struct agent *a) {
        _cleanup_free_ char *text = policy_to_ini(a->in_force.policy);
        mode_t mode = 0644;
        struct stat st;
        int r;

        for (unsigned i = 0; i < a->in_force.policy->n_files; i++)
                if (a->in_force.policy->files[i][0] == '/' &&
                    (stat(a->in_force.policy->files[i], &st) < 0 || !(st.st_mode & S_IROTH)))
                        mode = 0600;
        r = text ? write_file_atomic_at(a->runtime_fd, AGENT_POLICY_COPY_FILE, text, strlen(text),
                                        mode)
                 : -ENOMEM;
        if (r < 0)
                log_warning("cannot write %s/%s: %s", a->runtime_dir, AGENT_POLICY_COPY_FILE,
                            strerror(-r));
}

/* Make l the policy in force (takes ownership). */
static int switch_policy(struct agent *a, struct loaded_policy *l) {
        struct policy *p = TAKE_PTR(l->policy);
        int r;

        free(a->in_force.policy);
        a->in_force.policy = p;
        a->in_force.require = p->require;
        a->in_force.lease_group.set = l->lease_gid_set;
        a->in_force.lease_group.gid = l->lease_gid;
        a->in_force.n_files = l->n_files;
        memcpy(a->in_force.files, l->files, sizeof(a->in_force.files));
        a->in_force.refused[0] = 0;
        write_policy_copy(a);
        a->props.generation++;
        r = set_string(&a->props.policy_name, p->name);
        if (r >= 0)
                r = set_string(&a->props.policy_path, p->files[0]);
        if (r < 0)
                return r;
        arm_reprobe(a);
        return 0;
}

static uint64_t pool_bytes(const struct host_report *r) {
        uint64_t total = 0;

        for (unsigned i = 0; i < r->hugetlb.n_sizes; i++)
                total += r->hugetlb.sizes[i].nr * r->hugetlb.sizes[i].page_size;
        return total;
}

/* Keep the smoke verdicts a probe produced (it ran the guests: at start, after drift of
 * /dev/kvm or the module, or when the re-probe timer asked), and log when they change. */
static void remember_kvm_smoke(struct agent *a, const struct kvm_facts *k) {
        const struct kvm_smoke_verdict *v = &k->smoke;

        if (!v->root.tried) {
                a->smoke.valid = false;
                return;
        }
        if (!k->smoke_source || !streq(k->smoke_source, "probe"))
                return;
        if (!a->smoke.valid || a->smoke.verdict.root.ran != v->root.ran ||
            a->smoke.verdict.build.ran != v->build.ran ||
            !streq(a->smoke.verdict.root.step, v->root.step))
                log_info("KVM smoke guest: %s %s%s; build user %s %s%s", v->root.user,
                         v->root.ran ? "ran" : "failed at ", v->root.ran ? "" : v->root.step,
                         v->build.tried ? v->build.user : "-",
                         !v->build.tried ? "not tried"
                         : v->build.ran  ? "ran"
                                         : "failed at ",
                         v->build.tried && !v->build.ran ? v->build.step : "");
        a->smoke.verdict = *v;
        a->smoke.valid = true;
}

/* Assess the host against the policy in force (assess/assess.h): the probes of mask, with detail
 * or not, judging req, planned as plan says, with what leases hold. The report and results are
 * the caller's: report fresh from calloc() rather than memset here, since it is sized for the
 * worst case (256 taps, 32 btrfs mounts, 64 NUMA nodes per pool, ~80 KiB) and calloc() hands it
 * out as untouched zero pages (see agent_malloc_setup() in main.c), so only the pages a probe
 * writes become resident. The probe context is closed on return; *ret keeps the verdict. */
static int assess_host(struct agent *a, probe_mask_t mask, bool detail,
                       const struct requirements *req, enum assess_plan plan,
                       struct host_report *report, struct requirement_result *results,
                       struct assessment *ret) {
        struct assess_input in = {
                .policy = a->in_force.policy,
                .require = req,
                .leases = &a->lease.held,
                .probes = mask,
                /* Facts only the JSON shows; statuses, reasons and what the planner needs
                 * (probe_knobs reads what detail skipped) do not depend on it. */
                .detail = detail,
                .plan = plan,
                .kvm_smoke = a->smoke.valid ? &a->smoke.verdict : NULL,
        };
        int r;

        r = assess(&in, report, results, ret, NULL);
        if (r < 0)
                return r;
        probe_ctx_done(&ret->ctx);
        if (report->probed[PROBE_KVM])
                remember_kvm_smoke(a, &report->kvm);
        return 0;
}

int agent_check(struct agent *a, const struct requirements *req, bool with_policy,
                struct host_report *report, struct requirement_result *results,
                struct assessment *ret) {
        int r;

        /* Judging against the policy needs every probe the planner reads. */
        r = assess_host(a, with_policy ? PROBE_MASK_ALL : requirements_probes(req), false, req,
                        with_policy ? ASSESS_PLAN_POLICY : ASSESS_PLAN_NONE, report, results, ret);
        if (r < 0)
                return r;
        a->stats.checks++;
        return 0;
}

int agent_reprobe(struct agent *a, const char *why) {
        return agent_reprobe_full(a, why, false);
}

int agent_reprobe_full(struct agent *a, const char *why, bool detail) {
        int old_ready = a->props.ready, r;
        uint64_t old_total = a->props.hugepages_total;
        char old_reason[sizeof(a->verdict.reason)];

        /* A fresh report replaces the last one (see assess_host() for why not memset). When
         * probing or planning fails, the last complete one stays, with its verdict (assess()
         * writes a->verdict.results only once nothing can fail any more). */
        _cleanup_free_ struct host_report *report = calloc(1, sizeof(*report));
        struct assessment as;

        if (!report)
                return -ENOMEM;
        r = assess_host(a, PROBE_MASK_ALL, detail, &a->in_force.require, ASSESS_PLAN_POLICY, report,
                        a->verdict.results, &as);
        if (r < 0) {
                agent_set_last_error(a, "probing failed: %s", strerror(-r));
                return r;
        }
        a->stats.reprobes++;
        a->stats.last_probe_realtime_usec = agent_now_usec(CLOCK_REALTIME);

        memcpy(old_reason, a->verdict.reason, sizeof(old_reason));
        a->props.ready = as.ready;
        (void) assessment_reason(&as, a->verdict.reason, sizeof(a->verdict.reason));
        /* The new assessment replaces the last one (its probe context already closed by
         * assess_host); it owns report now. */
        free(a->verdict.as.report);
        plan_free(&a->verdict.as.plan);
        a->verdict.as = as;
        a->verdict.as.report = TAKE_PTR(report);
        a->props.hugepages_total = pool_bytes(a->verdict.as.report);

        if (!a->verdict.evaluated || a->props.ready != old_ready) {
                if (a->verdict.evaluated && !a->props.ready)
                        a->stats.drifts++;
                log_info("%s (%s)", a->verdict.reason, why);
                agent_bus_properties_changed(a, "Ready");
                agent_bus_emit_readiness_changed(a);
        } else if (!streq(old_reason, a->verdict.reason))
                log_info("%s (%s)", a->verdict.reason, why);
        if (a->props.hugepages_total != old_total)
                agent_bus_properties_changed(a, "HugePagesTotal");
        a->verdict.evaluated = true;
        (void) agent_outputs_write(a);
        return 0;
}

static int on_outputs_due(sd_event_source *s, void *userdata) {
        struct agent *a = userdata;

        (void) s;
        (void) agent_outputs_write_some(a, false);
        return 0;
}

void agent_leases_changed(struct agent *a) {
        uint64_t leased = 0;

        for (unsigned i = 0; i < a->lease.held.n_sizes && i < HUGETLB_SIZES_MAX; i++)
                leased += a->lease.held.hugepages[i].bytes;
        if (leased != a->props.hugepages_leased) {
                a->props.hugepages_leased = leased;
                agent_bus_properties_changed(a, "HugePagesLeased");
        }
        /* The files follow once the loop has nothing else to do: a lease's reply does not wait
         * for four file writes, and a burst of lease changes writes them once. The property
         * above is current at once; `hosttune check` reads agent.state a moment later. */
        agent_outputs_schedule(a);
}

void agent_outputs_schedule(struct agent *a) {
        int r;

        if (!a->event) {
                (void) agent_outputs_write_some(a, false);
                return;
        }
        if (!a->timers.outputs) {
                r = sd_event_add_defer(a->event, &a->timers.outputs, on_outputs_due, a);
                if (r >= 0)
                        r = sd_event_source_set_priority(a->timers.outputs, SD_EVENT_PRIORITY_IDLE);
                if (r < 0) {
                        a->timers.outputs = sd_event_source_disable_unref(a->timers.outputs);
                        (void) agent_outputs_write_some(a, false);
                        return;
                }
        }
        (void) sd_event_source_set_enabled(a->timers.outputs, SD_EVENT_ONESHOT);
}

/* ---- re-probe timer ---- */

static int on_reprobe(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agent *a = userdata;
        int r;

        (void) usec;
        /* The timer is when the KVM smoke guests run again even without drift. */
        a->smoke.valid = false;
        (void) agent_reprobe(a, "periodic re-probe");
        /* Drift back to the policy: the plan is not empty although the last apply ended. */
        if (a->in_force.policy->reapply_on_drift && !a->stopping && !a->apply.reverted) {
                r = agent_apply_submit(a, APPLY_CAUSE_DRIFT, NULL);
                if (r < 0)
                        log_warning("re-applying after drift failed: %s", strerror(-r));
        }
        /* Re-arm for the next interval from now (a long probe does not make timers pile up). */
        r = sd_event_source_set_time_relative(s, a->in_force.policy->reprobe_interval_usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error("cannot re-arm the re-probe timer: %s", strerror(-r));
        return 0;
}

int agent_timer_arm(struct agent *a, sd_event_source **s, uint64_t usec, uint64_t accuracy,
                    sd_event_time_handler_t handler, void *userdata) {
        int r;

        if (usec == 0) {
                if (*s)
                        (void) sd_event_source_set_enabled(*s, SD_EVENT_OFF);
                return 0;
        }
        if (!*s)
                return sd_event_add_time_relative(a->event, s, CLOCK_MONOTONIC, usec, accuracy,
                                                  handler, userdata);
        r = sd_event_source_set_time_relative(*s, usec);
        return r < 0 ? r : sd_event_source_set_enabled(*s, SD_EVENT_ONESHOT);
}

static void arm_reprobe(struct agent *a) {
        int r;

        if (!a->event)
                return;
        r = agent_timer_arm(a, &a->timers.reprobe,
                            a->in_force.policy ? a->in_force.policy->reprobe_interval_usec : 0,
                            REPROBE_ACCURACY_USEC, on_reprobe, a);
        if (r < 0)
                log_error("cannot arm the re-probe timer: %s", strerror(-r));
}

/* ---- reload ---- */

int agent_policy_reload(struct agent *a, char *msg, size_t size) {
        struct loaded_policy l = { 0 };
        int r;

        r = load_new_policy(a, &l, msg, size);
        if (r < 0) {
                /* Nothing changes: the old policy, its generation and its outputs stay. */
                a->stats.reloads_rejected++;
                agent_set_last_error(a, "policy rejected: %s", msg);
                str_escape_control(msg, a->in_force.refused, sizeof(a->in_force.refused));
                (void) agent_outputs_write(a);
                return 1;
        }
        r = switch_policy(a, &l);
        free(l.policy);
        if (r < 0)
                return r;
        a->stats.reloads++;
        a->apply.reverted = false;
        agent_set_last_error(a, "%s", "");
        log_info("policy %s (%s) loaded, generation %" PRIu64, a->props.policy_name,
                 a->props.policy_path, a->props.generation);
        agent_bus_properties_changed(a, "PolicyName", "PolicyPath", "Generation");
        agent_bus_emit_policy_reloaded(a);
        agent_leases_policy_changed(a);
        agent_facts_policy_changed(a);
        return 0;
}

/* ---- signals ---- */

static void free_job(struct job *job) {
        free(job);
}

/* The last job: once the work before it ended, the outputs say that nobody keeps the host ready
 * any more, and the event loop ends. */
static void stop_job_done(struct agent *a, struct job *job) {
        (void) job;
        (void) agent_outputs_write(a);
        (void) sd_event_exit(a->event, 0);
}

static const struct job_type stop_job_type = {
        .name = "stop",
        .done = stop_job_done,
        .free = free_job,
};

/* Stop after the job under way (an apply cannot be interrupted half way without leaving a knob
 * between values; the journal would cover it, but finishing is cleaner and bounded by the
 * policy's reservation timeout); what waits for its turn is cancelled. */
static int stop(struct agent *a) {
        struct job *job = calloc(1, sizeof(*job));

        if (!job)
                return -ENOMEM;
        job->type = &stop_job_type;
        if (work_queue_busy(a->queue))
                agent_notify_status(a, "Stopping after the running job ends");
        work_queue_cancel_pending(a->queue);
        if (a->in_force.policy && a->in_force.policy->revert_on_stop && agent_leases_count(a) > 0)
                /* Leases outlive a restart; reverting would pull the pool and the taps from
                 * under them. */
                log_warning("revert-on-stop skipped: %u lease%s still hold%s resources",
                            agent_leases_count(a), agent_leases_count(a) == 1 ? "" : "s",
                            agent_leases_count(a) == 1 ? "s" : "");
        else if (a->in_force.policy && a->in_force.policy->revert_on_stop) {
                agent_notify_status(a, "Reverting (revert-on-stop)");
                if (agent_revert_submit(a, NULL) < 0)
                        log_error("revert on stop failed: %s", strerror(ENOMEM));
        }
        work_queue_submit(a->queue, job);
        work_queue_close(a->queue);
        return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct agent *a = userdata;

        (void) s;
        log_info("received %s, stopping", strsignal((int) si->ssi_signo));
        if (a->stopping)
                return 0;
        (void) sd_notify(0, "STOPPING=1\nSTATUS=Stopping");
        a->stopping = true;
        if (stop(a) < 0) {
                (void) agent_outputs_write(a);
                (void) sd_event_exit(a->event, 0);
        }
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct agent *a = userdata;

        (void) s;
        (void) si;
        if (a->stopping)
                return 0;
        log_info("received SIGHUP, reloading the policy");
        (void) agent_reload(a, NULL);
        return 0;
}

/* ---- start and stop ---- */

static int open_runtime_dir(struct agent *a) {
        const char *dir = runtime_dir_resolve(a->opt.runtime_dir);

        a->runtime_dir = strdup(dir);
        if (!a->runtime_dir)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return log_error_errno(negative_errno(), "cannot create runtime directory %s: %m",
                                       dir);
        a->runtime_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (a->runtime_fd < 0)
                return log_error_errno(negative_errno(), "cannot open runtime directory %s: %m",
                                       dir);
        return 0;
}

int agent_start(struct agent *a) {
        struct loaded_policy l = { 0 };
        char msg[1024];
        int r;

        a->props.last_error = strdup("");
        a->props.policy_name = strdup("");
        a->props.policy_path = strdup("");
        a->verdict.as.report = calloc(1, sizeof(*a->verdict.as.report));
        a->verdict.as.results = a->verdict.results;
        a->verdict.as.ctx.root_fd = -1;
        if (!a->props.last_error || !a->props.policy_name || !a->props.policy_path ||
            !a->verdict.as.report)
                return -ENOMEM;

        /* Signals are blocked by main(); the loop takes them as signalfd sources. */
        r = sd_event_default(&a->event);
        if (r < 0)
                return log_error_errno(r, "cannot create the event loop: %m");
        if (sd_event_add_signal(a->event, NULL, SIGTERM, on_sigterm, a) < 0 ||
            sd_event_add_signal(a->event, NULL, SIGINT, on_sigterm, a) < 0 ||
            sd_event_add_signal(a->event, NULL, SIGHUP, on_sighup, a) < 0)
                return log_error_errno(-EIO, "cannot add signal sources");
        /* WATCHDOG=1 at half of WATCHDOG_USEC when systemd asks for it (no-op otherwise). */
        r = sd_event_set_watchdog(a->event, true);
        if (r < 0)
                log_warning_errno(r, "cannot enable the watchdog: %m");

        r = open_runtime_dir(a);
        if (r < 0)
                return r;
        r = work_queue_new(a, a->event, a->runtime_dir, &a->queue);
        if (r < 0) {
                log_error("cannot start the work queue: %s", strerror(-r));
                return r;
        }

        /* The policy is loaded and validated before anything is exposed: a daemon that
         * cannot tell what it should do must not claim the bus name. */
        agent_notify_status(a, "Loading policy");
        r = load_new_policy(a, &l, msg, sizeof(msg));
        if (r < 0)
                return log_error_errno(r, "invalid policy: %s", msg);
        r = switch_policy(a, &l);
        if (r < 0)
                return r;
        log_info("policy %s (%s) loaded", a->props.policy_name, a->props.policy_path);

        r = bus_open_spec(a->opt.bus, "hosttuned", &a->bus);
        if (r < 0)
                return log_error_errno(r, "cannot connect to the %s bus: %m", a->opt.bus);
        r = agent_bus_register(a);
        if (r < 0)
                return log_error_errno(r, "cannot register the D-Bus object: %m");
        r = sd_bus_request_name(a->bus, AGENT_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "cannot take the bus name %s: %m", AGENT_BUS_NAME);
        /* Without its bus the agent cannot answer or be found: exit (non-zero), and let systemd
         * restart it once the bus is back. */
        (void) sd_bus_set_exit_on_disconnect(a->bus, true);
        r = sd_bus_attach_event(a->bus, a->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "cannot attach the bus to the event loop: %m");

        /* Holding the bus name, this is the only agent: what an earlier one left half-written
         * (killed between creating a temporary file and renaming it) can go. */
        agent_outputs_clean_leftovers(a);
        r = agent_facts_start(a);
        if (r < 0)
                return r;

        /* The leases of an earlier run, before the first apply: its plan must leave what they
         * hold alone. The report they judge requests by comes from that apply's probe. */
        r = agent_leases_start(a);
        if (r < 0)
                return log_error_errno(r, "cannot start the leases: %m");
        /* Builds lease through the socket; without it the bus still serves. */
        (void) agent_lease_sock_start(a);

        /* The first apply (it probes first, for its plan); READY=1 when it ended. It probes
         * when its turn comes: when leftovers of the leases of an earlier run are being removed
         * first, probe now, so that requests that come meanwhile are judged by this host's
         * report. */
        agent_notify_status(a, "Probing");
        if (work_queue_busy(a->queue))
                (void) agent_reprobe(a, "start");
        r = agent_apply_submit(a, APPLY_CAUSE_START, NULL);
        if (r < 0) {
                log_error("cannot apply the policy: %s", strerror(-r));
                return r;
        }
        return 0;
}

void agent_done(struct agent *a) {
        /* First: the job under way ends, and what waits is answered while the bus is there. */
        work_queue_free(a->queue);
        a->queue = NULL;
        agent_facts_stop(a);
        agent_leases_done(a);
        agent_lease_sock_stop(a);
        agent_apply_done(a);
        a->timers.reprobe = sd_event_source_unref(a->timers.reprobe);
        a->timers.outputs = sd_event_source_disable_unref(a->timers.outputs);
        if (a->bus) {
                sd_bus_flush(a->bus);
                a->bus = sd_bus_flush_close_unref(a->bus);
        }
        a->event = sd_event_unref(a->event);
        safe_close(a->outputs.state_fd);
        safe_close(a->runtime_fd);
        free(a->outputs.state_text);
        free(a->runtime_dir);
        plan_free(&a->verdict.as.plan);
        free(a->in_force.policy);
        free(a->verdict.as.report);
        free(a->props.policy_name);
        free(a->props.policy_path);
        free(a->props.last_error);
}
