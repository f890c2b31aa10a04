/* SPDX-License-Identifier: MIT */
/* Readiness verdicts as JSON: the document of `hosttune check --json` and of the agent's
 * Check and GetReport methods (schema CHECK_SCHEMA, docs/json-schema.md), built in one place so
 * both give the same shape. */
#pragma once

#include <json-c/json.h>

#include "policies/plan.h"
#include "policies/policy.h"
#include "policies/readiness.h"

/* The results as an array of {"name","probe","satisfied","caveat","reason","remedy"}; NULL when
 * out of memory. */
json_object *requirement_results_to_json(const struct requirement_result *res, unsigned n);

/* {"schema","version","root","ready","source","policy","requirements","plan","probes"}: n
 * results of which failed are unsatisfied; policy and plan (what the policy still wants changed)
 * may be NULL and are then left out; ready means failed == 0 and an empty plan; source is
 * "local" or "agent"; probes lists the probes that ran in r. NULL when out of memory. */
json_object *check_document_to_json(const struct host_report *r,
                                    const struct requirement_result *res, unsigned n,
                                    unsigned failed, const struct policy *policy,
                                    const struct plan *plan, const char *source, const char *root);
