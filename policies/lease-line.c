/* SPDX-License-Identifier: MIT */
/* The lease socket's request and reply lines (policies/lease-line.h): parsing and formatting
 * without the agent's state, so the fuzz-like unit tests and the static client share it. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/parse.h"
#include "lib/util.h"
#include "policies/lease-line.h"

static const char *const key_names[_LEASE_LINE_KEY_MAX] = {
        [LEASE_LINE_HUGEPAGES] = "hugepages", [LEASE_LINE_HUGEPAGE_SIZE] = "hugepage-size",
        [LEASE_LINE_WAIT] = "wait",           [LEASE_LINE_LABEL] = "label",
        [LEASE_LINE_ENFORCE] = "enforce",
};

bool lease_line_label_valid(const char *label) {
        size_t n = strlen(label);

        if (n > LEASE_LABEL_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = label[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr("._-:/@+,=", c)))
                        return false;
        }
        return true;
}

static int fail(char *msg, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vbufprintf_trunc(msg, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

/* One key=value word into r. */
static int parse_word(const char *word, size_t len, struct lease_line_request *r, char *msg,
                      size_t size) {
        char key[32], value[LEASE_LABEL_MAX + 1];
        const char *eq = memchr(word, '=', len);
        size_t klen = eq ? (size_t) (eq - word) : 0, vlen = eq ? len - klen - 1 : 0;
        int k = -1;
        uint64_t u;

        if (!eq || klen == 0 || klen >= sizeof(key))
                return fail(msg, size, "'%.*s' is not key=value", (int) (len > 40 ? 40 : len),
                            word);
        memcpy(key, word, klen);
        key[klen] = 0;
        if (vlen >= sizeof(value))
                return fail(msg, size, "'%s': the value is longer than %d bytes", key,
                            LEASE_LABEL_MAX);
        memcpy(value, eq + 1, vlen);
        value[vlen] = 0;
        for (int i = 0; i < _LEASE_LINE_KEY_MAX; i++)
                if (streq(key, key_names[i]))
                        k = i;
        if (k < 0) {
                if (streq(key, "snapshot") || streq(key, "persist"))
                        return fail(msg, size,
                                    "'%s' is not offered over %s (a snapshot directory outside "
                                    "the build sandbox is not visible in it; a lease ends with "
                                    "its connection)",
                                    key, LEASE_SOCK_NAME);
                if (streq(key, "taps"))
                        return fail(msg, size,
                                    "'taps' is not offered over %s (a tap in the host's network "
                                    "namespace is of no use in a build's own)",
                                    LEASE_SOCK_NAME);
                return fail(msg, size,
                            "unknown key '%.31s' (hugepages, hugepage-size, wait, "
                            "label, enforce)",
                            key);
        }
        if (r->seen & (1U << k))
                return fail(msg, size, "'%s' given twice", key);
        r->seen |= 1U << k;
        switch (k) {
        case LEASE_LINE_HUGEPAGES:
        case LEASE_LINE_HUGEPAGE_SIZE:
                if (parse_size(value, 0, &u) < 0)
                        return fail(msg, size, "'%s': '%.40s' is not a size (bytes, or 64M, 2G)",
                                    key, value);
                *(k == LEASE_LINE_HUGEPAGES ? &r->hugepages : &r->hugepage_size) = u;
                return 0;
        case LEASE_LINE_WAIT:
                if (parse_u64(value, &u) < 0 || u > LEASE_WAIT_MAX_SEC)
                        return fail(msg, size, "'wait': '%.40s' is not 0 .. %d seconds", value,
                                    LEASE_WAIT_MAX_SEC);
                r->wait = (uint32_t) u;
                return 0;
        case LEASE_LINE_LABEL:
                if (!lease_line_label_valid(value))
                        return fail(msg, size,
                                    "'label': at most %d letters, digits and '._-:/@+,='",
                                    LEASE_LABEL_MAX);
                strscpy(r->label, sizeof(r->label), value);
                return 0;
        case LEASE_LINE_ENFORCE:
                if (parse_bool(value, &r->enforce) < 0)
                        return fail(msg, size, "'enforce': '%.40s' is not yes or no", value);
                return 0;
        }
        return 0;
}

int lease_line_parse(const char *line, struct lease_line_request *ret, char *msg, size_t size) {
        struct lease_line_request r = { 0 };
        const char *p = startswith(line, "acquire");
        int k;

        if (!p || (*p != ' ' && *p != 0))
                return fail(msg, size, "a request starts with 'acquire'");
        while (*p) {
                size_t n;
                if (*p != ' ')
                        return fail(msg, size, "words are separated by one space");
                p++;
                n = strcspn(p, " ");
                if (n == 0)
                        return fail(msg, size, "words are separated by one space");
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) p[i] < 0x21 || (unsigned char) p[i] > 0x7e)
                                return fail(msg, size, "a request is printable ASCII");
                k = parse_word(p, n, &r, msg, size);
                if (k < 0)
                        return k;
                p += n;
        }
        *ret = r;
        return 0;
}

int lease_line_format(const struct lease_line_request *req, char *buf, size_t size) {
        size_t n;
        int r;

        if ((req->seen & (1U << LEASE_LINE_LABEL)) && !lease_line_label_valid(req->label))
                return -EINVAL;
        r = bufprintf(buf, size, "acquire");
        for (int i = 0; r >= 0 && i < _LEASE_LINE_KEY_MAX; i++) {
                if (!(req->seen & (1U << i)))
                        continue;
                switch (i) {
                case LEASE_LINE_HUGEPAGES:
                case LEASE_LINE_HUGEPAGE_SIZE:
                        r = bufappendf(buf, size, " %s=%" PRIu64, key_names[i],
                                       i == LEASE_LINE_HUGEPAGES ? req->hugepages
                                                                 : req->hugepage_size);
                        break;
                case LEASE_LINE_WAIT:
                        r = bufappendf(buf, size, " wait=%" PRIu32, req->wait);
                        break;
                case LEASE_LINE_LABEL:
                        r = bufappendf(buf, size, " label=%s", req->label);
                        break;
                case LEASE_LINE_ENFORCE:
                        r = bufappendf(buf, size, " enforce=%s", req->enforce ? "yes" : "no");
                        break;
                }
        }
        if (r < 0)
                return -ENOBUFS;
        n = strlen(buf);
        if (n + 2 > size || n + 1 > LEASE_LINE_MAX)
                return -ENOBUFS;
        buf[n] = '\n';
        buf[n + 1] = 0;
        return 0;
}

int lease_line_parse_reply(const char *line, struct lease_line_reply *ret) {
        struct lease_line_reply r = { 0 };
        const char *p;
        size_t n;

        if ((p = startswith(line, "granted "))) {
                n = strcspn(p, " ");
                if (n != LEASE_ID_LEN)
                        return -EBADMSG;
                memcpy(r.id, p, n);
                r.id[n] = 0;
                if (!lease_id_valid(r.id))
                        return -EBADMSG;
                r.granted = true;
                p += n;
                strscpy(r.message, sizeof(r.message), *p == ' ' ? p + 1 : p);
        } else if ((p = startswith(line, "refused "))) {
                n = strcspn(p, " ");
                if (n == 0 || n >= sizeof(r.reason))
                        return -EBADMSG;
                memcpy(r.reason, p, n);
                r.reason[n] = 0;
                p += n;
                strscpy(r.message, sizeof(r.message), *p == ' ' ? p + 1 : p);
        } else
                return -EBADMSG;
        *ret = r;
        return 0;
}

int lease_line_reply_value(const struct lease_line_reply *r, const char *key, char *buf,
                           size_t size) {
        size_t klen = strlen(key);

        for (const char *p = r->message; *p;) {
                size_t n = strcspn(p, " ");
                if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
                        if (n - klen - 1 >= size)
                                return -ENOBUFS;
                        memcpy(buf, p + klen + 1, n - klen - 1);
                        buf[n - klen - 1] = 0;
                        return 0;
                }
                p += n;
                while (*p == ' ')
                        p++;
        }
        return -ENOENT;
}
