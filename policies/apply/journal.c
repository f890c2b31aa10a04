/* SPDX-License-Identifier: MIT */
/* The revert journal: a JSON file rewritten atomically (temp file, fsync, rename, fsync of the
 * directory) on every change, guarded by an flock so one apply or revert runs at a time. It
 * lives in the runtime directory, which hosttune owns: neither the journal nor its lock is
 * ever reached through a symbolic link, and neither may be a FIFO (lib/fileio.c says why). */
#include "journal.h"

#include <fcntl.h>
#include <stdarg.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "lib/fileio.h"
#include "lib/json-util.h"
#include "lib/parse.h"
#include "lib/util.h"

/* The journal holds a few dozen entries; a file beyond this is not ours. */
#define JOURNAL_SIZE_MAX (4U * 1024U * 1024U)

struct journal {
        int dir_fd;
        int lock_fd;
        char dir[256];
        char path[300];
        char boot_id[40];
        uint64_t next_seq;
        unsigned n, allocated;
        struct journal_entry *entries;
        char (*entry_boot)[40]; /* boot_id per entry, parallel to entries */
        unsigned fault_after;   /* SIGKILL after this many new records (0 = never) */
        unsigned recorded;
};

static const char *const journal_kind_table[_JOURNAL_KIND_MAX] = {
        [JOURNAL_FILE] = "file",
        [JOURNAL_HUGEPAGES] = "hugepages",
        [JOURNAL_DIR] = "dir",
        [JOURNAL_SUBVOLUME] = "subvolume",
        [JOURNAL_SNAPSHOT] = "snapshot",
        [JOURNAL_NOCOW] = "nocow",
        [JOURNAL_MOUNT] = "mount",
        [JOURNAL_ZRAM] = "zram",
        [JOURNAL_LINK] = "link",
        [JOURNAL_ZRAM_DEVICE] = "zram-device",
        [JOURNAL_TAP_OWNER] = "tap-owner",
        [JOURNAL_MASTER] = "master",
        [JOURNAL_MODE] = "mode",
};

DEFINE_STRING_TABLE_LOOKUP(journal_kind, enum journal_kind, "?")

bool journal_kind_persistent(enum journal_kind k) {
        return k == JOURNAL_DIR || k == JOURNAL_SUBVOLUME || k == JOURNAL_SNAPSHOT ||
               k == JOURNAL_NOCOW;
}

static void read_boot_id(char *buf, size_t size) {
        _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (root < 0 || read_line_at(root, "proc/sys/kernel/random/boot_id", buf, size) < 0)
                strscpy(buf, size, "unknown");
}

static int grow(struct journal *j) {
        struct journal_entry *e;
        char(*b)[40];
        unsigned n;

        if (j->n < j->allocated)
                return 0;
        n = j->allocated ? j->allocated * 2 : 16;
        e = realloc(j->entries, n * sizeof(*e));
        if (!e)
                return -ENOMEM;
        j->entries = e;
        b = realloc(j->entry_boot, n * sizeof(*b));
        if (!b)
                return -ENOMEM;
        j->entry_boot = b;
        j->allocated = n;
        return 0;
}

static const char *json_str(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* A message about the journal file into msg (may be NULL); returns -EBADMSG. */
static int bad(char *msg, size_t size, const char *fmt, ...) _printf_(3, 4);
static int bad(char *msg, size_t size, const char *fmt, ...) {
        va_list ap;

        if (msg && size) {
                va_start(ap, fmt);
                vbufprintf_trunc(msg, size, fmt, ap);
                va_end(ap);
        }
        return -EBADMSG;
}

/* Member key of o as a string (type string) or integer (type int): NULL with a message saying
 * whether it is missing or of the wrong type. */
static json_object *member(json_object *o, const char *key, json_type type, bool optional,
                           unsigned index, char *msg, size_t size) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
                if (!optional)
                        (void) bad(msg, size, "entry %u has no \"%s\"", index, key);
                return NULL;
        }
        if (!json_object_is_type(v, type)) {
                (void) bad(msg, size, "entry %u: \"%s\" is %s, not %s", index, key,
                           json_type_to_name(json_object_get_type(v)), json_type_to_name(type));
                return NULL;
        }
        return v;
}

/* Parse one entry; drop it (return 0 without adding) when a reboot has reset what it
 * describes. */
static int load_entry(struct journal *j, json_object *o, unsigned index, char *msg, size_t size) {
        json_object *kind, *action, *object, *label, *original, *boot, *seq;
        struct journal_entry e = { 0 };
        int r;

        if (!json_object_is_type(o, json_type_object))
                return bad(msg, size, "entry %u is %s, not an object", index,
                           json_type_to_name(json_object_get_type(o)));
        if (!(seq = member(o, "seq", json_type_int, false, index, msg, size)) ||
            !(kind = member(o, "kind", json_type_string, false, index, msg, size)) ||
            !(action = member(o, "action", json_type_string, false, index, msg, size)) ||
            !(object = member(o, "object", json_type_string, false, index, msg, size)) ||
            !(boot = member(o, "boot_id", json_type_string, false, index, msg, size)))
                return -EBADMSG;
        label = member(o, "label", json_type_string, true, index, msg, size);
        original = member(o, "original", json_type_string, true, index, msg, size);
        e.seq = json_object_get_uint64(seq);
        if (journal_kind_from_string(json_object_get_string(kind), &e.kind) < 0)
                return bad(msg, size, "entry %u: unknown kind \"%s\"", index,
                           json_object_get_string(kind));
        if (streq(json_object_get_string(action), "changed"))
                e.action = JOURNAL_CHANGED;
        else if (streq(json_object_get_string(action), "created"))
                e.action = JOURNAL_CREATED;
        else
                return bad(msg, size, "entry %u: action \"%s\" is neither changed nor created",
                           index, json_object_get_string(action));
        if (e.action == JOURNAL_CHANGED && !original)
                return bad(msg, size, "entry %u has no \"original\" (a string) for a changed %s",
                           index, journal_kind_to_string(e.kind));
        if (strscpy(e.object, sizeof(e.object), json_object_get_string(object)) < 0 ||
            strscpy(e.label, sizeof(e.label), label ? json_object_get_string(label) : "") < 0 ||
            strscpy(e.original, sizeof(e.original),
                    original ? json_object_get_string(original) : "") < 0)
                return bad(msg, size, "entry %u: a value is longer than hosttune writes", index);
        if (!streq(json_object_get_string(boot), j->boot_id) && !journal_kind_persistent(e.kind))
                return 0;
        r = grow(j);
        if (r < 0)
                return r;
        j->entries[j->n] = e;
        strscpy(j->entry_boot[j->n], sizeof(j->entry_boot[0]), json_object_get_string(boot));
        j->n++;
        if (e.seq >= j->next_seq)
                j->next_seq = e.seq + 1;
        return 0;
}

/* The journal's schema: 0 for ours; for another, a message (newer version, not a journal). */
static int check_schema(json_object *doc, char *msg, size_t size) {
        const char *schema = json_str(doc, "schema"), *v;
        unsigned version, ours = 0;

        if (!json_object_object_get_ex(doc, "schema", NULL))
                return bad(msg, size, "no \"schema\": not a hosttune journal");
        if (!schema)
                return bad(msg, size, "\"schema\" is not a string: not a hosttune journal");
        if (streq(schema, JOURNAL_SCHEMA))
                return 0;
        v = startswith(schema, "hosttune.journal/");
        if (v && parse_uint(v, &version) >= 0 &&
            parse_uint(startswith(JOURNAL_SCHEMA, "hosttune.journal/"), &ours) >= 0 &&
            version > ours)
                return bad(msg, size,
                           "written by a newer hosttune (schema %u > %u); use that version to "
                           "revert",
                           version, ours);
        return bad(msg, size, "schema \"%.64s\" is not %s: not a hosttune journal", schema,
                   JOURNAL_SCHEMA);
}

static int parse_text(struct journal *j, const char *text, size_t len, char *msg, size_t size);

static int load(struct journal *j, char *msg, size_t size) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        r = read_file_alloc_at(j->dir_fd, JOURNAL_FILE_NAME, READ_NOFOLLOW, JOURNAL_SIZE_MAX, &text,
                               &len);
        if (r == -ENOENT)
                return 0;
        if (r == -EBADMSG)
                return bad(msg, size, "not JSON (it holds a NUL byte)");
        if (r < 0) {
                if (msg && size)
                        bufprintf_trunc(msg, size, "cannot be read: %s", file_strerror(r));
                return r;
        }
        return parse_text(j, text, len, msg, size);
}

/* Parse a journal file's text (len bytes) into j's entries; for text it cannot use, -EBADMSG
 * and a message in msg saying why. */
static int parse_text(struct journal *j, const char *text, size_t len, char *msg, size_t size) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_(json_tokener_freep) json_tokener *tok = json_tokener_new();
        json_object *entries;
        int r;

        if (!tok)
                return -ENOMEM;
        doc = json_tokener_parse_ex(tok, text, (int) len);
        if (!doc || json_tokener_get_parse_end(tok) < len)
                return bad(msg, size, "not JSON (%s at byte %zu)",
                           doc ? "text after the document"
                               : json_tokener_error_desc(json_tokener_get_error(tok)),
                           json_tokener_get_parse_end(tok));
        if (!json_object_is_type(doc, json_type_object)) {
                return bad(msg, size, "a JSON %s, not an object: not a hosttune journal",
                           json_type_to_name(json_object_get_type(doc)));
        }
        r = check_schema(doc, msg, size);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(doc, "entries", &entries)) {
                return bad(msg, size, "no \"entries\"");
        }
        if (!json_object_is_type(entries, json_type_array)) {
                return bad(msg, size, "\"entries\" is %s, not an array",
                           json_type_to_name(json_object_get_type(entries)));
        }
        for (size_t i = 0; i < json_object_array_length(entries); i++) {
                r = load_entry(j, json_object_array_get_idx(entries, i), (unsigned) i, msg, size);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Write the whole journal; removes the file when it is empty (nothing left to revert). */
static int save(struct journal *j) {
        _cleanup_(json_object_putp) json_object *doc = NULL;
        json_object *entries;
        const char *text;

        if (j->n == 0) {
                if (unlinkat(j->dir_fd, JOURNAL_FILE_NAME, 0) < 0 && errno != ENOENT)
                        return negative_errno();
                return fsync(j->dir_fd) < 0 ? negative_errno() : 0;
        }
        doc = json_object_new_object();
        if (!doc)
                return -ENOMEM;
        entries = json_object_new_array();
        if (!entries)
                return -ENOMEM;
        json_object_object_add(doc, "schema", json_object_new_string(JOURNAL_SCHEMA));
        json_object_object_add(doc, "entries", entries);
        for (unsigned i = 0; i < j->n; i++) {
                const struct journal_entry *e = &j->entries[i];
                json_object *o = json_object_new_object();

                json_object_object_add(o, "seq", json_object_new_uint64(e->seq));
                json_object_object_add(o, "kind",
                                       json_object_new_string(journal_kind_to_string(e->kind)));
                json_object_object_add(o, "action",
                                       json_object_new_string(e->action == JOURNAL_CREATED
                                                                      ? "created"
                                                                      : "changed"));
                json_object_object_add(o, "object", json_object_new_string(e->object));
                json_object_object_add(o, "label", json_object_new_string(e->label));
                if (e->action == JOURNAL_CHANGED)
                        json_object_object_add(o, "original", json_object_new_string(e->original));
                json_object_object_add(o, "boot_id", json_object_new_string(j->entry_boot[i]));
                json_object_array_add(entries, o);
        }
        text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
        /* write_file_atomic_at fsyncs the file and, after the rename, the directory. */
        return text ? write_file_atomic_at(j->dir_fd, JOURNAL_FILE_NAME, text, strlen(text), 0600)
                    : -ENOMEM;
}

/* Open (creating it) the lock file. O_NOFOLLOW with O_CREAT refuses a symbolic link at the
 * name, dangling or not, instead of creating its target as root (a link to /etc/nologin would
 * lock everyone out); O_NONBLOCK keeps a FIFO there from blocking the open; only a regular file
 * is accepted. */
static int open_lock(int dir_fd) {
        _cleanup_close_ int fd = -1;
        int r;

        fd = openat(dir_fd, JOURNAL_LOCK_NAME,
                    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
        if (fd < 0)
                return negative_errno();
        /* Only flock is done on it: O_NONBLOCK may stay. */
        r = fd_verify_regular(fd);
        return r < 0 ? r : TAKE_FD(fd);
}

/* mkdir -p with the given mode for the components that are missing. */
static int mkdir_parents(const char *path, mode_t mode) {
        char buf[256];
        int r;

        r = strscpy(buf, sizeof(buf), path);
        if (r < 0)
                return r;
        for (char *p = buf + 1;; p++) {
                if (*p == '/' || *p == 0) {
                        char c = *p;
                        *p = 0;
                        if (mkdir(buf, mode) < 0 && errno != EEXIST)
                                return negative_errno();
                        *p = c;
                        if (!c)
                                return 0;
                }
        }
}

void journal_close(struct journal *j) {
        if (!j)
                return;
        safe_close(j->dir_fd);
        safe_close(j->lock_fd);
        free(j->entries);
        free(j->entry_boot);
        free(j);
}

/* The test seam of journal_set_fault_after_record(): 0 (never) unless a test helper set it. */
static unsigned fault_after_record;

void journal_set_fault_after_record(unsigned n) {
        fault_after_record = n;
}

int journal_open(const char *dir, struct journal **ret) {
        return journal_open_diag(dir, ret, NULL, 0);
}

int journal_open_diag(const char *dir, struct journal **ret, char *msg, size_t msg_size) {
        struct journal *j;
        int r;

        if (!dir || dir[0] != '/')
                return -EINVAL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->dir_fd = j->lock_fd = -1;
        j->next_seq = 1;
        if (strscpy(j->dir, sizeof(j->dir), dir) < 0 ||
            bufprintf(j->path, sizeof(j->path), "%s/%s", dir, JOURNAL_FILE_NAME) < 0) {
                r = -ENAMETOOLONG;
                goto fail;
        }
        r = mkdir_parents(dir, 0755);
        if (r < 0)
                goto fail;
        j->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (j->dir_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        j->lock_fd = open_lock(j->dir_fd);
        if (j->lock_fd < 0) {
                r = j->lock_fd;
                goto fail;
        }
        if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : negative_errno();
                goto fail;
        }
        /* Under the lock no other writer of the journal runs: temporary files left by one
         * that was killed (journal.json.tmp.PID of older versions included) can go. */
        r = tmpfiles_clean_at(j->dir_fd, JOURNAL_FILE_NAME);
        if (r < 0)
                goto fail;
        read_boot_id(j->boot_id, sizeof(j->boot_id));
        r = load(j, msg, msg_size);
        if (r < 0)
                goto fail;
        j->fault_after = fault_after_record;
        *ret = j;
        return 0;
fail:
        journal_close(j);
        return r;
}

int journal_parse(const char *text, const char *boot_id, struct journal **ret) {
        struct journal *j;
        int r;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->dir_fd = j->lock_fd = -1;
        j->next_seq = 1;
        strscpy(j->boot_id, sizeof(j->boot_id), boot_id);
        r = parse_text(j, text, strlen(text), NULL, 0);
        if (r < 0) {
                journal_close(j);
                return r;
        }
        *ret = j;
        return 0;
}

static int find_index(const struct journal *j, enum journal_kind kind, const char *object) {
        for (unsigned i = 0; i < j->n; i++)
                if (j->entries[i].kind == kind && streq(j->entries[i].object, object))
                        return (int) i;
        return -1;
}

const struct journal_entry *journal_find(const struct journal *j, enum journal_kind kind,
                                         const char *object) {
        int i = find_index(j, kind, object);
        return i < 0 ? NULL : &j->entries[i];
}

static int record(struct journal *j, enum journal_kind kind, enum journal_action action,
                  const char *object, const char *label, const char *original) {
        struct journal_entry *e;
        int r;

        if (find_index(j, kind, object) >= 0)
                return 0;
        r = grow(j);
        if (r < 0)
                return r;
        e = &j->entries[j->n];
        *e = (struct journal_entry){ .seq = j->next_seq, .kind = kind, .action = action };
        if (strscpy(e->object, sizeof(e->object), object) < 0 ||
            strscpy(e->original, sizeof(e->original), original ? original : "") < 0)
                return -ENAMETOOLONG; /* an original we cannot store whole we must not change */
        strscpy(e->label, sizeof(e->label), label ? label : "");
        strscpy(j->entry_boot[j->n], sizeof(j->entry_boot[0]), j->boot_id);
        j->n++;
        r = save(j);
        if (r < 0) {
                j->n--;
                return r;
        }
        j->next_seq++;
        if (j->fault_after && ++j->recorded == j->fault_after)
                raise(SIGKILL);
        return 1;
}

int journal_record_changed(struct journal *j, enum journal_kind kind, const char *object,
                           const char *label, const char *original) {
        return record(j, kind, JOURNAL_CHANGED, object, label, original);
}

int journal_record_created(struct journal *j, enum journal_kind kind, const char *object,
                           const char *label) {
        return record(j, kind, JOURNAL_CREATED, object, label, NULL);
}

int journal_forget(struct journal *j, enum journal_kind kind, const char *object) {
        int i = find_index(j, kind, object);
        struct journal_entry saved;
        char saved_boot[40];
        int r;

        if (i < 0)
                return 0;
        saved = j->entries[i];
        memcpy(saved_boot, j->entry_boot[i], sizeof(saved_boot));
        memmove(&j->entries[i], &j->entries[i + 1],
                (j->n - (unsigned) i - 1) * sizeof(*j->entries));
        memmove(&j->entry_boot[i], &j->entry_boot[i + 1],
                (j->n - (unsigned) i - 1) * sizeof(*j->entry_boot));
        j->n--;
        r = save(j);
        if (r < 0) {
                /* Put it back: the file still has it, and memory must agree with the file. */
                memmove(&j->entries[i + 1], &j->entries[i],
                        (j->n - (unsigned) i) * sizeof(*j->entries));
                memmove(&j->entry_boot[i + 1], &j->entry_boot[i],
                        (j->n - (unsigned) i) * sizeof(*j->entry_boot));
                j->entries[i] = saved;
                memcpy(j->entry_boot[i], saved_boot, sizeof(saved_boot));
                j->n++;
                return r;
        }
        return 1;
}

unsigned journal_size(const struct journal *j) {
        return j->n;
}

const struct journal_entry *journal_entry_at(const struct journal *j, unsigned i) {
        return i < j->n ? &j->entries[i] : NULL;
}

const char *journal_path(const struct journal *j) {
        return j->path;
}
