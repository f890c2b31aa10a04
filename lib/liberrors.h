/* SPDX-License-Identifier: MIT */
/* The one place that converts each external library's error convention to negative errno plus
 * a message: libnl (-NLE_*), libbtrfsutil (enum btrfs_util_error). inih reports line numbers,
 * handled by the policy loader. */
#pragma once

#include <btrfsutil.h>

/* Negative errno for a libbtrfsutil error; errno as the library left it when it names a failed
 * system call, else a close equivalent (NOT_BTRFS -> -ENOTTY, NOT_SUBVOLUME -> -ENOTDIR). */
int btrfs_error_to_errno(enum btrfs_util_error e);

/* Negative errno for a libnl error code (negative NLE_* as libnl functions return). */
int nl_error_to_errno(int nlerr);
