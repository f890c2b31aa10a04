/* nix.conf tokenizer following Nix's own rules (applyConfigInner in libutil/config.cc):
 * whitespace-separated tokens, '#' starts a comment, the second token of a setting is "=". */
#include "nixconf.h"

#include <errno.h>
#include <string.h>

#include "util.h"

#define LINE_MAX_LEN 8192
#define TOKENS_MAX 1024
#define SEPARATORS " \t\r"

/* Split line in place into tokens; returns their number or -E2BIG. */
static int tokenize(char *line, char **tokens, int max) {
        int n = 0;

        for (char *p = line;;) {
                p += strspn(p, SEPARATORS);
                if (!*p)
                        return n;
                if (n >= max)
                        return -E2BIG;
                tokens[n++] = p;
                p += strcspn(p, SEPARATORS);
                if (*p)
                        *p++ = 0;
        }
}

/* Join tokens with single spaces into out (which may not overlap them). */
static void join(char **tokens, int n, char *out, size_t size) {
        size_t o = 0;

        out[0] = 0;
        for (int i = 0; i < n; i++) {
                size_t l = strlen(tokens[i]);
                if (o + l + 2 > size)
                        return; /* cannot happen: out is as large as the line */
                if (i)
                        out[o++] = ' ';
                memcpy(out + o, tokens[i], l + 1);
                o += l;
        }
}

static int parse_line(char *line, unsigned lineno,
                      int (*cb)(enum nixconf_kind, const char *, const char *, unsigned, void *),
                      void *userdata, unsigned *bad) {
        char copy[LINE_MAX_LEN], value[LINE_MAX_LEN], *tokens[TOKENS_MAX], *hash;
        int n;

        hash = strchr(line, '#');
        if (hash)
                *hash = 0;
        strscpy(copy, sizeof(copy), line);
        n = tokenize(line, tokens, TOKENS_MAX);
        if (n == 0)
                return 0;
        if (n < 2) /* also -E2BIG */
                goto malformed;
        if (streq(tokens[0], "include") || streq(tokens[0], "!include")) {
                if (n != 2)
                        goto malformed;
                return cb(streq(tokens[0], "include") ? NIXCONF_INCLUDE : NIXCONF_INCLUDE_OPTIONAL,
                          NULL, tokens[1], lineno, userdata);
        }
        if (!streq(tokens[1], "="))
                goto malformed;
        join(tokens + 2, n - 2, value, sizeof(value));
        return cb(NIXCONF_SETTING, tokens[0], value, lineno, userdata);
malformed:
        (*bad)++;
        return cb(NIXCONF_MALFORMED, NULL, copy, lineno, userdata);
}

int nixconf_parse(const char *text,
                  int (*cb)(enum nixconf_kind kind, const char *key, const char *value,
                            unsigned line, void *userdata),
                  void *userdata, unsigned *ret_malformed) {
        unsigned bad = 0, lineno = 0;

        for (const char *p = text; *p;) {
                const char *end = strchr(p, '\n');
                size_t l = end ? (size_t) (end - p) : strlen(p);
                char line[LINE_MAX_LEN];
                int r;

                lineno++;
                if (l >= sizeof(line)) {
                        bad++;
                        r = cb(NIXCONF_MALFORMED, NULL, "(line too long)", lineno, userdata);
                } else {
                        memcpy(line, p, l);
                        line[l] = 0;
                        r = parse_line(line, lineno, cb, userdata, &bad);
                }
                if (r < 0)
                        return r;
                p += l;
                if (*p == '\n')
                        p++;
        }
        if (ret_malformed)
                *ret_malformed = bad;
        return 0;
}
