/* SPDX-License-Identifier: MIT */
/* The lease file's text: written whole, parsed whole. */
#include "runtime/lease-file.h"

#include <stdio.h>
#include <stdlib.h>

#include "lib/util.h"

char *lease_file_format(const struct lease_record *const *records, unsigned n) {
        json_object *doc = json_object_new_object(), *arr = json_object_new_array();
        const char *text;
        char *ret = NULL;

        if (!doc || !arr) {
                json_object_put(doc);
                json_object_put(arr);
                return NULL;
        }
        json_object_object_add(doc, "schema", json_object_new_string(LEASES_SCHEMA));
        for (unsigned i = 0; i < n; i++)
                json_object_array_add(arr, lease_record_to_json(records[i]));
        json_object_object_add(doc, "leases", arr);
        text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_SPACED |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
        if (text && asprintf(&ret, "%s\n", text) < 0)
                ret = NULL;
        json_object_put(doc);
        return ret;
}

int lease_file_parse(const char *text, struct lease_record **ret, unsigned *ret_n) {
        json_object *doc = json_tokener_parse(text), *schema, *arr;
        struct lease_record *recs = NULL;
        size_t n = 0;
        int r = -EBADMSG;

        if (!doc || !json_object_is_type(doc, json_type_object) ||
            !json_object_object_get_ex(doc, "schema", &schema) ||
            !json_object_is_type(schema, json_type_string) ||
            !streq(json_object_get_string(schema), LEASES_SCHEMA) ||
            !json_object_object_get_ex(doc, "leases", &arr) ||
            !json_object_is_type(arr, json_type_array))
                goto out;
        n = json_object_array_length(arr);
        if (n > 0) {
                recs = calloc(n, sizeof(*recs));
                if (!recs) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (lease_record_from_json(json_object_array_get_idx(arr, i), &recs[i]) < 0)
                        goto out;
                for (size_t j = 0; j < i; j++)
                        if (streq(recs[j].id, recs[i].id))
                                goto out;
        }
        *ret = TAKE_PTR(recs);
        *ret_n = (unsigned) n;
        r = 0;
out:
        free(recs);
        json_object_put(doc);
        return r;
}
