/* SPDX-License-Identifier: MIT */
/* The files the agent publishes (agent/outputs.c): ready.json, the metrics, nix.conf's
 * features, the NFD file and agent.state. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct agent;

/* Write ready.json, the metrics file, nix.conf, the node-feature-discovery file (when the
 * policy names one) and agent.state for the current state. Returns
 * the first error (each output is still attempted). */
int agent_outputs_write(struct agent *a);

/* The same, nix.conf only when asked: what leases hold is in ready.json, the metrics, the NFD
 * file and agent.state, never in the verified features (leases change often; nix.conf readers are
 * Nix daemons that re-read it on every build). */
int agent_outputs_write_some(struct agent *a, bool nix_conf);

/* Remove the temporary files that an agent killed mid-write left next to its outputs (ready.json,
 * the metrics file, the nix.conf features file, agent.state, leases.json), the predictable
 * NAME.tmp.PID of earlier versions included (lib/fileio.h tmpfiles_clean_at). Call it only
 * while this is the one agent (it holds the bus name). Logs what it removed. */
void agent_outputs_clean_leftovers(struct agent *a);

/* The Nix system features this host verifiably provides, space separated, into buf. */
void agent_verified_features(const struct agent *a, char *buf, size_t size);
