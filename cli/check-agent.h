/* SPDX-License-Identifier: MIT */
/* `hosttune check` with a live agent: its published probe facts instead of probing everything
 * (docs/check-facts.md). */
#pragma once

#include "probes/probes.h"
#include "runtime/agent-state.h"

/* Fill report (zeroed static storage) with the live agent's facts (check.facts) when they are
 * its current ones (its pid and policy generation, made by this user, younger than their bound,
 * every stamp as stat(2) sees it now) and return the probes check must still run itself over
 * them (probe_run_exact: the volatile ones, the parts of report they fill zeroed again; what
 * the memory and hugetlb probes take from the agent instead of reading is left in
 * ctx->stable).
 * Otherwise report is left zeroed and PROBE_MASK_ALL returned: probe everything, as without
 * the agent. */
probe_mask_t check_agent_facts_use(const struct agent_state *agent, struct probe_ctx *ctx,
                                   struct host_report *report);
