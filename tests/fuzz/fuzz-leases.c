/* SPDX-License-Identifier: MIT */
/* Fuzz target: the lease file parser and the agent.state parser (both read files that a crash
 * or another version may have left), and what a parsed lease file must satisfy: compacted
 * (formatted again), it parses to the same records; and a log it accepted, cut short by a crash
 * in the middle of one more append, still parses to the same records. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/agent-state.h"
#include "runtime/lease-file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_records(const struct lease_record *a, const struct lease_record *b, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                json_object *x = lease_record_to_json(&a[i]);
                json_object *y = lease_record_to_json(&b[i]);
                if (strcmp(json_object_to_json_string(x), json_object_to_json_string(y)))
                        abort();
                json_object_put(x);
                json_object_put(y);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char torn[] = "{ \"set\": { \"id\": \"0123";
        static struct agent_state state;
        struct lease_record *recs = NULL, *again = NULL, *cut = NULL;
        const struct lease_record **ptrs = NULL;
        struct lease_file_info info;
        unsigned n = 0, n2 = 0, n3 = 0;
        size_t len;
        char *text, *text2 = NULL, *text3 = NULL;

        text = malloc(size + 1); /* on the heap, so ASan sees reads past the end */
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        (void) agent_state_parse(text, &state);
        if (lease_file_parse(text, &recs, &n, &info) >= 0) {
                ptrs = calloc(n ? n : 1, sizeof(const struct lease_record *));
                for (unsigned i = 0; ptrs && i < n; i++)
                        ptrs[i] = &recs[i];
                text2 = ptrs ? lease_file_format(ptrs, n) : NULL;
                if (text2 && (lease_file_parse(text2, &again, &n2, NULL) < 0 || n2 != n))
                        abort();
                if (again)
                        same_records(recs, again, n);
                /* One more append torn by a crash changes nothing (the text as parsed: up to a
                 * NUL byte the data may hold). */
                len = strlen(text);
                text3 = info.document_form ? NULL : malloc(len + sizeof(torn));
                if (text3) {
                        memcpy(text3, text, len);
                        memcpy(text3 + len, torn, sizeof(torn));
                        if (lease_file_parse(text3, &cut, &n3, &info) < 0 || n3 != n ||
                            info.torn_bytes == 0)
                                abort();
                        if (cut)
                                same_records(recs, cut, n);
                }
        }
        free(cut);
        free(text3);
        free(again);
        free(text2);
        free(ptrs);
        free(recs);
        free(text);
        return 0;
}
