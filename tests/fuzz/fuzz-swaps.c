/* SPDX-License-Identifier: MIT */
/* Fuzz target: /proc/swaps parsing. */
#include "lib/procfs.h"
#include "tests/fuzz/fuzz-util.h"

static int cb(const struct swaps_entry *e, void *userdata) {
        (void) userdata;
        if (e->priority < -65536 || e->priority > 65535)
                abort();
        return 0;
}

static void run(const char *s) {
        unsigned bad;
        (void) swaps_parse(s, cb, NULL, &bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        return fuzz_run_text(data, size, run);
}
