/* SPDX-License-Identifier: MIT */
/* cgroup v2 helpers for enforced hugepage leases (docs/leases.md, "Enforcement"): where the
 * unified hierarchy is mounted, which cgroup a process is in, the hugetlb controller's files,
 * moving a process in safely and removing a cgroup. Paths are absolute paths on the host (a
 * cgroup's directory under the cgroup2 mount) read and written through a root fd. Nothing here
 * knows about leases: a later work queue (issue 13) can carry it over as it is. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_PATH_MAX 512

/* The mount point of the cgroup2 file system in mountinfo text (pure v2: /sys/fs/cgroup;
 * hybrid: usually /sys/fs/cgroup/unified). -ENOENT when there is none; the first one counts. */
int cgroup2_mount_find(const char *mountinfo, char *ret, size_t size);

/* The cgroup v2 path ("/", "/system.slice/x.service") of a /proc/PID/cgroup text: its "0::"
 * line. -ENOENT when there is none (no v2 hierarchy), -EBADMSG when it is not absolute. */
int cgroup2_path_parse(const char *proc_cgroup, char *ret, size_t size);

/* The kernel's name of a hugetlb page size in control file names: 2097152 -> "2MB",
 * 1073741824 -> "1GB", 65536 -> "64KB" (mm/hugetlb_cgroup.c mem_fmt()). -EINVAL for a size
 * that is not a power of two of at least 4096. */
int cgroup_hugetlb_size_name(uint64_t page_size, char *ret, size_t size);

/* Does the cgroup at path offer controller (its cgroup.controllers lists it)? 1 yes, 0 no, or a
 * negative errno when it cannot be read. */
int cgroup_has_controller(int root_fd, const char *path, const char *controller);

/* Enable controller for the children of path (+controller into cgroup.subtree_control) unless
 * it is already: 1 enabled now, 0 it was. -EOPNOTSUPP when path does not offer it, -EBUSY when
 * path holds processes itself (the kernel's no-internal-processes rule), else the write's
 * errno. */
int cgroup_enable_controller(int root_fd, const char *path, const char *controller);

/* Take controller back from the children of path (-controller into cgroup.subtree_control).
 * -EBUSY while a child enables it for its own children. */
int cgroup_disable_controller(int root_fd, const char *path, const char *controller);

/* Make the cgroup path (mode 0755, root's). 0 made, 1 it was there, or a negative errno. */
int cgroup_make(int root_fd, const char *path);

/* Limit the cgroup's hugetlb use of page_size to bytes: hugetlb.<size>.max (what faults may
 * charge) and, where the kernel has it (5.7+), hugetlb.<size>.rsvd.max (what mappings may
 * reserve). The .max write comes last so a failure leaves the tighter of the two in place. */
int cgroup_hugetlb_limit(int root_fd, const char *path, uint64_t page_size, uint64_t bytes);

/* The bytes of page_size hugepages charged to the cgroup (hugetlb.<size>.current). */
int cgroup_hugetlb_current(int root_fd, const char *path, uint64_t page_size, uint64_t *ret);

/* Move the process pidfd refers to (whose pid is pid) into the cgroup: pid is written to
 * cgroup.procs, then the pidfd proves it was that process that moved: a pid is not reused
 * before its process is reaped, and a process that is still there after the write was there
 * during it. -ESRCH when it was gone by then (what moved was then whatever had the number: the
 * caller should make the cgroup unusable, see cgroup_hugetlb_limit with 0). */
int cgroup_attach_pidfd(int root_fd, const char *path, pid_t pid, int pidfd);

/* Remove the (leaf) cgroup. 0 removed or already gone, -EBUSY while processes are in it (or
 * it has children), another errno otherwise. */
int cgroup_remove(int root_fd, const char *path);

/* The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat). */
int proc_start_ticks(int root_fd, pid_t pid, uint64_t *ret);

/* The real and effective uid of a process ("Uid:" of /proc/PID/status). -ESRCH when gone. */
int proc_uids(int root_fd, pid_t pid, uid_t *ret_ruid, uid_t *ret_euid);
