/* SPDX-License-Identifier: MIT */
/* The plan: what must change for the host to match the policy. Built by a pure function of
 * (report, policy); executed step by step by the appliers (policies/apply/), each change
 * journaled first so `hosttune revert` restores the original exactly.
 *
 * Step semantics, for the appliers. Steps come in the order they must run (memory knobs before
 * the hugepage pool, the pool before its mount, the snapshot root before its NOCOW flag and its
 * slots, the bridge before the taps, a tap before its enslaving). `current` is "" when the object
 * does not exist yet. A step with `manual` set is a difference hosttune will not change by
 * itself (resizing an active zram swap device loses its contents; a btrfs mount option needs a
 * remount; a user that does not exist): appliers skip it and count it as fell short; `note`
 * says what a person must do.
 *
 *   PLAN_SYSCTL            write `wanted` to `path` (/proc/sys/vm/swappiness). knob is the
 *                          dotted key. Values compare with whitespace runs folded.
 *   PLAN_SYSFS             write `wanted` to `path`: /sys/kernel/mm/transparent_hugepage/enabled
 *                          and .../defrag (one word: "madvise"), /sys/kernel/mm/ksm/run ("0" or
 *                          "1", as Firecracker's advice writes it; a run value of 2 stays 2
 *                          after unmerging and is not off, for the planner as for ksm-off).
 *   PLAN_HUGEPAGES         set the pool of u.hugepages.page_size to u.hugepages.pages pages:
 *                          globally (node -1: `path` is .../hugepages-<kB>kB/nr_hugepages) or on
 *                          one NUMA node (path .../node<N>/hugepages/hugepages-<kB>kB/
 *                          nr_hugepages). Grow with reclaim escalating as far as u.hugepages.
 *                          reclaim allows, retrying until u.hugepages.timeout_usec; report the
 *                          pages obtained. Planned when the pool is below the policy's `pool` or
 *                          above its `max`; a pool between them (leases grew it) is left alone.
 *   PLAN_HUGETLBFS_MOUNT   mount hugetlbfs at `path` with mode=u.mount.mode, gid=u.mount.gid,
 *                          pagesize=u.mount.page_size (creating the directory). Only planned
 *                          when nothing is mounted there; a hugetlbfs mounted there with other
 *                          options is a manual step.
 *   PLAN_ZRAM              configure u.zram's device (knob "zram0", path /sys/block/zram0):
 *                          hot-add it through /sys/class/zram-control when `current` is "", set
 *                          comp_algorithm (when u.zram.algorithm is not "") and disksize, mkswap,
 *                          swapon with u.zram.priority. Planned only for a device that is absent
 *                          or unconfigured (disksize 0); an active swap device of another size,
 *                          algorithm or priority, or a configured device that is not swap, is a
 *                          manual step (resizing would lose its contents).
 *   PLAN_SNAPSHOT_ROOT     create `path` (a subvolume on btrfs, else a directory, with a
 *                          warning) and its subdirectories slots/, templates/, prepared/.
 *   PLAN_NOCOW             set FS_NOCOW_FL on directory `path` and clear its btrfs.compression
 *                          property (NOCOW and compression exclude each other), while it is
 *                          empty. Files created inside later inherit it.
 *   PLAN_SNAPSHOT_SLOT     create one empty slot (subvolume on btrfs) under `path`
 *                          (<root>/slots); the applier picks an unused name. One step per slot.
 *   PLAN_SNAPSHOT_PREPARED snapshot <root>/templates/<u.snapshot.template_name> into `path`
 *                          (<root>/prepared/<template>); one step per missing snapshot.
 *   PLAN_BRIDGE            create bridge u.link.name and set it up.
 *   PLAN_TAP               current "": create persistent tap u.tap.name with u.tap.owner
 *                          ((uid_t)-1 = no owner), IFF_VNET_HDR when u.tap.vnet_hdr,
 *                          IFF_MULTI_QUEUE when u.tap.multi_queue, and set it up. current not
 *                          "": the tap exists with the right flags and only its owner differs
 *                          (TUNSETOWNER). A tap with other flags is a manual step.
 *   PLAN_TAP_MASTER        enslave u.link.name to bridge u.link.master.
 *   PLAN_DEVICE_MODE       chmod `path` (/dev/kvm) to u.device.mode. Not planned when the device
 *                          is missing (readiness reports that).
 *   PLAN_MOUNT_OPTIONS     always manual: the file system at `path` lacks mount options the
 *                          policy's [btrfs] require-options names.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policies/policy.h"
#include "probes/knobs.h"
#include "probes/probes.h"
#include "probes/report.h"

enum plan_kind {
        PLAN_SYSCTL,            /* write /proc/sys/<key> (knob "vm.swappiness") */
        PLAN_SYSFS,             /* write a sysfs knob (THP enabled/defrag, KSM run) */
        PLAN_HUGEPAGES,         /* set a pool (global, or one node) to a page count */
        PLAN_HUGETLBFS_MOUNT,   /* mount hugetlbfs with mode, gid and pagesize */
        PLAN_ZRAM,              /* configure a zram device and swapon it */
        PLAN_SNAPSHOT_ROOT,     /* create the snapshot root (subvolume on btrfs) and its dirs */
        PLAN_SNAPSHOT_SLOT,     /* create one prepared empty slot (subvolume) */
        PLAN_SNAPSHOT_PREPARED, /* prepare one snapshot of a template */
        PLAN_NOCOW,             /* set NOCOW and clear compression on a directory */
        PLAN_BRIDGE,            /* create the bridge, up */
        PLAN_TAP,               /* create a persistent tap (owner, vnet_hdr, multi_queue) */
        PLAN_TAP_MASTER,        /* enslave a tap to the bridge */
        PLAN_DEVICE_MODE,       /* chmod a device node (/dev/kvm) */
        PLAN_MOUNT_OPTIONS,     /* a file system lacks required mount options (always manual) */
        _PLAN_KIND_MAX,
};

/* The longest path a step names: a prepared snapshot's, the snapshot root (POLICY_PATH_MAX
 * with its NUL), "/templates/" and a template name (POLICY_TEMPLATE_NAME_MAX with its NUL).
 * Every other path a step names is shorter; the plan fails with -ENAMETOOLONG rather than cut
 * one short. */
#define PLAN_PATH_MAX (POLICY_PATH_MAX + sizeof("/templates/") - 1 + POLICY_TEMPLATE_NAME_MAX - 1)
/* The longest knob: such a path and " (4294967295 of 4294967295)". */
#define PLAN_KNOB_MAX (PLAN_PATH_MAX + 32)

struct plan_step {
        enum plan_kind kind;
        bool manual;              /* hosttune will not make this change; note says what to do */
        char knob[PLAN_KNOB_MAX]; /* what, as the user knows it: "vm.swappiness",
                                   * "hugepages-2048kB", "hugepages-2048kB/node1", "zram0",
                                   * "htap3" */
        char path[PLAN_PATH_MAX]; /* the file or object the applier touches */
        char current[128];        /* as read now; "" when the object does not exist yet */
        char wanted[128];
        char origin[128]; /* where the policy asks for it: "policy.ini:12" */
        char why[256];    /* "policy.ini:12: [memory] ksm = no (Firecracker production host
                           * advice)" */
        char note[256];   /* manual steps: what a person must do; else "" or a caveat */
        union {
                struct {
                        uint64_t page_size;
                        uint64_t current; /* pages in the pool when planned */
                        uint64_t pages;
                        int node; /* -1 = global */
                        enum policy_reclaim reclaim;
                        uint64_t timeout_usec;
                } hugepages;
                struct {
                        uint64_t page_size;
                        mode_t mode;
                        gid_t gid;
                } mount;
                struct {
                        char device[16];
                        uint64_t disksize;
                        char algorithm[32];
                        int priority;
                } zram;
                struct {
                        char name[16];
                        uid_t owner;
                        bool vnet_hdr;
                        bool multi_queue;
                } tap;
                struct {
                        char name[16];
                        char master[16];
                } link;
                struct {
                        char template_name[64];
                } snapshot;
                struct {
                        mode_t mode;
                } device;
        } u;
};

struct plan {
        unsigned n;
        struct plan_step *steps;
};

const char *plan_kind_to_string(enum plan_kind k);

/* Compute the steps that make r match p. Pure: reads only its arguments (names such as the
 * tap owner are resolved through the report's knob facts, not the system). A second call after a
 * successful apply returns an empty plan. Returns -ENOMEM or 0. */
int plan_build(const struct host_report *r, const struct policy *p, struct plan *ret);

/* Only the steps that refill the prepared set: empty slots missing from <root>/slots and
 * prepared snapshots missing from <root>/prepared/<t>, as plan_build makes them, when the
 * snapshot root exists (nothing otherwise). The agent runs these after leases took some; r
 * needs the btrfs probe and probe_knobs for the policy's templates. Returns -ENOMEM or 0. */
int plan_build_snapshot_refill(const struct host_report *r, const struct policy *p,
                               struct plan *ret);

void plan_free(struct plan *plan);

/* Fill *ret with a copy of plan that the caller owns (release it with plan_free), so that one
 * plan can be kept while the other is replaced: the agent's apply runs a copy of the plan of the
 * assessment it just made. Returns -ENOMEM (*ret untouched) or 0. */
int plan_copy(const struct plan *plan, struct plan *ret);

/* The texts of a PLAN_HUGEPAGES step for the pool of page_size (node -1: the global pool):
 * knob "hugepages-2048kB" or "hugepages-2048kB/node1", the pool's nr_hugepages path, current
 * "N pages" and wanted "N pages (SIZE)", and u.hugepages.current. The planner and the agent's
 * lease resizes share it. */
void plan_hugepages_text(struct plan_step *s, uint64_t page_size, int node, uint64_t current,
                         uint64_t pages);

/* Number of steps that are not manual. */
unsigned plan_count_automatic(const struct plan *plan);

/* What the planner needs read beyond the probes for this policy (probe_knobs). The strings
 * point into p. */
void plan_knob_request(const struct policy *p, struct knob_request *ret);

/* The probes whose facts plan_build reads for p (probe_run adds their dependencies). Facts of
 * the probes left out stay zero in the report, and plan_build never looks at them for p, so
 * the plan is the one a full probe would give (tests/unit/test-plan.c checks that on every
 * fixture host). With probe_knobs afterwards, the probes may run without detail, as
 * `hosttune apply` and the agent plan. A planner that starts reading another part of the report
 * must add its probe here. */
probe_mask_t plan_probe_mask(const struct policy *p);

/* One line for humans: "vm.swappiness is 60, wants 10 (policy.ini:12)". */
char *plan_step_describe(const struct plan_step *s, char *buf, size_t size);
