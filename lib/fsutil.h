/* SPDX-License-Identifier: MIT */
/* Directory trees: emptiness, recursive removal and recursive copy (reflinks where the file
 * system can), all relative to directory fds, never following symlinks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 1 when the directory at path (relative to dir_fd) has no entries, 0 when it has, negative
 * errno when it cannot be read. */
int dir_is_empty_at(int dir_fd, const char *path);

/* Number of entries of the directory at path, or a negative errno. */
int dir_count_entries_at(int dir_fd, const char *path);

/* Remove the tree at path (relative to dir_fd): files, symlinks, directories, depth first.
 * Never follows symlinks and never descends into another file system (a mount point below is
 * -EXDEV, and nothing under it is touched). 0, or the first negative errno. */
int remove_tree_at(int dir_fd, const char *path);

/* Copy the tree src (relative to src_dir_fd) to dst (relative to dst_dir_fd, must not exist):
 * directories, regular files, symlinks, device nodes and fifos, with owner, mode and
 * timestamps. File data is shared (FICLONE) when the file system can, else copied with
 * copy_file_range. Hard links become separate files; xattrs are not copied. On failure the
 * partial copy is removed. */
int copy_tree_at(int src_dir_fd, const char *src, int dst_dir_fd, const char *dst);

/* The identity a permission check is made for: a user, its groups (the primary one included). */
struct access_identity {
        uid_t uid;
        size_t n_gids;
        gid_t gids[64];
};

/* Could id reach path by the permission bits (the owner's, the group's or the others' class, as
 * the kernel picks them; ACLs and capabilities aside): every existing directory on the way
 * searchable, and with contents set, the path itself readable (a directory: listable). Symlinks
 * on the way are followed as a lookup would. A path that does not exist is reachable when
 * everything above it that exists is. uid 0 reaches everything. */
bool path_reachable_as(const char *path, const struct access_identity *id, bool contents);
