/* SPDX-License-Identifier: MIT */
/* Applier for the hugetlbfs mount that QEMU-style -mem-path users need (Firecracker and
 * cloud-hypervisor take pages from the pool without one). */
#pragma once

#include "policies/apply/applier.h"

/* PLAN_HUGETLBFS_MOUNT: mount hugetlbfs on step->path with u.mount (page_size, mode, gid),
 * nosuid,nodev; the mount point and missing parents are created (journaled). UNCHANGED when a
 * hugetlbfs mount with those options is already there. A different mount at the path, or a
 * hugetlbfs mount with other options that hosttune did not make, is FAILED and left alone; one
 * hosttune made is unmounted and mounted again with the new options. Verified against
 * /proc/self/mountinfo. */
int hugetlbfs_mount_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* Undo JOURNAL_MOUNT: unmount when a hugetlbfs mount is still at the path (GONE otherwise);
 * FAILED (entry kept) while files in it are in use. */
void mount_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);
