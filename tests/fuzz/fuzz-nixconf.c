/* SPDX-License-Identifier: MIT */
/* Fuzz target: nix.conf tokenizing. */
#include "lib/nixconf.h"
#include "tests/fuzz/fuzz-util.h"

static int cb(enum nixconf_kind kind, const char *key, const char *value, unsigned line,
              void *userdata) {
        (void) userdata;
        (void) line;
        if (!value || (kind == NIXCONF_SETTING) != (key != NULL))
                abort();
        return 0;
}

static void run(const char *s) {
        unsigned bad;
        (void) nixconf_parse(s, cb, NULL, &bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        return fuzz_run_text(data, size, run);
}
