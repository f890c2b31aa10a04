/* SPDX-License-Identifier: MIT */
/* What `hosttune check` says about leases beyond the requirements: whether the running agent can
 * enforce hugepage leases, and whether hugepages used outside any lease leave enforced leases
 * without the pages they were promised (docs/leases.md, "Enforcement", "Unleased use"). */
#pragma once

#include "cli/output.h"
#include "runtime/agent-state.h"
#include "probes/report.h"

/* WARN lines (human output) from the agent's state (NULL: no agent, nothing to say) and the
 * report's pools; nothing when all is well. */
void check_leases_print(FILE *f, const struct agent_state *agent, const struct host_report *r);
