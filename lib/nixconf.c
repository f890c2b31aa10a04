/* nix.conf tokenizer following Nix's own rules: whitespace-separated tokens, '#' starts a
 * comment, the second token of a setting must be "=". */
#include "nixconf.h"

#include <errno.h>
#include <string.h>

#include "util.h"

#define LINE_MAX_LEN 8192

/* Copy the whitespace-separated tokens of s into out joined by single spaces. Returns the
 * number of tokens, or -ENAMETOOLONG. */
static int join_tokens(const char *s, char *out, size_t size) {
        size_t o = 0;
        int n = 0;

        out[0] = 0;
        for (const char *p = s;;) {
                size_t l;
                p += strspn(p, " \t\r");
                if (!*p)
                        return n;
                l = strcspn(p, " \t\r");
                if (o + l + 2 > size)
                        return -ENAMETOOLONG;
                if (o)
                        out[o++] = ' ';
                memcpy(out + o, p, l);
                o += l;
                out[o] = 0;
                p += l;
                n++;
        }
}

static int parse_line(char *line, unsigned lineno,
                      int (*cb)(enum nixconf_kind, const char *, const char *, unsigned, void *),
                      void *userdata, unsigned *bad) {
        char key[256], value[LINE_MAX_LEN], *p, *eq;
        int n;

        p = strchr(line, '#');
        if (p)
                *p = 0;
        eq = strchr(line, '=');
        if (eq)
                *eq = 0;
        n = join_tokens(line, key, sizeof(key));
        if (n < 0) {
                (*bad)++;
                return 0;
        }
        if (!eq) {
                /* Only an include (two tokens) or an empty line is valid without "=". */
                char *sp = strchr(key, ' ');
                if (n == 0)
                        return 0;
                if (n != 2 || !sp) {
                        (*bad)++;
                        return 0;
                }
                *sp = 0;
                if (streq(key, "include"))
                        return cb(NIXCONF_INCLUDE, NULL, sp + 1, lineno, userdata);
                if (streq(key, "!include"))
                        return cb(NIXCONF_INCLUDE_OPTIONAL, NULL, sp + 1, lineno, userdata);
                (*bad)++;
                return 0;
        }
        if (n != 1) { /* the name is exactly one token */
                (*bad)++;
                return 0;
        }
        if (join_tokens(eq + 1, value, sizeof(value)) < 0) {
                (*bad)++;
                return 0;
        }
        return cb(NIXCONF_SETTING, key, value, lineno, userdata);
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

                lineno++;
                if (l >= sizeof(line))
                        bad++;
                else {
                        int r;
                        memcpy(line, p, l);
                        line[l] = 0;
                        r = parse_line(line, lineno, cb, userdata, &bad);
                        if (r < 0)
                                return r;
                }
                p += l;
                if (*p == '\n')
                        p++;
        }
        if (ret_malformed)
                *ret_malformed = bad;
        return 0;
}
