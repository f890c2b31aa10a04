/* SPDX-License-Identifier: MIT */
/* Internals shared by the policy loader (load.c), the key table (keys.c) and the writers
 * (format.c): one table of sections and keys drives parsing, validation, `policy show` and the
 * JSON form, so the three can never disagree about a key. */
#pragma once

#include <stdio.h>

#include "lib/util.h"
#include "policies/policy.h"

/* The longest line the loader reads (inih's buffer holds 198 characters and a line end), and
 * that `policy show` writes. */
#define INI_LINE_MAX 197

struct policy_load;
struct policy_entry;

enum key_type {
        KT_STRING,   /* char[size] at offset, checked by check() */
        KT_BOOL,     /* bool at offset */
        KT_UINT,     /* unsigned at offset, min..max */
        KT_INT,      /* int at offset, min..max; with keep, "keep" stores -1 */
        KT_MODE,     /* mode_t at offset, at most max */
        KT_DURATION, /* uint64_t microseconds at offset, at most max seconds */
        KT_CHOICE,   /* char[size] at offset, one of choices; with keep, "keep" stores "" */
        KT_CUSTOM,   /* parse() and format() below */
};

/* One key of one section. */
struct policy_key_def {
        const char *section; /* "hugepages-SIZE" stands for every [hugepages-<size>] section;
                              * name "*" in "sysctl" stands for every free key */
        const char *name;
        int key; /* enum policy_key, or -1 for the per-pool and [sysctl] keys */
        enum key_type type;
        size_t offset, size;
        int64_t min, max;
        bool keep;      /* accepts "keep": leave the host's value alone */
        bool list;      /* a list: lines that start with whitespace continue it */
        bool main_only; /* taken from the main file only, not from includes */
        const char *const *choices;
        /* KT_STRING: NULL or a message saying what is wrong with value. */
        const char *(*check)(const char *value);
        /* KT_CUSTOM: parse e's value into the policy being loaded. Returns 0, or -EINVAL with
         * msg filled. */
        int (*parse)(struct policy_load *l, const struct policy_entry *e, char *msg, size_t size);
        /* KT_CUSTOM: write the value as INI text ("" for an empty value); false when the key is
         * not written (it was folded into another key). */
        bool (*format)(const struct policy *p, char *buf, size_t size);
        const char *help; /* a few words for "known keys" messages and docs */
};

/* [sysctl] keys the loader refuses, and why (a dedicated section manages them, or they are
 * actions rather than settings). */
struct policy_refused_sysctl {
        const char *key;
        const char *why;
};
extern const struct policy_refused_sysctl policy_refused_sysctls[];
extern const unsigned policy_n_refused_sysctls;

/* The name of a key's value syntax ("bool", "int", "pool-size", "path", ...; "?" for a check
 * or parse function without one), as `hosttune policy keys --json` exports it. */
const char *policy_key_syntax(const struct policy_key_def *d);

extern const struct policy_key_def policy_key_defs[];
extern const unsigned policy_n_key_defs;
/* Sections in the order `policy show` writes them. */
extern const char *const policy_sections[];
extern const unsigned policy_n_sections;

/* A key = value line of a file, its continuation lines already joined. */
struct policy_entry {
        const struct policy_key_def *def;
        char section[64];
        char key[128];
        char *value;
        unsigned line;
        unsigned file;      /* index into policy.files */
        char *reason;       /* the comment written for it, or NULL */
        uint64_t page_size; /* [hugepages-SIZE]: the section's page size */
};

/* Staged [hugepages] pool keys: their meaning depends on `size`, which may come later. */
enum { MAIN_POOL_POOL, MAIN_POOL_MAX, MAIN_POOL_PER_NODE, _MAIN_POOL_MAX };

struct policy_load {
        struct policy *p;
        struct policy_error *err;
        unsigned depth;
        unsigned n_stack; /* files being loaded, outermost first: cycle detection */
        struct {
                dev_t dev;
                ino_t ino;
                char label[POLICY_PATH_MAX];
                bool unresolved; /* label is the main file's path as given, not yet canonical */
        } stack[POLICY_INCLUDE_DEPTH_MAX + 1];
        struct {
                char *value;
                struct policy_origin origin;
        } main_pool[_MAIN_POOL_MAX];
        struct policy_origin origin; /* of the entry being applied */
};

/* The definition of key in section (page_size set for [hugepages-SIZE]), or NULL. */
const struct policy_key_def *policy_key_def_find(const char *section, const char *key);
/* Is section a known section? Sets *ret_page_size for [hugepages-SIZE] (else 0). msg says what
 * is wrong otherwise. */
bool policy_section_known(const char *section, uint64_t *ret_page_size, char *msg, size_t size);
/* Apply one entry to l->p. Returns 0 or -EINVAL with msg. */
int policy_key_apply(struct policy_load *l, const struct policy_entry *e, char *msg, size_t size);
/* Cross-key checks and the [hugepages] pool, once every file is applied. Fills l->err. */
int policy_finalize(struct policy_load *l);
/* Write the value of a key that is not KT_CUSTOM. */
void policy_key_format(const struct policy *p, const struct policy_key_def *d, char *buf,
                       size_t size);
/* Call cb for every item of a list separated by commas and/or whitespace; -ENAMETOOLONG for an
 * item longer than 255 characters, else the first negative value of cb. */
int policy_list_walk(const char *v, int (*cb)(const char *item, void *u), void *u);
/* Fill l->err for an origin. */
void policy_load_error(struct policy_load *l, struct policy_origin o, const char *key,
                       const char *fmt, ...) _printf_(4, 5);
