/* SPDX-License-Identifier: MIT */
/* What every applier shares: its context, result helpers, and the per-kind entry points the
 * executor (apply.c) dispatches to. Internal to policies/apply/. */
#pragma once

#include "policies/apply/apply.h"
#include "policies/apply/journal.h"

struct apply_ctx {
        const struct apply_options *o;
        struct journal *j;
        unsigned index; /* of the step being applied, for progress */
        const struct plan_step *step;
        int journal_error; /* set by apply_record_*: the executor stops after this step */
};

/* An applier returns 0 with the outcome in res, or a negative errno when the journal could not
 * be written (the executor then stops: no change may be made unjournaled). */
typedef int (*applier_fn)(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* A reverter undoes one journal entry of its kind; the outcome goes to res. */
typedef void (*reverter_fn)(struct apply_ctx *c, const struct journal_entry *e,
                            struct revert_result *res);

/* journal_record_changed/created that also remember a failure in c->journal_error. Return
 * as those do: negative errno means the change must not be made. */
int apply_record_changed(struct apply_ctx *c, enum journal_kind kind, const char *object,
                         const char *label, const char *original);
int apply_record_created(struct apply_ctx *c, enum journal_kind kind, const char *object,
                         const char *label);

/* A step path relative to the apply root ("/var/lib/x" -> "var/lib/x", "/" -> "."), for the
 * *at() calls on c->o->root_fd. */
const char *root_relative(const char *path);

/* Set outcome, error and a printf-style message. */
void step_set(struct step_result *res, enum step_outcome outcome, int error, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
void revert_set(struct revert_result *res, enum revert_outcome outcome, int error, const char *fmt,
                ...) __attribute__((format(printf, 4, 5)));

/* Report progress for the current step (no-op without a callback). */
void apply_progress(struct apply_ctx *c, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Is name a usable interface name (1..15 characters, no '/', no whitespace)? */
bool ifname_valid(const char *name);
