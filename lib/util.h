/* SPDX-License-Identifier: MIT */
/* Small shared helpers: cleanup attributes, pointer stealing, string and array helpers. */
#pragma once

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _pure_ __attribute__((pure))
#define _cleanup_(f) __attribute__((cleanup(f)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _noreturn_ __attribute__((noreturn))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

/* Take ownership of a pointer: returns it and leaves NULL behind, so the cleanup attribute
 * of the source variable does nothing. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _p_ = (p);                                                           \
                (p) = NULL;                                                                        \
                _p_;                                                                               \
        })

/* Same for file descriptors: returns the fd and leaves -1 behind. */
#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _fd_ = (fd);                                                                   \
                (fd) = -1;                                                                         \
                _fd_;                                                                              \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Close an fd if it is valid; keeps errno intact so callers can report the earlier error. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Define a cleanup helper "name##p" for a type whose destructor takes a pointer and accepts NULL.
 */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
        static inline void func##p(type *p) {                                                      \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

/* String tables for enums, in the manner of systemd's DEFINE_STRING_TABLE_LOOKUP: a table
 * `static const char *const name##_table[]` indexed by the enum, and
 *   DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, fallback)
 *     const char *name##_to_string(type v): the table's entry, or fallback for a value outside
 *     the table (or a hole in it);
 *   DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type)
 *     int name##_from_string(const char *s, type *ret): 0 and *ret, or -EINVAL for an unknown s;
 *   DEFINE_STRING_TABLE_LOOKUP(name, type, fallback): both.
 * The DEFINE_PRIVATE_ forms make the functions static (a table only the file uses). */
#define _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, fallback, scope)                         \
        scope const char *name##_to_string(type v) {                                               \
                size_t i = (size_t) v;                                                             \
                                                                                                   \
                if (i >= ELEMENTSOF(name##_table))                                                 \
                        return fallback;                                                           \
                return name##_table[i] ? name##_table[i] : fallback;                               \
        }
#define _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type, scope)                                 \
        scope int name##_from_string(const char *s, type *ret) {                                   \
                for (size_t i = 0; s && i < ELEMENTSOF(name##_table); i++)                         \
                        if (name##_table[i] && streq(name##_table[i], s)) {                        \
                                *ret = (type) i;                                                   \
                                return 0;                                                          \
                        }                                                                          \
                return -EINVAL;                                                                    \
        }
#define DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, fallback)                                 \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, fallback, )
#define DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type)                                         \
        _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type, )
#define DEFINE_STRING_TABLE_LOOKUP(name, type, fallback)                                           \
        DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, fallback)                                 \
        DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type)
#define DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING(name, type, fallback)                         \
        _DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type, fallback, static)
#define DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(name, type)                                 \
        _DEFINE_STRING_TABLE_LOOKUP_FROM_STRING(name, type, static)

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

/* Returns the rest of s after prefix, or NULL when s does not start with prefix. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

/* Order names with numeric suffixes naturally: shorter first, then bytewise ("zram2" before
 * "zram10"). */
static inline int name_cmp(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}

/* Negative errno of the last failed libc call, never 0 (a call that failed without setting
 * errno is reported as EIO rather than as success). */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

/* Copy src into a fixed buffer, always terminated; returns -ENAMETOOLONG when truncated. */
int strscpy(char *dst, size_t size, const char *src);

/* Formatting into fixed buffers: instead of a raw snprintf whose result nobody reads, every
 * call says which of three cases it is.
 *
 * bufprintf: the text is a path, a key, an identifier or a protocol line, where a cut-short
 * result would name something else. Returns 0, or -ENAMETOOLONG when it did not fit (dst then
 * holds a truncated string the caller must not use). */
int bufprintf(char *dst, size_t size, const char *fmt, ...) _printf_(3, 4) _warn_unused_result_;

/* bufprintf appending at the end of the string already in dst (which must be terminated). */
int bufappendf(char *dst, size_t size, const char *fmt, ...) _printf_(3, 4) _warn_unused_result_;

/* bufprintf_trunc: human-readable text (a reason, a remedy, a message, a description) whose
 * bounded buffer cuts a long text short on purpose. Always terminated; returns dst. */
char *bufprintf_trunc(char *dst, size_t size, const char *fmt, ...) _printf_(3, 4);

/* bufprintf_trunc appending at the end of the string already in dst. Returns dst. */
char *bufappendf_trunc(char *dst, size_t size, const char *fmt, ...) _printf_(3, 4);

/* The va_list forms of bufprintf and bufprintf_trunc, for functions that take a format. */
int vbufprintf(char *dst, size_t size, const char *fmt, va_list ap)
        _printf_(3, 0) _warn_unused_result_;
char *vbufprintf_trunc(char *dst, size_t size, const char *fmt, va_list ap) _printf_(3, 0);

/* xsprintf: a buffer sized by construction to hold every value the format can produce (a number
 * in DECIMAL_STR_MAX bytes, "/proc/self/fd/%d", a mode): not fitting is a programming error, and
 * aborts like a failed assert. buf must be an array, not a pointer (checked at compile time). */
#define xsprintf(buf, fmt, ...)                                                                    \
        do {                                                                                       \
                _Static_assert(                                                                    \
                        !__builtin_types_compatible_p(__typeof__(buf), __typeof__(&(buf)[0])),     \
                        "xsprintf needs an array");                                                \
                int _n_ = snprintf((buf), sizeof(buf), fmt, ##__VA_ARGS__);                        \
                if (_unlikely_(_n_ < 0 || (size_t) _n_ >= sizeof(buf)))                            \
                        xsprintf_overflow(__FILE__, __LINE__);                                     \
        } while (0)

/* Called by xsprintf when its buffer was too small: reports file and line on stderr, aborts. */
_noreturn_ void xsprintf_overflow(const char *file, int line);

/* Bytes enough for the decimal text of any value of an integer type, with sign and NUL. */
#define DECIMAL_STR_MAX(type)                                                                      \
        (2 + (sizeof(type) <= 1 ? 3 : sizeof(type) <= 2 ? 5 : sizeof(type) <= 4 ? 10 : 20))

/* Copy s into buf with every control character (below 0x20, and DEL) written as \xNN, so text
 * quoted back from a policy or a file cannot move a terminal's cursor, ring its bell or start a
 * forged log line. Truncated to fit (never in the middle of an escape); returns buf. */
char *str_escape_control(const char *s, char *buf, size_t size);

/* Strip trailing whitespace (including the newline sysfs files end with) in place. */
char *strstrip_trailing(char *s);

/* Does the space-separated word list contain word? (sysfs lists such as "[lzo-rle] lz4 zstd"
 * are matched with the brackets removed when brackets is true.) */
bool word_list_contains(const char *list, const char *word, bool brackets);

/* The bracketed, selected word of a sysfs choice list such as "always [madvise] never",
 * copied into buf. Returns -ENOENT when nothing is bracketed. */
int word_list_selected(const char *list, char *buf, size_t size);

/* Fault in the pages of [p, p + size) for writing with one madvise(MADV_POPULATE_WRITE)
 * (Linux 5.14+) instead of one page fault per page on first touch. On virtual machines where a
 * page fault exits to the host (10-20 us each) this is several times cheaper for storage that
 * is about to be written. Best effort: returns 0 or a negative errno, which callers ignore
 * (older kernels answer -EINVAL). */
int prefault_write(void *p, size_t size);

/* prefault_write for the size bytes of stack below the caller's frame, which the calls it is
 * about to make will use: the stack grows one page fault per fresh page otherwise. Best effort
 * like prefault_write (-ENOMEM when the stack mapping does not yet reach that far down). */
int prefault_stack(size_t size);

/* prefault_write for the next size bytes of the heap that malloc will hand out: a block of
 * that size is allocated, faulted in and freed again (it merges back into the top of the heap,
 * where the next small allocations are carved from). Best effort, like prefault_write. */
int prefault_heap(size_t size);
