/* SPDX-License-Identifier: MIT */
/* The executor: dispatches plan steps to the appliers and journal entries to the reverters. */
#include "apply.h"

#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/applier.h"
#include "policies/apply/device.h"
#include "policies/apply/dirs.h"
#include "policies/apply/hugepages.h"
#include "policies/apply/mount.h"
#include "policies/apply/net.h"
#include "policies/apply/nocow.h"
#include "policies/apply/snapshots.h"
#include "policies/apply/sysctl.h"
#include "policies/apply/zram.h"

static const applier_fn appliers[_PLAN_KIND_MAX] = {
        [PLAN_SYSCTL] = sysctl_apply,
        [PLAN_SYSFS] = sysfs_apply,
        [PLAN_HUGEPAGES] = hugepages_apply,
        [PLAN_HUGETLBFS_MOUNT] = hugetlbfs_mount_apply,
        [PLAN_ZRAM] = zram_apply,
        [PLAN_SNAPSHOT_ROOT] = snapshot_root_apply,
        [PLAN_SNAPSHOT_SLOT] = snapshot_slot_apply,
        [PLAN_SNAPSHOT_PREPARED] = snapshot_prepared_apply,
        [PLAN_NOCOW] = nocow_apply,
        [PLAN_BRIDGE] = bridge_apply,
        [PLAN_TAP] = tap_apply,
        [PLAN_TAP_MASTER] = tap_master_apply,
        [PLAN_DEVICE_MODE] = device_mode_apply,
};

static const reverter_fn reverters[_JOURNAL_KIND_MAX] = {
        [JOURNAL_FILE] = file_revert,
        [JOURNAL_HUGEPAGES] = hugepages_revert,
        [JOURNAL_DIR] = dir_revert,
        [JOURNAL_SUBVOLUME] = subvolume_revert,
        [JOURNAL_SNAPSHOT] = snapshot_revert,
        [JOURNAL_NOCOW] = nocow_revert,
        [JOURNAL_MOUNT] = mount_revert,
        [JOURNAL_ZRAM] = zram_revert,
        [JOURNAL_LINK] = link_revert,
        [JOURNAL_MASTER] = master_revert,
        [JOURNAL_MODE] = device_mode_revert,
        [JOURNAL_ZRAM_DEVICE] = zram_device_revert,
        [JOURNAL_TAP_OWNER] = tap_owner_revert,
};

static const char *const step_outcome_table[_STEP_OUTCOME_MAX] = {
        [STEP_PLANNED] = "planned", [STEP_UNCHANGED] = "unchanged", [STEP_APPLIED] = "applied",
        [STEP_SHORT] = "short",     [STEP_FAILED] = "failed",       [STEP_NOT_RUN] = "not-run",
        [STEP_MANUAL] = "manual",
};

static const char *const revert_outcome_table[_REVERT_OUTCOME_MAX] = {
        [REVERT_RESTORED] = "restored",
        [REVERT_GONE] = "gone",
        [REVERT_KEPT] = "kept",
        [REVERT_FAILED] = "failed",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(step_outcome, enum step_outcome, "?")

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(revert_outcome, enum revert_outcome, "?")

bool step_outcome_fell_short(enum step_outcome o) {
        return o == STEP_SHORT || o == STEP_FAILED || o == STEP_NOT_RUN || o == STEP_MANUAL;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

/* The test seam of apply_set_fault_after_step(): 0 (never) unless a test helper set it. */
static unsigned fault_after_step;

void apply_set_fault_after_step(unsigned n) {
        fault_after_step = n;
}

int apply_plan(const struct plan *plan, struct journal *j, const struct apply_options *o,
               struct step_result *results) {
        struct apply_ctx c = { .o = o, .j = j };
        unsigned short_steps = 0;
        int r = 0;

        if (!j && !o->dry_run)
                return -EINVAL;
        for (unsigned i = 0; i < plan->n; i++) {
                const struct plan_step *s = &plan->steps[i];
                struct step_result *res = &results[i];
                uint64_t start;

                memset(res, 0, sizeof(*res));
                if (r < 0) {
                        step_set(res, STEP_NOT_RUN, r,
                                 "not run: the revert journal %s could not be written",
                                 journal_path(j));
                        short_steps++;
                        continue;
                }
                if (s->manual) {
                        step_set(res, STEP_MANUAL, 0, "%s: %s", s->knob,
                                 s->note[0] ? s->note : "hosttune does not make this change");
                        short_steps++;
                        continue;
                }
                if (o->dry_run) {
                        step_set(res, STEP_PLANNED, 0, "would change %s from '%s' to '%s'", s->knob,
                                 s->current, s->wanted);
                        continue;
                }
                if ((unsigned) s->kind >= _PLAN_KIND_MAX || !appliers[s->kind]) {
                        step_set(res, STEP_FAILED, -EOPNOTSUPP, "no applier for step kind %d",
                                 (int) s->kind);
                        short_steps++;
                        continue;
                }
                c.index = i;
                c.step = s;
                start = now_usec();
                (void) appliers[s->kind](&c, s, res);
                res->usec = now_usec() - start;
                r = c.journal_error;
                if (r < 0)
                        step_set(res, STEP_NOT_RUN, r,
                                 "not changed: the revert journal %s could not be written: %s",
                                 journal_path(j), strerror(-r));
                if (step_outcome_fell_short(res->outcome))
                        short_steps++;
                if (fault_after_step == i + 1)
                        raise(SIGKILL);
        }
        return r < 0 ? r : (int) short_steps;
}

int apply_revert(struct journal *j, const struct apply_options *o, revert_report_fn report,
                 void *userdata) {
        struct apply_ctx c = { .o = o, .j = j };
        unsigned failed = 0;

        /* Newest first; entries that fail stay, so walk by index from the end. */
        for (unsigned i = journal_size(j); i > 0; i--) {
                struct journal_entry e = *journal_entry_at(j, i - 1);
                struct revert_result res = { 0 };
                int r;

                if ((unsigned) e.kind >= _JOURNAL_KIND_MAX || !reverters[e.kind])
                        revert_set(&res, REVERT_FAILED, -EOPNOTSUPP, "unknown journal kind");
                else
                        reverters[e.kind](&c, &e, &res);
                if (report)
                        report(&e, &res, userdata);
                if (res.outcome == REVERT_FAILED) {
                        failed++;
                        continue;
                }
                r = journal_forget(j, e.kind, e.object);
                if (r < 0)
                        return r;
        }
        return (int) failed;
}
