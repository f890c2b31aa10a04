/* SPDX-License-Identifier: MIT */
/* Fuzz target: size, duration, number, mode, boolean and id-list strings, and the formatters
 * (a parsed size printed and parsed again gives the same bytes). */
#include <stdio.h>

#include "lib/parse.h"
#include "tests/fuzz/fuzz-util.h"

static int id_cb(unsigned id, void *userdata) {
        (void) id;
        (void) userdata;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_text(data, size), buf[64];
        uint64_t v, w;
        int64_t i;
        bool b;
        mode_t m;
        unsigned n;

        if (!s)
                return 0;
        if (parse_size(s, 0, &v) == 0) {
                format_size(v, buf, sizeof(buf));
                if (parse_size(buf, 0, &w) != 0 || w != v)
                        abort();
        }
        (void) parse_size(s, UINT64_C(1) << 40, &v);
        if (parse_duration(s, &v) == 0)
                (void) format_duration(v, buf, sizeof(buf));
        (void) parse_u64(s, &v);
        (void) parse_hex_u64(s, &v);
        (void) parse_i64(s, &i);
        (void) parse_bool(s, &b);
        if (parse_mode(s, &m) == 0 && m > 07777)
                abort();
        (void) parse_id_list(s, id_cb, NULL);
        (void) count_id_list(s, &n);
        free(s);
        return 0;
}
