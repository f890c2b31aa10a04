/* SPDX-License-Identifier: MIT */
/* hosttuned's state and the operations the event loop, the bus handlers, the jobs and the lease
 * code share. One struct agent per process; bus properties are fields read by offsetof. Every
 * change to the host is a job on a->queue (agent/queue.h), reported by its done() on the event
 * loop; a->report is the last full probe (agent_reprobe() refreshes it), a->event takes timers
 * (agent_timer_arm), a->bus the sd_bus_track objects of clients' lifetimes. After changing what
 * leases hold (a->leases), call agent_leases_changed(). */
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

struct apply_run;     /* agent/apply.c: an apply's plan and outcome */
struct apply_job;     /* agent/apply.c */
struct lease_manager; /* agent/lease.h */
struct lease_sock;    /* agent/lease-sock.c */
struct work_queue;    /* agent/queue.h */

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
        struct {
                bool set;
                gid_t gid;
        } lease_group; /* [agent] lease-group resolved once per policy load */
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
        /* The last KVM smoke verdicts (probes/kvm-smoke.h). Probes reuse them while /dev/kvm
         * and the module keep their identity; the re-probe timer clears kvm_smoke_valid so the
         * guests run again. Published in agent.state for `hosttune check`. */
        struct kvm_smoke_verdict kvm_smoke;
        bool kvm_smoke_valid;

        /* What leases hold (agent/lease.c computes it from its table). After changing it,
         * call agent_leases_changed(). */
        struct lease_usage leases;

        /* Every job that changes the host runs on this queue (agent/queue.h). */
        struct work_queue *queue;
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
        bool started; /* READY=1 was sent after the first apply */
        bool stopping;

        int nfd_error; /* the last write of the NFD feature file: 0 or a negative errno */

        sd_event_source *reprobe_source;
        sd_event_source *outputs_source; /* writes the files after lease changes, when idle */
        struct agent_stats stats;
        /* Lease capacity signals (agent/lease-stats.c fills them); see struct lease_stats. */
        struct lease_stats lease_stats[LEASE_STATS_MAX];
        unsigned n_lease_stats;

        /* Leases (agent/lease*.c). */
        struct lease_manager *lease_mgr;
        struct lease_sock *lease_sock; /* agent/lease-sock.c */
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

/* (Re)arm the one-shot CLOCK_MONOTONIC timer *s to fire usec from now (created on first use);
 * usec 0 disables it. */
int agent_timer_arm(struct agent *a, sd_event_source **s, uint64_t usec, uint64_t accuracy,
                    sd_event_time_handler_t handler, void *userdata);

/* CLOCK_MONOTONIC or CLOCK_REALTIME now, in microseconds. */
uint64_t agent_now_usec(clockid_t clock);

/* sd_notify wrappers that also log at debug level. */
void agent_notify_status(struct agent *a, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
