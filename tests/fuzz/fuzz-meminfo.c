/* SPDX-License-Identifier: MIT */
/* Fuzz target: /proc/meminfo lookups. */
#include "lib/procfs.h"
#include "tests/fuzz/fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const keys[] = { "MemTotal",     "MemAvailable", "HugePages_Total",
                                            "Hugepagesize", "Mem",          "" };
        char *s = fuzz_text(data, size);
        uint64_t v;

        if (!s)
                return 0;
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                (void) meminfo_get(s, keys[i], &v);
        free(s);
        return 0;
}
