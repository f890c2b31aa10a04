/* SPDX-License-Identifier: MIT */
/* Applier for NOCOW on btrfs directories meant for VM images and memory files: the
 * FS_NOCOW_FL flag (inherited by files created in the directory later) with the
 * btrfs.compression property removed first (the kernel rejects NOCOW together with
 * compression). */
#pragma once

#include <stdbool.h>

#include "lib/util.h"
#include "policies/apply/applier.h"

/* The attributes that matter, as read from an open directory. */
struct nocow_attrs {
        bool nocow;
        char compression[32]; /* btrfs.compression property, "" when none */
};

/* Read the attributes of the directory open at fd. -ENOTTY when the file system has no
 * such flags. */
int nocow_get(int fd, struct nocow_attrs *ret);

/* Set them: compression property first removed (or, when attrs->compression is non-empty and
 * NOCOW is off, set), then the flag. NOCOW on a directory only decides how files created in
 * it later are stored; the kernel never changes existing non-empty files. */
int nocow_set(int fd, const struct nocow_attrs *attrs);

/* Bytes that always hold nocow_format's text ("nocow=1 compression=" and a compression). */
#define NOCOW_FORMAT_MAX 64

/* "nocow=1 compression=zstd": the journal form of the attributes (0, or -ENAMETOOLONG when buf
 * is smaller than NOCOW_FORMAT_MAX and the text did not fit); and back. */
int nocow_format(const struct nocow_attrs *a, char *buf, size_t size) _warn_unused_result_;
int nocow_parse(const char *s, struct nocow_attrs *ret);

/* PLAN_NOCOW: give step->path NOCOW and no compression property; the same for every empty
 * directory below it that hosttune created (the snapshot root's slots/, templates/, prepared/
 * made in the same apply: they exist before this step runs and would not inherit the flag; a
 * prepared snapshot, not empty, keeps its template's attributes). Each directory
 * changed is journaled with its original attributes. Not on btrfs: UNCHANGED with a warning
 * (the flag has no meaning there). */
int nocow_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res);

/* Undo JOURNAL_NOCOW: put the original flag and compression property back. */
void nocow_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res);
