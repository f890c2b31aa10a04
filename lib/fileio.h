/* Reading and writing virtual files (sysfs, procfs) relative to a root directory fd. */
#pragma once

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Upper bound for files read into a heap buffer (mountinfo on a container host with
 * thousands of mounts stays well under this). */
#define VIRTUAL_FILE_MAX (16U * 1024U * 1024U)

/* Open path relative to root_fd as if root_fd were "/": absolute symlinks and ".." are
 * resolved inside the root (openat2 RESOLVE_IN_ROOT), so a fixture tree captured from another
 * machine can never make a probe read this machine's files. Leading slashes of path are
 * ignored. O_CLOEXEC and O_NOCTTY are always added. Returns an fd or a negative errno. */
int open_in_root(int root_fd, const char *path, int flags, mode_t mode);

/* Read the whole file into buf (size bytes including the terminating NUL). Returns the length
 * read, -EFBIG when the file does not fit, -EBADMSG when it holds a NUL byte (not text), or
 * the negative errno of open/read. */
ssize_t read_virtual_file_at(int root_fd, const char *path, char *buf, size_t size);

/* Read a sysfs attribute or a sysctl (one value, at most a page) with a single read(2), as the
 * kernel wants them read: kernfs hands the whole value to the first read, and for "raw"
 * attributes a second read would ask the driver again and may see a new value instead of
 * EOF. Regular files (fixture trees) also return everything a read asks for. Only when the
 * buffer fills is a second read made, to tell a file that fits exactly from one that does
 * not (-EFBIG). Otherwise as read_virtual_file_at. */
ssize_t read_attribute_at(int root_fd, const char *path, char *buf, size_t size);

/* read_virtual_file_at for a file already open (from its current offset). */
ssize_t read_text_fd(int fd, char *buf, size_t size);

/* Like read_virtual_file_at into a heap buffer that grows up to max bytes. *ret is set only
 * on success and must be freed. */
int read_virtual_file_alloc_at(int root_fd, const char *path, size_t max, char **ret,
                               size_t *ret_len);

/* Read a regular file named by an ordinary path (not through a root: policy files, which the
 * user names) into a heap buffer of at most max bytes. -EISDIR for a directory, -EINVAL for
 * anything else that is not a regular file (a FIFO or device would block or never end), -EFBIG
 * when larger, -EBADMSG when it holds a NUL byte. *ret is set only on success. */
int read_regular_file_alloc(const char *path, size_t max, char **ret, size_t *ret_len);

/* Read only the beginning of a file: stop at EOF, when buf is full, or once the text read so
 * far contains until (a line end after it included). Used for /proc/cpuinfo, whose first CPU
 * block is all that is needed and whose full text costs time on large machines. Returns the
 * length read (a full buffer is not an error) or a negative errno. */
ssize_t read_file_head_at(int root_fd, const char *path, char *buf, size_t size, const char *until);

/* Read an attribute (read_attribute_at) holding one unsigned decimal number (trailing newline
 * allowed). -EINVAL when it holds anything else. */
int read_u64_at(int root_fd, const char *path, uint64_t *ret);

/* Read a one-line attribute (read_attribute_at), trailing whitespace stripped; -EINVAL when it
 * holds more than one line. */
int read_line_at(int root_fd, const char *path, char *buf, size_t size);

/* Call cb with the name of every entry of the directory at path (relative to the root), "."
 * and ".." excluded, in the order the file system returns them. Uses getdents64 directly (no
 * DIR stream: two fcntl and an fstat fewer per directory). Returns the first negative value of
 * cb, the negative errno of open/getdents, or 0. */
int read_dir_names_at(int root_fd, const char *path, int (*cb)(const char *name, void *userdata),
                      void *userdata);

/* fstatat relative to the root, through open_in_root (O_PATH) so symlinks stay inside. */
int stat_in_root(int root_fd, const char *path, struct stat *ret);

/* Write value with a single write(2), as sysfs and procfs require; no O_CREAT, no O_TRUNC.
 * Returns 0, the negative errno of open/write, or -EIO on a short write. */
int write_virtual_file_at(int root_fd, const char *path, const char *value);

/* Replace path (relative to dir_fd) atomically: write a temporary file in the same directory,
 * fsync it, rename it over path. Readers see the old or the new content, never a mix. */
int write_file_atomic_at(int dir_fd, const char *path, const void *data, size_t len, mode_t mode);

/* The same without fsync: for state under the runtime directory (/run, a tmpfs), which a power
 * loss wipes anyway. The rename still makes every reader and a restart after a crash of the
 * writing process see the old or the new content, never a mix; only durability against a
 * crash of the whole machine is given up, and with it a disk flush per write. */
int write_file_replace_at(int dir_fd, const char *path, const void *data, size_t len, mode_t mode);
