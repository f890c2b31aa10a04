/* SPDX-License-Identifier: MIT */
/* Human output helpers for the CLI: PASS/WARN/FAIL lines (colour only on a tty), JSON, errors. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include <json-c/json.h>

enum line_level {
        LINE_PASS,
        LINE_INFO,
        LINE_WARN,
        LINE_FAIL,
};

/* Decide once whether f gets colour: a tty, and NO_COLOR unset (https://no-color.org). */
void output_init(FILE *f);

/* "PASS  name          reason" and, when remedy is non-empty and the level is not PASS,
 * an indented "remedy: ..." line. */
void output_line(FILE *f, enum line_level level, const char *name, const char *reason,
                 const char *remedy);

/* Print a JSON document followed by a newline; pretty when f is a tty. Returns 0 or -EIO. */
int output_json(FILE *f, json_object *o);

/* Print an error message and a newline on stderr with errno set to the negative errno error (so
 * %m names it). */
void cli_error_print(int error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_error_print, and evaluate to error: `return cli_error_errno(r, "hosttune: cannot open %s:
 * %m", path);`. error is a negative errno (a positive one is negated, 0 is taken as -EIO). A
 * macro, so that static analysers see the value a caller returns. */
#define cli_error_errno(error, ...)                                                                \
        ({                                                                                         \
                int _e_ = (error);                                                                 \
                _e_ = _e_ > 0 ? -_e_ : _e_ < 0 ? _e_ : -EIO;                                       \
                cli_error_print(_e_, __VA_ARGS__);                                                 \
                _e_;                                                                               \
        })
