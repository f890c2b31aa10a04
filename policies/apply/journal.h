/* SPDX-License-Identifier: MIT */
/* The revert journal: before an applier changes anything, the original value (or the fact that
 * hosttune is about to create an object) is written here, atomically, so `hosttune revert`
 * restores the host exactly, even after a crash or SIGKILL in the middle of an apply. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* <runtime dir>/journal.json (the runtime dir: runtime/dir.h, resolved by the caller). */
#define JOURNAL_FILE_NAME "journal.json"
#define JOURNAL_LOCK_NAME "journal.lock"
#define JOURNAL_SCHEMA "hosttune.journal/1"

/* What a journal entry is about. Each kind has one revert action (policies/apply/apply.c). */
enum journal_kind {
        JOURNAL_FILE,        /* a sysctl or sysfs file; original = the value before */
        JOURNAL_HUGEPAGES,   /* an nr_hugepages file; original = the page count before */
        JOURNAL_DIR,         /* a directory hosttune created (removed on revert only when empty) */
        JOURNAL_SUBVOLUME,   /* a subvolume hosttune created to hold things (the snapshot root):
                              * removed on revert only when empty */
        JOURNAL_SNAPSHOT,    /* a slot or prepared snapshot hosttune created (subvolume, or plain
                              * directory tree on other file systems): removed whole on revert
                              * while still at its place */
        JOURNAL_NOCOW,       /* a directory's attributes; original = "nocow=0 compression=zstd" */
        JOURNAL_MOUNT,       /* a hugetlbfs mount hosttune made */
        JOURNAL_ZRAM,        /* a zram device's configuration; created = configured by hosttune,
                              * changed = original "disksize=N algorithm=X" */
        JOURNAL_ZRAM_DEVICE, /* a zram device hosttune hot-added (hot_remove on revert) */
        JOURNAL_LINK,        /* a bridge or tap hosttune created */
        JOURNAL_MASTER,      /* a link's bridge; original = the master before, "" = none */
        JOURNAL_TAP_OWNER,   /* a tap's owner; original = the uid before, "-1" = none */
        JOURNAL_MODE,        /* a device node's permission bits; original = "0660" */
        _JOURNAL_KIND_MAX,
};

enum journal_action {
        JOURNAL_CHANGED, /* the object existed; revert puts original back */
        JOURNAL_CREATED, /* hosttune created the object; revert removes it */
};

struct journal_entry {
        uint64_t seq; /* order of recording; revert goes from the highest down */
        enum journal_kind kind;
        enum journal_action action;
        char object[256];   /* path (under the apply root) or interface name: the key with kind */
        char label[128];    /* the knob as the user knows it ("vm.swappiness", "htap3") */
        char original[256]; /* JOURNAL_CHANGED: the value before, in the kind's format */
};

struct journal;

const char *journal_kind_to_string(enum journal_kind k);
int journal_kind_from_string(const char *s, enum journal_kind *ret);
/* Does an entry of this kind describe state that survives a reboot (directories,
 * subvolumes, file attributes on disk)? The others (sysctls, pools, links, mounts, swap,
 * device modes) are reset by a reboot. */
bool journal_kind_persistent(enum journal_kind k);

/* Open (creating dir with mode 0755 when missing) and lock the journal in dir (an absolute path,
 * else -EINVAL; runtime_dir_resolve() of runtime/dir.h names the usual one). The lock (flock on
 * journal.lock) is held until journal_close, so an apply and a revert never interleave; -EBUSY when
 * another process holds it. journal.lock and journal.json are never followed when they are symbolic
 * links (-ELOOP) and must be regular files (-EBADFD for a FIFO or device; lib/fileio.h
 * file_strerror() words both). Temporary files of a writer that was killed (journal.json.tmp.PID,
 * .journal.json.tmp-HEX) are removed once the lock is held. Entries recorded in an earlier boot
 * (boot_id differs) that a reboot has reset are dropped; persistent ones are kept. A journal file
 * that cannot be parsed is -EBADMSG: it is never silently discarded, since it is the only record of
 * the originals. With a fault point set (journal_set_fault_after_record), the journal it opens
 * carries it. */
int journal_open(const char *dir, struct journal **ret);

/* Test seam, called only by test helpers (tests/helpers/), never by the shipped programs: every
 * journal opened from now on in this process raises SIGKILL right after the n-th new entry it
 * recorded reached the disk, before the change that entry announces is made. 0 (the default)
 * turns it off. */
void journal_set_fault_after_record(unsigned n);

/* journal_open, and when the journal file cannot be used, a message in msg saying precisely
 * why (follows the file's path and a colon: "cannot be read: ...", "not JSON (...)", "written by a
 * newer hosttune (schema 2 > 1); use that version to revert", "entry 3 has no \"object\"", ...). */
int journal_open_diag(const char *dir, struct journal **ret, char *msg, size_t msg_size);

/* Parse the text of a journal file as journal_open would, taking boot_id as this boot's, into
 * a journal backed by no file and no lock: for reading only (recording into it fails with
 * -EBADF). The same -EBADMSG as journal_open for text it cannot use. For the fuzzer and tests. */
int journal_parse(const char *text, const char *boot_id, struct journal **ret);

/* Unlock and free. Accepts NULL. */
void journal_close(struct journal *j);

/* Record that object (of kind) is about to change from original, and persist that before
 * returning. If an entry for (kind, object) already exists the journal is left alone: the
 * first original wins, so revert goes back to the state before the FIRST apply (a second apply
 * with another policy must not make its intermediate value the "original"). Returns 1 when a new
 * entry was written, 0 when an earlier one stands, negative errno when the journal could not be
 * written (the caller must then not make the change). */
int journal_record_changed(struct journal *j, enum journal_kind kind, const char *object,
                           const char *label, const char *original);

/* Record that hosttune is about to create object. Same rules and return values as
 * journal_record_changed. */
int journal_record_created(struct journal *j, enum journal_kind kind, const char *object,
                           const char *label);

/* Remove the entry for (kind, object), e.g. when creating the object failed because it
 * already existed (it is then not ours) or once revert restored it. 0 when there was none. */
int journal_forget(struct journal *j, enum journal_kind kind, const char *object);

/* The entry for (kind, object), or NULL. The pointer is valid until the journal changes. */
const struct journal_entry *journal_find(const struct journal *j, enum journal_kind kind,
                                         const char *object);

/* Number of entries, and the i-th in recording order (0 = oldest). */
unsigned journal_size(const struct journal *j);
const struct journal_entry *journal_entry_at(const struct journal *j, unsigned i);

/* The path of the journal file (for messages). */
const char *journal_path(const struct journal *j);
