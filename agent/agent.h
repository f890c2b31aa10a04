/* SPDX-License-Identifier: MIT */
/* hosttuned's state and the operations the event loop, the bus handlers, the jobs and the lease
 * code share. One struct agent per process, its fields grouped by concern: the policy in force
 * (a->in_force), the bus properties (a->props, read by offsetof), the last assessment and its
 * verdict (a->verdict: agent_reprobe() refreshes it), the KVM smoke verdict (a->smoke), the
 * leases (a->lease), the files written (a->outputs), timers and counters. Every change to the
 * host is a job on a->queue (agent/queue.h), reported by its done() on the event loop; a->event
 * takes timers (agent_timer_arm), a->bus the sd_bus_track objects of clients' lifetimes. After
 * changing what leases hold (a->lease.held), call agent_leases_changed(). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent/apply.h"
#include "agent/bus-request.h"
#include "agent/bus.h"
#include "runtime/errors.h"
#include "agent/lease-agent.h"
#include "agent/lease-stats.h"
#include "agent/outputs.h"
#include "agent/visibility.h"
#include "assess/assess.h"
#include "lib/fsutil.h"
#include "lib/json-util.h"
#include "lib/util.h"
#include "runtime/agent-state.h"
#include "policies/plan.h"
#include "policies/policy.h"
#include "policies/readiness.h"
#include "probes/report.h"

#define AGENT_BUS_NAME "org.hosttune.Agent1"
#define AGENT_OBJECT_PATH "/org/hosttune/Agent1"
#define AGENT_INTERFACE "org.hosttune.Agent1"

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

struct apply_run;         /* agent/apply.c: an apply's plan and outcome */
struct apply_job;         /* agent/apply.c */
struct lease_manager;     /* agent/lease.h */
struct lease_sock;        /* agent/lease-sock.c */
struct work_queue;        /* agent/queue.h */
struct check_facts_watch; /* agent/check-facts.c */

/* The policy in force and what was derived from it at load time. */
struct agent_policy {
        struct policy *policy;
        struct requirements require; /* policy->require */
        struct {
                bool set;
                gid_t gid;
        } lease_group; /* [agent] lease-group resolved once per policy load */
        /* The files it was read from as they were then, and why the agent refused them since
         * ("" = it did not): published in agent.state so `check` judges by the policy in force
         * (docs/agent-state.md). */
        unsigned n_files;
        struct policy_file_stamp files[AGENT_STATE_POLICY_FILES_MAX];
        char refused[512];
};

/* Bus properties, read by sd-bus through offsetof(struct agent, props.NAME): the C types are the
 * ones sd-bus expects for the signature ("b" is an int, "s" a char *, "t" a uint64_t). */
struct agent_props {
        int ready;
        char *policy_name;
        char *policy_path;
        uint64_t generation;
        char *last_error;
        uint64_t hugepages_total; /* bytes in every hugepage pool */
        uint64_t hugepages_leased;
};

/* The last full probe and its verdict (agent_reprobe_full keeps what assess() returned): the
 * report, the requirements judged, and the plan (what the policy still wants changed). */
struct agent_verdict {
        /* as.report is owned (freed when replaced), as.results points at results, as.ctx is
         * closed; as.ready is also published as props.ready. */
        struct assessment as;
        struct requirement_result results[REQUIREMENTS_MAX];
        char reason[512]; /* assessment_reason() of as */
        bool evaluated;   /* as holds a verdict (false until the first probe succeeded) */
};

/* The last KVM smoke verdicts (probes/kvm-smoke.h). Probes reuse them while /dev/kvm and the
 * module keep their identity; the re-probe timer clears valid so the guests run again.
 * Published in agent.state for `hosttune check`. */
struct agent_smoke {
        struct kvm_smoke_verdict verdict;
        bool valid;
};

/* Leases (agent/lease*.c). */
struct agent_leases {
        /* What leases hold (agent/lease.c computes it from its table). After changing it, call
         * agent_leases_changed(). */
        struct lease_usage held;
        struct lease_manager *mgr;
        struct lease_sock *sock; /* agent/lease-sock.c */
        /* Capacity signals (agent/lease-stats.c fills them); see struct lease_stats. */
        struct lease_stats stats[LEASE_STATS_MAX];
        unsigned n_stats;
};

/* The files in the runtime directory (agent/outputs.c). */
struct agent_outputs {
        int state_fd; /* the agent.state file we wrote last; its OFD lock proves we are alive */
        char *state_text;
        int nfd_error; /* the last write of the NFD feature file: 0 or a negative errno */
        /* check.facts and the watches that refresh it (agent/check-facts.h). */
        struct check_facts_watch *facts_watch;
};

struct agent_timers {
        sd_event_source *reprobe;
        sd_event_source *outputs; /* writes the files after lease changes, when idle */
};

struct agent {
        struct agent_options opt;
        sd_event *event;
        sd_bus *bus;
        char *runtime_dir;
        int runtime_fd;
        /* Every job that changes the host runs on this queue (agent/queue.h). */
        struct work_queue *queue;
        bool started; /* READY=1 was sent after the first apply */
        bool stopping;

        struct agent_policy in_force;
        struct agent_props props;
        struct agent_verdict verdict;
        struct agent_smoke smoke;
        struct {
                struct apply_run *last; /* the last apply that ended, for GetReport */
                /* The reload job whose turn has not come: it serves every Reload() that
                 * arrives meanwhile (agent_reload). */
                struct apply_job *reload_waiting;
                bool reverted; /* Revert() ran: no re-apply on drift until Apply or Reload */
                /* The pools the last drift check left alone as out of reach, "knob=wanted;" each
                 * (logged when it changes). */
                char drift_left_alone[256];
        } apply;
        struct agent_leases lease;
        struct agent_outputs outputs;
        struct agent_timers timers;
        struct agent_stats stats;
};

/* Set up everything up to (and including) taking the bus name, then run the first apply;
 * READY=1 follows when it ends. Returns a negative errno after logging why. */
int agent_start(struct agent *a);

/* Release everything (accepts a partly started agent). */
void agent_done(struct agent *a);

/* Load and validate the policy the options name and, when valid, switch to it: generation,
 * PolicyReloaded, LastError cleared, the leases told. Returns 0 when switched; 1 when the
 * policy was refused (msg says "file:line: key: message"; LastError, the counters and the
 * outputs say so, nothing else changes); a negative errno when the switch failed. For the
 * reload job (agent/apply.c), on the event loop. */
int agent_policy_reload(struct agent *a, char *msg, size_t size);

/* Re-probe everything into a fresh report that replaces a->verdict.as.report (the last one stays
 * when probing fails), re-evaluate readiness, publish: bus properties and signals when they
 * changed, ready.json, metrics, nix.conf, agent.state. */
int agent_reprobe(struct agent *a, const char *why);

/* The same, reading also the facts only JSON shows (per-node pools, tap details, ...): for
 * GetReport. agent_reprobe() leaves them out, since readiness never depends on them. */
int agent_reprobe_full(struct agent *a, const char *why, bool detail);

/* Publish a->lease.held after it changed: HugePagesLeased at once, the files (agent.state,
 * ready.json, metrics) once the event loop is idle. */
void agent_leases_changed(struct agent *a);

/* Write the files (agent.state, ready.json, metrics, NFD; not nix.conf) once the event loop is
 * idle: many changes in a burst write them once. */
void agent_outputs_schedule(struct agent *a);

/* Assess the host for a Check call (assess/assess.h): probe what req needs (everything when
 * with_policy) into *report, which must be zeroed (take it from calloc(), so that pages no
 * probe writes stay untouched), judge req against it and a->lease.held into results (req->n of
 * them), and with with_policy also plan the policy. On success fills *ret (its probe context
 * already closed; release it with assessment_done) and returns 0; else a negative errno. */
int agent_check(struct agent *a, const struct requirements *req, bool with_policy,
                struct host_report *report, struct requirement_result *results,
                struct assessment *ret);

/* Set LastError ("" clears it) and emit PropertiesChanged when it changed. */
void agent_set_last_error(struct agent *a, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* (Re)arm the one-shot CLOCK_MONOTONIC timer *s to fire usec from now (created on first use);
 * usec 0 disables it. */
int agent_timer_arm(struct agent *a, sd_event_source **s, uint64_t usec, uint64_t accuracy,
                    sd_event_time_handler_t handler, void *userdata);

/* CLOCK_MONOTONIC or CLOCK_REALTIME now, in microseconds. */
uint64_t agent_now_usec(clockid_t clock);

/* sd_notify wrappers that also log at debug level. */
void agent_notify_status(struct agent *a, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
