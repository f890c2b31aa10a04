/* SPDX-License-Identifier: MIT */
/* procfs text parsers; bounded copies only, malformed lines skipped and counted. */
#include "procfs.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "parse.h"
#include "util.h"

/* Copy the next field of *p into buf, unescaping the kernel's octal escapes (mangle() in
 * fs/proc_namespace.c escapes space, tab, newline and backslash as \ooo). Fields are separated
 * by spaces or tabs (/proc/swaps pads with both). Returns -EINVAL at end of line,
 * -ENAMETOOLONG when the field does not fit. */
static int next_field(const char **p, char *buf, size_t size, bool unescape) {
        const char *s = *p;
        size_t n = 0, l;

        while (*s == ' ' || *s == '\t')
                s++;
        if (!*s || *s == '\n')
                return -EINVAL;
        l = strcspn(s, " \t\n");
        /* Most fields hold no escape: one bounded copy (mountinfo is parsed by four probes on
         * every `check`; the byte loop below was a third of check's instructions). */
        if (!unescape || !memchr(s, '\\', l)) {
                if (l >= size)
                        return -ENAMETOOLONG;
                memcpy(buf, s, l);
                buf[l] = 0;
                *p = s + l;
                return 0;
        }
        while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
                char c = *s++;
                if (c == '\\' && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' && s[1] <= '7' &&
                    s[2] >= '0' && s[2] <= '7') {
                        c = (char) (((s[0] - '0') << 6) | ((s[1] - '0') << 3) | (s[2] - '0'));
                        s += 3;
                }
                if (n + 1 >= size)
                        return -ENAMETOOLONG;
                buf[n++] = c;
        }
        buf[n] = 0;
        *p = s;
        return 0;
}

/* Parse an unsigned field (decimal). */
static int next_uint(const char **p, unsigned *ret) {
        char buf[24];
        int r = next_field(p, buf, sizeof(buf), false);
        if (r < 0)
                return r;
        return parse_uint(buf, ret);
}

static const char *line_end(const char *s) {
        const char *e = strchr(s, '\n');
        return e ? e : s + strlen(s);
}

/* Outcome of a per-line parser in for_each_line. */
#define LINE_OK 0
#define LINE_MALFORMED 1

/* Call fn for every non-empty line of text, copied NUL-terminated into line (linesize bytes);
 * a longer line counts as malformed without calling fn, and so does a last line without its
 * newline: the kernel ends every line of these files with one, so text that stops mid-line
 * was cut short. fn returns LINE_OK, LINE_MALFORMED or a negative errno that stops the walk.
 * Skips the first line when skip_header is set. */
static int for_each_line(const char *text, char *line, size_t linesize, bool skip_header,
                         int (*fn)(char *line, void *userdata), void *userdata,
                         unsigned *ret_malformed) {
        unsigned bad = 0;

        for (const char *p = text; *p;) {
                const char *end = line_end(p);
                size_t l = (size_t) (end - p);

                if (skip_header)
                        skip_header = false;
                else if (l >= linesize || !*end)
                        bad++;
                else if (l > 0) {
                        int r;
                        memcpy(line, p, l);
                        line[l] = 0;
                        r = fn(line, userdata);
                        if (r < 0)
                                return r;
                        if (r == LINE_MALFORMED)
                                bad++;
                }
                p = *end ? end + 1 : end;
        }
        if (ret_malformed)
                *ret_malformed = bad;
        return 0;
}

static int mountinfo_line(const char *p, struct mount_entry *e) {
        char devbuf[32];
        char *colon;
        int r;

        if ((r = next_uint(&p, &e->mount_id)) < 0 || (r = next_uint(&p, &e->parent_id)) < 0)
                return r;
        if ((r = next_field(&p, devbuf, sizeof(devbuf), false)) < 0)
                return r;
        colon = strchr(devbuf, ':');
        if (!colon)
                return -EINVAL;
        *colon = 0;
        if ((r = parse_uint(devbuf, &e->major)) < 0 || (r = parse_uint(colon + 1, &e->minor)) < 0)
                return r;
        if ((r = next_field(&p, e->root, sizeof(e->root), true)) < 0 ||
            (r = next_field(&p, e->target, sizeof(e->target), true)) < 0 ||
            (r = next_field(&p, e->mount_options, sizeof(e->mount_options), false)) < 0)
                return r;
        /* Optional fields ("shared:1 master:2 ...") end with a lone "-"; skipped, not copied. */
        for (;;) {
                size_t l;

                p += strspn(p, " \t");
                l = strcspn(p, " \t\n");
                if (l == 0)
                        return -EINVAL;
                p += l;
                if (l == 1 && p[-1] == '-')
                        break;
        }
        if ((r = next_field(&p, e->fstype, sizeof(e->fstype), true)) < 0 ||
            (r = next_field(&p, e->source, sizeof(e->source), true)) < 0)
                return r;
        r = next_field(&p, e->super_options, sizeof(e->super_options), true);
        if (r == -EINVAL)
                e->super_options[0] = 0; /* some kernels print no super options */
        else if (r < 0)
                return r;
        return 0;
}

/* The caller's callback and data, passed through for_each_line. */
struct walk {
        union {
                int (*mount)(const struct mount_entry *e, void *userdata);
                int (*buddy)(const struct buddy_zone *z, void *userdata);
                int (*swaps)(const struct swaps_entry *e, void *userdata);
        } cb;
        void *userdata;
        const char *needle; /* mountinfo_parse_matching */
};

static int mountinfo_fn(char *line, void *userdata) {
        const struct walk *w = userdata;
        struct mount_entry e; /* every field is written when the line parses */

        /* A line without the needle is not the caller's: only its shape is checked (every
         * mountinfo line has the " - " separator before the file system type). */
        if (w->needle && !strstr(line, w->needle))
                return strstr(line, " - ") ? LINE_OK : LINE_MALFORMED;
        if (mountinfo_line(line, &e) < 0)
                return LINE_MALFORMED;
        return w->cb.mount(&e, w->userdata);
}

int mountinfo_parse_matching(const char *text, const char *needle,
                             int (*cb)(const struct mount_entry *e, void *userdata), void *userdata,
                             unsigned *ret_malformed) {
        struct walk w = { .cb.mount = cb, .userdata = userdata, .needle = needle };
        char line[4096];

        return for_each_line(text, line, sizeof(line), false, mountinfo_fn, &w, ret_malformed);
}

int mountinfo_parse(const char *text, int (*cb)(const struct mount_entry *e, void *userdata),
                    void *userdata, unsigned *ret_malformed) {
        return mountinfo_parse_matching(text, NULL, cb, userdata, ret_malformed);
}

bool mount_option_find(const char *options, const char *opt, char *ret_value, size_t size) {
        size_t ol = strlen(opt);

        for (const char *p = options; p && *p;) {
                size_t l = strcspn(p, ",");
                if (l >= ol && strncmp(p, opt, ol) == 0 && (l == ol || p[ol] == '=')) {
                        if (ret_value && size > 0) {
                                size_t vl = l > ol ? l - ol - 1 : 0;
                                if (vl >= size)
                                        vl = size - 1;
                                memcpy(ret_value, p + ol + (l > ol ? 1 : 0), vl);
                                ret_value[vl] = 0;
                        }
                        return true;
                }
                p += l;
                if (*p == ',')
                        p++;
        }
        return false;
}

int meminfo_get(const char *text, const char *key, uint64_t *ret) {
        size_t kl = strlen(key);

        for (const char *p = text; *p;) {
                const char *end = line_end(p);
                if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
                        char num[32];
                        const char *v = p + kl + 1;
                        size_t l;

                        if (!*end)
                                return -EINVAL; /* cut short: the value may be incomplete */
                        while (v < end && *v == ' ')
                                v++;
                        l = strspn(v, "0123456789");
                        if (l == 0 || l >= sizeof(num))
                                return -EINVAL;
                        memcpy(num, v, l);
                        num[l] = 0;
                        return parse_u64(num, ret);
                }
                p = *end ? end + 1 : end;
        }
        return -ENOENT;
}

static int buddy_line(const char *p, struct buddy_zone *z) {
        char word[32];
        int r;

        if (next_field(&p, word, sizeof(word), false) < 0 || !streq(word, "Node"))
                return -EINVAL;
        if ((r = next_field(&p, word, sizeof(word), false)) < 0)
                return r;
        /* "0," */
        {
                size_t l = strlen(word);
                if (l < 2 || word[l - 1] != ',')
                        return -EINVAL;
                word[l - 1] = 0;
                if ((r = parse_uint(word, &z->node)) < 0)
                        return r;
        }
        if (next_field(&p, word, sizeof(word), false) < 0 || !streq(word, "zone"))
                return -EINVAL;
        if ((r = next_field(&p, z->zone, sizeof(z->zone), false)) < 0)
                return r;
        z->n_orders = 0;
        for (;;) {
                uint64_t v;
                r = next_field(&p, word, sizeof(word), false);
                if (r == -EINVAL)
                        break;
                if (r < 0)
                        return r;
                if (z->n_orders >= BUDDY_ORDERS_MAX)
                        return -E2BIG;
                if ((r = parse_u64(word, &v)) < 0)
                        return r;
                z->free[z->n_orders++] = v;
        }
        return z->n_orders > 0 ? 0 : -EINVAL;
}

static int buddy_fn(char *line, void *userdata) {
        const struct walk *w = userdata;
        struct buddy_zone z;

        memset(&z, 0, sizeof(z));
        if (buddy_line(line, &z) < 0)
                return LINE_MALFORMED;
        return w->cb.buddy(&z, w->userdata);
}

int buddyinfo_parse(const char *text, int (*cb)(const struct buddy_zone *z, void *userdata),
                    void *userdata, unsigned *ret_malformed) {
        struct walk w = { .cb.buddy = cb, .userdata = userdata };
        char line[1024];

        return for_each_line(text, line, sizeof(line), false, buddy_fn, &w, ret_malformed);
}

void buddy_obtainable_add(struct buddy_obtainable *a, const struct buddy_zone *z, unsigned order,
                          int node) {
        if (node >= 0 && z->node != (unsigned) node)
                return;
        if (order >= z->n_orders) {
                a->too_big = true;
                return;
        }
        /* ZONE_DMA (the first 16 MiB on x86) is kept for devices and protected by lowmem
         * reserves; the hugepage allocator does not get blocks from it in practice. */
        if (streq(z->zone, "DMA"))
                return;
        for (unsigned o = order; o < z->n_orders; o++) {
                uint64_t blocks = z->free[o] << (o - order);
                if (blocks >> (o - order) != z->free[o] ||
                    __builtin_add_overflow(a->sum, blocks, &a->sum)) {
                        a->sum = UINT64_MAX - 1;
                        return;
                }
        }
}

uint64_t buddy_obtainable_result(const struct buddy_obtainable *a) {
        if (a->too_big && a->sum == 0)
                return UINT64_MAX;
        return a->sum;
}

struct obtainable_args {
        unsigned order;
        int node;
        struct buddy_obtainable acc;
};

static int obtainable_cb(const struct buddy_zone *z, void *userdata) {
        struct obtainable_args *a = userdata;

        buddy_obtainable_add(&a->acc, z, a->order, a->node);
        return 0;
}

uint64_t buddyinfo_obtainable(const char *text, unsigned order, int node) {
        struct obtainable_args a = { .order = order, .node = node };

        (void) buddyinfo_parse(text, obtainable_cb, &a, NULL);
        return buddy_obtainable_result(&a.acc);
}

/* The value after "key<tabs/spaces>: " on a cpuinfo line, or NULL. */
static const char *cpuinfo_value(const char *line, const char *key) {
        const char *p = startswith(line, key);
        if (!p)
                return NULL;
        p += strspn(p, " \t");
        if (*p != ':')
                return NULL;
        p++;
        return p + strspn(p, " \t");
}

static void copy_until_eol(char *dst, size_t size, const char *src) {
        size_t l = strcspn(src, "\n");
        if (l >= size)
                l = size - 1;
        memcpy(dst, src, l);
        dst[l] = 0;
}

/* Is word among the space-separated words in [s, end)? */
static bool flag_in(const char *s, const char *end, const char *word) {
        size_t wl = strlen(word);
        while (s < end) {
                size_t l;
                s += strspn(s, " \t");
                l = strcspn(s, " \t\n");
                if (s + l > end)
                        l = (size_t) (end - s);
                if (l == wl && memcmp(s, word, wl) == 0)
                        return true;
                if (l == 0)
                        break;
                s += l;
        }
        return false;
}

int cpuinfo_parse_first(const char *text, struct cpuinfo_first *ret) {
        struct cpuinfo_first c = { 0 };
        bool seen_processor = false;

        for (const char *p = text; *p;) {
                const char *end = line_end(p);
                const char *v;

                if (p == end) { /* blank line: end of the first processor block */
                        if (seen_processor)
                                break;
                } else if (startswith(p, "processor"))
                        seen_processor = true;
                else if ((v = cpuinfo_value(p, "vendor_id")))
                        copy_until_eol(c.vendor, sizeof(c.vendor), v);
                else if ((v = cpuinfo_value(p, "model name")))
                        copy_until_eol(c.model_name, sizeof(c.model_name), v);
                else if ((v = cpuinfo_value(p, "flags")) || (v = cpuinfo_value(p, "Features"))) {
                        c.have_flags = true;
                        c.vmx = flag_in(v, end, "vmx");
                        c.svm = flag_in(v, end, "svm");
                        c.hypervisor = flag_in(v, end, "hypervisor");
                }
                p = *end ? end + 1 : end;
        }
        /* Every x86 and arm64 CPU block has a flags (Features) line; text without one was cut
         * short or is not cpuinfo. */
        if (!c.have_flags)
                return -EINVAL;
        *ret = c;
        return 0;
}

/* "Filename Type Size Used Priority"; the file name is escaped like mountinfo paths. */
static int swaps_fn(char *line, void *userdata) {
        const struct walk *w = userdata;
        struct swaps_entry e = { 0 };
        const char *q = line;
        char num[32];
        int64_t prio;

        if (next_field(&q, e.path, sizeof(e.path), true) < 0 ||
            next_field(&q, e.type, sizeof(e.type), false) < 0 ||
            next_field(&q, num, sizeof(num), false) < 0 || parse_u64(num, &e.size_kib) < 0 ||
            next_field(&q, num, sizeof(num), false) < 0 || parse_u64(num, &e.used_kib) < 0 ||
            next_field(&q, num, sizeof(num), false) < 0 || parse_i64(num, &prio) < 0 ||
            prio < -65536 || prio > 65535)
                return LINE_MALFORMED;
        e.priority = (int) prio;
        return w->cb.swaps(&e, w->userdata);
}

int swaps_parse(const char *text, int (*cb)(const struct swaps_entry *e, void *userdata),
                void *userdata, unsigned *ret_malformed) {
        struct walk w = { .cb.swaps = cb, .userdata = userdata };
        char line[1024];

        return for_each_line(text, line, sizeof(line), true, swaps_fn, &w, ret_malformed);
}
