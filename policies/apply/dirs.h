/* SPDX-License-Identifier: MIT */
/* Directories the appliers create (mount points, the snapshot tree), journaled so revert
 * removes exactly the ones hosttune made, and only while they are empty. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "policies/apply/applier.h"

/* Create the missing parents of path (not path itself) with mode 0755, each journaled as
 * JOURNAL_DIR before it is made. 0 or a negative errno (journal failures also land in
 * c->journal_error). */
int dir_create_parents(struct apply_ctx *c, const char *path);

/* Create path (and missing parents) as a plain directory with mode, journaled. *ret_created
 * tells whether path itself was made (false: it existed). -ENOTDIR when it exists as something
 * else. */
int dir_create(struct apply_ctx *c, const char *path, mode_t mode, bool *ret_created);

/* Undo JOURNAL_DIR: rmdir when empty (RESTORED), GONE when missing, KEPT when it holds entries
 * hosttune did not create. */
void dir_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);
