/* SPDX-License-Identifier: MIT */
/* The cgroups that make hugepage leases enforced (docs/leases.md, "Enforcement"): where they
 * live, making one with a lease's hugetlb limits and moving its holder in, removing it when the
 * lease ended and its last process left. It knows lease ids and sizes, not the lease table: the
 * lease code calls it at grant, release and start, so it carries over to a work queue as is. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "lib/cgroup.h"

struct lease_cgroups;

/* Find the cgroup2 hierarchy and prepare the subtree lease cgroups go into (hugetlb enabled
 * down to it): when the agent runs in the root cgroup, <cgroup2>/hosttune.leases for the default
 * runtime directory and <cgroup2>/hosttune.leases.<8 hex digits of a hash of runtime_dir> for
 * any other (one per agent instance: agents with different runtime directories never share
 * it); else <own cgroup>/leases next to <own cgroup>/agent, where the agent moves itself (a unit
 * with Delegate=yes). Where that cannot be, the set says why and leases stay bookkeeping. The
 * file CGROUP_ENABLED_FILE in runtime_fd's directory (runtime_dir) remembers, across restarts,
 * that the agent turned hugetlb on for the subtree. Fails only for want of memory. */
int lease_cgroups_new(int root_fd, const char *runtime_dir, int runtime_fd, sd_event *event,
                      struct lease_cgroups **ret);

#define CGROUP_ENABLED_FILE "cgroup-hugetlb-enabled"

/* Leave the cgroups of leases as they are (the next start sweeps them); when none is left,
 * remove the subtree and turn hugetlb off where the agent turned it on. */
void lease_cgroups_free(struct lease_cgroups *c);

/* Can leases be enforced here? When not, *ret_why (may be NULL) says why. */
bool lease_cgroups_available(const struct lease_cgroups *c, const char **ret_why);

/* The directory that holds the lease cgroups into buf; -EOPNOTSUPP when not enforcing. */
int lease_cgroups_base(const struct lease_cgroups *c, char *buf, size_t size);

/* The path of lease id's cgroup into buf. */
int lease_cgroups_path(const struct lease_cgroups *c, const char *id, char *buf, size_t size);

/* Make lease id's cgroup, limit it to bytes of page_size hugepages (every other page size to
 * none), and move the process pid into it, but only if that process started before
 * not_after_ticks (clock ticks since boot: when its request arrived; a process started later
 * cannot be the one that asked, whatever its number) and, unless owner is 0, runs as owner (real
 * or effective uid): a caller can never have another uid's process moved. On failure nothing of
 * it is left. */
int lease_cgroups_enter(struct lease_cgroups *c, const char *id, uint64_t page_size, uint64_t bytes,
                        pid_t pid, uid_t owner, uint64_t not_after_ticks);

/* Lease id ended: its cgroup gets limits of 0 (what is still in it can fault no new page) and
 * is removed now or as soon as its last process left (cgroup.events watched). */
void lease_cgroups_end(struct lease_cgroups *c, const char *id);

/* Remove (as lease_cgroups_end) every lease cgroup keep() does not want: those of leases that
 * ended while the agent was not running. */
void lease_cgroups_sweep(struct lease_cgroups *c, bool (*keep)(const char *id, void *userdata),
                         void *userdata);

/* Bytes of page_size hugepages charged to all lease cgroups together (the subtree's
 * hugetlb.<size>.current, which counts its children). -EOPNOTSUPP when not enforcing. */
int lease_cgroups_charged(const struct lease_cgroups *c, uint64_t page_size, uint64_t *ret);

/* Clock ticks since boot now, for not_after_ticks. */
uint64_t lease_cgroups_now_ticks(void);
