/* SPDX-License-Identifier: MIT */
/* Fuzz target: requirement lists ("kvm,hugepages=2G:1G,taps=8"), their canonical text (which
 * must parse back to the same list) and their verdict on an empty report. */
#include "policies/readiness.h"
#include "tests/fuzz/fuzz-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct host_report report;
        static struct requirement_result res[REQUIREMENTS_MAX];
        struct requirements req = { 0 }, again = { 0 };
        char *s = fuzz_text(data, size), err[256], buf[64];

        if (!s)
                return 0;
        if (requirements_parse(s, UINT64_C(16) << 30, &req, err, sizeof(err)) == 0) {
                for (unsigned i = 0; i < req.n; i++) {
                        requirement_to_string(&req.items[i], buf, sizeof(buf));
                        if (requirements_parse(buf, 0, &again, err, sizeof(err)) != 0)
                                abort();
                }
                if (again.n != req.n)
                        abort();
                (void) requirements_probes(&req);
                (void) requirements_evaluate(&req, &report, NULL, res);
        }
        free(s);
        return 0;
}
