/* SPDX-License-Identifier: MIT */
/* The agent's leases (docs/leases.md), shared by agent/lease*.c: the lease table, the queue of
 * AcquireLease calls waiting for capacity, the bus peers that hold them, and the jobs that do
 * what takes milliseconds or seconds (growing a hugepage pool, snapshotting a template,
 * refilling the prepared set) on the agent's work queue while the event loop keeps answering.
 * Everything here but a job's run runs on the event loop's thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent/agent.h"
#include "agent/bus-request.h"
#include "agent/lease-cgroup.h"
#include "agent/queue.h"
#include "policies/apply/apply.h"
#include "policies/apply/snapshots.h"
#include "runtime/lease-file.h"

struct lease_manager;

/* A bus peer with leases or waiting requests, watched so that its leases die with it. */
struct lease_client {
        struct lease_manager *m;
        char *name;              /* unique name, ":1.42" */
        sd_bus_track *track;     /* empty (handler called) once the peer left the bus */
        sd_bus_slot *check_slot; /* NameHasOwner in flight (closes the race with AddMatch) */
        unsigned n_refs;         /* leases and requests pointing here */
        bool gone;               /* left the bus: freed with its last reference */
        sd_bus_creds *creds;     /* as the bus daemon gave them at its first call */
};

struct lease_request;
struct lease_sock_conn;

struct lease {
        struct lease_record rec;
        struct lease_client *client; /* the holder, watched; NULL for persist leases */
        struct lease_request *req;   /* while provisioning: the call that gets the grant */
        bool job_running;            /* a job works for it (snapshot or delete) */
        bool release_wanted;         /* release once provisioning ended */
        char release_reason[128];
        uint64_t next_tap_retry_usec; /* releasing: when to try giving busy taps back */
        char cgroup[CGROUP_PATH_MAX]; /* rec.enforced: the cgroup its holder was moved into */
        bool on_file; /* the lease file has a "set" line of it (its removal needs a line too) */
        bool unsaved; /* rec changed since its last line: written at the next save */
};

/* An AcquireLease call not answered yet: waiting for capacity, or being provisioned. */
struct lease_request {
        struct lease_manager *m;
        sd_bus_message *msg;          /* an AcquireLease call, or NULL: */
        struct lease_sock_conn *sock; /* a request over lease.sock (agent/lease-sock.c) */
        struct lease_client *client;
        sd_event_source *timer; /* the end of its wait */
        uint64_t pages;         /* hugepages wanted, in pages of want.hugepage_size */
        unsigned taps;          /* taps wanted */
        uint32_t wait_sec;
        struct lease_record want; /* label, persist, snapshot, template, ids of the caller */
        bool enforce;             /* move the caller into the lease's cgroup ("enforce") */
        uint64_t arrived_ticks;   /* since boot: a process started later did not ask */
        uint64_t arrived_usec;    /* CLOCK_MONOTONIC: its wait, for the metrics */
        bool waited;              /* was not served at once (counted once) */
        struct lease *lease;      /* once provisioning started */
        /* Why it could not be served the last time it was looked at, for the error it gets
         * when its wait ends. */
        const char *why_error;
        char why[640];
        bool wait_logged;
};

enum lease_job_kind {
        LEASE_JOB_RESIZE,   /* set a hugepage pool's size (journaled) */
        LEASE_JOB_REFILL,   /* make the slots and prepared snapshots leases took (journaled) */
        LEASE_JOB_SNAPSHOT, /* make a lease's snapshot directory now */
        LEASE_JOB_DELETE,   /* delete a lease's snapshot directory that is a plain tree */
};

struct lease_job {
        struct job job;
        enum lease_job_kind kind;
        struct lease_manager *m;
        struct lease *lease; /* SNAPSHOT, DELETE (NULL: a leftover found at start) */

        /* Inputs, copied: the job touches nothing else of the agent while it runs. */
        int root_fd;
        char root[POLICY_PATH_MAX];
        char id[LEASE_ID_LEN + 1];
        char tmpl[LEASE_TEMPLATE_NAME_MAX + 1];
        uid_t uid;
        gid_t gid;
        struct plan_step step; /* RESIZE */
        struct policy *policy; /* REFILL: a copy */

        /* Outputs. */
        int r;
        struct step_result res;        /* RESIZE */
        unsigned made, short_steps;    /* REFILL */
        struct snapshot_lease_dir dir; /* SNAPSHOT */
};

/* Per page size: what leases did to the pool. */
struct lease_pool_state {
        uint64_t page_size;
        bool growing;            /* a RESIZE job grows it */
        uint64_t base;           /* nr before leases first grew it (0: they did not) */
        uint64_t no_grow_before; /* after a growth fell short: no new try before this */
        char shortfall[400];     /* what the last growth that fell short said */
};

struct lease_manager {
        struct agent *a;
        int root_fd;                   /* "/" */
        struct lease_cgroups *cgroups; /* enforcement (agent/lease-cgroup.h) */

        /* The lease table and its file (agent/lease.c). */
        struct {
                struct lease **leases;
                unsigned n_leases;
                bool published;       /* a->lease.held was computed from the table once */
                bool save_pending;    /* a write is due (timers.save): the file is behind */
                struct lease_log log; /* the lease file (runtime/lease-file.h) */
                /* Leases on file that left the table since the last save: their "remove"
                 * lines are due. */
                char (*removed)[LEASE_ID_LEN + 1];
                unsigned n_removed, removed_capacity;
        } table;

        /* The AcquireLease calls waiting for capacity (agent/lease-queue.c). */
        struct {
                struct lease_request **queue; /* arrival order */
                unsigned n_queue;
                unsigned peak;    /* the longest since it was last trimmed */
                bool wake_queued; /* lease_wake_after_work() waits for its turn */
                bool in_run, again;
        } requests;

        /* The bus peers that hold leases or wait (agent/lease-client.c). */
        struct {
                struct lease_client **clients;
                unsigned n_clients;
        } peers;

        /* Per page size: what leases did to the pool (agent/lease-pool.c). */
        struct {
                struct lease_pool_state pools[HUGETLB_SIZES_MAX];
                unsigned n_pools;
        } hugepages;

        /* Taps someone held when a lease wanted them: passed over a while (agent/lease-tap.c). */
        struct {
                struct {
                        char name[LEASE_TAP_NAME_MAX];
                        uint64_t until; /* CLOCK_MONOTONIC */
                } busy[16];
        } taps;

        /* The prepared snapshot set (agent/lease-provision.c). */
        struct {
                bool refill_wanted;
                unsigned refill_jobs; /* REFILL jobs under way or waiting for their turn */
        } snapshots;

        struct {
                sd_event_source *shrink;
                sd_event_source *tap_retry; /* taps still held by a VM when their lease ended */
                sd_event_source *wait;      /* hugepage requests waiting for memory to come free */
                sd_event_source *save;      /* the deferred write of the lease file */
        } timers;
};

/* ---- agent/lease.c ---- */

/* Write l's record (l may be NULL) to the lease file now, with every change that waited for
 * lease_manager_save_later(): before a reply that promises the lease is on record (a grant).
 * One appended line per change, or the whole table when the file is due for compaction
 * (runtime/lease-file.h). Logs and returns the error; what was not written stays due. */
int lease_manager_save(struct lease_manager *m, struct lease *l);

/* Write l's record (l may be NULL) a moment later (50 ms), with every change made until then:
 * for changes a crash may lose without promising anything twice (a lease's removal). */
void lease_manager_save_later(struct lease_manager *m, struct lease *l);

/* Recompute a->leases from the table and publish (HugePagesLeased, agent.state, ...). */
void lease_manager_publish(struct lease_manager *m);

/* Add a lease (takes it) / find one by id. */
int lease_manager_add(struct lease_manager *m, struct lease *l);
struct lease *lease_manager_find(struct lease_manager *m, const char *id);

/* Free a lease that is out of the table (or with it, at the end). */
void lease_free(struct lease *l);
/* Take l out of the table (not freed); its removal is written at the next save. */
void lease_manager_remove(struct lease_manager *m, struct lease *l);

/* a / b, rounded up. */
static inline uint64_t div_up(uint64_t a, uint64_t b) {
        return a / b + (a % b != 0);
}

/* CLOCK_MONOTONIC now, in microseconds. */
static inline uint64_t now_usec(void) {
        return agent_now_usec(CLOCK_MONOTONIC);
}

/* The lease code's files, each with its header. */
#include "agent/lease-client.h"
#include "agent/lease-job.h"
#include "agent/lease-pool.h"
#include "agent/lease-provision.h"
#include "agent/lease-queue.h"
#include "agent/lease-release.h"
#include "agent/lease-tap.h"
