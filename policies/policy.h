/* SPDX-License-Identifier: MIT */
/* The policy model: what the host should be. Loaded from INI (policies/load.c, inih), validated
 * completely before use, compared with the host report by the planner (policies/plan.h).
 * Sections and keys are documented in docs/policy.md and hosttune.ini(5). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policies/readiness.h"
#include "probes/report.h"

#define POLICY_FILES_MAX 16 /* main file plus includes */
#define POLICY_INCLUDE_DEPTH_MAX 8
#define POLICY_SYSCTL_MAX 64
#define POLICY_TEMPLATES_MAX 16
#define POLICY_PATH_MAX 256
#define POLICY_NAME_MAX 64
#define POLICY_TEMPLATE_NAME_MAX 64 /* with the NUL */
#define POLICY_REASONS_MAX 128
#define POLICY_REASON_MAX 160
#define POLICY_SLOTS_MAX 1024
/* [agent] max-leases-per-uid and max-waiting-per-uid: defaults and the most they may be. The
 * lease file is rewritten whole on each change and each waiting call holds a message and a
 * request: a uid gone astray must not make every acquire slow or the agent large. */
#define POLICY_MAX_LEASES_PER_UID 256
#define POLICY_MAX_WAITING_PER_UID 64
#define POLICY_LEASE_CAP_MAX 65536
#define POLICY_FILE_SIZE_MAX (1024U * 1024U)

/* Where the main policy lives, and where named profiles are looked up. */
#ifndef HOSTTUNE_SYSCONFDIR
#define HOSTTUNE_SYSCONFDIR "/etc/hosttune"
#endif
#ifndef HOSTTUNE_DATADIR
#define HOSTTUNE_DATADIR "/usr/share/hosttune"
#endif
#define POLICY_DEFAULT_PATH HOSTTUNE_SYSCONFDIR "/policy.ini"

/* Every key a policy file can set (except the free keys of [sysctl], which carry their origin in
 * struct policy_sysctl, and the pool keys of [hugepages-SIZE], whose origins live in struct
 * policy_hugepool). Indexes policy.origins[]. */
enum policy_key {
        POLICY_KEY_NAME,
        POLICY_KEY_DESCRIPTION,
        POLICY_KEY_INCLUDE,
        POLICY_KEY_REQUIRE,
        POLICY_KEY_HUGEPAGES_SIZE,
        POLICY_KEY_HUGEPAGES_POOL,
        POLICY_KEY_HUGEPAGES_MAX,
        POLICY_KEY_HUGEPAGES_PER_NODE,
        POLICY_KEY_HUGEPAGES_RECLAIM,
        POLICY_KEY_HUGEPAGES_TIMEOUT,
        POLICY_KEY_HUGEPAGES_SHRINK_AFTER,
        POLICY_KEY_HUGEPAGES_MOUNT,
        POLICY_KEY_HUGEPAGES_MODE,
        POLICY_KEY_HUGEPAGES_GROUP,
        POLICY_KEY_KVM_REQUIRE,
        POLICY_KEY_KVM_MODE,
        POLICY_KEY_ZRAM_DEVICE,
        POLICY_KEY_ZRAM_SIZE,
        POLICY_KEY_ZRAM_ALGORITHM,
        POLICY_KEY_ZRAM_PRIORITY,
        POLICY_KEY_MEMORY_THP,
        POLICY_KEY_MEMORY_THP_DEFRAG,
        POLICY_KEY_MEMORY_KSM,
        POLICY_KEY_MEMORY_SWAPPINESS,
        POLICY_KEY_BTRFS_REQUIRE_OPTIONS,
        POLICY_KEY_SNAPSHOTS_ROOT,
        POLICY_KEY_SNAPSHOTS_SLOTS,
        POLICY_KEY_SNAPSHOTS_TEMPLATES,
        POLICY_KEY_SNAPSHOTS_PREPARED,
        POLICY_KEY_SNAPSHOTS_NOCOW,
        POLICY_KEY_NET_BRIDGE,
        POLICY_KEY_NET_TAPS,
        POLICY_KEY_NET_TAP_PREFIX,
        POLICY_KEY_NET_OWNER,
        POLICY_KEY_NET_MULTI_QUEUE,
        POLICY_KEY_NET_VNET_HDR,
        POLICY_KEY_RNG_REQUIRE,
        POLICY_KEY_NIX_CONF,
        POLICY_KEY_NIX_FEATURES_FILE,
        POLICY_KEY_AGENT_REPROBE_INTERVAL,
        POLICY_KEY_AGENT_REVERT_ON_STOP,
        POLICY_KEY_AGENT_REAPPLY_ON_DRIFT,
        POLICY_KEY_AGENT_METRICS_FILE,
        POLICY_KEY_AGENT_LEASE_GROUP,
        POLICY_KEY_AGENT_NFD_FEATURES_FILE,
        POLICY_KEY_AGENT_MAX_LEASES_PER_UID,
        POLICY_KEY_AGENT_MAX_WAITING_PER_UID,
        POLICY_KEY_AGENT_BUILD_USERS_GROUP,
        POLICY_KEY_AGENT_BUILD_HUGEPAGES_MAX,
        _POLICY_KEY_MAX,
};

/* Where a value came from: "file:line" for errors and for the "why" of a plan step. */
struct policy_origin {
        unsigned file;   /* index into policy.files */
        unsigned line;   /* 0 = built-in default */
        unsigned reason; /* index into policy.reasons; 0 = no comment was written for it */
};

/* A size as written: bytes, or a percentage of RAM resolved against the host report
 * (policy_size_resolve). Hugepage sizes written as a plain count of pages are stored as bytes. */
struct policy_size {
        bool set;
        bool percent;
        uint64_t bytes;          /* when !percent */
        uint32_t percent_millis; /* when percent: 12.5% -> 12500 */
        struct policy_origin origin;
};

enum policy_reclaim {
        RECLAIM_NONE,        /* plain write of nr_hugepages, retried until the timeout */
        RECLAIM_COMPACT,     /* and /proc/sys/vm/compact_memory between attempts */
        RECLAIM_DROP_CACHES, /* and /proc/sys/vm/drop_caches=3 when compaction is not enough */
};

enum policy_per_node {
        PER_NODE_KERNEL,   /* write the global nr_hugepages; the kernel interleaves */
        PER_NODE_EVEN,     /* the same share on every node with memory */
        PER_NODE_EXPLICIT, /* node_pool[] per node */
};

/* One hugepage pool: [hugepages] for its `size`, [hugepages-1G] etc. for other sizes. At most
 * one pool per page size (the loader rejects a [hugepages-SIZE] section naming the [hugepages]
 * size). */
struct policy_hugepool {
        uint64_t page_size;      /* bytes */
        bool main;               /* declared in [hugepages] (rather than [hugepages-SIZE]) */
        struct policy_size pool; /* reserve this much now; !set = leave the pool alone */
        struct policy_size max;  /* leases may grow the pool up to this (!set: pool) */
        enum policy_per_node per_node;
        struct policy_origin per_node_origin;
        struct policy_size node_pool[NUMA_NODES_MAX]; /* PER_NODE_EXPLICIT: set ones count */
        struct policy_origin origin;                  /* the section's first key */
};

struct policy_sysctl {
        char key[128];   /* dotted, under vm., kernel. or net. */
        char value[128]; /* as it will be written */
        struct policy_origin origin;
};

struct policy {
        /* [policy]; name and description come from the main file only (not from includes) */
        char name[POLICY_NAME_MAX]; /* default: the main file's name without .ini */
        char description[256];
        unsigned n_files;
        char files[POLICY_FILES_MAX][POLICY_PATH_MAX]; /* files[0] is the main file;
                                                        * "<builtin:NAME>" for embedded ones */

        /* [readiness], plus [kvm] require and [rng] require folded in */
        struct requirements require;

        /* [hugepages], [hugepages-SIZE] */
        unsigned n_pools;
        struct policy_hugepool pools[HUGETLB_SIZES_MAX];
        uint64_t hugepages_size;       /* [hugepages] size; default 2M */
        enum policy_reclaim reclaim;   /* default RECLAIM_COMPACT */
        uint64_t reclaim_timeout_usec; /* default 30 s */
        uint64_t shrink_after_usec;    /* a pool leases grew shrinks back toward `pool` after being
                                        * idle this long; default 60 s, 0 = never */
        char hugetlbfs_mount[POLICY_PATH_MAX]; /* "" = no mount */
        mode_t hugetlbfs_mode;                 /* default 01770 */
        char hugetlbfs_group[64];              /* "" = root */

        /* [kvm] */
        int kvm_mode; /* -1 = leave alone; else the mode for /dev/kvm (0666 lets Nix builds in) */

        /* [zram] */
        char zram_device[16];         /* default zram0 */
        struct policy_size zram_size; /* !set = do not manage zram */
        char zram_algorithm[32];      /* "" = kernel default */
        int zram_priority;            /* default 100 */

        /* [memory] */
        char thp[16];        /* "" = leave alone; always|madvise|never */
        char thp_defrag[32]; /* "" = leave alone; always|defer|defer+madvise|madvise|never */
        int ksm;             /* -1 leave alone, 0 off, 1 on */
        int swappiness;      /* -1 leave alone */

        /* [sysctl] */
        unsigned n_sysctl;
        struct policy_sysctl sysctl[POLICY_SYSCTL_MAX];

        /* [btrfs] */
        char require_options[256]; /* space-separated mount options the snapshot root's file
                                    * system must have (noatime space_cache=v2 ...) */

        /* [snapshots] */
        char snapshot_root[POLICY_PATH_MAX]; /* default DEFAULT_SNAPSHOT_ROOT */
        bool snapshots_managed;              /* slots > 0 or templates: create and keep them */
        unsigned slots;                      /* prepared empty slots */
        unsigned n_templates;
        char templates[POLICY_TEMPLATES_MAX]
                      [POLICY_TEMPLATE_NAME_MAX]; /* templates to keep prepared snapshots of */
        unsigned prepared;                        /* prepared snapshots per template */
        bool nocow;                               /* default true */

        /* [net] */
        char bridge[16];     /* "" = no bridge */
        unsigned taps;       /* taps in the pool */
        char tap_prefix[12]; /* default DEFAULT_TAP_PREFIX */
        char tap_owner[64];  /* user owning idle taps; "" = root */
        bool multi_queue;
        bool vnet_hdr; /* default true */

        /* [rng]: folded into require (rng, hwrng) by the loader */

        /* [nix] */
        char nix_conf[POLICY_PATH_MAX];      /* default DEFAULT_NIX_CONF */
        char features_file[POLICY_PATH_MAX]; /* "" = <runtime dir>/nix.conf */

        /* [agent] */
        uint64_t reprobe_interval_usec;     /* default 60 s; 0 = never */
        bool revert_on_stop;                /* default false */
        bool reapply_on_drift;              /* default false */
        char metrics_file[POLICY_PATH_MAX]; /* "" = <runtime dir>/metrics.prom */
        char lease_group[64];               /* "" = root only */
        /* The node-feature-discovery feature file the agent writes; "" = none. */
        char nfd_features_file[POLICY_PATH_MAX];
        /* Per uid: leases held (provisioning, active) and AcquireLease calls waiting; 0 no cap. */
        unsigned max_leases_per_uid;  /* default POLICY_MAX_LEASES_PER_UID */
        unsigned max_waiting_per_uid; /* default POLICY_MAX_WAITING_PER_UID */
        /* lease.sock: Nix's build users may take leases there ("" = they may not), holding at
         * most build_hugepages_max bytes of hugepages together (0 = none). */
        char build_users_group[64];   /* default "nixbld" */
        uint64_t build_hugepages_max; /* default 0 */

        /* Where each key's value came from (line 0: the built-in default). */
        struct policy_origin origins[_POLICY_KEY_MAX];
        /* The comments written directly above (or after) keys: the reason a value is there.
         * reasons[0] is "" so that origin.reason 0 means none. */
        unsigned n_reasons;
        char reasons[POLICY_REASONS_MAX][POLICY_REASON_MAX];
};

/* A policy error: "file:line: key: message". */
struct policy_error {
        char file[POLICY_PATH_MAX];
        unsigned line;
        char key[64];
        char message[256];
};

/* The kinds of path a policy names; each has its own allow-list (policies/paths.c,
 * docs/policy.md "Paths"). */
enum policy_path_kind {
        POLICY_PATH_MOUNT,         /* [hugepages] mount */
        POLICY_PATH_SNAPSHOT_ROOT, /* [snapshots] root */
        POLICY_PATH_METRICS,       /* [agent] metrics-file */
        POLICY_PATH_FEATURES,      /* [nix] features-file */
        POLICY_PATH_INPUT,         /* [nix] conf: read, never written */
        POLICY_PATH_NFD,           /* [agent] nfd-features-file */
};

/* The runtime directory the allow-lists keep policies out of (HOSTTUNE_RUNTIME_DIR relocates
 * the agent's, not this rule). */
#define POLICY_DEFAULT_RUNTIME_DIR "/run/hosttune"

/* NULL when path may stand for kind, else why not (a phrase that follows the quoted path:
 * "'/etc' is not a place for ..."). Lexical, except that an output path naming an existing
 * file that is not a regular file is refused. */
const char *policy_path_refused(enum policy_path_kind kind, const char *path);

/* Format an error as "file:line: key: message" (line and key left out when unknown). */
char *policy_error_format(const struct policy_error *e, char *buf, size_t size);

/* A policy with every default filled in (what an empty file means). */
void policy_init(struct policy *p);

/* The same for memory that is already zero (static storage, calloc): sets only the non-zero
 * defaults. struct policy is 55 KiB, and on the machines hosttune targets every page a
 * short-lived `check` touches costs a page fault (10-20 us). */
void policy_init_zeroed(struct policy *p);

/* Load and validate the policy in path, following includes (relative to the including file;
 * a bare NAME is a profile looked up as below). Nothing is used until everything validated:
 * on error, *ret is untouched, err says where, and the return is -EINVAL (bad content),
 * -ELOOP (include cycle or depth), -ENOENT (missing file), or another negative errno. Names of
 * users and groups are checked for syntax only (they are resolved on the host that applies). */
int policy_load_file(const char *path, struct policy *ret, struct policy_error *err);

/* Load a policy given as FILE (contains a '/' or ends in .ini) or profile NAME: looked up in
 * /etc/hosttune/profiles, then HOSTTUNE_DATADIR/profiles, then the embedded profiles. */
int policy_load(const char *file_or_name, struct policy *ret, struct policy_error *err);

/* The embedded default profile; cannot fail short of a build bug. */
int policy_load_default(struct policy *ret, struct policy_error *err);

/* The policy `check`, `apply` and the agent use: file_or_name when not NULL (as
 * policy_load), else POLICY_DEFAULT_PATH when that file exists, else the embedded default. */
int policy_load_configured(const char *file_or_name, struct policy *ret, struct policy_error *err);

/* policy_load_configured straight into p, which must be zeroed memory (static storage or
 * calloc): no scratch policy is filled and copied, so only the pages the policy sets are
 * touched (`hosttune check` runs before every test run; see docs/bench/check.md). On error
 * *p holds a partial policy and must not be used. */
int policy_load_configured_zeroed(const char *file_or_name, struct policy *p,
                                  struct policy_error *err);

/* policy_load straight into zeroed memory, as policy_load_configured_zeroed. */
int policy_load_zeroed(const char *file_or_name, struct policy *p, struct policy_error *err);

/* Load from text (for tests, fuzzing and the embedded profiles); name labels errors. Includes
 * of files are resolved relative to the current directory. */
int policy_load_string(const char *name, const char *text, struct policy *ret,
                       struct policy_error *err);

/* Is name a profile name (letters, digits, '-', '_'; no '/', no ".ini")? */
bool policy_is_profile_name(const char *name);

/* A size as a policy file writes it ("2G", "50%", "none"). */
char *policy_size_format(const struct policy_size *s, char *buf, size_t size);

/* The per-node setting of a pool as a policy file writes it ("kernel", "even", "0:1G 1:1G"). */
char *policy_per_node_format(const struct policy_hugepool *h, char *buf, size_t size);

/* Bytes a size stands for on a host with mem_total bytes of RAM. */
uint64_t policy_size_resolve(const struct policy_size *s, uint64_t mem_total);

/* The effective policy as INI text (includes merged, defaults shown; loading it gives the same
 * policy), or as JSON text. Returns a malloc'd string or NULL when out of memory. */
char *policy_to_ini(const struct policy *p);
char *policy_to_json(const struct policy *p);

/* The key table (sections, keys, value syntax and limits) as JSON text, schema
 * hosttune.policy-keys/1 (docs/json-schema.md), for checks outside C such as the NixOS module's.
 * Returns a malloc'd string or NULL when out of memory. */
char *policy_keys_to_json(void);

/* "file:line" of an origin ("built-in default" for line 0). */
char *policy_origin_format(const struct policy *p, struct policy_origin o, char *buf, size_t size);

/* The comment written for an origin's value, or "" when there was none. */
const char *policy_origin_reason(const struct policy *p, struct policy_origin o);

/* "[section] key" of a key, for messages ("[memory] swappiness"). */
const char *policy_key_to_string(enum policy_key k);

/* "[section] key = value" of a key as the policy has it ("[memory] swappiness = 10"). */
char *policy_setting_to_string(const struct policy *p, enum policy_key k, char *buf, size_t size);

/* The probe targets this policy implies (snapshot root, tap prefix, bridge, nix.conf). The
 * strings point into p. */
struct probe_targets policy_probe_targets(const struct policy *p);
