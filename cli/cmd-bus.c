/* SPDX-License-Identifier: MIT */
/* Verbs that talk to the agent over D-Bus (status, reload, lease, run): `hosttune` is linked
 * static and without libsystemd so that `check` starts as fast as /bin/true, so these verbs
 * exec the dynamic helper hosttune-bus, which has sd-bus. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/util.h"

#ifndef HOSTTUNE_LIBEXECDIR
#define HOSTTUNE_LIBEXECDIR "/usr/local/libexec/hosttune"
#endif
#define BUS_HELPER "hosttune-bus"

/* Where hosttune-bus is: $HOSTTUNE_BUS; else next to this executable (a build tree, or an
 * installation that keeps both in one directory); else the configured libexec directory. */
static int find_helper(char *buf, size_t size) {
        const char *env = getenv("HOSTTUNE_BUS");
        char self[PATH_MAX];
        ssize_t n;

        if (!isempty(env))
                return strscpy(buf, size, env);
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (n > 0) {
                char *slash;
                self[n] = 0;
                slash = strrchr(self, '/');
                if (slash) {
                        slash[1] = 0;
                        if (bufprintf(buf, size, "%s%s", self, BUS_HELPER) >= 0 &&
                            access(buf, X_OK) == 0)
                                return 0;
                }
        }
        return bufprintf(buf, size, "%s/%s", HOSTTUNE_LIBEXECDIR, BUS_HELPER);
}

int cmd_bus_exec(int argc, char **argv) {
        char helper[PATH_MAX];
        char **args;

        if (find_helper(helper, sizeof(helper)) < 0) {
                fprintf(stderr, "hosttune %s: path of %s too long\n", argv[0], BUS_HELPER);
                return EXIT_PROBE_FAILED;
        }
        args = calloc((size_t) argc + 2, sizeof(*args));
        if (!args) {
                fprintf(stderr, "hosttune %s: out of memory\n", argv[0]);
                return EXIT_PROBE_FAILED;
        }
        args[0] = (char *) BUS_HELPER;
        for (int i = 0; i < argc; i++)
                args[i + 1] = argv[i];
        args[argc + 1] = NULL;
        execv(helper, args);
        free(args);
        fprintf(stderr, "hosttune %s: cannot run %s: %s\n", argv[0], helper, strerror(errno));
        return EXIT_PROBE_FAILED;
}
