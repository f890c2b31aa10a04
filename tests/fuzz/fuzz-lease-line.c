/* SPDX-License-Identifier: MIT */
/* Fuzz target: the lease socket's request and reply lines (policies/lease-line.c), what a
 * hostile build sends to the agent; a request parsed, formatted and parsed again is the same. */
#include <stdio.h>
#include <string.h>

#include "policies/lease-line.h"
#include "tests/fuzz/fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct lease_line_request r, back;
        struct lease_line_reply g;
        char *s = fuzz_text(data, size), msg[256], buf[LEASE_LINE_MAX], v[64];

        if (!s)
                return 0;
        if (lease_line_parse(s, &r, msg, sizeof(msg)) == 0 &&
            lease_line_format(&r, buf, sizeof(buf)) == 0) {
                buf[strcspn(buf, "\n")] = 0;
                if (lease_line_parse(buf, &back, msg, sizeof(msg)) != 0 || back.seen != r.seen ||
                    back.hugepages != r.hugepages || back.hugepage_size != r.hugepage_size ||
                    back.wait != r.wait || back.enforce != r.enforce ||
                    strcmp(back.label, r.label) != 0)
                        abort();
        }
        if (lease_line_parse_reply(s, &g) == 0)
                (void) lease_line_reply_value(&g, "hugepages", v, sizeof(v));
        free(s);
        return 0;
}
