/* SPDX-License-Identifier: MIT */
/* Step and revert results as JSON, for `hosttune apply --json`, `hosttune revert --json` and the
 * agent's Apply and Revert methods. */
#pragma once

#include <json-c/json.h>

#include "policies/apply/apply.h"

/* An array parallel to plan->steps: {"knob","outcome","error","achieved","message","warning",
 * "usec","caches_dropped"}; error is the errno name's number (0 when none). NULL when out of
 * memory. */
json_object *step_results_to_json(const struct plan *plan, const struct step_result *results);

/* One handled journal entry: {"kind","object","label","action","original" (changed only),
 * "outcome","message"}. NULL when out of memory. */
json_object *revert_result_to_json(const struct journal_entry *e, const struct revert_result *r);
