/* Directory trees: emptiness, recursive removal and recursive copy (reflinks where the file
 * system can), all relative to directory fds, never following symlinks. */
#pragma once

#include <stdint.h>

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
