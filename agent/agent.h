/* SPDX-License-Identifier: MIT */
/* hosttuned's state and the operations the event loop, the bus handlers and (later) the lease
 * code share. One struct agent per process; bus properties are fields read by offsetof.
 *
 * Adding bus methods (the leases work): add SD_BUS_METHOD_WITH_ARGS entries to agent_vtable in
 * agent/bus.c (the one vtable; AcquireLease, ReleaseLease and ListLeases are already allowed by
 * the bus policy file), with handlers in their own file (agent/lease.c) that take the struct
 * agent as userdata. Handlers that change anything call agent_bus_check_privileged() first.
 * Keep the lease table behind a pointer added to struct agent; after every change fill
 * a->leases and call agent_leases_changed(), which emits PropertiesChanged(HugePagesLeased) and
 * republishes agent.state so `hosttune check` counts leased capacity. a->report is the last full
 * probe (agent_reprobe() refreshes it), a->event takes timers (sd_event_add_time_relative),
 * a->bus takes sd_bus_track objects for client lifetimes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent/bus-request.h"
#include "lib/fsutil.h"
#include "lib/util.h"
#include "runtime/agent-state.h"
#include "policies/plan.h"
#include "policies/policy.h"
#include "policies/readiness.h"
#include "probes/report.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put)

#define AGENT_BUS_NAME "org.hosttune.Agent1"
#define AGENT_OBJECT_PATH "/org/hosttune/Agent1"
#define AGENT_INTERFACE "org.hosttune.Agent1"

#define AGENT_ERROR_INVALID_POLICY "org.hosttune.Error.InvalidPolicy"
#define AGENT_ERROR_NOT_READY "org.hosttune.Error.NotReady"
#define AGENT_ERROR_INSUFFICIENT_HUGEPAGES "org.hosttune.Error.InsufficientHugePages"
#define AGENT_ERROR_INSUFFICIENT_TAPS "org.hosttune.Error.InsufficientTaps"
#define AGENT_ERROR_NO_SUCH_LEASE "org.hosttune.Error.NoSuchLease"
#define AGENT_ERROR_ACCESS_DENIED "org.hosttune.Error.AccessDenied"
/* A per-uid cap of the policy ([agent] max-leases-per-uid, max-waiting-per-uid), named in the
 * message. */
#define AGENT_ERROR_LIMIT_EXCEEDED "org.hosttune.Error.LimitExceeded"
/* More hugepages than the pool may ever hold: asking again will not help. */
#define AGENT_ERROR_EXCEEDS_POOL "org.hosttune.Error.ExceedsPool"

struct agent_options {
        const char *policy;      /* FILE or NAME as given; NULL = the default rule (agent.c) */
        const char *runtime_dir; /* NULL = $HOSTTUNE_RUNTIME_DIR or /run/hosttune */
        const char *bus;         /* "system" (default), "session", or a D-Bus address */
};

/* Counters and durations for the metrics file. */
struct agent_stats {
        uint64_t reloads, reloads_rejected;
        uint64_t applies, applies_failed;
        uint64_t apply_usec_last, apply_usec_sum;
        uint64_t reverts;
        uint64_t reprobes, drifts;
        uint64_t checks;
        uint64_t last_probe_realtime_usec;
};

/* Why a lease request was refused: the label values of hosttune_lease_requests_refused_total
 * (docs/readiness-outputs.md), one per D-Bus error a request can end with. */
enum lease_refusal {
        LEASE_REFUSAL_INSUFFICIENT_HUGEPAGES,
        LEASE_REFUSAL_INSUFFICIENT_TAPS,
        LEASE_REFUSAL_EXCEEDS_POOL,
        LEASE_REFUSAL_LIMIT_EXCEEDED,
        LEASE_REFUSAL_NOT_READY,
        LEASE_REFUSAL_ERROR, /* anything else: a failure of the agent or the host */
        _LEASE_REFUSAL_MAX,
};

/* The label value of a refusal reason, "insufficient_hugepages". */
const char *lease_refusal_to_string(enum lease_refusal r);

/* The refusal reason of a D-Bus error name. */
enum lease_refusal lease_refusal_from_error(const char *name);

/* Capacity signals for fleet schedulers, per hugepage size (page_size 0: requests for taps or
 * snapshots only): the lease requests and what growing the pool for them did. Counters only
 * grow; the gauges (waiting, queued) are filled when the metrics are written. */
struct lease_stats {
        uint64_t page_size;
        uint64_t granted;
        uint64_t refused[_LEASE_REFUSAL_MAX];
        uint64_t abandoned;     /* the caller left the bus before its answer */
        uint64_t waited;        /* requests that were not served at once */
        uint64_t wait_usec_sum; /* arrival to answer, over the granted and refused ones */
        uint64_t waiting;       /* unanswered, not being provisioned: the queue */
        uint64_t queued;        /* unanswered: waiting or being provisioned */
        /* Growing the pool for leases (not the applies of the policy). */
        uint64_t growths, growths_short;
        uint64_t growth_pages_asked, growth_pages_obtained;
        uint64_t growth_reclaims; /* growths that dropped the page cache, dentries and inodes */
        uint64_t growth_usec_sum;
};

#define LEASE_STATS_MAX (HUGETLB_SIZES_MAX + 1)

struct apply_run;     /* agent/apply.c: a plan being executed */
struct lease_manager; /* agent/lease.h */
struct lease_sock;    /* agent/lease-sock.c */

struct check_facts_watch; /* agent/check-facts.c */

/* An apply that waits for the lease worker to let go of the journal. */
struct deferred_apply {
        int cause; /* enum apply_cause */
        sd_bus_message *reply_to;
};

/* Reload() calls waiting for their answer. */
struct reload_calls {
        sd_bus_message **calls;
        unsigned n;
};

/* What asked for an apply; decides how its end is reported. */
enum apply_cause {
        APPLY_CAUSE_START,  /* first apply: READY=1 when it ends */
        APPLY_CAUSE_RELOAD, /* after a reload: READY=1 and the Reload reply */
        APPLY_CAUSE_METHOD, /* Apply(false): the method reply */
        APPLY_CAUSE_DRIFT,  /* reapply-on-drift */
};

struct agent {
        struct agent_options opt;
        sd_event *event;
        sd_bus *bus;
        char *runtime_dir;
        int runtime_fd;
        int state_fd; /* the agent.state file we wrote last; its OFD lock proves we are alive */
        char *state_text;

        /* The policy in force and what was derived from it at load time. */
        struct policy *policy;
        struct requirements require; /* policy->require */
        bool lease_gid_set;
        gid_t lease_gid; /* [agent] lease-group resolved once per policy load */
        /* The files it was read from as they were then, and why the agent refused them since
         * ("" = it did not): published in agent.state so `check` judges by the policy in force
         * (docs/agent-state.md). */
        unsigned n_policy_files;
        struct policy_file_stamp policy_files[AGENT_STATE_POLICY_FILES_MAX];
        char policy_refused[512];

        /* Bus properties, read by sd-bus through offsetof: the C types are the ones sd-bus
         * expects for the signature ("b" is an int, "s" a char *, "t" a uint64_t). */
        int ready;
        char *policy_name;
        char *policy_path;
        uint64_t generation;
        char *last_error;
        uint64_t hugepages_total; /* bytes in every hugepage pool */
        uint64_t hugepages_leased;

        /* The last full probe and its verdict: the requirements, and the plan (what the policy
         * still wants changed). */
        struct host_report *report;
        struct plan plan;
        struct requirement_result results[REQUIREMENTS_MAX];
        unsigned n_failed;
        char ready_reason[512];
        bool evaluated;
        /* The pools the last drift check left alone as out of reach, "knob=wanted;" each
         * (logged when it changes). */
        char drift_left_alone[256];
        /* The last KVM smoke verdicts (probes/kvm-smoke.h). Probes reuse them while /dev/kvm
         * and the module keep their identity; the re-probe timer clears kvm_smoke_valid so the
         * guests run again. Published in agent.state for `hosttune check`. */
        struct kvm_smoke_verdict kvm_smoke;
        bool kvm_smoke_valid;

        /* What leases hold (agent/lease.c computes it from its table). After changing it,
         * call agent_leases_changed(). */
        struct lease_usage leases;

        /* Work in progress. */
        struct apply_run *apply;      /* the running apply, or NULL */
        struct apply_run *last_apply; /* the last one that ended, for GetReport */
        /* Each Reload() call is answered by the reload it asked for: the calls of the reload
         * under way wait in reload_waiters until its apply ended; calls that come while an
         * apply runs wait in queued_reload_waiters for the reload that starts after it. */
        struct reload_calls reload_waiters;
        struct reload_calls queued_reload_waiters;
        bool reload_queued; /* SIGHUP/Reload while an apply or a reload runs: reload after it */
        bool reloading;     /* a reload's apply runs or waits for the lease worker */
        bool reverted;      /* Revert() ran: no re-apply on drift until Apply or Reload */
        bool started;       /* READY=1 was sent after the first apply */
        bool stopping;

        int nfd_error; /* the last write of the NFD feature file: 0 or a negative errno */

        sd_event_source *reprobe_source;
        sd_event_source *outputs_source; /* writes the files after lease changes, when idle */
        struct agent_stats stats;
        /* Lease capacity signals (agent/lease.c fills them); see struct lease_stats. */
        struct lease_stats lease_stats[LEASE_STATS_MAX];
        unsigned n_lease_stats;

        /* Leases (agent/lease*.c). */
        struct lease_manager *lease_mgr;
        struct lease_sock *lease_sock; /* agent/lease-sock.c */
        /* Applies asked for while the lease worker held the revert journal: started in order
         * once it let go (agent_apply_run_deferred). */
        struct deferred_apply *deferred_applies;
        unsigned n_deferred_applies;

        /* check.facts and the watches that refresh it (agent/check-facts.h). */
        struct check_facts_watch *facts_watch;
};

/* Set up everything up to (and including) taking the bus name, then run the first apply;
 * READY=1 follows when it ends. Returns a negative errno after logging why. */
int agent_start(struct agent *a);

/* Release everything (accepts a partly started agent). */
void agent_done(struct agent *a);

/* Load and validate the policy the options name, switch to it when valid, re-probe, re-apply.
 * On an invalid policy nothing changes except LastError. While an apply (or another reload)
 * runs, the reload is queued and starts once that ended. reply_to (a Reload() call, or NULL)
 * is answered by this reload: with the new generation once its apply ended, or with
 * org.hosttune.Error.InvalidPolicy and "file:line: key: message". Returns 0, or a negative
 * errno when reply_to could not be taken on (the caller answers it then). */
int agent_reload(struct agent *a, sd_bus_message *reply_to);

/* Re-probe everything into a fresh report that replaces a->report (the last one stays when
 * probing fails), re-evaluate readiness, publish: bus
 * properties and signals when they changed, ready.json, metrics, nix.conf, agent.state. */
int agent_reprobe(struct agent *a, const char *why);

/* The same, reading also the facts only JSON shows (per-node pools, tap details, ...): for
 * GetReport. agent_reprobe() leaves them out, since readiness never depends on them. */
int agent_reprobe_full(struct agent *a, const char *why, bool detail);

/* Publish a->leases after it changed: HugePagesLeased at once, the files (agent.state,
 * ready.json, metrics) once the event loop is idle. */
void agent_leases_changed(struct agent *a);

/* Write the files (agent.state, ready.json, metrics, NFD; not nix.conf) once the event loop is
 * idle: many changes in a burst write them once. */
void agent_outputs_schedule(struct agent *a);

/* Probe what req needs (everything when with_policy) into *report, which must be zeroed
 * (take it from calloc(), so that pages no probe writes stay untouched), evaluate req
 * against it and a->leases, and with with_policy also plan the policy against it into
 * *ret_plan (free with plan_free). Returns the number of unsatisfied requirements or a negative
 * errno. */
int agent_check(struct agent *a, const struct requirements *req, bool with_policy,
                struct host_report *report, struct requirement_result *results,
                struct plan *ret_plan);

/* Set LastError ("" clears it) and emit PropertiesChanged when it changed. */
void agent_set_last_error(struct agent *a, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Start applying the plan for the current policy (after a fresh probe). Returns 0 when the
 * plan was empty and nothing runs (done already called), 1 when an apply runs, -EBUSY when one
 * runs already, or a negative errno. When it ends, agent_apply_finished() is called. */
int agent_apply_start(struct agent *a, enum apply_cause cause, sd_bus_message *reply_to);

/* Revert everything the journal holds; synchronous. */
int agent_revert(struct agent *a, char *err, size_t errsize);

/* The plan for the current policy against a fresh probe, as JSON (Apply(true)). */
int agent_plan_json(struct agent *a, json_object **ret);

/* The last apply's steps and outcomes as JSON (null before the first one). */
json_object *agent_apply_last_json(struct agent *a);

/* Free what agent/apply.c holds (waits for a running apply). */
void agent_apply_done(struct agent *a);

/* Completion hooks, called by agent/apply.c when an apply of that cause ended; changed says
 * whether it ran steps (otherwise the probe made for its plan is still current). */
void agent_start_finished(struct agent *a, bool changed);
void agent_reload_finished(struct agent *a, bool changed);
/* A reload's apply could not start (negative errno): the reload ends as if it had applied
 * nothing, LastError says why, and a reload queued behind it starts. */
void agent_reload_apply_failed(struct agent *a, int error);
void agent_stop_if_pending(struct agent *a);
/* After an apply ended: run the reload that came in while it ran (SIGHUP or Reload()). */
void agent_run_queued_reload(struct agent *a);

/* (Re)arm the one-shot CLOCK_MONOTONIC timer *s to fire usec from now (created on first use);
 * usec 0 disables it. */
int agent_timer_arm(struct agent *a, sd_event_source **s, uint64_t usec, uint64_t accuracy,
                    sd_event_time_handler_t handler, void *userdata);

/* CLOCK_MONOTONIC or CLOCK_REALTIME now, in microseconds. */
uint64_t agent_now_usec(clockid_t clock);

/* sd_notify wrappers that also log at debug level. */
void agent_notify_status(struct agent *a, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* ---- agent/bus.c ---- */

/* Register the object's vtable on a->bus (before the name is requested). */
int agent_bus_register(struct agent *a);

/* Emit PropertiesChanged for the named properties (a NULL-terminated array); the macro takes
 * the names as arguments. */
void agent_bus_properties_changed_strv(struct agent *a, const char *const *names);
#define agent_bus_properties_changed(a, ...)                                                       \
        agent_bus_properties_changed_strv((a), (const char *const[]){ __VA_ARGS__, NULL })

/* Emit ReadinessChanged(ready, reason) and PolicyReloaded(generation, name). */
void agent_bus_emit_readiness_changed(struct agent *a);
void agent_bus_emit_policy_reloaded(struct agent *a);

/* Is the caller of m allowed to change things (Reload, Apply, Revert, leases)? root, or a
 * member (effective or supplementary gid) of the policy's [agent] lease-group, from the
 * sender's credentials as the bus reports them. Returns 1 when allowed, 0 with error set to
 * org.hosttune.Error.AccessDenied when not, or a negative errno when the credentials could
 * not be had. Lease handlers call this first. */
int agent_bus_check_privileged(struct agent *a, sd_bus_message *m, sd_bus_error *error);

/* The caller's credentials as agent_bus_check_privileged() needs them (effective uid and gid,
 * supplementary gids, pid). */
int agent_bus_sender_creds(sd_bus_message *m, sd_bus_creds **ret);

/* agent_bus_check_privileged() with credentials already had. */
int agent_bus_check_privileged_creds(struct agent *a, sd_bus_message *m, sd_bus_creds *creds,
                                     sd_bus_error *error);

/* What one bus caller may see (agent/visibility.c, docs/dbus-api.md "Who sees what"). */
struct agent_viewer {
        bool privileged; /* uid 0 or the lease group: sees everything */
        struct access_identity id;
};

/* The caller of m as a viewer. */
int agent_viewer_get(struct agent *a, sd_bus_message *m, struct agent_viewer *ret);

/* text with every absolute path the viewer could not reach itself (with contents: not read)
 * replaced by "(hidden)", or with cut, the text cut before the first such path and a note
 * appended. For a privileged viewer a copy. */
void agent_viewer_redact_text(const struct agent_viewer *v, const char *text, bool contents,
                              bool cut, char *buf, size_t size);

/* A report document (GetReport, Check) as the viewer may see it: hidden paths replaced, the nix
 * probe's facts dropped when nix.conf is not readable to it, last_error cut. */
void agent_viewer_redact_report(const struct agent_viewer *v, const struct agent *a,
                                json_object *doc);

/* agent_bus_check_privileged() for a handler: < 0 (error set, or a negative errno) when the
 * caller may not go on, 0 when it may. */
int agent_bus_require_privileged(struct agent *a, sd_bus_message *m, sd_bus_error *error);

/* ---- agent/lease*.c (docs/leases.md) ---- */

/* Start the leases: the worker thread, then the lease file of an earlier run: leases whose
 * holder is still on the bus (or that persist) are kept, the rest given back, leftovers of a
 * crash removed. Call once the bus is attached and before the first apply (whose plan must
 * leave leased taps alone). */
int agent_leases_start(struct agent *a);

/* Stop the worker (after its job), answer waiting calls; leases stay on record. */
void agent_leases_done(struct agent *a);

/* Does the lease worker hold the revert journal now (agent_apply_start then waits)? */
bool agent_leases_journal_busy(const struct agent *a);

/* An apply ended: lease work that waited for it may go on. */
void agent_leases_apply_ended(struct agent *a);

/* The policy changed (reload): pool ceilings and the idle shrink may be different. */
void agent_leases_policy_changed(struct agent *a);

/* Leases on record (granted, being provisioned or being given back). */
unsigned agent_leases_count(const struct agent *a);

/* Why hugepage leases are not enforced by the kernel here, "" when they are (agent.state). */
const char *agent_leases_unenforced(const struct agent *a);

/* The directory that holds the lease cgroups into buf, "" when leases are not enforced. */
void agent_leases_cgroups(const struct agent *a, char *buf, size_t size);

/* Bytes of page_size hugepages in use (faulted in) that no enforced lease accounts for: the
 * pool's in-use pages now minus what the lease cgroups are charged. -EOPNOTSUPP where leases are
 * not enforced (their holders' pages cannot be told from anyone else's). */
int agent_leases_unleased(const struct agent *a, uint64_t page_size, uint64_t *ret);

/* "hugepages_unleased" (bytes, all page sizes) into the agent object o of a JSON document, where
 * leases are enforced. */
void agent_add_unleased(const struct agent *a, json_object *o);

/* The stats entry of page_size (created on first use; NULL when every entry is taken). */
struct lease_stats *agent_lease_stats(struct agent *a, uint64_t page_size);

/* Fill the gauges of a->lease_stats (waiting, queued) from the queue, for the metrics file. */
void agent_lease_stats_refresh(struct agent *a);

/* Take out of plan what would undo a lease (lease_plan_filter with a->leases). */
void agent_leases_filter_plan(const struct agent *a, struct plan *plan);

/* The lease methods of the vtable. */
int agent_method_acquire_lease(sd_bus_message *m, void *userdata, sd_bus_error *error);
int agent_method_release_lease(sd_bus_message *m, void *userdata, sd_bus_error *error);
int agent_method_list_leases(sd_bus_message *m, void *userdata, sd_bus_error *error);

/* ---- agent/apply.c: applies that waited for the lease worker ---- */

/* Start the applies asked for while the lease worker held the journal, in order, as far as
 * one can run now (the next starts when it ended). */
void agent_apply_run_deferred(struct agent *a);

/* ---- agent/outputs.c ---- */

/* Write ready.json, the metrics file, nix.conf, the node-feature-discovery file (when the
 * policy names one) and agent.state for the current state. Returns
 * the first error (each output is still attempted). */
int agent_outputs_write(struct agent *a);

/* The same, nix.conf only when asked: what leases hold is in ready.json, the metrics, the NFD
 * file and agent.state, never in the verified features (leases change often; nix.conf readers are
 * Nix daemons that re-read it on every build). */
int agent_outputs_write_some(struct agent *a, bool nix_conf);

/* Remove the temporary files that an agent killed mid-write left next to its outputs (ready.json,
 * the metrics file, the nix.conf features file, agent.state, leases.json), the predictable
 * NAME.tmp.PID of earlier versions included (lib/fileio.h tmpfiles_clean_at). Call it only
 * while this is the one agent (it holds the bus name). Logs what it removed. */
void agent_outputs_clean_leftovers(struct agent *a);

/* The Nix system features this host verifiably provides, space separated, into buf. */
void agent_verified_features(const struct agent *a, char *buf, size_t size);
