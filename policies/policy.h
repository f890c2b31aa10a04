/* The policy model: what the host should be. Loaded from INI (policies/load.c, inih), validated
 * completely before use, compared with the host report by the planner (policies/plan.h).
 * Sections and keys are documented in docs/policy.md and hosttune.ini(5). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policies/readiness.h"
#include "probes/report.h"

#define POLICY_FILES_MAX 16 /* main file plus includes */
#define POLICY_SYSCTL_MAX 64
#define POLICY_TEMPLATES_MAX 16
#define POLICY_PATH_MAX 256
#define POLICY_NAME_MAX 64

/* Where a value came from: "file:line" for errors and for the "why" of a plan step. */
struct policy_origin {
        unsigned file; /* index into policy.files */
        unsigned line; /* 0 = built-in default */
};

/* A size as written: bytes, or a percentage of RAM resolved against the host report
 * (policy_size_resolve). */
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

/* One hugepage pool: [hugepages] for its `size`, [hugepages-1G] etc. for other sizes. */
struct policy_hugepool {
        uint64_t page_size;      /* bytes */
        struct policy_size pool; /* reserve this much now */
        struct policy_size max;  /* leases may grow the pool up to this (default: pool) */
        enum policy_per_node per_node;
        struct policy_size node_pool[NUMA_NODES_MAX];
        struct policy_origin origin;
};

struct policy_sysctl {
        char key[128];   /* dotted, under vm., kernel. or net. */
        char value[128]; /* as it will be written */
        struct policy_origin origin;
};

struct policy {
        /* [policy] */
        char name[POLICY_NAME_MAX];
        char description[256];
        unsigned n_files;
        char files[POLICY_FILES_MAX][POLICY_PATH_MAX]; /* files[0] is the main file;
                                                        * "<builtin:NAME>" for embedded ones */

        /* [readiness] */
        struct requirements require;

        /* [hugepages], [hugepages-SIZE] */
        unsigned n_pools;
        struct policy_hugepool pools[HUGETLB_SIZES_MAX];
        enum policy_reclaim reclaim;           /* default RECLAIM_COMPACT */
        uint64_t reclaim_timeout_usec;         /* default 30 s */
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
        char thp_defrag[32]; /* "" = leave alone */
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
        bool snapshots_managed; /* the section sets root or slots: create and keep them */
        unsigned slots;         /* prepared empty slots */
        unsigned n_templates;
        char templates[POLICY_TEMPLATES_MAX][64]; /* templates to keep prepared snapshots of */
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
        uint64_t reprobe_interval_usec; /* default 60 s; 0 = never */
        bool revert_on_stop;
        bool reapply_on_drift;
        char metrics_file[POLICY_PATH_MAX]; /* "" = <runtime dir>/metrics.prom */
        char lease_group[64];               /* "" = root only */
};

/* A policy error: "file:line: key: message". */
struct policy_error {
        char file[POLICY_PATH_MAX];
        unsigned line;
        char key[64];
        char message[256];
};

/* Format an error as "file:line: key: message" (line and key left out when unknown). */
char *policy_error_format(const struct policy_error *e, char *buf, size_t size);

/* A policy with every default filled in (what an empty file means). */
void policy_init(struct policy *p);

/* Load and validate the policy in path, following includes (relative to the including file;
 * a bare NAME is a profile looked up as below). Nothing is used until everything validated:
 * on error, *ret is untouched, err says where, and the return is -EINVAL (bad content),
 * -ELOOP (include cycle or depth), -ENOENT (missing file), or another negative errno. */
int policy_load_file(const char *path, struct policy *ret, struct policy_error *err);

/* Load a policy given as FILE (contains a '/' or ends in .ini) or profile NAME: looked up in
 * /etc/hosttune/profiles, then HOSTTUNE_DATADIR/profiles, then the embedded profiles. */
int policy_load(const char *file_or_name, struct policy *ret, struct policy_error *err);

/* The embedded default profile; cannot fail short of a build bug. */
int policy_load_default(struct policy *ret, struct policy_error *err);

/* Load from text (for tests, fuzzing and the embedded profiles); name labels errors. Includes
 * of files are resolved relative to the current directory. */
int policy_load_string(const char *name, const char *text, struct policy *ret,
                       struct policy_error *err);

/* Bytes a size stands for on a host with mem_total bytes of RAM. */
uint64_t policy_size_resolve(const struct policy_size *s, uint64_t mem_total);

/* The effective policy as INI text (includes merged, defaults shown), or as JSON text.
 * Returns a malloc'd string or NULL when out of memory. */
char *policy_to_ini(const struct policy *p);
char *policy_to_json(const struct policy *p);

/* "file:line" of an origin. */
char *policy_origin_format(const struct policy *p, struct policy_origin o, char *buf, size_t size);

/* The probe targets this policy implies (snapshot root, tap prefix, bridge, nix.conf). The
 * strings point into p. */
struct probe_targets policy_probe_targets(const struct policy *p);
