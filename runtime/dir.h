/* SPDX-License-Identifier: MIT */
/* Where the runtime state lives (agent.state, the lease file and socket, the revert journal,
 * ready.json): the one place that decides, so the agent, every verb of the command line and the
 * tests agree on it. */
#pragma once

#include "policies/policy.h"

/* The default runtime directory; the policy's path rules keep outputs out of this same one. */
#define RUNTIME_DIR_DEFAULT POLICY_DEFAULT_RUNTIME_DIR

/* The runtime directory: dir when not NULL or empty (the agent's --runtime-dir), else
 * $HOSTTUNE_RUNTIME_DIR when set and not empty, else RUNTIME_DIR_DEFAULT. */
const char *runtime_dir_resolve(const char *dir);
