/* SPDX-License-Identifier: MIT */
/* The policy loader: INI text through inih into entries, includes first, then the file's own
 * keys, then cross-key checks; nothing reaches the caller unless all of it validated. inih's
 * conventions (a line number as the return value, no line number in the handler in the builds
 * distributions ship) are converted here, the one place that talks to inih. */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <ini.h>

#include "lib/fileio.h"
#include "lib/util.h"
#include "policies/policy-internal.h"
#include "policies/profiles.h"

/* State of one file's parse. inih calls the reader once per line (more often for a line too long
 * for its buffer) and the handler right after reading a key's line, so the reader's idea of the
 * current line is the handler's line number. The reader also sees what inih does not report:
 * comment lines (the reasons for values), section headers of empty sections, and whether a line
 * continues the previous value. */
struct parse_ctx {
        struct policy_load *l;
        unsigned file;
        const char *pos; /* reader position in the text */
        const char *text;
        unsigned line;
        bool at_line_start;
        bool continuation; /* the current line continues the previous key's value */
        bool key_seen;     /* a key since the last section header (inih's prev_name) */
        char section[64];
        uint64_t page_size;
        char pending[POLICY_REASON_MAX]; /* comment lines directly above */
        char reason[POLICY_REASON_MAX];  /* for the current key line */

        struct policy_entry *entries;
        unsigned n_entries, n_allocated;

        bool failed;
        unsigned err_line;
        char err_key[64];
        char err_msg[256];
};

static void parse_error(struct parse_ctx *c, const char *key, const char *fmt, ...) _printf_(3, 4);
static void parse_error(struct parse_ctx *c, const char *key, const char *fmt, ...) {
        va_list ap;

        if (c->failed)
                return;
        c->failed = true;
        c->err_line = c->line;
        strscpy(c->err_key, sizeof(c->err_key), key);
        va_start(ap, fmt);
        vbufprintf_trunc(c->err_msg, sizeof(c->err_msg), fmt, ap);
        va_end(ap);
}

/* inih's ini_find_chars_or_comment(): the first of chars, or an inline comment (';' after
 * whitespace), or end. */
static const char *find_chars_or_comment(const char *s, const char *end, const char *chars) {
        bool was_space = false;

        while (s < end && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
                was_space = isspace((unsigned char) *s);
                s++;
        }
        return s;
}

/* Append comment text to buf, words separated by one space, cut at the buffer's size. */
static void text_append(char *buf, size_t size, const char *s, const char *end) {
        size_t n = strlen(buf);

        while (s < end && n + 1 < size) {
                if (isspace((unsigned char) *s)) {
                        while (s < end && isspace((unsigned char) *s))
                                s++;
                        if (n > 0 && s < end && buf[n - 1] != ' ')
                                buf[n++] = ' ';
                        continue;
                }
                buf[n++] = *s++;
        }
        buf[n] = 0;
}

/* Classify the line starting at line, as inih will (see ini_parse_stream()). */
static void classify_line(struct parse_ctx *c, const char *line) {
        const char *end = strchr(line, '\n'), *s = line, *close;
        char name[128], msg[256];
        size_t l;

        if (!end)
                end = line + strlen(line);
        /* inih reads a line into a 200-byte buffer (INI_MAX_LINE in the common builds) and
         * splits longer ones silently in some versions: refuse them, whatever the build. */
        if ((size_t) (end - line) - (end > line && end[-1] == '\r') > INI_LINE_MAX) {
                parse_error(c, "",
                            "line longer than %d characters (continue a list on the next "
                            "line, indented)",
                            INI_LINE_MAX);
                return;
        }
        while (end > line && isspace((unsigned char) end[-1]))
                end--;
        if (c->line == 1 && (unsigned char) s[0] == 0xEF && (unsigned char) s[1] == 0xBB &&
            (unsigned char) s[2] == 0xBF)
                s += 3;
        while (s < end && isspace((unsigned char) *s))
                s++;
        c->continuation = false;
        if (s >= end) { /* a blank line ends a comment block */
                c->pending[0] = 0;
                return;
        }
        if (*s == ';' || *s == '#') {
                l = strlen(c->pending);
                if (l > 0 && l + 1 < sizeof(c->pending)) {
                        c->pending[l] = ' ';
                        c->pending[l + 1] = 0;
                }
                text_append(c->pending, sizeof(c->pending), s + 1, end);
                return;
        }
        if (c->key_seen && s > line) {
                c->continuation = true;
                return;
        }
        if (*s == '[') {
                c->pending[0] = 0;
                close = find_chars_or_comment(s + 1, end, "]");
                if (close >= end || *close != ']')
                        return; /* inih reports the line */
                l = (size_t) (close - s - 1);
                if (l >= sizeof(name)) {
                        parse_error(c, "", "section name too long");
                        return;
                }
                memcpy(name, s + 1, l);
                name[l] = 0;
                strscpy(c->section, sizeof(c->section), name);
                c->key_seen = false;
                if (!policy_section_known(name, &c->page_size, msg, sizeof(msg)))
                        parse_error(c, "", "%s", msg);
                return;
        }
        /* A key line. Its reason: an inline comment, else the comment block above it. */
        {
                const char *sep = find_chars_or_comment(s, end, "=:");
                const char *inl = find_chars_or_comment(s, end, NULL);
                const char *name_end = sep;

                while (name_end > s && isspace((unsigned char) name_end[-1]))
                        name_end--;
                if (sep < end && (*sep == '=' || *sep == ':') && name_end > s)
                        c->key_seen = true;
                c->reason[0] = 0;
                if (inl < end && *inl == ';')
                        text_append(c->reason, sizeof(c->reason), inl + 1, end);
                else
                        strscpy(c->reason, sizeof(c->reason), c->pending);
                c->pending[0] = 0;
        }
}

static char *reader(char *str, int num, void *stream) {
        struct parse_ctx *c = stream;
        size_t n = 0;
        bool starts;

        if (!*c->pos || num < 2)
                return NULL;
        starts = c->at_line_start;
        while (n < (size_t) num - 1 && c->pos[n])
                if (c->pos[n++] == '\n')
                        break;
        memcpy(str, c->pos, n);
        str[n] = 0;
        if (starts) {
                c->line++;
                classify_line(c, c->pos);
        }
        c->pos += n;
        c->at_line_start = str[n - 1] == '\n';
        return str;
}

static const char *known_keys(const char *section, char *buf, size_t size) {
        const char *sec = startswith(section, "hugepages-") ? "hugepages-SIZE" : section;
        buf[0] = 0;
        for (unsigned i = 0; i < policy_n_key_defs; i++)
                if (streq(policy_key_defs[i].section, sec))
                        bufappendf_trunc(buf, size, "%s%s", buf[0] ? ", " : "",
                                         policy_key_defs[i].name);
        return buf;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        struct parse_ctx *c = user;
        struct policy_entry *e;
        const struct policy_key_def *d;
        char known[256];

        (void) section; /* inih cuts long names; the reader kept the whole one */
        if (c->failed)
                return 1;
        if (c->continuation) {
                size_t a, b;
                char *v;

                e = c->n_entries ? &c->entries[c->n_entries - 1] : NULL;
                if (!e || !e->def->list) {
                        parse_error(c, e ? e->key : name,
                                    "takes a single value; a line that starts with whitespace "
                                    "continues the value of the line before");
                        return 1;
                }
                a = strlen(e->value);
                b = strlen(value);
                if (a + b + 2 > POLICY_FILE_SIZE_MAX)
                        return 1;
                v = realloc(e->value, a + b + 2);
                if (!v) {
                        parse_error(c, e->key, "out of memory");
                        return 1;
                }
                v[a] = ' ';
                memcpy(v + a + 1, value, b + 1);
                e->value = v;
                return 1;
        }
        if (!c->section[0]) {
                parse_error(c, name, "key outside of a section (put it under a [section] line)");
                return 1;
        }
        d = policy_key_def_find(c->section, name);
        if (!d) {
                parse_error(c, name, "unknown key in [%s] (known: %s)", c->section,
                            known_keys(c->section, known, sizeof(known)));
                return 1;
        }
        if (strlen(name) >= sizeof(e->key)) {
                parse_error(c, "", "key longer than %zu characters", sizeof(e->key) - 1);
                return 1;
        }
        if (c->n_entries == c->n_allocated) {
                unsigned na = c->n_allocated ? c->n_allocated * 2 : 32;
                struct policy_entry *ne = realloc(c->entries, na * sizeof(*ne));
                if (!ne) {
                        parse_error(c, name, "out of memory");
                        return 1;
                }
                c->entries = ne;
                c->n_allocated = na;
        }
        e = &c->entries[c->n_entries];
        *e = (struct policy_entry){
                .def = d, .line = c->line, .file = c->file, .page_size = c->page_size
        };
        strscpy(e->section, sizeof(e->section), c->section);
        strscpy(e->key, sizeof(e->key), name);
        e->value = strdup(value);
        e->reason = c->reason[0] ? strdup(c->reason) : NULL;
        if (!e->value || (c->reason[0] && !e->reason)) {
                free(e->value);
                free(e->reason);
                parse_error(c, name, "out of memory");
                return 1;
        }
        c->n_entries++;
        return 1;
}

static void entries_free(struct parse_ctx *c) {
        for (unsigned i = 0; i < c->n_entries; i++) {
                free(c->entries[i].value);
                free(c->entries[i].reason);
        }
        free(c->entries);
        c->entries = NULL;
        c->n_entries = c->n_allocated = 0;
}

/* Parse text into c->entries. The first error, inih's or ours, goes to l->err. */
static int parse_text(struct parse_ctx *c, const char *text) {
        struct policy_origin o = { .file = c->file };
        int r;

        c->text = c->pos = text;
        c->at_line_start = true;
        r = ini_parse_stream(reader, c, handler, c);
        if (r < 0) {
                policy_load_error(c->l, o, "", "the INI parser failed (%d)", r);
                return -ENOMEM;
        }
        /* inih's error is a line number only: a line it could not read as a section header or
         * key = value. After a line too long for its buffer its count runs ahead of ours, but
         * the reader flagged that line first. */
        if (r > 0 && (!c->failed || (unsigned) r < c->err_line)) {
                const char *s = text;
                o.line = (unsigned) r;
                for (unsigned i = 1; i < o.line && s; i++) {
                        s = strchr(s, '\n');
                        if (s)
                                s++;
                }
                if (s && s[strspn(s, " \t")] == '[')
                        policy_load_error(c->l, o, "", "section header without a closing ']'");
                else
                        policy_load_error(c->l, o, "",
                                          "expected 'key = value', '[section]' or a comment");
                return -EINVAL;
        }
        if (c->failed) {
                o.line = c->err_line;
                policy_load_error(c->l, o, c->err_key, "%s", c->err_msg);
                return -EINVAL;
        }
        return 0;
}

/* Index of label in p->files, added when new; -E2BIG when full. */
static int file_index(struct policy *p, const char *label) {
        for (unsigned i = 0; i < p->n_files; i++)
                if (streq(p->files[i], label))
                        return (int) i;
        if (p->n_files >= POLICY_FILES_MAX)
                return -E2BIG;
        strscpy(p->files[p->n_files], POLICY_PATH_MAX, label);
        return (int) p->n_files++;
}

static int load_text(struct policy_load *l, const char *label, const char *identity,
                     const char *text, const char *dir);

/* Read a profile NAME: /etc/hosttune/profiles, the data directory, then the embedded ones. */
static int profile_read(const char *name, char **ret_text, char *ret_label, size_t size) {
        static const char *const dirs[] = { HOSTTUNE_SYSCONFDIR "/profiles",
                                            HOSTTUNE_DATADIR "/profiles" };
        const struct embedded_profile *ep;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char path[POLICY_PATH_MAX];

                if (bufprintf(path, sizeof(path), "%s/%s.ini", dirs[i], name) < 0)
                        continue;
                r = read_regular_file_alloc(path, POLICY_FILE_SIZE_MAX, ret_text, NULL);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                strscpy(ret_label, size, path);
                return 0;
        }
        ep = embedded_profile_find(name);
        if (!ep)
                return -ENOENT;
        /* The label is the profile's identity for include cycles: never cut short. */
        r = bufprintf(ret_label, size, "<builtin:%s>", name);
        if (r < 0)
                return r;
        *ret_text = strdup(ep->text);
        if (!*ret_text)
                return -ENOMEM;
        return 0;
}

/* The directory part of path ("" for a bare name, "/" for a file in /), for relative includes. */
static void dir_of(const char *path, char *buf, size_t size) {
        const char *slash = strrchr(path, '/');
        size_t n = slash ? (size_t) (slash - path) + (slash == path) : 0;

        if (n >= size)
                n = size - 1;
        memcpy(buf, path, n);
        buf[n] = 0;
}

/* The identity of a file for cycle detection: its canonical path. */
static void file_identity(const char *path, char *buf, size_t size) {
        char *rp = realpath(path, NULL);
        strscpy(buf, size, rp ? rp : path);
        free(rp);
}

static int load_include(struct policy_load *l, const struct policy_entry *e, const char *item,
                        const char *dir) {
        struct policy_origin o = { .file = e->file, .line = e->line };
        _cleanup_free_ char *text = NULL;
        char label[POLICY_PATH_MAX], identity[POLICY_PATH_MAX], chain[512], incdir[POLICY_PATH_MAX];
        int r;

        if (policy_is_profile_name(item)) {
                r = profile_read(item, &text, label, sizeof(label));
                if (r == -ENOENT) {
                        policy_load_error(l, o, "include", "no profile named '%s'", item);
                        return r;
                }
                if (r < 0) {
                        policy_load_error(l, o, "include", "cannot read profile '%s': %s", item,
                                          file_strerror(r));
                        return r;
                }
                strscpy(identity, sizeof(identity), label);
                if (label[0] == '/')
                        file_identity(label, identity, sizeof(identity));
        } else {
                if (item[0] != '/' && dir && *dir)
                        r = bufprintf(label, sizeof(label), "%s/%s", dir, item);
                else
                        r = strscpy(label, sizeof(label), item);
                if (r < 0) {
                        policy_load_error(l, o, "include", "path too long: '%s'", item);
                        return -ENAMETOOLONG;
                }
                r = read_regular_file_alloc(label, POLICY_FILE_SIZE_MAX, &text, NULL);
                if (r < 0) {
                        policy_load_error(l, o, "include", "cannot read '%s': %s", label,
                                          file_strerror(r));
                        return r;
                }
                file_identity(label, identity, sizeof(identity));
        }
        /* The main file's identity is resolved only now that an include needs it: realpath
         * costs a readlink per path component, which a `check` without includes never needs. */
        for (unsigned i = 0; i < l->n_stack; i++)
                if (l->stack[i].unresolved) {
                        char canonical[POLICY_PATH_MAX];

                        file_identity(l->stack[i].label, canonical, sizeof(canonical));
                        strscpy(l->stack[i].label, sizeof(l->stack[i].label), canonical);
                        l->stack[i].unresolved = false;
                }
        for (unsigned i = 0; i < l->n_stack; i++)
                if (streq(l->stack[i].label, identity)) {
                        chain[0] = 0;
                        for (unsigned j = i; j < l->n_stack; j++)
                                bufappendf_trunc(chain, sizeof(chain), "%s -> ", l->stack[j].label);
                        policy_load_error(l, o, "include", "include cycle: %s%s", chain, identity);
                        return -ELOOP;
                }
        if (l->n_stack > POLICY_INCLUDE_DEPTH_MAX) {
                policy_load_error(l, o, "include", "includes nested deeper than %d",
                                  POLICY_INCLUDE_DEPTH_MAX);
                return -ELOOP;
        }
        dir_of(label, incdir, sizeof(incdir));
        return load_text(l, label, identity, text, label[0] == '<' ? NULL : incdir);
}

struct include_args {
        struct policy_load *l;
        const struct policy_entry *e;
        const char *dir;
};

static int include_cb(const char *item, void *u) {
        struct include_args *a = u;
        return load_include(a->l, a->e, item, a->dir);
}

/* Apply one file: its includes first (in the order written), then its own keys. identity is
 * the file's canonical path for cycle detection, or NULL for the main file: label, resolved
 * when an include first needs it. */
static int load_text(struct policy_load *l, const char *label, const char *identity,
                     const char *text, const char *dir) {
        struct parse_ctx c = { .l = l };
        int idx, r = 0;

        idx = file_index(l->p, label);
        if (idx < 0) {
                struct policy_origin o = { 0 };
                policy_load_error(l, o, "include", "more than %d policy files", POLICY_FILES_MAX);
                return idx;
        }
        c.file = (unsigned) idx;
        /* identity NULL: the main file, canonicalised when an include first compares. */
        strscpy(l->stack[l->n_stack].label, sizeof(l->stack[0].label), identity ? identity : label);
        l->stack[l->n_stack].unresolved = !identity;
        l->n_stack++;

        r = parse_text(&c, text);
        for (unsigned i = 0; r >= 0 && i < c.n_entries; i++) {
                struct include_args a = { l, &c.entries[i], dir };

                if (a.e->def->key != POLICY_KEY_INCLUDE)
                        continue;
                r = policy_list_walk(a.e->value, include_cb, &a);
                if (r == -ENAMETOOLONG) {
                        struct policy_origin o = { .file = a.e->file, .line = a.e->line };
                        policy_load_error(l, o, "include", "path too long");
                }
        }
        for (unsigned i = 0; r >= 0 && i < c.n_entries; i++) {
                const struct policy_entry *e = &c.entries[i];
                char msg[256];

                if (e->def->main_only && l->n_stack > 1)
                        continue;
                r = policy_key_apply(l, e, msg, sizeof(msg));
                if (r < 0) {
                        struct policy_origin o = { .file = e->file, .line = e->line };
                        policy_load_error(l, o, e->key, "%s", msg);
                }
        }
        entries_free(&c);
        l->n_stack--;
        return r;
}

/* The default name: the main file's name without directory and ".ini". */
static void default_name(struct policy *p) {
        const char *f = p->files[0], *b = strrchr(f, '/');
        const char *builtin = startswith(f, "<builtin:");
        size_t n;

        b = builtin ? builtin : b ? b + 1 : f;
        n = strcspn(b, ">");
        if (n >= 4 && strncmp(b + n - 4, ".ini", 4) == 0)
                n -= 4;
        if (n >= sizeof(p->name))
                n = sizeof(p->name) - 1;
        for (size_t i = 0; i < n; i++)
                p->name[i] = isalnum((unsigned char) b[i]) || strchr("._-", b[i]) ? b[i] : '_';
        p->name[n] = 0;
        if (!p->name[0])
                strscpy(p->name, sizeof(p->name), "policy");
}

/* Load text into ret: through a scratch policy copied to ret only on success, or, in_place,
 * straight into ret (zeroed memory; left partial on error). */
static int load_main(const char *label, const char *identity, const char *text, const char *dir,
                     struct policy *ret, bool in_place, struct policy_error *err) {
        _cleanup_free_ struct policy *scratch_policy = NULL;
        struct policy_error scratch;
        struct policy_load l = { 0 };
        struct policy *p;
        int r;

        if (!err)
                err = &scratch;
        memset(err, 0, sizeof(*err));
        if (in_place) {
                p = ret;
                policy_init_zeroed(p);
        } else {
                scratch_policy = malloc(sizeof(*scratch_policy));
                if (!scratch_policy)
                        return -ENOMEM;
                p = scratch_policy;
                policy_init(p);
        }
        l.p = p;
        l.err = err;
        r = load_text(&l, label, identity, text, dir);
        if (r >= 0)
                r = policy_finalize(&l);
        for (unsigned i = 0; i < _MAIN_POOL_MAX; i++)
                free(l.main_pool[i].value);
        if (r < 0)
                return r;
        if (!p->name[0])
                default_name(p);
        if (!in_place)
                *ret = *p;
        return 0;
}

static void read_error(struct policy_error *err, const char *path, int r) {
        if (!err)
                return;
        memset(err, 0, sizeof(*err));
        strscpy(err->file, sizeof(err->file), path);
        bufprintf_trunc(err->message, sizeof(err->message), "cannot read: %s", file_strerror(r));
}

int policy_load_string(const char *name, const char *text, struct policy *ret,
                       struct policy_error *err) {
        char identity[POLICY_PATH_MAX];
        int r;

        /* The identity tells includes apart (cycles): never cut short. */
        r = bufprintf(identity, sizeof(identity), "<string:%s>", name);
        if (r < 0) {
                read_error(err, name, r);
                return r;
        }
        return load_main(name, identity, text, NULL, ret, false, err);
}

static int load_file(const char *path, struct policy *ret, bool in_place,
                     struct policy_error *err) {
        _cleanup_free_ char *text = NULL;
        char dir[POLICY_PATH_MAX];
        int r;

        r = read_regular_file_alloc(path, POLICY_FILE_SIZE_MAX, &text, NULL);
        if (r < 0) {
                read_error(err, path, r);
                return r;
        }
        dir_of(path, dir, sizeof(dir));
        return load_main(path, NULL, text, dir, ret, in_place, err);
}

int policy_load_file(const char *path, struct policy *ret, struct policy_error *err) {
        return load_file(path, ret, false, err);
}

bool policy_is_profile_name(const char *name) {
        if (isempty(name) || strlen(name) >= POLICY_NAME_MAX)
                return false;
        for (const char *s = name; *s; s++)
                if (!isalnum((unsigned char) *s) && *s != '-' && *s != '_')
                        return false;
        return true;
}

static int load_named(const char *file_or_name, struct policy *ret, bool in_place,
                      struct policy_error *err) {
        char *text = NULL;
        char label[POLICY_PATH_MAX], identity[POLICY_PATH_MAX], dir[POLICY_PATH_MAX];
        int r;

        if (!policy_is_profile_name(file_or_name))
                return load_file(file_or_name, ret, in_place, err);
        r = profile_read(file_or_name, &text, label, sizeof(label));
        if (r < 0) {
                read_error(err, file_or_name, r);
                if (err && r == -ENOENT)
                        bufprintf_trunc(
                                err->message, sizeof(err->message),
                                "no such profile (looked in %s/profiles, %s/profiles and the "
                                "built-in ones)",
                                HOSTTUNE_SYSCONFDIR, HOSTTUNE_DATADIR);
                return r;
        }
        /* A profile from a directory includes relative to that directory; an embedded one
         * has no directory. */
        dir_of(label, dir, sizeof(dir));
        strscpy(identity, sizeof(identity), label);
        if (label[0] == '/')
                file_identity(label, identity, sizeof(identity));
        /* Freed by hand: clang-analyzer loses track of the cleanup attribute across the
         * recursive include walk and reports a leak that is none. */
        r = load_main(label, identity, text, label[0] == '/' ? dir : NULL, ret, in_place, err);
        free(text);
        return r;
}

int policy_load(const char *file_or_name, struct policy *ret, struct policy_error *err) {
        return load_named(file_or_name, ret, false, err);
}

int policy_load_zeroed(const char *file_or_name, struct policy *p, struct policy_error *err) {
        return load_named(file_or_name, p, true, err);
}

static int load_default(struct policy *ret, bool in_place, struct policy_error *err) {
        const struct embedded_profile *ep = embedded_profile_find("default");

        if (!ep) {
                read_error(err, "<builtin:default>", -ENOENT);
                return -ENOENT;
        }
        return load_main("<builtin:default>", "<builtin:default>", ep->text, NULL, ret, in_place,
                         err);
}

int policy_load_default(struct policy *ret, struct policy_error *err) {
        return load_default(ret, false, err);
}

static int load_configured(const char *file_or_name, struct policy *ret, bool in_place,
                           struct policy_error *err) {
        if (file_or_name)
                return load_named(file_or_name, ret, in_place, err);
        if (access(POLICY_DEFAULT_PATH, F_OK) == 0)
                return load_file(POLICY_DEFAULT_PATH, ret, in_place, err);
        return load_default(ret, in_place, err);
}

int policy_load_configured(const char *file_or_name, struct policy *ret, struct policy_error *err) {
        return load_configured(file_or_name, ret, false, err);
}

int policy_load_configured_zeroed(const char *file_or_name, struct policy *p,
                                  struct policy_error *err) {
        return load_configured(file_or_name, p, true, err);
}
