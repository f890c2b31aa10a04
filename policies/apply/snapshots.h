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

#include "policies/apply/applier.h"

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

/* Undo JOURNAL_SUBVOLUME (the root): delete it when empty; KEPT when it holds things hosttune
 * did not create. */
void subvolume_revert(struct apply_ctx *c, const struct journal_entry *e,
                      struct revert_result *res);

/* Undo JOURNAL_SNAPSHOT (a slot or prepared snapshot still at its place): delete the subvolume
 * (never recursively: a subvolume someone created inside keeps it, KEPT), or remove the
 * directory tree of the fallback. GONE when a lease moved it away. */
void snapshot_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);
