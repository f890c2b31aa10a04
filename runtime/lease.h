/* SPDX-License-Identifier: MIT */
/* Leases of hugepages, snapshot directories and taps (docs/leases.md): the parts the agent, the
 * command line and the tests share without a kernel — name rules, the hugepage admission
 * arithmetic, the lease file's records and their JSON form, and the plan filter that keeps an
 * apply off what leases hold. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "policies/plan.h"
#include "policies/readiness.h"

#define LEASES_FILE "leases.json"
#define LEASES_SCHEMA "hosttune.leases/1"
/* The directory under the snapshot root that holds the leased snapshot directories, one per
 * lease, named by the lease id. */
#define LEASES_SNAPSHOT_DIR "leases"

#define LEASE_ID_LEN 16 /* hex digits */
#define LEASE_LABEL_MAX 128
#define LEASE_TEMPLATE_NAME_MAX 63
#define LEASE_TAPS_MAX 64 /* per lease */
#define LEASE_WAIT_MAX_SEC 86400
#define LEASE_PATH_MAX 512
#define LEASE_CLIENT_MAX 64

/* A template name a request may give: 1..63 letters, digits, '.', '_', '-', not starting with
 * '.' and without "..", so that "<root>/templates/<name>" can never leave templates/ and never
 * names a temporary or hidden entry. */
bool lease_template_name_valid(const char *name);

/* A label: at most LEASE_LABEL_MAX bytes, no control characters (it is logged and listed). */
bool lease_label_valid(const char *label);

/* A lease id: LEASE_ID_LEN lowercase hex digits (also the name of its snapshot directory). */
bool lease_id_valid(const char *id);

/* Write a fresh random lease id (LEASE_ID_LEN + 1 bytes) into buf. */
int lease_id_new(char *buf, size_t size);

enum lease_state {
        LEASE_PROVISIONING, /* resources are being taken: a restart releases it */
        LEASE_ACTIVE,       /* granted */
        LEASE_RELEASING,    /* resources are being given back: a restart finishes that */
        _LEASE_STATE_MAX,
};

/* Where a lease's snapshot directory came from. */
enum lease_snapshot_source {
        LEASE_SNAPSHOT_NONE,
        LEASE_SNAPSHOT_PREPARED,      /* a prepared snapshot moved out of prepared/<t>/ */
        LEASE_SNAPSHOT_SLOT,          /* an empty slot moved out of slots/ */
        LEASE_SNAPSHOT_SNAPSHOT,      /* a snapshot of the template taken for this lease */
        LEASE_SNAPSHOT_COPY,          /* a copy of the template (not on btrfs) */
        LEASE_SNAPSHOT_NEW_SUBVOLUME, /* an empty subvolume made for this lease */
        LEASE_SNAPSHOT_NEW_DIRECTORY, /* an empty directory made for this lease (not on btrfs) */
        _LEASE_SNAPSHOT_SOURCE_MAX,
};

const char *lease_state_to_string(enum lease_state s);
const char *lease_snapshot_source_to_string(enum lease_snapshot_source s);

struct lease_tap {
        char name[LEASE_TAP_NAME_MAX];
        int64_t original_owner; /* -1: none (the kernel cannot unset an owner: root comes back) */
};

/* One lease as the lease file records it. */
struct lease_record {
        char id[LEASE_ID_LEN + 1];
        char label[LEASE_LABEL_MAX + 1];
        enum lease_state state;
        uid_t uid; /* the holder's effective ids, from the bus's sender credentials */
        gid_t gid;
        uint32_t pid;                   /* the holder's pid when the bus said it, else 0 */
        char client[LEASE_CLIENT_MAX];  /* the holder's unique bus name (":1.42") */
        bool persist;                   /* survives its client */
        uint64_t created_realtime_usec; /* CLOCK_REALTIME */
        uint64_t hugepage_size;         /* page size in bytes; 0 with no hugepages */
        uint64_t hugepage_bytes;        /* a whole number of pages */
        bool snapshot;                  /* a snapshot directory was asked for */
        char template_name[LEASE_TEMPLATE_NAME_MAX + 1]; /* "" = an empty slot */
        char snapshot_path[LEASE_PATH_MAX];              /* <root>/leases/<id>, once made */
        bool snapshot_subvolume;                         /* a subvolume (else a directory) */
        enum lease_snapshot_source snapshot_source;
        unsigned n_taps;
        struct lease_tap taps[LEASE_TAPS_MAX];
        /* Its holder runs in a cgroup limited to its hugepages (agent/lease-cgroup.h). */
        bool enforced;
};

/* The record as a JSON object (keys in docs/leases.md, "The lease file"). */
json_object *lease_record_to_json(const struct lease_record *r);

/* Parse one record; every key is checked (type, range, names valid). -EBADMSG when wrong. */
int lease_record_from_json(json_object *o, struct lease_record *ret);

/* The whole lease file's text (schema, then the records in the order given). Returns a malloc'd
 * string, or NULL when out of memory. */
char *lease_file_format(const struct lease_record *const *records, unsigned n);

/* Parse a lease file. *ret is a malloc'd array of *ret_n records (NULL for none). -EBADMSG when
 * it is not a lease file of this schema or a record is malformed; two records with one id are
 * malformed too. */
int lease_file_parse(const char *text, struct lease_record **ret, unsigned *ret_n);

/* The hugepage pool of one page size as leases see it. */
struct lease_pool {
        uint64_t nr, free, resv; /* the kernel's counters now (pages) */
        uint64_t leased;         /* pages promised to leases */
        uint64_t max;            /* pages leases may grow the pool to */
};

enum lease_fit {
        LEASE_FIT_NOW,   /* the pages are there: take them */
        LEASE_FIT_GROW,  /* grow the pool to *ret_target first */
        LEASE_FIT_WAIT,  /* not now: other holders must give pages back */
        LEASE_FIT_NEVER, /* more than the pool may ever hold */
};

/* Pages a new lease can have now: free pages not reserved by a mapping (pages someone else
 * took are not leasable), and not more than the pool holds beyond what leases were promised.
 * The lesser of the two bounds. */
uint64_t lease_hugepages_available(const struct lease_pool *p);

/* Can a request for pages be met? The ceiling is max, or the pool's size when someone made it
 * larger. FIT_GROW sets *ret_target to the smallest pool that serves the request: one that
 * holds every leased page plus these, with these free. */
enum lease_fit lease_hugepages_fit(const struct lease_pool *p, uint64_t pages,
                                   uint64_t *ret_target);

/* The size an idle pool can shrink to: not below floor (the policy's pool), not below what
 * leases were promised plus every page in use or reserved now (in-use leased pages counted
 * twice: the pool never shrinks under a holder). Returns p->nr when it cannot shrink. */
uint64_t lease_hugepages_shrink_target(const struct lease_pool *p, uint64_t floor);

/* Take out of plan what would undo a lease: an owner change of a leased tap (its holder owns it
 * on purpose), and a pool shrink below the pages leased (a shrink step is clamped to them, and
 * dropped when that leaves nothing to do). u may be NULL (nothing to do). */
void lease_plan_filter(struct plan *plan, const struct lease_usage *u);

/* The usage of a set of records: bytes per page size, taps (with names), snapshots. A lease
 * being provisioned counts whole; one being given back counts with its taps and snapshot (not
 * back yet) but no longer with its hugepages (its holder let go of them). */
void lease_usage_compute(const struct lease_record *const *records, unsigned n,
                         struct lease_usage *ret);

/* Do a and b say the same (every member; not their padding)? */
bool lease_usage_equal(const struct lease_usage *a, const struct lease_usage *b);
