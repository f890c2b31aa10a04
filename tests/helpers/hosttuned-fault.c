/* SPDX-License-Identifier: MIT */
/* Test helper: the real hosttuned (the shipped agent/main.o, its main() renamed hosttuned_main
 * by objcopy, linked with every other agent object: see the Makefile) with the executor's crash
 * seam set, for tests/integration/test-agent-apply.sh's crash mid-apply. The shipped hosttuned
 * has no way to set the seam; this binary is built only into build/tests/helpers/ and never
 * installed.
 *
 * Usage: hosttuned-fault --fault-after-step N [hosttuned options...]
 * The agent's apply_plan raises SIGKILL once step N (counting from 1) has finished. */
#include <stdio.h>

#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/apply.h"

/* agent/main.o's main() under another name, so this file's main() can set the seam first. */
int hosttuned_main(int argc, char **argv);

int main(int argc, char **argv) {
        unsigned n;

        if (argc < 3 || !streq(argv[1], "--fault-after-step") || parse_uint(argv[2], &n) < 0) {
                fprintf(stderr,
                        "usage: hosttuned-fault --fault-after-step N [hosttuned options]\n");
                return 2;
        }
        apply_set_fault_after_step(n);
        /* The agent sees its own options after argv[0]. */
        argv[2] = argv[0];
        return hosttuned_main(argc - 2, argv + 2);
}
