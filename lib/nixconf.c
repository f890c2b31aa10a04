/* SPDX-License-Identifier: MIT */
/* nix.conf tokenizer following Nix's own rules (applyConfigInner in libutil/config.cc):
 * whitespace-separated tokens, '#' starts a comment, the second token of a setting is "=". */
#include "nixconf.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "util.h"

#define LINE_MAX_LEN 8192
#define SEPARATORS " \t\r"

/* The next token of *p: its start and length, *p moved past it; 0 at the end of the line. */
static size_t next_token(char **p, char **ret_start) {
        size_t l;

        *p += strspn(*p, SEPARATORS);
        l = strcspn(*p, SEPARATORS);
        *ret_start = *p;
        *p += l;
        return l;
}

/* Parse one line in place (no copies: `hosttune check` reads nix.conf on every run, and every
 * stack page it touches costs a page fault). */
static int parse_line(char *line, unsigned lineno,
                      int (*cb)(enum nixconf_kind, const char *, const char *, unsigned, void *),
                      void *userdata, unsigned *bad) {
        char *p, *name, *second, *tok, *out, *hash;
        size_t nl, sl, l;
        bool include;

        hash = strchr(line, '#');
        if (hash)
                *hash = 0;
        p = line;
        nl = next_token(&p, &name);
        if (nl == 0)
                return 0;
        sl = next_token(&p, &second);
        if (sl == 0)
                goto malformed; /* a lone word */
        include = (nl == 7 && strncmp(name, "include", 7) == 0) ||
                  (nl == 8 && strncmp(name, "!include", 8) == 0);
        if (include) {
                if (next_token(&p, &tok) > 0)
                        goto malformed; /* more than one path */
                second[sl] = 0;
                return cb(name[0] == '!' ? NIXCONF_INCLUDE_OPTIONAL : NIXCONF_INCLUDE, NULL, second,
                          lineno, userdata);
        }
        if (sl != 1 || second[0] != '=')
                goto malformed;
        /* The value: the remaining tokens joined by single spaces, compacted leftwards over the
         * "=" (the write position never passes the read position). */
        out = second;
        while ((l = next_token(&p, &tok)) > 0) {
                if (out != second)
                        *out++ = ' ';
                memmove(out, tok, l);
                out += l;
        }
        *out = 0;
        name[nl] = 0;
        return cb(NIXCONF_SETTING, name, second, lineno, userdata);
malformed:
        (*bad)++;
        return cb(NIXCONF_MALFORMED, NULL, line, lineno, userdata);
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
