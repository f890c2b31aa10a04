/* SPDX-License-Identifier: MIT */
/* Fuzz target: /proc/buddyinfo parsing and the obtainable-pages sum. */
#include "lib/procfs.h"
#include "tests/fuzz/fuzz-util.h"

static int cb(const struct buddy_zone *z, void *userdata) {
        (void) userdata;
        return z->n_orders > BUDDY_ORDERS_MAX ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_text(data, size);
        unsigned bad;

        if (!s)
                return 0;
        if (buddyinfo_parse(s, cb, NULL, &bad) < 0)
                abort(); /* a zone with more orders than the array holds */
        for (unsigned order = 0; order < 20; order += 9) {
                (void) buddyinfo_obtainable(s, order, -1);
                (void) buddyinfo_obtainable(s, order, 0);
        }
        free(s);
        return 0;
}
