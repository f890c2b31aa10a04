/* SPDX-License-Identifier: MIT */
/* Fuzz target: /proc/self/mountinfo parsing and mount option lookup. */
#include "lib/procfs.h"
#include "tests/fuzz/fuzz-util.h"

static int cb(const struct mount_entry *e, void *userdata) {
        char v[64];
        (void) userdata;
        (void) mount_option_find(e->super_options, "compress", v, sizeof(v));
        (void) mount_option_find(e->mount_options, "noatime", NULL, 0);
        /* The fields are NUL-terminated strings within their buffers. */
        return (int) (strlen(e->target) + strlen(e->source) + strlen(e->fstype)) < 0 ? -1 : 0;
}

static void run(const char *s) {
        unsigned bad;
        (void) mountinfo_parse(s, cb, NULL, &bad);
        (void) mountinfo_parse_matching(s, " - btrfs ", cb, NULL, &bad);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        return fuzz_run_text(data, size, run);
}
