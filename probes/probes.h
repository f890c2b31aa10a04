/* SPDX-License-Identifier: MIT */
/* Every probe, and running them in dependency order. Probes only read. */
#pragma once

#include "probes/context.h"
#include "probes/report.h"

/* Each probe fills its facts struct and results[its id] in r. They return a negative errno
 * only for conditions that are not about the host (out of memory); everything the host does
 * wrong is a status with a reason. Later probes use earlier facts (kvm uses cpu, zram uses
 * memory's swaps, nix uses kvm), so run them in enum probe_id order; probe_run does. */
int probe_cpu(struct probe_ctx *ctx, struct host_report *r);
int probe_kvm(struct probe_ctx *ctx, struct host_report *r);
int probe_memory(struct probe_ctx *ctx, struct host_report *r);
int probe_hugetlb(struct probe_ctx *ctx, struct host_report *r);
int probe_zram(struct probe_ctx *ctx, struct host_report *r);
int probe_btrfs(struct probe_ctx *ctx, struct host_report *r);
int probe_rng(struct probe_ctx *ctx, struct host_report *r);
int probe_net(struct probe_ctx *ctx, struct host_report *r);
int probe_userfaultfd(struct probe_ctx *ctx, struct host_report *r);
int probe_userns(struct probe_ctx *ctx, struct host_report *r);
int probe_nix(struct probe_ctx *ctx, struct host_report *r);

/* Read what the planner needs beyond the probes: exactly the knobs req names (sysctl keys, user
 * and group ids, snapshot templates, per-node pools of the named page sizes), into r->knobs, and
 * the details the probes skip without ctx->detail (THP defrag, tap owner/flags/master) when req
 * asks for them. Run after probe_run; problems reading one knob land in its error field. */
int probe_knobs(struct probe_ctx *ctx, const struct knob_request *req, struct host_report *r);

/* Owner, group, tun flags, state and master of tap name, from /sys/class/net/<name>. */
void probe_net_read_tap(struct probe_ctx *ctx, const char *name, struct tap_facts *t);

/* Bit set of probes to run. */
typedef unsigned probe_mask_t;
#define PROBE_MASK(id) (1U << (id))
#define PROBE_MASK_ALL ((1U << _PROBE_MAX) - 1)

/* Run the probes in mask plus the ones they depend on, in order. r must be zeroed by the
 * caller (static storage, calloc, or memset before a re-probe): clearing it here would touch
 * every page of a large struct on each short-lived `check`. */
int probe_run(struct probe_ctx *ctx, probe_mask_t mask, struct host_report *r);

/* Run exactly the probes in mask, in order, on a report that already holds the facts of the
 * probes they depend on (the agent's, for `hosttune check`: docs/check-facts.md). The parts of
 * r the probes in mask fill must be zeroed by the caller. */
int probe_run_exact(struct probe_ctx *ctx, probe_mask_t mask, struct host_report *r);

/* What path (under the root) is: exists, on btrfs, subvolume, NOCOW, compression property.
 * Problems inspecting it land in ret->error; returns 0. */
int probe_path_facts(struct probe_ctx *ctx, const char *path, struct path_facts *ret);
