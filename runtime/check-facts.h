/* SPDX-License-Identifier: MIT */
/* The agent's probe facts for `hosttune check` (<runtime dir>/check.facts): the report of its
 * last probe made as `check` makes it, with what `check` compares to trust it (the files and
 * device nodes those facts rest on, the mount table, the agent's identity, the time). hosttuned
 * writes it; `check` reads it and probes only the volatile facts itself. Design, freshness
 * rules and format: docs/check-facts.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "probes/context.h"
#include "probes/probes.h"
#include "probes/report.h"

#define CHECK_FACTS_FILE "check.facts"
#define CHECK_FACTS_MAGIC "hosttune-facts1"
#define CHECK_FACTS_STAMPS_MAX 16
/* The report is stored as its 4 KiB blocks that are not all zero (most of it is array room no
 * host fills: 256 taps, 64 NUMA nodes per pool), so check touches only the pages that hold
 * something. */
#define CHECK_FACTS_BLOCK 4096
#define CHECK_FACTS_BLOCKS_MAX 128

/* A path's identity as stat(2) sees it; exists false (and the rest zero) when it does not. */
struct check_facts_stamp {
        char path[240];
        bool exists;
        bool entries; /* a directory whose entries matter: its mtime is compared too */
        uint32_t mode;
        uint32_t uid, gid;
        uint64_t dev, ino, rdev, size;
        int64_t mtime_nsec, ctime_nsec;
};

/* The file: this header, then the report's blocks that are not all zero, in order (binary: the
 * agent and `check` are one build, which layout_key proves; smoke_source, the report's one
 * pointer, is stored as has_smoke_source). */
struct check_facts_header {
        char magic[16];
        char version[32];            /* HOSTTUNE_VERSION of the writer */
        uint64_t layout_key;         /* check_facts_layout_key() of the writer */
        int32_t pid;                 /* the agent's; must be agent.state's */
        uint32_t euid;               /* who probed: `check` as another user sees other files */
        uint64_t generation;         /* the policy generation the targets came from */
        uint64_t made_realtime_usec; /* stamps and mount table taken, then probed */
        uint64_t max_age_usec;       /* older than this, `check` probes everything itself */
        uint64_t mounts_hash;        /* check_facts_mounts_hash() before the probe, 0: unknown */
        bool has_smoke_source;
        uint64_t blocks[CHECK_FACTS_BLOCKS_MAX / 64]; /* bit b: block b of the report follows */
        uint32_t n_stamps;
        struct check_facts_stamp stamps[CHECK_FACTS_STAMPS_MAX];
};

struct check_facts {
        struct check_facts_header h;
        struct host_report report;
};

/* A number that differs between builds whose check_facts layout differs (sizes and offsets of
 * the report's parts). */
uint64_t check_facts_layout_key(void);

/* Hash of the mount IDs of the caller's mount namespace (listmount(2), Linux 6.8+: unique IDs,
 * never reused, so a mount or an unmount anywhere changes it, and another namespace has other
 * IDs; one system call, no text to format or parse). 0, or a negative errno (-ENOSYS before
 * 6.8, -EPERM under a seccomp filter, -ENOBUFS past 4096 mounts). */
int check_facts_mounts_hash(uint64_t *ret_hash);

/* Stat path into ret (exists false when it is not there). 0, or a negative errno other than
 * -ENOENT/-ENOTDIR when it could not be looked at. */
int check_facts_stamp_read(const char *path, struct check_facts_stamp *ret);

/* Stamps the facts of a report made with targets rest on and that no probe `check` re-runs
 * reads afresh: /dev and the device nodes whose mode matters, the KVM modules, nix.conf and its
 * directory, /nix/store, the snapshot root. Fills h->stamps and h->n_stamps. */
int check_facts_stamps_take(const struct probe_targets *targets, struct check_facts_header *h);

/* Is every stamp in h what stat(2) says now? */
bool check_facts_stamps_match(const struct check_facts_header *h);

/* The probes `check` must run itself on top of the agent's facts (pid, generation, euid, age
 * and stamps already checked by the caller): memory and hugetlb always (their counters change
 * without an event: they take the rest from ctx->stable), btrfs, zram and nix when the mount
 * table is not the one the agent probed (another mount namespace, or it changed since), nix
 * when nix.conf has includes (files no stamp covers). *ret_mounts_same says whether the mount
 * table is the agent's. */
probe_mask_t check_facts_volatile_probes(const struct check_facts_header *h,
                                         const struct host_report *r, bool *ret_mounts_same);

/* Where the bytes [from, to) of the report go instead of into the report itself: at buf +
 * (offset - from). For the facts check re-probes over, which the probes take as ctx->stable
 * while the report's own part stays zeroed, as the probes want it. */
struct check_facts_divert {
        size_t from, to;
        void *buf;
};

/* Read <runtime_dir>/check.facts: the header into ret_h, the report's stored blocks straight
 * into ret_report (zeroed static storage: the blocks not stored stay zero and untouched) or
 * into divert->buf (one readv, no copy; smoke_source restored). -ENOENT when absent, -EBADMSG
 * when it is not a file of this build (magic, version, layout, size), else a negative errno.
 * ret_report may be written even on failure: the caller zeroes it again before probing. */
int check_facts_read(const char *runtime_dir, struct check_facts_header *ret_h,
                     struct host_report *ret_report, const struct check_facts_divert *divert);

/* Zero the bytes [off, off + size) of a report check_facts_read filled from h: only in the
 * blocks h says were stored (the caller's zeroed static storage holds zeros in the others, not
 * yet touched). */
void check_facts_clear(const struct check_facts_header *h, struct host_report *report, size_t off,
                       size_t size);

/* Write f as <runtime_dir fd>/check.facts (mode 0600, atomically: lib/fileio). f->h is filled
 * by the caller except magic, version and layout_key, set here. */
int check_facts_write(int runtime_fd, struct check_facts *f);
