/* SPDX-License-Identifier: MIT */
/* Fuzz target: the lease file parser and the agent.state parser (both read files that a crash
 * or another version may have left), and what a parsed lease file must satisfy: formatted again,
 * it parses to the same records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/agent-state.h"
#include "runtime/lease-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct agent_state state;
        struct lease_record *recs = NULL, *again = NULL;
        const struct lease_record **ptrs = NULL;
        unsigned n = 0, n2 = 0;
        char *text, *text2 = NULL;

        text = malloc(size + 1); /* on the heap, so ASan sees reads past the end */
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        (void) agent_state_parse(text, &state);
        if (lease_file_parse(text, &recs, &n) >= 0) {
                ptrs = calloc(n ? n : 1, sizeof(const struct lease_record *));
                for (unsigned i = 0; ptrs && i < n; i++)
                        ptrs[i] = &recs[i];
                text2 = ptrs ? lease_file_format(ptrs, n) : NULL;
                if (text2 && (lease_file_parse(text2, &again, &n2) < 0 || n2 != n))
                        abort();
                for (unsigned i = 0; again && i < n; i++) {
                        json_object *a = lease_record_to_json(&recs[i]);
                        json_object *b = lease_record_to_json(&again[i]);
                        if (strcmp(json_object_to_json_string(a), json_object_to_json_string(b)))
                                abort();
                        json_object_put(a);
                        json_object_put(b);
                }
        }
        free(again);
        free(text2);
        free(ptrs);
        free(recs);
        free(text);
        return 0;
}
