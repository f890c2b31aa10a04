/* SPDX-License-Identifier: MIT */
/* What fleet schedulers see of this host: the features hosttune verified and the capacity of
 * its pools, in the forms they read: Nix system features (nix.conf, a machines-file line) and
 * a Kubernetes node-feature-discovery feature file (features.d). docs/fleet.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policies/readiness.h"
#include "probes/report.h"

/* node-feature-discovery ignores a feature file larger than this (MaxFeatureFileSize in
 * source/local/local.go). */
#define FLEET_NFD_FILE_MAX 65536
/* A sub-namespace of NFD's own feature.node.kubernetes.io: nfd-master accepts it without
 * -extra-label-ns, while other *.kubernetes.io namespaces are denied (pkg/apis/nfd/validate). */
#define FLEET_NFD_NAMESPACE "hosttune.feature.node.kubernetes.io"

/* The devices and kernel facilities a fleet may select hosts by, each verified exactly as
 * `hosttune check --require NAME` verifies it. */
enum fleet_check {
        FLEET_CHECK_RNG,
        FLEET_CHECK_HWRNG,
        FLEET_CHECK_TUN,
        FLEET_CHECK_VHOST_NET,
        FLEET_CHECK_VHOST_VSOCK,
        FLEET_CHECK_USERFAULTFD,
        FLEET_CHECK_USERNS,
        _FLEET_CHECK_MAX,
};

/* One hugepage pool, in pages. */
struct fleet_pool {
        uint64_t page_size; /* bytes */
        uint64_t total, free, reserved, leased;
        uint64_t available; /* what a new user can have now (hugetlb_pages_available) */
};

struct fleet_view {
        bool ready;           /* every requirement of the policy met (the agent's verdict) */
        bool kvm;             /* /dev/kvm usable: opens, API 12, every capability VMMs need */
        bool kvm_build_users; /* and world read-write, so Nix build users can open it too */
        bool hugepages;       /* the policy asks for hugepages and every such requirement holds */
        bool checks[_FLEET_CHECK_MAX];
        unsigned n_pools;
        struct fleet_pool pools[HUGETLB_SIZES_MAX];
        uint64_t taps_free;           /* taps of the pool not leased */
        uint64_t snapshot_slots_free; /* prepared snapshot slots not leased */
};

/* The name of a check as a requirement token and NFD feature ("rng", "vhost-net", ...). */
const char *fleet_check_name(enum fleet_check c);

/* Build the view of report r (all probes run). results/n are the policy's requirements as
 * evaluated against r (they decide the hugepages feature), ready the verdict, leases what
 * leases hold (may be NULL). */
void fleet_view_build(const struct host_report *r, const struct requirement_result *results,
                      unsigned n, bool ready, const struct lease_usage *leases,
                      struct fleet_view *ret);

/* The Nix system features v verifies, space separated ("kvm nixos-test hugepages", or fewer,
 * or ""): kvm and nixos-test need a Nix build user's smoke guest to have run, since NixOS
 * tests run as build users and otherwise abort (accel=kvm) or crawl under TCG (accel=kvm:tcg).
 * Returns the length, or -ENOBUFS. */
int fleet_nix_features(const struct fleet_view *v, char *buf, size_t size);

/* Is name a label node-feature-discovery accepts from a feature file: a Kubernetes qualified
 * name (DNS subdomain prefix of at most 253 characters, "/", a name of at most 63
 * [A-Za-z0-9_.-] starting and ending alphanumeric) whose prefix nfd-master allows? */
bool fleet_nfd_name_valid(const char *name);

/* Is value a Kubernetes label value (at most 63 [A-Za-z0-9_.-], starting and ending
 * alphanumeric, or empty)? */
bool fleet_nfd_value_valid(const char *value);

/* The NFD feature file for v: an "# +expiry-time=" directive (RFC 3339, UTC) for
 * expiry_realtime_usec before every feature, then one "name=value" line per verified feature
 * and per capacity figure, under FLEET_NFD_NAMESPACE. Returns the length, -ENOBUFS when buf is
 * too small, -EFBIG above FLEET_NFD_FILE_MAX, -EINVAL for an expiry time gmtime cannot
 * represent. */
int fleet_nfd_format(const struct fleet_view *v, uint64_t expiry_realtime_usec, char *buf,
                     size_t size);

/* This host as one line of a Nix machines file (nix.conf `builders = @FILE`, nix.buildMachines,
 * Hydra's machines files): eight whitespace-separated fields, "-" for an empty one, as
 * parseBuilderLine() in Nix's src/libstore/machines.cc reads them. */
struct fleet_machine {
        const char *uri;                /* ssh-ng://host (required) */
        const char *systems;            /* comma list (required) */
        const char *ssh_key;            /* identity file, NULL or "" for none */
        unsigned max_jobs;              /* >= 1 */
        unsigned speed_factor;          /* >= 1 */
        const char *extra_features;     /* comma list of features hosttune does not verify */
        const char *mandatory_features; /* comma list, NULL for none */
        const char *host_key_base64;    /* base64 of the public host key, NULL for none */
};

/* Format m with the verified features (space separated, fleet_nix_features()) plus
 * m->extra_features into buf. Returns the length; -EINVAL with err set for a field Nix would
 * read differently (whitespace, '#' or ';' in a field, an empty list item, a zero count, bad
 * base64) or an extra feature that hosttune verifies itself (kvm, nixos-test, hugepages);
 * -ENXIO with err set when a mandatory feature is one hosttune verifies and it is not
 * verified here; -ENOBUFS. */
int fleet_machines_line(const struct fleet_machine *m, const char *verified, char *buf, size_t size,
                        char *err, size_t errsize);
