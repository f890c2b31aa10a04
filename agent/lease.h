/* SPDX-License-Identifier: MIT */
/* The agent's leases (docs/leases.md), shared by agent/lease*.c: the lease table, the queue of
 * AcquireLease calls waiting for capacity, the bus peers that hold them, and the worker thread
 * that does what takes milliseconds or seconds (growing a hugepage pool, snapshotting a template,
 * refilling the prepared set) while the event loop keeps answering. Everything here but the
 * worker's job runs on the event loop's thread. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "agent/agent.h"
#include "agent/bus-request.h"
#include "agent/lease-cgroup.h"
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
        bool job_running;            /* a worker job works for it (snapshot or delete) */
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
        enum lease_job_kind kind;
        struct lease_job *next;
        struct lease *lease; /* SNAPSHOT, DELETE (NULL: a leftover found at start) */

        /* Inputs, copied: the worker touches nothing else of the agent. */
        int root_fd;
        char runtime_dir[POLICY_PATH_MAX];
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
        int root_fd; /* "/" */

        struct lease **leases;
        unsigned n_leases;
        struct lease_request **queue; /* arrival order */
        unsigned n_queue;
        unsigned queue_peak; /* the longest since it was last trimmed */
        struct lease_client **clients;
        unsigned n_clients;

        struct lease_cgroups *cgroups; /* enforcement (agent/lease-cgroup.h) */

        struct lease_pool_state pools[HUGETLB_SIZES_MAX];
        unsigned n_pools;

        struct {
                char name[LEASE_TAP_NAME_MAX];
                uint64_t until; /* CLOCK_MONOTONIC */
        } busy_taps[16]; /* taps someone held when a lease wanted them: passed over a while */

        sd_event_source *shrink_timer;
        sd_event_source *retry_timer; /* taps still held by a VM when their lease ended */
        sd_event_source *wait_timer;  /* hugepage requests waiting for memory to come free */
        bool refill_wanted;
        bool in_queue_run, queue_again;
        bool published;               /* a->leases was computed from the table once */
        sd_event_source *save_source; /* timer: the deferred write of the lease file */
        bool save_pending;
        struct lease_log log;                 /* the lease file (runtime/lease-file.h) */
        char (*removed)[LEASE_ID_LEN + 1];    /* leases on file that left the table since the */
        unsigned n_removed, removed_capacity; /* last save: their "remove" lines are due */

        /* The worker: one job at a time, handed over under lock; the end is signalled through
         * event_fd. */
        pthread_t thread;
        bool thread_started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;
        struct lease_job *current; /* handed to the worker, or being run by it */
        bool current_done;
        int event_fd;
        sd_event_source *event_source;
        struct lease_job *pending, *pending_tail; /* not handed over yet */
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

/* The client struct of a unique bus name still on the bus, or NULL (no reference taken). */
struct lease_client *lease_client_find(struct lease_manager *m, const char *name);

/* The client struct for a unique bus name (created, watched), with a reference taken. A name
 * that does not start with ':' is a connection to lease.sock, which is not on the bus: not
 * watched, its owner calls lease_client_gone() when it closes. */
int lease_client_get(struct lease_manager *m, const char *name, struct lease_client **ret);
void lease_client_unref(struct lease_client *c);

/* The client left: its waiting requests go, its leases are released (those being provisioned
 * once that ended), exactly as for a peer that left the bus. */
void lease_client_gone(struct lease_client *c);

/* May uid ask for one more lease? < 0 with error set (LimitExceeded, naming the policy key)
 * when it holds [agent] max-leases-per-uid leases or has max-waiting-per-uid requests waiting. */
int lease_manager_check_caps(struct lease_manager *m, uid_t uid, sd_bus_error *error);

/* Queue a request (takes it) and serve what can be served. */
int lease_manager_enqueue(struct lease_manager *m, struct lease_request *req);

/* Look at the queue again: capacity came back, a job ended, the policy changed. */
void lease_manager_run_queue(struct lease_manager *m);

/* Give a lease's resources back and drop it (or finish doing so); why is logged. */
void lease_release(struct lease_manager *m, struct lease *l, const char *why);

/* The lease's fields as the a{sv} of a grant or of ListLeases (docs/leases.md). */
int lease_append_details(sd_bus_message *reply, const struct lease *l);
/* What a caller who does not own l and is not privileged sees of it: state, sizes, counts. */
int lease_append_sizes(sd_bus_message *reply, const struct lease *l);

void lease_request_free(struct lease_request *req);

/* ---- agent/lease-bus.c ---- */

/* Check AcquireLease's values against the host and the policy into req (sizes, pages, taps,
 * label, wait, enforce): InvalidArgs and friends with a message naming the key. The socket's
 * requests go through the same checks. */
int lease_check_request(struct agent *a, const struct lease_request_values *v,
                        struct lease_request *req, sd_bus_error *error);

/* ---- agent/lease-sock.c ---- */

/* Answer a socket request: the grant line, or the refusal (from a D-Bus error name). */
int lease_sock_reply_grant(struct lease_sock_conn *c, const struct lease *l);
void lease_sock_reply_error(struct lease_sock_conn *c, const char *name, const char *message);
/* The request of c was freed (answered, or its holder left). */
void lease_sock_request_freed(struct lease_sock_conn *c);

/* Answer a request with an error (D-Bus error name and message) and drop it from the queue. */
void lease_request_fail(struct lease_manager *m, struct lease_request *req, const char *name,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- agent/lease-stats.c: the capacity signals in a->lease_stats ---- */

/* req is answered: granted (error_name NULL) or refused with that D-Bus error. */
void lease_stats_answered(struct lease_manager *m, struct lease_request *req,
                          const char *error_name);
/* req goes unanswered: its caller left the bus. */
void lease_stats_abandoned(struct lease_manager *m, const struct lease_request *req);
/* req could not be served at once (counted once per request). */
void lease_stats_waits(struct lease_manager *m, struct lease_request *req);
/* A RESIZE job ended: a growth's pages asked and obtained, reclaim, time (shrinks not counted). */
void lease_stats_resized(struct lease_manager *m, const struct lease_job *job);

/* ---- agent/lease-worker.c ---- */

int lease_worker_start(struct lease_manager *m);
void lease_worker_stop(struct lease_manager *m);

/* Queue a job (takes it); it is handed to the worker when its turn comes. */
void lease_job_submit(struct lease_manager *m, struct lease_job *job);

/* Hand the next job over when the worker is idle and the job may run now (journaled jobs only
 * once the agent started and while no apply runs or waits). */
void lease_worker_kick(struct lease_manager *m);

/* Does the job the worker runs hold the revert journal? */
bool lease_worker_journal_busy(const struct lease_manager *m);

/* Called on the event loop when a job ended (agent/lease.c). */
void lease_job_finished(struct lease_manager *m, struct lease_job *job);

void lease_job_free(struct lease_job *job);

/* ---- agent/lease-restore.c ---- */

/* Load the lease file, keep the leases whose holder is still on the bus (or that persist),
 * give back what the others and any half-done acquire or release hold, and remove snapshot
 * directories under <root>/leases that no lease names. */
int lease_manager_restore(struct lease_manager *m);
