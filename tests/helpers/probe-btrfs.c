/* SPDX-License-Identifier: MIT */
/* Test helper: run the btrfs probe with a snapshot root given on the command line (until the
 * policy loader can name one) and print the probe's JSON result, whose facts hold the path
 * facts of that root. Usage: probe-btrfs [--root DIR] SNAPSHOT_ROOT */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "probes/probes.h"
#include "probes/report-json.h"

int main(int argc, char **argv) {
        static struct host_report report;
        struct probe_targets targets = { 0 };
        struct probe_ctx ctx;
        const char *root = NULL;
        json_object *o;
        int r;

        if (argc == 4 && strcmp(argv[1], "--root") == 0) {
                root = argv[2];
                targets.snapshot_root = argv[3];
        } else if (argc == 2)
                targets.snapshot_root = argv[1];
        else {
                fprintf(stderr, "usage: probe-btrfs [--root DIR] SNAPSHOT_ROOT\n");
                return 2;
        }
        r = probe_ctx_open(root, &targets, &ctx);
        if (r < 0) {
                fprintf(stderr, "probe-btrfs: %s\n", strerror(-r));
                return 3;
        }
        r = probe_run(&ctx, PROBE_MASK(PROBE_BTRFS), &report);
        probe_ctx_done(&ctx);
        if (r < 0) {
                fprintf(stderr, "probe-btrfs: %s\n", strerror(-r));
                return 3;
        }
        o = probe_result_to_json(&report, PROBE_BTRFS);
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return 0;
}
