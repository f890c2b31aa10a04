/* SPDX-License-Identifier: MIT */
/* Applier for device node permissions (/dev/kvm: mode 0666 lets Nix build users in, who lose
 * their supplementary groups in the sandbox). */
#pragma once

#include "policies/apply/applier.h"

/* PLAN_DEVICE_MODE: chmod step->path (under the apply root) to u.device.mode. Only character
 * devices are touched (a path that is anything else is FAILED, -ENODEV). UNCHANGED when the
 * permission bits already match; otherwise the original bits are journaled ("0660"), the mode
 * set and verified with stat. The owner and group are never changed. */
int device_mode_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* Undo JOURNAL_MODE: put the original permission bits back. */
void device_mode_revert(struct apply_ctx *c, const struct journal_entry *e,
                        struct revert_result *res);
