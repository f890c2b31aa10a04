/* SPDX-License-Identifier: MIT */
/* One lease as the agent keeps it and the lease file records it (docs/leases.md, "The lease
 * file"): the record, its JSON form, and what a set of records holds. Runtime state: written by
 * the agent, read back at its start and by the tools; the rules a lease obeys are
 * policies/lease-rules.h. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "policies/lease-rules.h"

#define LEASE_CLIENT_MAX 64

enum lease_state {
        LEASE_PROVISIONING, /* resources are being taken: a restart releases it */
        LEASE_ACTIVE,       /* granted */
        LEASE_RELEASING,    /* resources are being given back: a restart finishes that */
        _LEASE_STATE_MAX,
};

const char *lease_state_to_string(enum lease_state s);

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

/* The usage of a set of records: bytes per page size, taps (with names), snapshots. A lease
 * being provisioned counts whole; one being given back counts with its taps and snapshot (not
 * back yet) but no longer with its hugepages (its holder let go of them). */
void lease_usage_compute(const struct lease_record *const *records, unsigned n,
                         struct lease_usage *ret);
