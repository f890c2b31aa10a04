/* SPDX-License-Identifier: MIT */
/* Profiles shipped in policies/profiles/, embedded in the binary at build time. */
#pragma once

struct embedded_profile {
        const char *name; /* file name without .ini */
        const char *text;
};

extern const struct embedded_profile embedded_profiles[];
extern const unsigned n_embedded_profiles;

/* The embedded profile called name, or NULL. */
const struct embedded_profile *embedded_profile_find(const char *name);
