/* SPDX-License-Identifier: MIT */
/* Helpers shared by the unit tests that run probes over fixture trees (tests/unit/fixtures/). */
#pragma once

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "probes/probes.h"

/* Directory of the fixture trees: $HOSTTUNE_FIXTURES (set by tests/run-tests.sh), else the
 * source-relative path for a test run from the top of the tree. */
static inline const char *fixtures_dir(void) {
        const char *d = getenv("HOSTTUNE_FIXTURES");
        return d && *d ? d : "tests/unit/fixtures";
}

/* Path of fixture name in buf. */
static inline const char *fixture_path(const char *name, char *buf, size_t size) {
        if (bufprintf(buf, size, "%s/%s", fixtures_dir(), name) < 0)
                abort(); /* a test's own buffer too small: fix the test */
        return buf;
}

/* Run every probe over fixture name into a fresh report (free() it); detail as `probe` and
 * `check --json` (true) or the human `check` (false). Aborts the test on a probe error. */
static inline struct host_report *run_fixture(const char *name, bool detail) {
        struct probe_ctx ctx;
        struct host_report *r = calloc(1, sizeof(*r));
        char path[512];

        assert_non_null(r);
        assert_int_equal(probe_ctx_open(fixture_path(name, path, sizeof(path)), NULL, &ctx), 0);
        assert_false(ctx.live);
        assert_true(ctx.fixture);
        ctx.detail = detail;
        assert_int_equal(probe_run(&ctx, PROBE_MASK_ALL, r), 0);
        probe_ctx_done(&ctx);
        return r;
}

/* assert that the reason of probe id contains needle (with a readable failure). */
#define assert_reason_contains(r, id, needle)                                                      \
        do {                                                                                       \
                const char *_reason = (r)->results[(id)].reason;                                   \
                if (!strstr(_reason, (needle)))                                                    \
                        fail_msg("%s reason '%s' lacks '%s'", probe_id_to_string(id), _reason,     \
                                 (needle));                                                        \
        } while (0)

#define assert_status(r, id, st)                                                                   \
        do {                                                                                       \
                if ((r)->results[(id)].status != (st))                                             \
                        fail_msg("%s: status %s, expected %s (reason: %s)",                        \
                                 probe_id_to_string(id),                                           \
                                 probe_status_to_string((r)->results[(id)].status),                \
                                 probe_status_to_string(st), (r)->results[(id)].reason);           \
        } while (0)
