/* SPDX-License-Identifier: MIT */
/* Readiness verdicts as JSON, shared by the CLI and the agent. */
#include "policies/readiness-json.h"

#include "lib/json-util.h"
#include "policies/plan-json.h"
#include "probes/report-json.h"

#ifndef HOSTTUNE_VERSION
#define HOSTTUNE_VERSION "0.0.0"
#endif

json_object *requirement_results_to_json(const struct requirement_result *res, unsigned n) {
        _cleanup_(json_object_putp) json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        for (unsigned i = 0; i < n; i++) {
                json_object *o = json_object_new_object();
                char name[64];

                if (!o)
                        return NULL;
                json_object_object_add(o, "name",
                                       json_object_new_string(requirement_to_string(
                                               &res[i].req, name, sizeof(name))));
                json_object_object_add(o, "probe",
                                       json_object_new_string(probe_id_to_string(res[i].probe)));
                json_object_object_add(o, "satisfied", json_object_new_boolean(res[i].satisfied));
                json_object_object_add(o, "caveat", json_object_new_boolean(res[i].caveat));
                json_object_object_add(o, "reason", json_object_new_string(res[i].reason));
                json_object_object_add(o, "remedy", json_object_new_string(res[i].remedy));
                json_object_array_add(a, o);
        }
        return TAKE_PTR(a);
}

json_object *check_document_to_json(const struct host_report *r,
                                    const struct requirement_result *res, unsigned n,
                                    unsigned failed, const struct policy *policy,
                                    const struct plan *plan, const char *source, const char *root) {
        json_object *doc = json_object_new_object();

        if (!doc)
                return NULL;
        json_object_object_add(doc, "schema", json_object_new_string(CHECK_SCHEMA));
        json_object_object_add(doc, "version", json_object_new_string(HOSTTUNE_VERSION));
        json_object_object_add(doc, "root", json_object_new_string(root));
        json_object_object_add(doc, "ready",
                               json_object_new_boolean(failed == 0 && (!plan || plan->n == 0)));
        json_object_object_add(doc, "source", json_object_new_string(source));
        if (policy) {
                json_object *pol = json_object_new_object(), *files = json_object_new_array();

                json_object_object_add(pol, "name", json_object_new_string(policy->name));
                for (unsigned i = 0; i < policy->n_files; i++)
                        json_object_array_add(files, json_object_new_string(policy->files[i]));
                json_object_object_add(pol, "files", files);
                json_object_object_add(doc, "policy", pol);
        }
        json_object_object_add(doc, "requirements", requirement_results_to_json(res, n));
        if (plan)
                json_object_object_add(doc, "plan", plan_to_json(plan));
        json_object_object_add(doc, "probes", report_probes_to_json(r));
        return doc;
}
