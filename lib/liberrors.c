/* SPDX-License-Identifier: MIT */
/* Error convention adapters for libbtrfsutil and libnl. */
#include "liberrors.h"

#include <errno.h>
#include <netlink/errno.h>

int btrfs_error_to_errno(enum btrfs_util_error e) {
        switch (e) {
        case BTRFS_UTIL_OK:
                return 0;
        case BTRFS_UTIL_ERROR_NO_MEMORY:
                return -ENOMEM;
        case BTRFS_UTIL_ERROR_INVALID_ARGUMENT:
                return -EINVAL;
        case BTRFS_UTIL_ERROR_NOT_BTRFS:
                return -ENOTTY;
        case BTRFS_UTIL_ERROR_NOT_SUBVOLUME:
                return -ENOTDIR;
        case BTRFS_UTIL_ERROR_SUBVOLUME_NOT_FOUND:
                return -ENOENT;
        default:
                /* The remaining codes name the system call that failed (OPEN_FAILED,
                 * SNAP_CREATE_FAILED, ...) and leave errno set by it. */
                return errno > 0 ? -errno : -EIO;
        }
}

int nl_error_to_errno(int nlerr) {
        switch (nlerr < 0 ? -nlerr : nlerr) {
        case 0:
                return 0;
        case NLE_NOMEM:
                return -ENOMEM;
        case NLE_EXIST:
                return -EEXIST;
        case NLE_OBJ_NOTFOUND:
        case NLE_NODEV:
                return -ENODEV;
        case NLE_PERM:
                return -EPERM;
        case NLE_NOACCESS:
                return -EACCES;
        case NLE_INVAL:
        case NLE_RANGE:
        case NLE_MSGSIZE:
                return -EINVAL;
        case NLE_OPNOTSUPP:
                return -EOPNOTSUPP;
        case NLE_AGAIN:
                return -EAGAIN;
        case NLE_BUSY:
                return -EBUSY;
        case NLE_AF_NOSUPPORT:
                return -EAFNOSUPPORT;
        case NLE_NOATTR:
                return -ENODATA;
        case NLE_INTR:
                return -EINTR;
        case NLE_MSG_TRUNC:
                return -EMSGSIZE;
        default:
                return -EIO;
        }
}
