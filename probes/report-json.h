/* SPDX-License-Identifier: MIT */
/* The host report as JSON (schema REPORT_SCHEMA, docs/json-schema.md). */
#pragma once

#include <json-c/json.h>

#include "probes/report.h"

/* The facts of one probe as a JSON object, or NULL when out of memory. */
json_object *probe_facts_to_json(const struct host_report *r, enum probe_id id);

/* One probe as {"id","status","reason","remedy","error","facts"}; NULL when out of memory. */
json_object *probe_result_to_json(const struct host_report *r, enum probe_id id);

/* The probes that ran, as an array of probe_result_to_json objects. */
json_object *report_probes_to_json(const struct host_report *r);
