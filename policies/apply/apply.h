/* SPDX-License-Identifier: MIT */
/* The executor: runs a plan's steps in order through the appliers (one per knob kind), each
 * change journaled first; and revert, which undoes a journal. The CLI (`hosttune apply`,
 * `hosttune revert`) and the agent call these same functions in-process. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "policies/apply/journal.h"
#include "policies/plan.h"

enum step_outcome {
        STEP_PLANNED,   /* dry run: nothing attempted */
        STEP_UNCHANGED, /* already as wanted: nothing written */
        STEP_APPLIED,   /* changed, and reading back shows the wanted value */
        STEP_SHORT,     /* changed, but less than wanted (pages obtained < requested) */
        STEP_FAILED,    /* not changed, or reading back does not show the wanted value */
        STEP_NOT_RUN,   /* the run stopped before this step (the journal could not be written) */
        STEP_MANUAL,    /* a change hosttune does not make by itself; the message says what a
                         * person must do */
        _STEP_OUTCOME_MAX,
};

struct step_result {
        enum step_outcome outcome;
        int error;           /* negative errno behind FAILED (or a failed write behind SHORT) */
        char achieved[128];  /* the value read back after the step ("900" pages, "never") */
        char message[512];   /* what happened; for SHORT and FAILED, why */
        char warning[256];   /* something to know although the step worked ("not on btrfs") */
        uint64_t usec;       /* time the step took */
        bool caches_dropped; /* the hugepage applier dropped the page cache, dentries, inodes */
};

/* Progress of a long step (hugepage reservation can take seconds): status is one line such as
 * "hugepages-2048kB: 900 of 1024 pages after compaction, 2.1s of 30s". The agent turns it into
 * sd_notify STATUS=. */
typedef void (*apply_progress_fn)(unsigned index, const struct plan_step *step, const char *status,
                                  void *userdata);

struct apply_options {
        /* Directory fd standing for "/": every path of a step is resolved inside it. The real
         * root for the host; a temporary tree in tests (device nodes made with mknod). */
        int root_fd;
        bool dry_run;
        apply_progress_fn progress; /* may be NULL */
        void *userdata;
};

const char *step_outcome_to_string(enum step_outcome o);

/* Does this outcome make `hosttune apply` exit 1? (SHORT, FAILED, NOT_RUN, MANUAL) */
bool step_outcome_fell_short(enum step_outcome o);

/* Run plan's steps in order; results must have room for plan->n entries and is filled for
 * every step. j may be NULL only for a dry run. A step that fails does not stop the others
 * (each is independent: a missing bridge makes its enslave steps fail on their own). With a
 * fault point set (apply_set_fault_after_step), the process raises SIGKILL once that step has
 * finished. Returns the number of steps that fell short (0 when
 * the host now matches the plan), or a negative errno when the journal could not be written:
 * then the step that needed it was not changed and the remaining steps are STEP_NOT_RUN. */
int apply_plan(const struct plan *plan, struct journal *j, const struct apply_options *o,
               struct step_result *results);

/* Test seam, called only by test helpers (tests/helpers/), never by the shipped programs: from
 * now on every apply_plan in this process raises SIGKILL once step n (counting from 1) has
 * finished, to test revert after a crash mid-apply. 0 (the default) turns it off. Set it
 * before any thread runs apply_plan. */
void apply_set_fault_after_step(unsigned n);

enum revert_outcome {
        REVERT_RESTORED, /* the original is back, or the created object is gone */
        REVERT_GONE,     /* nothing to do: the object was already as before or gone */
        REVERT_KEPT,     /* a created directory or subvolume now holds things hosttune did
                          * not create: kept, never touched */
        REVERT_FAILED,   /* could not restore; the entry stays in the journal for a retry */
        _REVERT_OUTCOME_MAX,
};

struct revert_result {
        enum revert_outcome outcome;
        int error;
        char message[512];
};

const char *revert_outcome_to_string(enum revert_outcome o);

typedef void (*revert_report_fn)(const struct journal_entry *e, const struct revert_result *r,
                                 void *userdata);

/* Undo every entry of j, newest first: put originals back, remove what hosttune created. Each
 * entry leaves the journal once handled (RESTORED, GONE, KEPT); FAILED ones stay, so a later
 * revert retries them. report (may be NULL) is called once per entry. Returns the number of
 * FAILED entries, or a negative errno when the journal could not be written. */
int apply_revert(struct journal *j, const struct apply_options *o, revert_report_fn report,
                 void *userdata);
