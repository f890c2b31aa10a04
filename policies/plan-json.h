/* SPDX-License-Identifier: MIT */
/* The plan as JSON, for `hosttune check --json`, `hosttune apply --json` and the agent's Apply. */
#pragma once

#include <json-c/json.h>

#include "policies/plan.h"

/* The steps as an array of {"kind","manual","knob","path","current","wanted","origin","why",
 * "note","details"}; details holds the kind's parameters (page_size, pages, node, ...). NULL when
 * out of memory. */
json_object *plan_to_json(const struct plan *plan);
