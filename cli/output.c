/* SPDX-License-Identifier: MIT */
/* PASS/WARN/FAIL line printing, JSON printing and error messages for the CLI. */
#include "cli/output.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

static bool use_colour;

void output_init(FILE *f) {
        use_colour = isatty(fileno(f)) && !getenv("NO_COLOR");
}

/* s as str_escape_control would give it: s itself when it has no control character and fits
 * (the usual case: no copy). */
static const char *escaped(const char *s, char *buf, size_t size) {
        size_t n = 0;

        for (; s[n]; n++)
                if ((unsigned char) s[n] < 0x20 || s[n] == 0x7f)
                        return str_escape_control(s, buf, size);
        return n < size ? s : str_escape_control(s, buf, size);
}

/* s left-aligned in a field of width columns (printf's %-*s), without printf's format parsing:
 * check prints a dozen of these lines and would spend more on formatting than on probing. */
static void put_padded(FILE *f, const char *s, size_t width) {
        size_t n = strlen(s);

        fwrite_unlocked(s, 1, n, f);
        for (; n < width; n++)
                putc_unlocked(' ', f);
}

void output_line(FILE *f, enum line_level level, const char *name, const char *reason,
                 const char *remedy) {
        static const char *const words[] = { "PASS", "INFO", "WARN", "FAIL" };
        static const char *const colours[] = { "\033[32m", "\033[2m", "\033[33m", "\033[1;31m" };
        char text[2048];

        /* Reasons quote files (nix.conf, policies) and interface names: no raw control
         * characters for the terminal; the colours are ours. The line is
         * "%s%-4s%s  %-12s %s\n" (colour, word, reset, name, reason). */
        if (use_colour)
                fputs_unlocked(colours[level], f);
        put_padded(f, words[level], 4);
        if (use_colour)
                fputs_unlocked("\033[0m", f);
        fputs_unlocked("  ", f);
        put_padded(f, name, 12);
        putc_unlocked(' ', f);
        fputs_unlocked(escaped(reason, text, sizeof(text)), f);
        putc_unlocked('\n', f);
        if (level != LINE_PASS && !isempty(remedy)) {
                /* "      %-12s remedy: %s\n" with an empty name. */
                fputs_unlocked("                   remedy: ", f);
                fputs_unlocked(escaped(remedy, text, sizeof(text)), f);
                putc_unlocked('\n', f);
        }
}

int output_json(FILE *f, json_object *o) {
        int flags = isatty(fileno(f)) ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                      : JSON_C_TO_STRING_PLAIN;
        const char *s = json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE);

        if (!s)
                return -ENOMEM;
        if (fputs(s, f) < 0 || fputc('\n', f) < 0)
                return -EIO;
        return 0;
}

void cli_error_print(int error, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        errno = saved;
}
