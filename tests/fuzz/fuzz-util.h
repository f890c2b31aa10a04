/* SPDX-License-Identifier: MIT */
/* libFuzzer glue shared by the fuzz targets: the input as a NUL-terminated string, as the
 * parsers get text from read_virtual_file_at (which rejects NUL bytes). */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A heap copy of data with a terminating NUL, cut at the first NUL; NULL when out of memory.
 * Heap, so AddressSanitizer catches reads past the end. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
        const uint8_t *nul = memchr(data, 0, size);
        size_t l = nul ? (size_t) (nul - data) : size;
        char *s = malloc(l + 1);

        if (s) {
                memcpy(s, data, l);
                s[l] = 0;
        }
        return s;
}

/* Run fn over the input as text (fuzz_text), then free it. Returns 0, as libFuzzer wants. */
static inline int fuzz_run_text(const uint8_t *data, size_t size, void (*fn)(const char *s)) {
        char *s = fuzz_text(data, size);

        if (s) {
                fn(s);
                free(s);
        }
        return 0;
}
