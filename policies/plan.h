/* The plan: what must change for the host to match the policy. Built by a pure function of
 * (report, policy); executed step by step by the appliers (policies/apply/), each change
 * journaled first so `hosttune revert` restores the original exactly. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policies/policy.h"
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
        _PLAN_KIND_MAX,
};

struct plan_step {
        enum plan_kind kind;
        char knob[128];    /* what, as the user knows it: "vm.swappiness",
                            * "hugepages-2048kB", "hugepages-2048kB/node1", "zram0", "htap3" */
        char path[256];    /* the file or object the applier touches */
        char current[128]; /* as read now; "" when the object does not exist yet */
        char wanted[128];
        char why[256]; /* "policy.ini:12: [memory] ksm = no (Firecracker production host
                        * advice)" */
        union {
                struct {
                        uint64_t page_size;
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
 * tap owner are resolved through the report's facts, not the system). A second call after a
 * successful apply returns an empty plan. */
int plan_build(const struct host_report *r, const struct policy *p, struct plan *ret);

void plan_free(struct plan *plan);
