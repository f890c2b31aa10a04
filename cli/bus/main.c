/* SPDX-License-Identifier: MIT */
/* hosttune-bus: dispatches the D-Bus verbs. Run as `hosttune-bus VERB ARGS...` (which is what
 * `hosttune VERB` execs) or directly. */
#include <stdio.h>

#include "cli/bus/bus-client.h"
#include "cli/bus/lease-client.h"
#include "lib/util.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
} verbs[] = {
        { "status", cmd_bus_status },
        { "reload", cmd_bus_reload },
        { "lease", cmd_bus_lease },
        { "run", cmd_bus_run },
};

int main(int argc, char **argv) {
        if (argc < 2) {
                fprintf(stderr,
                        "Usage: hosttune-bus VERB [OPTIONS...] (status, reload, lease, run)\n");
                return BUS_EXIT_USAGE;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[1], verbs[i].name))
                        return verbs[i].run(argc - 1, argv + 1);
        fprintf(stderr, "hosttune-bus: unknown verb '%s'\n", argv[1]);
        return BUS_EXIT_USAGE;
}
