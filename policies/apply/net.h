/* SPDX-License-Identifier: MIT */
/* Appliers for VM networking: persistent taps (/dev/net/tun ioctls) and a bridge with the taps
 * enslaved (libnl-route-3). They act on the network namespace the process is in. */
#pragma once

#include "policies/apply/applier.h"

/* PLAN_BRIDGE: create bridge u.link.name (knob when empty) with rtnl_link_add (NLM_F_EXCL) and
 * set it up. An existing bridge is only set up when down (journaled as changed from "down");
 * an existing link of another type is FAILED. */
int bridge_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* PLAN_TAP: create persistent tap u.tap.name with TUNSETIFF (IFF_TAP | IFF_NO_PI |
 * IFF_TUN_EXCL, plus IFF_VNET_HDR and IFF_MULTI_QUEUE as asked), TUNSETOWNER u.tap.owner
 * ((uid_t) -1 = no owner), TUNSETPERSIST, then set it up. An existing tap: UNCHANGED when it
 * matches and is up; with the right flags but another owner, the owner is changed (journaled
 * as JOURNAL_TAP_OWNER) by attaching to it, unless it has none (the kernel cannot clear an
 * owner again, so that change could not be reverted: FAILED); with other flags, re-made when
 * hosttune created it, else FAILED and left alone. Attaching is EBUSY while a VM holds the tap.
 * Verified through /sys/class/net/<tap>/{tun_flags,owner}. */
int tap_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* PLAN_TAP_MASTER: enslave u.link.name to u.link.master (rtnl_link_enslave_ifindex); the
 * earlier master ("" = none) is journaled. */
int tap_master_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* The tun_flags (IFF_TAP, IFF_VNET_HDR, IFF_MULTI_QUEUE, IFF_PERSIST, ...) and owner (-1 for
 * none) of tap name, from /sys/class/net/<name>. -ENOENT when there is no such device,
 * -EMEDIUMTYPE when it is a tun (not tap) device. */
int tap_info(int root_fd, const char *name, uint32_t *ret_flags, int64_t *ret_owner);

/* Make owner the owner of persistent tap name (for leases): attach with the tap's own flags,
 * TUNSETOWNER, detach; a no-op when owner already owns it. Not journaled: leases record what
 * they change in their own file. -EBUSY while someone holds a single-queue tap (a VM),
 * -EMEDIUMTYPE for a tap that is not persistent or not a tap, -EINVAL for (uid_t) -1 (the kernel
 * cannot unset an owner). */
int tap_set_owner(int root_fd, const char *name, uid_t owner);

/* Undo JOURNAL_LINK: delete a link hosttune created (only while it is a bridge or tun device
 * of that name), or set one that was down before down again. */
void link_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);

/* Undo JOURNAL_TAP_OWNER: attach to the tap with its current flags and set the original
 * owner. */
void tap_owner_revert(struct apply_ctx *c, const struct journal_entry *e,
                      struct revert_result *res);

/* Undo JOURNAL_MASTER: release the link from its bridge, or put it back on its original one. */
void master_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);
