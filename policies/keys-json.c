/* SPDX-License-Identifier: MIT */
/* The policy key table as JSON (`hosttune policy keys --json`): the one source the NixOS module's
 * evaluation-time checks are generated from (nixos-module/policy-keys.json). */
#include <json-c/json.h>
#include <string.h>

#include "lib/json-util.h"
#include "lib/util.h"
#include "policies/policy-internal.h"
#include "policies/policy.h"

static json_object *key_json(const struct policy_key_def *d) {
        json_object *o = json_object_new_object();
        const char *syntax = policy_key_syntax(d);

        json_object_object_add(o, "section", json_object_new_string(d->section));
        json_object_object_add(o, "name", json_object_new_string(d->name));
        json_object_object_add(o, "syntax", json_object_new_string(syntax));
        json_object_object_add(o, "list", json_object_new_boolean(d->list));
        json_object_object_add(o, "keep", json_object_new_boolean(d->keep));
        if (d->type == KT_UINT || d->type == KT_INT) {
                json_object_object_add(o, "min", json_object_new_int64(d->min));
                json_object_object_add(o, "max", json_object_new_int64(d->max));
        } else if (d->type == KT_MODE || d->type == KT_DURATION)
                /* a mode's largest value; a duration's in seconds */
                json_object_object_add(o, "max", json_object_new_int64(d->max));
        if (d->type == KT_STRING)
                /* the field's size, with the terminating NUL */
                json_object_object_add(o, "max-length",
                                       json_object_new_int64((int64_t) d->size - 1));
        if (d->choices) {
                json_object *c = json_object_new_array();
                for (const char *const *i = d->choices; *i; i++)
                        json_object_array_add(c, json_object_new_string(*i));
                json_object_object_add(o, "choices", c);
        }
        json_object_object_add(o, "help", json_object_new_string(d->help ? d->help : ""));
        return o;
}

char *policy_keys_to_json(void) {
        _cleanup_(json_object_putp) json_object *doc = json_object_new_object();
        json_object *sections, *keys, *refused;
        const char *text;

        if (!doc)
                return NULL;
        json_object_object_add(doc, "schema", json_object_new_string("hosttune.policy-keys/1"));
        sections = json_object_new_array();
        for (unsigned i = 0; i < policy_n_sections; i++)
                json_object_array_add(sections, json_object_new_string(policy_sections[i]));
        json_object_object_add(doc, "sections", sections);
        keys = json_object_new_array();
        for (unsigned i = 0; i < policy_n_key_defs; i++)
                json_object_array_add(keys, key_json(&policy_key_defs[i]));
        json_object_object_add(doc, "keys", keys);
        refused = json_object_new_array();
        for (unsigned i = 0; i < policy_n_refused_sysctls; i++) {
                json_object *r = json_object_new_object();
                json_object_object_add(r, "key",
                                       json_object_new_string(policy_refused_sysctls[i].key));
                json_object_object_add(r, "why",
                                       json_object_new_string(policy_refused_sysctls[i].why));
                json_object_array_add(refused, r);
        }
        json_object_object_add(doc, "refused-sysctls", refused);
        text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_SPACED |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
        return text ? strdup(text) : NULL;
}
