/* SPDX-License-Identifier: MIT */
/* The lease file as a log of JSON lines: its text, its replay, and the agent's writer of it
 * (appends, and compaction through lib/fileio's atomic replace). */
#include "runtime/lease-file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fileio.h"
#include "lib/util.h"

/* One object on one line: json-c escapes every control character inside strings, so the text
 * holds no newline of its own. */
static int put_line(FILE *f, json_object *o) {
        const char *s = o ? json_object_to_json_string_ext(
                                    o, JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)
                          : NULL;

        if (!s)
                return -ENOMEM;
        return fputs(s, f) < 0 || fputc('\n', f) < 0 ? -ENOMEM : 0;
}

static int put_wrapped(FILE *f, const char *key, json_object *value) {
        json_object *o = value ? json_object_new_object() : NULL;
        int r;

        if (!o) {
                json_object_put(value);
                return -ENOMEM;
        }
        json_object_object_add(o, key, value);
        r = put_line(f, o);
        json_object_put(o);
        return r;
}

static int put_set(FILE *f, const struct lease_record *r) {
        return put_wrapped(f, "set", lease_record_to_json(r));
}

static int put_remove(FILE *f, const char *id) {
        return put_wrapped(f, "remove", json_object_new_string(id));
}

/* The lines, as a malloc'd string (its length in *ret_len), from records and removals. */
static char *lines_format(bool header, const struct lease_record *const *set, unsigned n_set,
                          const char (*removed)[LEASE_ID_LEN + 1], unsigned n_removed,
                          size_t *ret_len) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        int r = f ? 0 : -ENOMEM;

        if (r >= 0 && header)
                r = put_wrapped(f, "schema", json_object_new_string(LEASES_SCHEMA));
        for (unsigned i = 0; r >= 0 && i < n_set; i++)
                r = put_set(f, set[i]);
        for (unsigned i = 0; r >= 0 && i < n_removed; i++)
                r = put_remove(f, removed[i]);
        if (f && fclose(f) < 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return NULL;
        }
        if (ret_len)
                *ret_len = len;
        return buf;
}

char *lease_file_format(const struct lease_record *const *records, unsigned n) {
        return lines_format(true, records, n, NULL, 0, NULL);
}

/* ---- reading ---- */

/* The records of a log being replayed, found by id through an open-addressing table, so that a
 * file of many lines replays in linear time. */
struct replay {
        struct lease_record *recs;
        bool *gone;
        unsigned n, allocated;
        unsigned *slots; /* index + 1 into recs; 0: empty */
        size_t n_slots;  /* a power of two, above the number of lines */
};

static size_t id_slot(const struct replay *p, const char *id) {
        /* Ids are random hex (lease_id_valid): a multiplicative hash spreads them enough. */
        uint64_t h = strtoull(id, NULL, 16) * UINT64_C(0x9e3779b97f4a7c15);
        size_t i = (size_t) (h >> 32) & (p->n_slots - 1);

        while (p->slots[i] && !streq(p->recs[p->slots[i] - 1].id, id))
                i = (i + 1) & (p->n_slots - 1);
        return i;
}

static int replay_set(struct replay *p, const struct lease_record *r) {
        size_t s = id_slot(p, r->id);

        if (p->slots[s] && !p->gone[p->slots[s] - 1]) {
                p->recs[p->slots[s] - 1] = *r;
                return 0;
        }
        if (p->n == p->allocated) {
                unsigned a = p->allocated ? 2 * p->allocated : 16;
                struct lease_record *recs = reallocarray(p->recs, a, sizeof(*recs));
                bool *gone;

                if (!recs)
                        return -ENOMEM;
                p->recs = recs;
                gone = reallocarray(p->gone, a, sizeof(*gone));
                if (!gone)
                        return -ENOMEM;
                p->gone = gone;
                p->allocated = a;
        }
        p->recs[p->n] = *r;
        p->gone[p->n] = false;
        p->slots[s] = ++p->n;
        return 0;
}

static void replay_remove(struct replay *p, const char *id) {
        size_t s = id_slot(p, id);

        if (p->slots[s])
                p->gone[p->slots[s] - 1] = true;
}

/* The value of the only key of object o, when that key is name; else NULL. */
static json_object *only_key(json_object *o, const char *name) {
        json_object *v;

        if (!o || !json_object_is_type(o, json_type_object) || json_object_object_length(o) != 1 ||
            !json_object_object_get_ex(o, name, &v))
                return NULL;
        return v;
}

/* Parse line (len bytes, no newline) as one JSON value and nothing after it; NULL if it is not. */
static json_object *line_parse(json_tokener *tok, const char *line, size_t len) {
        json_object *o;

        if (len == 0 || len > INT32_MAX)
                return NULL;
        json_tokener_reset(tok);
        o = json_tokener_parse_ex(tok, line, (int) len);
        if (o && (json_tokener_get_error(tok) != json_tokener_success ||
                  json_tokener_get_parse_end(tok) != len)) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static bool is_log_header(json_tokener *tok, const char *line, size_t len) {
        json_object *o = line_parse(tok, line, len), *v = only_key(o, "schema");
        bool ok = v && json_object_is_type(v, json_type_string) &&
                  streq(json_object_get_string(v), LEASES_SCHEMA);

        json_object_put(o);
        return ok;
}

/* One "set" or "remove" line. */
static int replay_line(struct replay *p, json_tokener *tok, const char *line, size_t len) {
        json_object *o = line_parse(tok, line, len), *v;
        struct lease_record rec;
        int r = -EBADMSG;

        if ((v = only_key(o, "set"))) {
                if (lease_record_from_json(v, &rec) >= 0)
                        r = replay_set(p, &rec);
        } else if ((v = only_key(o, "remove"))) {
                if (json_object_is_type(v, json_type_string) &&
                    lease_id_valid(json_object_get_string(v))) {
                        replay_remove(p, json_object_get_string(v));
                        r = 0;
                }
        }
        json_object_put(o);
        return r;
}

static int parse_log(const char *text, json_tokener *tok, struct lease_record **ret,
                     unsigned *ret_n, struct lease_file_info *info) {
        struct replay p = { 0 };
        const char *line = strchr(text, '\n') + 1, *nl;
        size_t lines = 0;
        unsigned n = 0;
        int r = 0;

        for (const char *c = line; (c = strchr(c, '\n')); c++)
                lines++;
        for (p.n_slots = 16; p.n_slots <= 2 * lines; p.n_slots *= 2)
                ;
        p.slots = calloc(p.n_slots, sizeof(*p.slots));
        if (!p.slots)
                return -ENOMEM;
        for (; (nl = strchr(line, '\n')); line = nl + 1) {
                r = replay_line(&p, tok, line, (size_t) (nl - line));
                if (r < 0)
                        goto out;
                info->entries++;
        }
        /* What follows the last newline is an append a crash cut short: its reply was never
         * sent, so the change it carried was never promised to anyone. */
        info->torn_bytes = strlen(line);
        for (unsigned i = 0; i < p.n; i++)
                if (!p.gone[i])
                        p.recs[n++] = p.recs[i];
        if (n == 0) {
                free(p.recs);
                p.recs = NULL;
        }
        *ret = TAKE_PTR(p.recs);
        *ret_n = n;
out:
        free(p.recs);
        free(p.gone);
        free(p.slots);
        return r;
}

/* The whole-document form of LEASES_SCHEMA_DOCUMENT. */
static int parse_document(const char *text, struct lease_record **ret, unsigned *ret_n) {
        json_object *doc = json_tokener_parse(text), *schema, *arr;
        struct lease_record *recs = NULL;
        size_t n = 0;
        int r = -EBADMSG;

        if (!doc || !json_object_is_type(doc, json_type_object) ||
            !json_object_object_get_ex(doc, "schema", &schema) ||
            !json_object_is_type(schema, json_type_string) ||
            !streq(json_object_get_string(schema), LEASES_SCHEMA_DOCUMENT) ||
            !json_object_object_get_ex(doc, "leases", &arr) ||
            !json_object_is_type(arr, json_type_array))
                goto out;
        n = json_object_array_length(arr);
        if (n > 0) {
                recs = calloc(n, sizeof(*recs));
                if (!recs) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (lease_record_from_json(json_object_array_get_idx(arr, i), &recs[i]) < 0)
                        goto out;
                for (size_t j = 0; j < i; j++)
                        if (streq(recs[j].id, recs[i].id))
                                goto out;
        }
        *ret = TAKE_PTR(recs);
        *ret_n = (unsigned) n;
        r = 0;
out:
        free(recs);
        json_object_put(doc);
        return r;
}

int lease_file_parse(const char *text, struct lease_record **ret, unsigned *ret_n,
                     struct lease_file_info *ret_info) {
        struct lease_file_info info = { 0 };
        const char *nl = strchr(text, '\n');
        json_tokener *tok = json_tokener_new();
        int r;

        if (!tok)
                return -ENOMEM;
        if (nl && is_log_header(tok, text, (size_t) (nl - text)))
                r = parse_log(text, tok, ret, ret_n, &info);
        else {
                info.document_form = true;
                r = parse_document(text, ret, ret_n);
        }
        json_tokener_free(tok);
        if (r >= 0 && ret_info)
                *ret_info = info;
        return r;
}

/* ---- writing ---- */

void lease_log_init(struct lease_log *log, int dir_fd) {
        *log = (struct lease_log){ .dir_fd = dir_fd, .fd = -1, .must_compact = true };
}

void lease_log_close(struct lease_log *log) {
        log->fd = safe_close(log->fd);
        log->must_compact = true;
}

bool lease_log_wants_compaction(const struct lease_log *log, unsigned n_append, unsigned n_live) {
        uint64_t lines = (uint64_t) log->entries + n_append;
        uint64_t dead = lines > n_live ? lines - n_live : 0;

        return log->must_compact || log->fd < 0 || dead > n_live ||
               (dead > 0 && log->size > LEASE_LOG_SIZE_MAX);
}

int lease_log_compact(struct lease_log *log, const struct lease_record *const *records,
                      unsigned n) {
        _cleanup_(tmpfile_done) struct tmpfile t = { .fd = -1, .dir_fd = -1 };
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        text = lines_format(true, records, n, NULL, 0, &len);
        if (!text)
                return -ENOMEM;
        r = tmpfile_open_at(log->dir_fd, LEASES_FILE, 0644, &t);
        if (r >= 0)
                r = write_all(t.fd, text, len);
        if (r >= 0)
                r = tmpfile_commit(&t, false);
        if (r < 0)
                return r;
        /* The descriptor written is the file now in place: later appends go to it, with no
         * open by name in between. */
        safe_close(log->fd);
        log->fd = TAKE_FD(t.fd);
        log->size = len;
        log->entries = n;
        log->must_compact = false;
        return 0;
}

static int pwrite_all(int fd, const char *data, size_t len, uint64_t offset) {
        for (size_t done = 0; done < len;) {
                ssize_t k = pwrite(fd, data + done, len - done, (off_t) (offset + done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                done += (size_t) k;
        }
        return 0;
}

int lease_log_append(struct lease_log *log, const struct lease_record *const *set, unsigned n_set,
                     const char (*removed)[LEASE_ID_LEN + 1], unsigned n_removed) {
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t len;
        int r;

        if (log->fd < 0 || log->must_compact)
                return -EBADF;
        if (n_set == 0 && n_removed == 0)
                return 0;
        /* Someone removed or replaced the file: appending would write to a file nobody reads. */
        if (fstat(log->fd, &st) < 0 || st.st_nlink == 0) {
                log->must_compact = true;
                return -EBADF;
        }
        text = lines_format(false, set, n_set, removed, n_removed, &len);
        if (!text)
                return -ENOMEM;
        r = pwrite_all(log->fd, text, len, log->size);
        if (r < 0) {
                /* A partial line followed by a later one would make the file unreadable. */
                if (ftruncate(log->fd, (off_t) log->size) < 0)
                        log->must_compact = true;
                return r;
        }
        log->size += len;
        log->entries += n_set + n_removed;
        return 0;
}
