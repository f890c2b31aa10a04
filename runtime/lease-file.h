/* SPDX-License-Identifier: MIT */
/* The lease file, <runtime dir>/leases.json (docs/leases.md, "The lease file"): what the agent
 * has granted, on disk before the grant's reply, so a restarted agent knows every lease. */
#pragma once

#include "runtime/lease-record.h"

#define LEASES_FILE "leases.json"
#define LEASES_SCHEMA "hosttune.leases/1"

/* The whole lease file's text (schema, then the records in the order given). Returns a malloc'd
 * string, or NULL when out of memory. */
char *lease_file_format(const struct lease_record *const *records, unsigned n);

/* Parse a lease file. *ret is a malloc'd array of *ret_n records (NULL for none). -EBADMSG when
 * it is not a lease file of this schema or a record is malformed; two records with one id are
 * malformed too. */
int lease_file_parse(const char *text, struct lease_record **ret, unsigned *ret_n);
