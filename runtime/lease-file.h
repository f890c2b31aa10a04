/* SPDX-License-Identifier: MIT */
/* The lease file, <runtime dir>/leases.json (docs/leases.md, "The lease file"): what the agent
 * has granted, on disk before the grant's reply, so a restarted agent knows every lease. It is
 * a log of JSON lines: a schema line, then one line per change (a lease's whole record as it is
 * now, or its removal), so that a grant appends one line whatever the number of leases; it is
 * rewritten with only the live records (compacted) when dead lines outnumber live ones, when it
 * grows past LEASE_LOG_SIZE_MAX, and at the agent's start. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/lease-record.h"

#define LEASES_FILE "leases.json"
#define LEASES_SCHEMA "hosttune.leases/2"
/* The whole-document form that agents before the log wrote; still read (an upgrade with leases
 * out), never written. */
#define LEASES_SCHEMA_DOCUMENT "hosttune.leases/1"
/* A file this large is compacted at the next write that adds a dead line, whatever the share of
 * dead lines: the agent reads it whole at start. */
#define LEASE_LOG_SIZE_MAX (8U * 1024U * 1024U)

/* The lease file's text in its compacted form: the schema line, then one "set" line per record
 * in the order given. Returns a malloc'd string, or NULL when out of memory. */
char *lease_file_format(const struct lease_record *const *records, unsigned n);

/* What lease_file_parse saw besides the records. */
struct lease_file_info {
        unsigned entries;   /* "set" and "remove" lines replayed */
        size_t torn_bytes;  /* bytes of a last line without its newline, ignored (0: none) */
        bool document_form; /* a LEASES_SCHEMA_DOCUMENT file */
};

/* Parse a lease file: replay the log (a "set" line makes its record the lease's, first seen
 * first in *ret; a "remove" line drops the lease, and is no error for an id not on record) or
 * read the older whole-document form. *ret is a malloc'd array of *ret_n records (NULL for
 * none). A last line without its newline is an append a crash cut short: it is ignored and its
 * size reported in ret_info->torn_bytes (ret_info may be NULL). -EBADMSG for anything else that
 * is not so: another schema, a line that is not one "set" or "remove" object, a malformed
 * record, an id given twice in the document form. */
int lease_file_parse(const char *text, struct lease_record **ret, unsigned *ret_n,
                     struct lease_file_info *ret_info);

/* The writer of the lease file: the agent holds one. */
struct lease_log {
        int dir_fd;        /* the runtime directory (not owned) */
        int fd;            /* the file, written at offset size; -1: none open */
        uint64_t size;     /* bytes in the file */
        unsigned entries;  /* "set" and "remove" lines in it since it was last compacted */
        bool must_compact; /* the next write rewrites the file (at start; after a failed append) */
};

/* A writer for dir_fd/LEASES_FILE whose first write is a compaction. */
void lease_log_init(struct lease_log *log, int dir_fd);

/* Close the file. Accepts a writer never written through. */
void lease_log_close(struct lease_log *log);

/* Should the next write rewrite the file instead of appending n_append lines, with n_live
 * records live after it? Yes when it must, when the dead lines (those replaced or removed) would
 * outnumber the live ones, or when the file is past LEASE_LOG_SIZE_MAX and has a dead line. Each
 * compaction so costs no more than the appends since the one before. */
bool lease_log_wants_compaction(const struct lease_log *log, unsigned n_append, unsigned n_live);

/* Rewrite the file with exactly these records, atomically (lib/fileio.h's tmpfile: a reader or
 * a restart after a crash sees the old or the new file, never a mix). Not fsynced: the runtime
 * directory is a tmpfs, and a machine that crashed has ended every lease. */
int lease_log_compact(struct lease_log *log, const struct lease_record *const *records, unsigned n);

/* Append the records in set (each lease's whole record now) and a removal of each id in removed,
 * in one write. Returns once the lines are in the file (the page cache: what survives the
 * agent's crash; not fsynced, as lease_log_compact). -EBADF when there is no file to append to
 * (compact first). On a failed write the lines written are cut off again, or, if that fails, the
 * next write must compact; either way no partial line stays before a later one. */
int lease_log_append(struct lease_log *log, const struct lease_record *const *set, unsigned n_set,
                     const char (*removed)[LEASE_ID_LEN + 1], unsigned n_removed);
