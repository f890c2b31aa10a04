/* SPDX-License-Identifier: MIT */
/* Giving a lease's resources back (agent/lease-release.c). */
#pragma once

struct lease;
struct lease_manager;

/* Give a lease's resources back and drop it (or finish doing so); why is logged. */
void lease_release(struct lease_manager *m, struct lease *l, const char *why);

/* Go on giving l back: its directory (a job), its taps, then l itself; again after a job ended
 * or when a tap a VM held may be free. */
void lease_release_continue(struct lease_manager *m, struct lease *l);
