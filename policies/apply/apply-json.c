/* SPDX-License-Identifier: MIT */
/* JSON forms of step and revert results. */
#include "apply-json.h"

#include "lib/json-util.h"
#include "lib/util.h"

json_object *step_results_to_json(const struct plan *plan, const struct step_result *results) {
        _cleanup_(json_object_putp) json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        for (unsigned i = 0; i < plan->n; i++) {
                const struct step_result *r = &results[i];
                json_object *o = json_object_new_object();

                if (!o)
                        return NULL;
                json_object_object_add(o, "knob", json_object_new_string(plan->steps[i].knob));
                json_object_object_add(o, "outcome",
                                       json_object_new_string(step_outcome_to_string(r->outcome)));
                json_object_object_add(o, "error", json_object_new_int(-r->error));
                json_object_object_add(o, "achieved", json_object_new_string(r->achieved));
                json_object_object_add(o, "message", json_object_new_string(r->message));
                json_object_object_add(o, "warning", json_object_new_string(r->warning));
                json_object_object_add(o, "usec", json_object_new_uint64(r->usec));
                json_object_object_add(o, "caches_dropped",
                                       json_object_new_boolean(r->caches_dropped));
                json_object_array_add(a, o);
        }
        return TAKE_PTR(a);
}

json_object *revert_result_to_json(const struct journal_entry *e, const struct revert_result *r) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "kind", json_object_new_string(journal_kind_to_string(e->kind)));
        json_object_object_add(o, "object", json_object_new_string(e->object));
        json_object_object_add(o, "label", json_object_new_string(e->label));
        json_object_object_add(
                o, "action",
                json_object_new_string(e->action == JOURNAL_CREATED ? "created" : "changed"));
        if (e->action == JOURNAL_CHANGED)
                json_object_object_add(o, "original", json_object_new_string(e->original));
        json_object_object_add(o, "outcome",
                               json_object_new_string(revert_outcome_to_string(r->outcome)));
        json_object_object_add(o, "message", json_object_new_string(r->message));
        return o;
}
