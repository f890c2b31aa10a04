/* SPDX-License-Identifier: MIT */
/* The agent's logging: stderr, with sd-daemon priority prefixes when stderr is the journal. */
#pragma once

#include <syslog.h>

/* Decide once whether stderr is connected to the journal (JOURNAL_STREAM matches it) and
 * whether debug messages are wanted ($HOSTTUNE_DEBUG or $SYSTEMD_LOG_LEVEL=debug). */
void log_open(void);

/* Log one message at a syslog priority. Keeps errno (so %m works and callers can rely on it). */
void log_at(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_at(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_at(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_at(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
