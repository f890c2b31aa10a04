/* SPDX-License-Identifier: MIT */
/* Logging to stderr; the journal gets priority prefixes, a terminal gets the program name. */
#include "agent/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "lib/parse.h"
#include "lib/util.h"

static bool log_journal;
static bool log_debug_enabled;

void log_open(void) {
        const char *js = getenv("JOURNAL_STREAM");
        const char *lvl = getenv("SYSTEMD_LOG_LEVEL");
        const char *colon = js ? strchr(js, ':') : NULL;
        char devs[32];
        uint64_t dev, ino;
        struct stat st;

        /* JOURNAL_STREAM is "DEV:INODE" of the journal's socket; it is inherited by children
         * whose stderr may point elsewhere, so compare it with what stderr really is. */
        if (colon && (size_t) (colon - js) < sizeof(devs)) {
                memcpy(devs, js, (size_t) (colon - js));
                devs[colon - js] = 0;
                if (parse_u64(devs, &dev) >= 0 && parse_u64(colon + 1, &ino) >= 0 &&
                    fstat(STDERR_FILENO, &st) == 0)
                        log_journal = st.st_dev == (dev_t) dev && st.st_ino == (ino_t) ino;
        }
        log_debug_enabled = !isempty(getenv("HOSTTUNE_DEBUG")) || (lvl && streq(lvl, "debug"));
}

/* Write one message; errno as the caller wants %m to read it. */
static void log_write(int priority, const char *fmt, va_list ap) _printf_(2, 0);
static void log_write(int priority, const char *fmt, va_list ap) {
        int saved = errno;
        char raw[2048], line[2048];

        if (log_journal)
                fprintf(stderr, "<%d>", priority);
        else
                fputs("hosttuned: ", stderr);
        errno = saved;
        vbufprintf_trunc(raw, sizeof(raw), fmt, ap);
        /* A message quoting a policy or a file must stay one line for the journal and not
         * drive the terminal of whoever reads the log. */
        fputs(str_escape_control(raw, line, sizeof(line)), stderr);
        fputc('\n', stderr);
}

void log_at(int priority, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        if (priority >= LOG_DEBUG && !log_debug_enabled)
                return;
        va_start(ap, fmt);
        log_write(priority, fmt, ap);
        va_end(ap);
        errno = saved;
}

void log_errno_at(int priority, int error, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        if (priority >= LOG_DEBUG && !log_debug_enabled)
                return;
        errno = error < 0 ? -error : error;
        va_start(ap, fmt);
        log_write(priority, fmt, ap);
        va_end(ap);
        errno = saved;
}
