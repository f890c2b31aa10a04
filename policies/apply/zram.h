/* SPDX-License-Identifier: MIT */
/* Applier for zram swap: configure a device (algorithm before size, as the kernel requires),
 * write a swap header in-process, swapon with a priority. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "policies/apply/applier.h"

#define SWAP_LABEL "hosttune"

/* PLAN_ZRAM: the device is u.zram.device ("zram0"; else step->knob, else the basename of
 * step->path); a device that does not exist is added through /sys/class/zram-control/hot_add
 * (journaled as JOURNAL_ZRAM_DEVICE; the kernel numbers devices itself, so when it hands out
 * another number that device is removed again and the step FAILED); u.zram has disksize (bytes,
 * rounded up to pages by the kernel), algorithm ("" = kernel default) and priority (< 0: the kernel
 * picks). A device in use (swapped on, mounted, or otherwise held exclusively) is never resized or
 * reset: UNCHANGED when it already is swap as wanted, else FAILED (-EBUSY) with a message saying
 * what it is and how to free it, since changing it would lose its contents. An idle device is
 * journaled (created when unconfigured, else changed from "disksize=N algorithm=X"), reset if
 * configured differently, given comp_algorithm then disksize, a v1 swap header (SWAPSPACE2, random
 * UUID, label "hosttune") and swapon(2). Verified through /sys/block and /proc/swaps. */
int zram_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* Undo JOURNAL_ZRAM: swapoff when it is swap, reset; a device that was configured before gets
 * its algorithm and disksize back (its earlier contents cannot come back; hosttune only ever
 * changes idle devices). */
void zram_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);

/* Undo JOURNAL_ZRAM_DEVICE: hot_remove the device (after its JOURNAL_ZRAM entry, newer, has
 * swapped it off and reset it). */
void zram_device_revert(struct apply_ctx *c, const struct journal_entry *e,
                        struct revert_result *res);

/* Fill page (page_size bytes) with a Linux v1 swap header for a device of device_size bytes:
 * version 1, last_page, no bad pages, uuid, label (up to 16 bytes), "SWAPSPACE2" in the last 10
 * bytes of the page. -EINVAL when the device holds fewer than 10 pages (mkswap's minimum) or
 * page_size is not a power of two of at least 4096. Pure. */
int swap_header_build(void *page, size_t page_size, uint64_t device_size, const uint8_t uuid[16],
                      const char *label);

/* A random (version 4) UUID. */
int uuid_random(uint8_t ret[16]);
