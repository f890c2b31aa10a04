/* SPDX-License-Identifier: MIT */
/* The probe context: the root every probe reads through, and inputs shared by several probes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct device_facts;
struct kvm_smoke_verdict;

/* Paths and names the probes look at that come from the policy; NULL means the default. */
struct probe_stable; /* probes/report.h */

struct probe_targets {
        const char *snapshot_root; /* default /var/lib/hosttune/snapshots */
        const char *tap_prefix;    /* default "htap" */
        const char *bridge;        /* default: none */
        const char *nix_conf;      /* default /etc/nix/nix.conf */
};

#define DEFAULT_SNAPSHOT_ROOT "/var/lib/hosttune/snapshots"
#define DEFAULT_TAP_PREFIX "htap"
#define DEFAULT_NIX_CONF "/etc/nix/nix.conf"

/* A fixture tree (tests/unit/fixtures/<host>/) holds copies of /proc and /sys files plus a
 * .fixture/ directory describing what files cannot: device nodes (.fixture/devices), KVM ioctl
 * answers (.fixture/kvm), crng readiness (.fixture/crng) and btrfs inode facts
 * (.fixture/paths). See tests/unit/fixtures/README.md. */
#define FIXTURE_DIR ".fixture"

struct probe_ctx {
        int root_fd;
        bool live;    /* root is this machine's "/": ioctls and syscalls tell the truth */
        bool fixture; /* root holds a .fixture/ directory */
        /* Read facts that only the JSON output shows (per-node pools, per-tap details, THP
         * defrag, ...). Off for the human `check`, which prints statuses and reasons only:
         * every read costs a few microseconds and `check` runs before every test run. A
         * probe's status and reason never depend on detail. */
        bool detail;
        struct probe_targets targets;
        /* A KVM smoke verdict to use instead of running the guest (the agent's published one),
         * or NULL. The kvm probe uses it only while its identity matches /dev/kvm now; else,
         * on the live root, it runs the guest itself. */
        const struct kvm_smoke_verdict *kvm_smoke;
        /* Facts to take instead of reading them (the agent's, for `hosttune check`:
         * docs/check-facts.md), or NULL: read everything. */
        const struct probe_stable *stable;

        /* Lazily read inputs shared by several probes (see the accessors below). */
        char *mountinfo;
        int mountinfo_error;
        bool mountinfo_loaded;
        char *meminfo;
        int meminfo_error;
        bool meminfo_loaded;
};

/* Open root (NULL or "/" for this machine) and fill ctx (detail on). targets may be NULL. */
int probe_ctx_open(const char *root, const struct probe_targets *targets, struct probe_ctx *ret);

/* Release what probe_ctx_open and the accessors allocated. Accepts a zeroed ctx. */
void probe_ctx_done(struct probe_ctx *ctx);

/* The text of /proc/self/mountinfo, read once. */
int probe_ctx_mountinfo(struct probe_ctx *ctx, const char **ret);

/* The text of /proc/meminfo, read once. */
int probe_ctx_meminfo(struct probe_ctx *ctx, const char **ret);

/* Facts about a device node at path under the root; a fixture answers from
 * .fixture/devices. ret->exists is false (and 0 returned) when there is no such node; a
 * negative errno only when it could not be looked at. Whether an ACL is set is looked up only
 * with detail (a getxattr per node); probe_ctx_device_acl always looks, for probes whose
 * status depends on who may open the node. */
int probe_ctx_device(struct probe_ctx *ctx, const char *path, struct device_facts *ret);
int probe_ctx_device_acl(struct probe_ctx *ctx, const char *path, struct device_facts *ret);

/* Read the value of "key value..." from .fixture/<file>; -ENOENT when the file or key is
 * missing. The value is the rest of the line, trailing whitespace stripped. Leading slashes
 * of key and of the file's keys are ignored ("/dev/kvm" and "dev/kvm" are one key). */
int probe_ctx_fixture_value(struct probe_ctx *ctx, const char *file, const char *key, char *buf,
                            size_t size);

/* Does path exist under the root? Symlinks resolve inside the root (a fixture's absolute
 * symlink never reaches this machine's files); on the live root one faccessat does. */
bool probe_ctx_exists(struct probe_ctx *ctx, const char *path);

/* The target of the symbolic link at path (the link itself resolved inside the root), into
 * buf. Returns the length, or a negative errno (-EINVAL when path is not a link). */
int probe_ctx_readlink(struct probe_ctx *ctx, const char *path, char *buf, size_t size);

/* Effective target paths (policy value or default). */
const char *probe_ctx_snapshot_root(const struct probe_ctx *ctx);
const char *probe_ctx_tap_prefix(const struct probe_ctx *ctx);
const char *probe_ctx_nix_conf(const struct probe_ctx *ctx);
