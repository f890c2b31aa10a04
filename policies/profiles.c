/* SPDX-License-Identifier: MIT */
/* Lookup of the profiles embedded at build time. */
#include "policies/profiles.h"

#include "lib/util.h"

const struct embedded_profile *embedded_profile_find(const char *name) {
        for (unsigned i = 0; i < n_embedded_profiles; i++)
                if (streq(embedded_profiles[i].name, name))
                        return &embedded_profiles[i];
        return NULL;
}
