/* SPDX-License-Identifier: MIT */
/* Readiness requirements ("kvm,hugepages=2G,rng,taps=8") and their evaluation against a host
 * report. Shared by `hosttune check` and the agent's Check method, so both give one answer. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "probes/probes.h"
#include "probes/report.h"

enum requirement_kind {
        REQ_KVM,         /* /dev/kvm usable with every capability Firecracker needs */
        REQ_HUGEPAGES,   /* amount bytes free in the pool of page_size, not promised to leases */
        REQ_RNG,         /* kernel crng initialised */
        REQ_HWRNG,       /* a hardware RNG is active */
        REQ_TUN,         /* /dev/net/tun */
        REQ_VHOST_NET,   /* /dev/vhost-net */
        REQ_VHOST_VSOCK, /* /dev/vhost-vsock */
        REQ_USERFAULTFD, /* /dev/userfaultfd or the syscall */
        REQ_USERNS,      /* user namespaces can be created */
        REQ_SNAPSHOTS,   /* amount prepared snapshot slots free */
        REQ_TAPS,        /* amount taps of the pool free */
        REQ_ZRAM,        /* a zram device serves as swap */
        REQ_BTRFS,       /* the snapshot root is on btrfs */
        REQ_NIX,         /* nix.conf advertises only what is true */
        REQ_NO_SWAP,     /* no swap device (Firecracker production advice) */
        REQ_SMT_OFF,     /* SMT disabled (Firecracker production advice) */
        REQ_KSM_OFF,     /* KSM not merging (Firecracker production advice) */
        _REQ_MAX,
};

struct requirement {
        enum requirement_kind kind;
        uint64_t amount;    /* bytes (hugepages) or a count (snapshots, taps) */
        uint64_t page_size; /* hugepages: 0 = the kernel's default size */
};

#define REQUIREMENTS_MAX 32
struct requirements {
        unsigned n;
        struct requirement items[REQUIREMENTS_MAX];
};

/* Parse a list of requirement tokens separated by commas and/or whitespace and merge it into
 * req: a later token of the same kind (and page size) replaces an earlier one. Tokens:
 * kvm, hugepages=SIZE[:PAGESIZE], rng, hwrng, tun, vhost-net, vhost-vsock, userfaultfd,
 * userns, snapshots=N, taps=N, zram, btrfs, nix, no-swap, smt-off, ksm-off. mem_total (bytes)
 * resolves "hugepages=10%". Returns -EINVAL and a message naming the token in err on a bad token;
 * req is then unchanged. */
int requirements_parse(const char *list, uint64_t mem_total, struct requirements *req, char *err,
                       size_t errsize);

/* The token of a kind, without value ("kvm", "hugepages", "vhost-net"). */
const char *requirement_kind_name(enum requirement_kind k);

/* Bytes that always hold requirement_to_string's text: the longest kind name, '=', two sizes of
 * at most 20 digits, ':' and the NUL. */
#define REQUIREMENT_STRING_MAX 64

/* The canonical text of a requirement ("hugepages=2G", "hugepages=4G:1G", "taps=8"), in buf of
 * REQUIREMENT_STRING_MAX bytes (a smaller one cuts it short). */
char *requirement_to_string(const struct requirement *q, char *buf, size_t size);

/* The probes a requirement list needs. */
probe_mask_t requirements_probes(const struct requirements *req);

/* What is already promised to leases by the agent (all zero when no agent runs). */
#define LEASE_TAP_NAME_MAX 16
struct lease_usage {
        unsigned n_sizes;
        struct {
                uint64_t page_size;
                uint64_t bytes;
        } hugepages[HUGETLB_SIZES_MAX];
        unsigned taps;
        unsigned snapshots;
        /* The taps leases hold (taps of them, at most TAPS_MAX): their owner is the lease
         * holder's on purpose, so plans leave it alone (lease_plan_filter). */
        char tap_names[TAPS_MAX][LEASE_TAP_NAME_MAX];
};

struct requirement_result {
        struct requirement req;
        enum probe_id probe;
        bool satisfied;
        bool caveat; /* satisfied, but the probe warns (reason and remedy say what) */
        int error;   /* negative errno: the probe could not read what decides this */
        char reason[REASON_MAX];
        char remedy[REASON_MAX];
};

/* Pages of pool p a new user can have now: free minus reserved, and no more than the pool
 * minus what leases were promised (leases may be NULL). *ret_leased (may be NULL) gets the
 * pages promised to leases. */
uint64_t hugetlb_pages_available(const struct hugetlb_pool *p, const struct lease_usage *leases,
                                 uint64_t *ret_leased);

/* Evaluate every requirement of req against r (leases may be NULL). results must have room
 * for req->n entries. Returns the number of unsatisfied requirements. */
unsigned requirements_evaluate(const struct requirements *req, const struct host_report *r,
                               const struct lease_usage *leases,
                               struct requirement_result *results);
