/* SPDX-License-Identifier: MIT */
/* The host report: what every probe read, with a status, reason and remedy per probe. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "probes/context.h"
#include "probes/knobs.h"
#include "probes/kvm-smoke.h"

/* Version of the JSON report schema (docs/json-schema.md). Bump on incompatible changes. */
#define REPORT_SCHEMA "hosttune.report/1"
/* Version of the JSON document `hosttune check --json` prints. */
#define CHECK_SCHEMA "hosttune.check/1"

enum probe_status {
        PROBE_OK,     /* present and as wanted */
        PROBE_WARN,   /* usable, but something an operator should know or change */
        PROBE_FAIL,   /* present but broken or unusable */
        PROBE_ABSENT, /* the feature does not exist on this host */
        _PROBE_STATUS_MAX,
};

enum probe_id {
        PROBE_CPU,
        PROBE_KVM,
        PROBE_MEMORY,
        PROBE_HUGETLB,
        PROBE_ZRAM,
        PROBE_BTRFS,
        PROBE_RNG,
        PROBE_NET,
        PROBE_USERFAULTFD,
        PROBE_USERNS,
        PROBE_NIX,
        _PROBE_MAX,
};

#define REASON_MAX 320

/* The verdict of one probe. error is a negative errno when the probe could not read something
 * it needed (permission, I/O, garbage in a kernel file): the status then says what is known and
 * the reason names the file. */
struct probe_result {
        enum probe_status status;
        int error;
        char reason[REASON_MAX];
        char remedy[REASON_MAX];
};

/* A device node as found under the root (or as a fixture's .fixture/devices describes it). */
struct device_facts {
        bool exists;
        bool is_char;
        bool is_block;
        unsigned major, minor;
        mode_t mode; /* permission bits only */
        uid_t uid;
        gid_t gid;
        bool has_acl; /* a POSIX ACL is set (can grant access beyond the mode bits) */
};

/* ---- cpu ---- */
struct cpu_facts {
        char vendor[32]; /* GenuineIntel, AuthenticAMD, or "" (aarch64) */
        char model_name[96];
        bool flag_vmx, flag_svm, flag_hypervisor;
        char smt_control[16]; /* on, off, forceoff, notsupported, notimplemented, "" */
        int smt_active;       /* -1 unknown */
        unsigned cpus_online;
};

/* ---- kvm ---- */
enum kvm_cap_index {
        KVM_CAPI_IRQCHIP,
        KVM_CAPI_IOEVENTFD,
        KVM_CAPI_IRQFD,
        KVM_CAPI_USER_MEMORY,
        KVM_CAPI_SET_TSS_ADDR,
        KVM_CAPI_PIT2,
        KVM_CAPI_PIT_STATE2,
        KVM_CAPI_ADJUST_CLOCK,
        KVM_CAPI_DEBUGREGS,
        KVM_CAPI_MP_STATE,
        KVM_CAPI_VCPU_EVENTS,
        KVM_CAPI_XCRS,
        KVM_CAPI_XSAVE,
        KVM_CAPI_EXT_CPUID,
        KVM_CAPI_SIGNAL_MSI,
        KVM_CAPI_TSC_DEADLINE_TIMER,
        KVM_CAPI_SPLIT_IRQCHIP,
        KVM_CAPI_SET_IDENTITY_MAP_ADDR,
        KVM_CAPI_IMMEDIATE_EXIT,
        KVM_CAPI_GET_TSC_KHZ,
        KVM_CAPI_IRQ_ROUTING,
        KVM_CAPI_USER_NMI,
        KVM_CAPI_ARM_PSCI_0_2,
        KVM_CAPI_DEVICE_CTRL,
        KVM_CAPI_ONE_REG,
        KVM_CAPI_NR_MEMSLOTS,
        KVM_CAPI_MCE,
        KVM_CAPI_X86_ROBUST_SINGLESTEP,
        KVM_CAPI_DESTROY_MEMORY_REGION_WORKS,
        KVM_CAPI_JOIN_MEMORY_REGIONS_WORKS,
        KVM_CAPI_INTERNAL_ERROR_DATA,
        KVM_CAPI_IOEVENTFD_ANY_LENGTH,
        _KVM_CAPI_MAX,
};

struct kvm_facts {
        struct device_facts dev;
        bool module_loaded;      /* /sys/module/kvm exists */
        char vendor_module[16];  /* kvm_intel, kvm_amd, kvm_pvm, or "" */
        int nested;              /* -1 unknown, 0 off, 1 on */
        char nx_huge_pages[16];  /* kvm.nx_huge_pages as the kernel shows it, or "" */
        bool queried;            /* the ioctls below ran (live root) or came from a fixture */
        int open_error;          /* negative errno of open("/dev/kvm"), 0 when it opened */
        int api_version;         /* KVM_GET_API_VERSION, -1 unknown */
        int caps[_KVM_CAPI_MAX]; /* KVM_CHECK_EXTENSION results, -1 unknown */
        /* The smoke guest (probes/kvm-smoke.h): root's and a Nix build user's verdicts. */
        struct kvm_smoke_verdict smoke;
        const char *smoke_source; /* "probe" (run now), "agent" (its published verdict),
                                   * "fixture", or NULL when no guest was run */
        bool usable; /* opened, API 12, every capability Firecracker needs, root's guest ran */
        bool world_accessible; /* mode o+rw, so Nix build users (no supplementary groups) get in */
};

/* Name (as in linux/kvm.h without KVM_CAP_) and number of a capability index. */
const char *kvm_cap_name(enum kvm_cap_index i);
unsigned kvm_cap_number(enum kvm_cap_index i);
/* Does Firecracker (fc), cloud-hypervisor (ch) or QEMU need this capability on this
 * architecture? */
bool kvm_cap_needed_by_firecracker(enum kvm_cap_index i);
bool kvm_cap_needed_by_cloud_hypervisor(enum kvm_cap_index i);
bool kvm_cap_needed_by_qemu(enum kvm_cap_index i);

/* ---- memory ---- */
#define SWAP_MAX 16
struct swap_entry {
        char path[256];
        char type[16]; /* partition, file */
        uint64_t size_kib, used_kib;
        int priority;
};

struct memory_facts {
        uint64_t mem_total_kib, mem_free_kib, mem_available_kib;
        uint64_t cached_kib, slab_reclaimable_kib;
        char thp_enabled[16]; /* always, madvise, never */
        char thp_defrag[32];
        int ksm_run; /* 0 stop, 1 run, 2 unmerge, -1 unknown */
        uint64_t ksm_pages_sharing;
        int swappiness; /* -1 unknown */
        int overcommit_memory;
        uint64_t min_free_kbytes;
        unsigned n_swaps;
        struct swap_entry swaps[SWAP_MAX];
};

/* ---- hugetlb ---- */
#define HUGETLB_SIZES_MAX 4
#define NUMA_NODES_MAX 64
#define HUGETLB_MOUNTS_MAX 8

struct hugetlb_node_pool {
        unsigned node;
        uint64_t nr, free, surplus;
        uint64_t obtainable_now; /* as in struct hugetlb_pool, for this node */
};

struct hugetlb_pool {
        uint64_t page_size; /* bytes */
        uint64_t nr, free, resv, surplus, nr_overcommit;
        /* Pages of this size the buddy allocator could hand out now without compaction,
         * from /proc/buddyinfo's free lists: a lower bound, since memory parked outside the
         * free lists (free page reporting on VMs, per-cpu lists) comes back on demand.
         * UINT64_MAX when the size is above the buddy allocator's largest order (gigantic
         * pages come from contiguous range allocation). */
        uint64_t obtainable_now;
        unsigned n_nodes;
        struct hugetlb_node_pool nodes[NUMA_NODES_MAX];
};

struct hugetlb_mount {
        char path[256];
        uint64_t page_size; /* pagesize= option, or the default size */
        mode_t mode;
        gid_t gid;
        bool has_gid;
};

struct hugetlb_facts {
        bool supported;        /* /sys/kernel/mm/hugepages exists */
        uint64_t default_size; /* Hugepagesize from /proc/meminfo */
        unsigned n_numa_nodes; /* nodes with memory */
        unsigned n_sizes;
        struct hugetlb_pool sizes[HUGETLB_SIZES_MAX];
        unsigned n_mounts;
        struct hugetlb_mount mounts[HUGETLB_MOUNTS_MAX];
};

/* The pool of a page size, or NULL. */
const struct hugetlb_pool *hugetlb_find_pool(const struct hugetlb_facts *h, uint64_t page_size);

/* ---- zram ---- */
#define ZRAM_DEVICES_MAX 16
struct zram_device {
        char name[16]; /* zram0 */
        uint64_t disksize;
        char algorithm[32];
        uint64_t orig_data_size, compr_data_size, mem_used_total;
        bool is_swap;
        int swap_priority;
        bool is_mounted;
};

struct zram_facts {
        bool module; /* /sys/class/zram-control or any /sys/block/zram* */
        unsigned n_devices;
        struct zram_device devices[ZRAM_DEVICES_MAX];
};

/* ---- btrfs ---- */
#define BTRFS_MOUNTS_MAX 32
struct btrfs_mount {
        char target[256];
        char source[128];
        char subvol[128];
        char compress[32]; /* "" when off; "zstd:3", "lzo", ... */
        bool noatime, space_cache_v2, discard_async, ssd;
};

/* What hosttune found at a path it cares about (snapshot root, image directories). */
struct path_facts {
        char path[256];
        bool exists, is_dir;
        bool on_btrfs;
        bool is_subvolume;
        int nocow;            /* -1 unknown */
        char compression[16]; /* btrfs.compression property, "" when none */
        int error;            /* negative errno when inspecting failed */
};

struct btrfs_facts {
        bool supported; /* listed in /proc/filesystems */
        unsigned n_mounts;
        struct btrfs_mount mounts[BTRFS_MOUNTS_MAX];
        struct path_facts snapshot_root;
        unsigned free_slots; /* prepared, unleased slot directories under <root>/slots */
};

/* ---- rng ---- */
struct rng_facts {
        char available[256]; /* hw_random rng_available */
        char current[64];    /* hw_random rng_current, "none" when no source is selected */
        struct device_facts hwrng;
        int crng_ready; /* 1 ready, 0 not yet, -1 unknown */
};

/* ---- net ---- */
#define TAPS_MAX 256
struct tap_facts {
        char name[16];
        uint32_t flags;       /* tun_flags: IFF_TAP, IFF_VNET_HDR, IFF_MULTI_QUEUE */
        int64_t owner, group; /* -1 when unset */
        char master[16];
        bool up;
};

struct net_facts {
        struct device_facts tun, vhost_net, vhost_vsock;
        bool bridge_exists;
        unsigned n_taps; /* taps whose name starts with the policy's prefix */
        struct tap_facts taps[TAPS_MAX];
};

/* ---- userfaultfd ---- */
struct userfaultfd_facts {
        struct device_facts dev;
        int unprivileged;       /* vm.unprivileged_userfaultfd, -1 unknown */
        bool syscall_available; /* userfaultfd(2) answered (live root only) */
        int syscall_error;
};

/* ---- user namespaces ---- */
struct userns_facts {
        int64_t max_user_namespaces;        /* -1 unknown */
        int unprivileged_userns_clone;      /* Debian sysctl, -1 when absent */
        int apparmor_restrict_unprivileged; /* Ubuntu sysctl, -1 when absent */
};

/* ---- nix ---- */
struct nix_facts {
        char conf_path[256];
        bool conf_exists;
        char system_features[512]; /* union of system-features and extra-system-features */
        bool features_explicit;    /* system-features was set; otherwise Nix's default */
        char sandbox[16];          /* true, false, relaxed ("" = default true) */
        char sandbox_paths[1024];  /* union of sandbox-paths and extra-sandbox-paths */
        char build_dir[256];       /* build-dir, "" = default (TMPDIR or /tmp) */
        bool claims_kvm;
        bool tun_in_sandbox;
        bool kvm_in_sandbox;
        unsigned includes_followed;
};

/* What changes only with an event the agent watches or at its re-probe timer, from its last
 * probe: the memory and hugetlb probes take these and read only their counters. */
struct probe_stable {
        /* THP enabled, KSM run, swappiness, the swaps (NULL: read them). */
        const struct memory_facts *memory;
        /* The page sizes offered (NULL: list them), and the hugetlbfs mounts when mounts_ok
         * (the mount table is the one the agent read). */
        const struct hugetlb_facts *hugetlb;
        bool mounts_ok;
};

/* The whole report. One probe per facts struct; results[] indexed by enum probe_id. */
struct host_report {
        struct cpu_facts cpu;
        struct kvm_facts kvm;
        struct memory_facts memory;
        struct hugetlb_facts hugetlb;
        struct zram_facts zram;
        struct btrfs_facts btrfs;
        struct rng_facts rng;
        struct net_facts net;
        struct userfaultfd_facts userfaultfd;
        struct userns_facts userns;
        struct nix_facts nix;
        /* Knobs a policy names that no probe reads (probe_knobs; empty without a policy). */
        struct knob_facts knobs;
        struct probe_result results[_PROBE_MAX];
        bool probed[_PROBE_MAX];
};

const char *probe_status_to_string(enum probe_status s);
const char *probe_id_to_string(enum probe_id id);
/* -EINVAL for an unknown name. */
int probe_id_from_string(const char *s, enum probe_id *ret);

/* Fill a result: status plus printf-style reason. Remedy is set separately (may stay ""). */
void probe_set(struct probe_result *res, enum probe_status status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void probe_set_remedy(struct probe_result *res, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Record that something the probe needed could not be read: sets error, status and a reason
 * naming the path and the errno ("unexpected content in PATH" for garbage, "cannot read PATH"
 * otherwise). */
void probe_set_error(struct probe_result *res, enum probe_status status, int error,
                     const char *path);

/* The first file a probe could not use although it exists (garbage, too big, unreadable).
 * Probes note such files while they read and apply the note once the status is decided, so a
 * garbled kernel file never passes silently and never hides a worse verdict. Files read only
 * for detail (JSON-only facts) are never noted: a status must not depend on detail. */
struct probe_bad {
        int error;
        char path[160];
};

/* Note path (relative to the root or absolute) with error, unless something was noted
 * already or error says the file is simply missing (-ENOENT, -ENOTDIR, -ENODEV). */
void probe_bad_note(struct probe_bad *b, int error, const char *path);

/* Apply a note to a decided result: an ok status becomes warn with a reason naming the file
 * (and error set); any other status keeps its verdict and reason, and the reason gains
 * "; also unexpected content in PATH". Nothing when nothing was noted. */
void probe_bad_apply(const struct probe_bad *b, struct probe_result *res);
