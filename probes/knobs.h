/* SPDX-License-Identifier: MIT */
/* Knob facts: the current values of exactly the knobs a policy names that no probe reads (sysctl
 * keys, user and group ids, snapshot templates, per-node hugepage pools), read by probe_knobs()
 * so the planner (policies/plan.h) stays a pure function of the report. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define KNOB_SYSCTL_MAX 64
#define KNOB_NAMES_MAX 4
#define KNOB_TEMPLATES_MAX 16
#define KNOB_SIZES_MAX 4

/* What to read. Strings are borrowed from the caller (usually the policy) for the call. */
struct knob_request {
        unsigned n_sysctl;
        const char *sysctl[KNOB_SYSCTL_MAX]; /* dotted keys: "vm.swappiness" */
        unsigned n_users;
        const char *users[KNOB_NAMES_MAX]; /* names or numeric ids */
        unsigned n_groups;
        const char *groups[KNOB_NAMES_MAX];
        const char *snapshot_root; /* with templates: where templates/ and prepared/ live */
        unsigned n_templates;
        const char *templates[KNOB_TEMPLATES_MAX];
        unsigned n_node_sizes; /* page sizes whose per-node pools are needed */
        uint64_t node_sizes[KNOB_SIZES_MAX];
        bool thp_defrag;  /* fill memory.thp_defrag when the memory probe skipped it */
        bool tap_details; /* fill owner, flags and master of the pool's taps when skipped */
};

struct knob_sysctl {
        char key[128];
        char value[128]; /* as the kernel shows it, trailing newline removed */
        int error;       /* negative errno: -ENOENT when this kernel has no such key */
};

/* A user or group name resolved through <root>/etc/passwd or <root>/etc/group. */
struct knob_id {
        char name[64];
        uint32_t id;
        int error; /* -ENOENT when no such name; another negative errno when unreadable */
};

struct knob_template {
        char name[64];
        bool exists;       /* <root>/templates/<name> is a directory */
        unsigned prepared; /* entries of <root>/prepared/<name>/ */
};

struct knob_facts {
        bool read; /* probe_knobs ran */
        unsigned n_sysctl;
        struct knob_sysctl sysctl[KNOB_SYSCTL_MAX];
        unsigned n_users;
        struct knob_id users[KNOB_NAMES_MAX];
        unsigned n_groups;
        struct knob_id groups[KNOB_NAMES_MAX];
        unsigned n_templates;
        struct knob_template templates[KNOB_TEMPLATES_MAX];
};

/* Lookups in the facts; NULL when the request did not name it. */
const struct knob_sysctl *knob_find_sysctl(const struct knob_facts *k, const char *key);
const struct knob_id *knob_find_user(const struct knob_facts *k, const char *name);
const struct knob_id *knob_find_group(const struct knob_facts *k, const char *name);
const struct knob_template *knob_find_template(const struct knob_facts *k, const char *name);
