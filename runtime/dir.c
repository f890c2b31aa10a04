/* SPDX-License-Identifier: MIT */
/* The runtime directory's one resolver. */
#include "runtime/dir.h"

#include <stdlib.h>

#include "lib/util.h"

const char *runtime_dir_resolve(const char *dir) {
        const char *e;

        if (!isempty(dir))
                return dir;
        e = getenv("HOSTTUNE_RUNTIME_DIR");
        return isempty(e) ? RUNTIME_DIR_DEFAULT : e;
}
