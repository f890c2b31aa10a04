/* SPDX-License-Identifier: MIT */
/* User and group names: syntax checks, and resolution through <root>/etc/passwd and
 * <root>/etc/group. hosttune is linked statically and must not use NSS (getpwnam would load
 * modules that a static binary cannot), and a policy is validated where the names do not exist
 * (a Nix build sandbox), so names are checked for syntax at load and resolved only on the host. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A user or group name as useradd and systemd accept it ([A-Za-z_][A-Za-z0-9_.-]*, at most 31
 * characters, not all digits), or a numeric id below 4294967295. */
bool user_group_name_valid(const char *name);

/* The uid of name from <root>/etc/passwd (a numeric name is its own id). -ENOENT when no such
 * user, -EINVAL for a name that is not valid, or the negative errno of reading the file. */
int user_lookup_at(int root_fd, const char *name, uint32_t *ret_uid);

/* The gid of name from <root>/etc/group, same conventions. */
int group_lookup_at(int root_fd, const char *name, uint32_t *ret_gid);

/* Find name in the text of a passwd or group database (colon-separated, the id in the third
 * field). Pure, for tests and the fuzzer. -ENOENT when absent, -EBADMSG when name's line has no
 * valid id. */
int user_db_find(const char *text, const char *name, uint32_t *ret_id);

/* The first member listed for group in <root>/etc/group (into buf) and the group's gid.
 * -ENOENT when there is no such group or it lists no member. */
int group_first_member_at(int root_fd, const char *group, char *buf, size_t size,
                          uint32_t *ret_gid);

/* The same from the text of a group database. Pure, for tests. */
int group_db_first_member(const char *text, const char *group, char *buf, size_t size,
                          uint32_t *ret_gid);
