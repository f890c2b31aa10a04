/* SPDX-License-Identifier: MIT */
/* PASS/WARN/FAIL line printing, JSON printing and error messages for the CLI. */
#include "cli/output.h"

#include <stdlib.h>
#include <unistd.h>

#include "lib/util.h"

static bool use_colour;

void output_init(FILE *f) {
        use_colour = isatty(fileno(f)) && !getenv("NO_COLOR");
}

void output_line(FILE *f, enum line_level level, const char *name, const char *reason,
                 const char *remedy) {
        static const char *const words[] = { "PASS", "INFO", "WARN", "FAIL" };
        static const char *const colours[] = { "\033[32m", "\033[2m", "\033[33m", "\033[1;31m" };
        char text[2048];

        /* Reasons quote files (nix.conf, policies) and interface names: no raw control
         * characters for the terminal; the colours are ours. */
        fprintf(f, "%s%-4s%s  %-12s %s\n", use_colour ? colours[level] : "", words[level],
                use_colour ? "\033[0m" : "", name, str_escape_control(reason, text, sizeof(text)));
        if (level != LINE_PASS && !isempty(remedy))
                fprintf(f, "      %-12s remedy: %s\n", "",
                        str_escape_control(remedy, text, sizeof(text)));
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
