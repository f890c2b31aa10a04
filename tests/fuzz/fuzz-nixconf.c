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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_text(data, size);
        unsigned bad;

        if (s) {
                (void) nixconf_parse(s, cb, NULL, &bad);
                free(s);
        }
        return 0;
}
