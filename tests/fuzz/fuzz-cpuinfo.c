/* SPDX-License-Identifier: MIT */
/* Fuzz target: the first processor block of /proc/cpuinfo. */
#include "lib/procfs.h"
#include "tests/fuzz/fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s = fuzz_text(data, size);
        struct cpuinfo_first c;

        if (!s)
                return 0;
        if (cpuinfo_parse_first(s, &c) == 0 &&
            (strnlen(c.vendor, sizeof(c.vendor)) == sizeof(c.vendor) ||
             strnlen(c.model_name, sizeof(c.model_name)) == sizeof(c.model_name)))
                abort(); /* an unterminated field */
        free(s);
        return 0;
}
