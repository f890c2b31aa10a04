/* SPDX-License-Identifier: MIT */
/* Appliers for the snapshot tree: the root, prepared empty slots, and prepared snapshots of
 * templates, as btrfs subvolumes through libbtrfsutil (a plain-directory fallback, with a
 * warning, off btrfs).
 *
 * Layout (docs/apply.md):
 *   <root>/             subvolume on btrfs (else a directory)
 *   <root>/slots/       prepared EMPTY subvolumes slot-0, slot-1, ...; the btrfs probe counts
 *                       the entries here as free slots, and a lease takes one by moving it
 *                       out of slots/ (rename is atomic, so two leases never get one slot)
 *   <root>/templates/   templates (subvolumes) put there by the operator: <name>
 *   <root>/prepared/<name>/
 *                       writable snapshots of template <name>, ready to lease: snap-0, snap-1,
 *                       ... (the knob probe counts the entries of this directory)
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "policies/apply/applier.h"
#include "policies/lease-rules.h"

/* PLAN_SNAPSHOT_ROOT: create step->path (missing parents as directories, journaled) as a
 * subvolume when its parent is on btrfs, else as a directory with a warning (every snapshot
 * then is a full copy); then slots/, templates/ and prepared/ inside it. An existing root only
 * gets the missing subdirectories (UNCHANGED when none is missing). */
int snapshot_root_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* PLAN_SNAPSHOT_SLOT: create one empty slot in the slots directory step->path (<root>/slots),
 * named slot-N with the lowest free N: an empty subvolume on btrfs (given the NOCOW flag and
 * compression property of slots/, since a new subvolume's root inode inherits nothing), else a
 * directory with a warning. One step makes one slot. */
int snapshot_slot_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* PLAN_SNAPSHOT_PREPARED: snapshot <root>/templates/<u.snapshot.template_name> into
 * step->path (<root>/prepared/<template>, created when missing) as snap-N, the lowest free N.
 * A writable btrfs snapshot when the template is a subvolume on the same file system; else a
 * copy of the tree (reflinked where the file system can) with a warning. One step makes one
 * snapshot. */
int snapshot_prepared_apply(struct apply_ctx *c, const struct plan_step *s,
                            struct step_result *res);

/* Undo JOURNAL_SUBVOLUME (the root): delete it when empty (an empty leases/ of the lease code
 * does not count: it goes with it); KEPT when it holds things hosttune did not create. */
void subvolume_revert(struct apply_ctx *c, const struct journal_entry *e,
                      struct revert_result *res);

/* Undo JOURNAL_SNAPSHOT (a slot or prepared snapshot still at its place): delete the subvolume
 * (never recursively: a subvolume someone created inside keeps it, KEPT), or remove the
 * directory tree of the fallback. GONE when a lease moved it away. */
void snapshot_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);

/* ---- leases (docs/leases.md) ----
 * A lease's snapshot directory is <root>/leases/<id>, owned by the holder (the directory itself:
 * its contents keep their owners). root is the snapshot root's absolute path, resolved under
 * root_fd. None of these are journaled: the agent's lease file records them. */

struct snapshot_lease_dir {
        char path[LEASE_PATH_MAX];
        bool subvolume;
        enum lease_snapshot_source source;
};

/* O(1): move a prepared snapshot of template tmpl (the first entry of <root>/prepared/<tmpl>)
 * or, for tmpl "", an empty slot (of <root>/slots) to <root>/leases/<id> by rename(2), which
 * is atomic, and give it to uid:gid. -EAGAIN when there is none to take. */
int snapshot_lease_take(int root_fd, const char *root, const char *tmpl, const char *id, uid_t uid,
                        gid_t gid, struct snapshot_lease_dir *ret);

/* Make one now at <root>/leases/<id>: a writable snapshot of <root>/templates/<tmpl> (a btrfs
 * transaction commit: milliseconds; a copy of the tree off btrfs or when the template is no
 * subvolume), or for tmpl "" an empty subvolume with the attributes of slots/ (an empty
 * directory off btrfs); give it to uid:gid. */
int snapshot_lease_make(int root_fd, const char *root, const char *tmpl, const char *id, uid_t uid,
                        gid_t gid, struct snapshot_lease_dir *ret);

/* Delete <root>/leases/<id>: the subvolume and any its holder created below it (the kernel
 * cleans up asynchronously), or the directory tree. 0 when it is gone already. */
int snapshot_lease_delete(int root_fd, const char *root, const char *id);

/* Is there a template called tmpl: <root>/templates/<tmpl> a directory (a symlink there is
 * none: it could point anywhere)? 0, -EINVAL for a name a request may not give, -ENOENT,
 * -ELOOP for a symlink, -ENOTDIR. */
int snapshot_template_lookup(int root_fd, const char *root, const char *tmpl);

/* Entries ready to take: of <root>/prepared/<tmpl>, or of <root>/slots for tmpl "". */
int snapshot_prepared_count(int root_fd, const char *root, const char *tmpl);
