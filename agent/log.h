/* SPDX-License-Identifier: MIT */
/* The agent's logging: stderr, with sd-daemon priority prefixes when stderr is the journal. */
#pragma once

#include <errno.h>
#include <syslog.h>

/* Decide once whether stderr is connected to the journal (JOURNAL_STREAM matches it) and
 * whether debug messages are wanted ($HOSTTUNE_DEBUG or $SYSTEMD_LOG_LEVEL=debug). */
void log_open(void);

/* Log one message at a syslog priority. Keeps errno (so %m works and callers can rely on it). */
void log_at(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log at a syslog priority with errno set to the negative errno error (so %m names it). */
void log_errno_at(int priority, int error, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* log_errno_at, and evaluate to error: the systemd idiom for a failure logged where it is
 * handled, `return log_error_errno(r, "cannot open %s: %m", path);`. error is a negative errno
 * (a positive one is negated, 0 is taken as -EIO). A macro, so that static analysers see the
 * value a caller returns. */
#define log_full_errno(priority, error, ...)                                                       \
        ({                                                                                         \
                int _e_ = (error);                                                                 \
                _e_ = _e_ > 0 ? -_e_ : _e_ < 0 ? _e_ : -EIO;                                       \
                log_errno_at(priority, _e_, __VA_ARGS__);                                          \
                _e_;                                                                               \
        })

#define log_error(...) log_at(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_at(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
