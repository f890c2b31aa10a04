/* SPDX-License-Identifier: MIT */
/* Applier for sysctl and sysfs knobs: /proc/sys/{vm,kernel,net} files and an allow-list of
 * sysfs files (THP enabled/defrag, KSM run). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "policies/apply/applier.h"

/* PLAN_SYSCTL. step->knob is the dotted name ("vm.swappiness"; a name holding '/' is taken as
 * a path below /proc/sys, as sysctl(8) allows for interface names with dots); step->path the
 * file, derived from the knob when empty; step->wanted the value. Only files under
 * /proc/sys/vm, /proc/sys/kernel and /proc/sys/net are written (else FAILED, -EPERM). The
 * current value equal to the wanted one (compared after normalising, see knob_value_normalize)
 * is UNCHANGED; otherwise the original is journaled, the value written with one write(2) and
 * read back: APPLIED when the kernel shows the wanted value, FAILED with both values when not. */
int sysctl_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* PLAN_SYSFS: the same for step->path, which must be one of
 * /sys/kernel/mm/transparent_hugepage/{enabled,defrag} or /sys/kernel/mm/ksm/run. */
int sysfs_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* Undo a JOURNAL_FILE entry: write the original back and verify it (GONE when the file
 * already shows it). */
void file_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);

/* /proc/sys path of a sysctl name: "vm.swappiness" -> "/proc/sys/vm/swappiness". */
int sysctl_knob_to_path(const char *knob, char *buf, size_t size);

/* May the sysctl applier write this path? Under /proc/sys/{vm,kernel,net}/, no "." or ".."
 * components, no empty components. */
bool sysctl_path_allowed(const char *path);

/* May the sysfs applier write this path? (the allow-list above) */
bool sysfs_path_allowed(const char *path);

/* The comparable form of a knob's text: the bracketed word of a choice list ("always [madvise]
 * never" -> "madvise"), else the words separated by single spaces (tabs in "4096\t131072" and
 * the trailing newline do not count). This is also the form written back on revert. */
void knob_value_normalize(const char *raw, char *buf, size_t size);
