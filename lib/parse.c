/* SPDX-License-Identifier: MIT */
/* Strict number, size, duration, boolean and mode parsers used by probes and policies. */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/util.h"

/* Trailing whitespace only: the kernel terminates sysfs values with a newline. */
static bool only_space(const char *p) {
        while (*p)
                if (!isspace((unsigned char) *p++))
                        return false;
        return true;
}

/* Parse the leading digits of s; returns the rest through ret_end. */
static int parse_digits(const char *s, uint64_t *ret, const char **ret_end) {
        uint64_t v = 0;
        const char *p = s;

        if (!isdigit((unsigned char) *p))
                return -EINVAL;
        for (; isdigit((unsigned char) *p); p++) {
                unsigned d = (unsigned) (*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        *ret_end = p;
        return 0;
}

int parse_u64(const char *s, uint64_t *ret) {
        const char *end;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &v, &end);
        if (r < 0)
                return r;
        if (!only_space(end))
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_i64(const char *s, int64_t *ret) {
        bool neg = false;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (*s == '-') {
                neg = true;
                s++;
        }
        r = parse_u64(s, &v);
        if (r < 0)
                return r;
        if (neg) {
                if (v > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                *ret = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
        } else {
                if (v > INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t) v;
        }
        return 0;
}

int parse_hex_u64(const char *s, uint64_t *ret) {
        const char *p = s;
        uint64_t v = 0;

        if (!s)
                return -EINVAL;
        if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
                p += 2;
        if (!isxdigit((unsigned char) *p))
                return -EINVAL;
        for (; isxdigit((unsigned char) *p); p++) {
                unsigned d = isdigit((unsigned char) *p) ? (unsigned) (*p - '0')
                                                         : (unsigned) (tolower(*p) - 'a' + 10);
                if (v > (UINT64_MAX >> 4))
                        return -ERANGE;
                v = (v << 4) | d;
        }
        if (!only_space(p))
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_uint(const char *s, unsigned *ret) {
        uint64_t v;
        int r = parse_u64(s, &v);

        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

/* Multiply with overflow check. */
static int mul_u64(uint64_t a, uint64_t b, uint64_t *ret) {
        if (__builtin_mul_overflow(a, b, ret))
                return -ERANGE;
        return 0;
}

int parse_size(const char *s, uint64_t percent_base, uint64_t *ret) {
        static const struct {
                char c;
                unsigned shift;
        } units[] = {
                { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 }, { 'P', 50 }, { 'E', 60 }
        };
        uint64_t whole, frac = 0, frac_div = 1, mult = 1, v;
        const char *p;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &whole, &p);
        if (r < 0)
                return r;
        if (*p == '.') {
                p++;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
                /* Up to 9 fractional digits are significant; the rest is dropped. */
                for (unsigned n = 0; isdigit((unsigned char) *p); p++, n++)
                        if (n < 9) {
                                frac = frac * 10 + (uint64_t) (*p - '0');
                                frac_div *= 10;
                        }
        }
        if (*p == '%') {
                if (percent_base == 0 || !only_space(p + 1))
                        return -EINVAL;
                if (whole > 100 || (whole == 100 && frac > 0))
                        return -ERANGE;
                /* (whole + frac/frac_div) * base / 100 without overflow for realistic bases. */
                v = (uint64_t) ((unsigned __int128) percent_base * (whole * frac_div + frac) /
                                ((unsigned __int128) frac_div * 100));
                *ret = v;
                return 0;
        }
        if (*p == 'B') { /* "4096B": plain bytes */
                p++;
        } else if (*p) {
                char c = (char) toupper((unsigned char) *p);
                bool found = false;

                for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                        if (units[i].c == c) {
                                mult = UINT64_C(1) << units[i].shift;
                                found = true;
                        }
                if (!found)
                        return -EINVAL;
                p++;
                if (p[0] == 'i' && p[1] == 'B')
                        p += 2;
                else if (*p == 'B' || *p == 'b')
                        p++;
        }
        if (!only_space(p))
                return -EINVAL;
        if (frac > 0 && mult == 1)
                return -EINVAL; /* fractional bytes make no sense */
        r = mul_u64(whole, mult, &v);
        if (r < 0)
                return r;
        if (frac > 0) {
                uint64_t extra = (uint64_t) ((unsigned __int128) mult * frac / frac_div);
                if (__builtin_add_overflow(v, extra, &v))
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

int parse_duration(const char *s, uint64_t *ret_usec) {
        static const struct {
                const char *suffix;
                uint64_t usec;
        } units[] = {
                { "us", 1 },
                { "ms", USEC_PER_MSEC },
                { "s", USEC_PER_SEC },
                { "sec", USEC_PER_SEC },
                { "m", 60 * USEC_PER_SEC },
                { "min", 60 * USEC_PER_SEC },
                { "h", 3600 * USEC_PER_SEC },
        };
        const char *p;
        uint64_t v, mult = USEC_PER_SEC;
        size_t l;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(s, &v, &p);
        if (r < 0)
                return r;
        l = strcspn(p, " \t\n");
        if (l > 0) {
                bool found = false;
                for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                        if (strlen(units[i].suffix) == l && strncmp(p, units[i].suffix, l) == 0) {
                                mult = units[i].usec;
                                found = true;
                        }
                if (!found)
                        return -EINVAL;
                p += l;
        }
        if (!only_space(p))
                return -EINVAL;
        return mul_u64(v, mult, ret_usec);
}

int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "yes", "y", "true", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int parse_mode(const char *s, mode_t *ret) {
        mode_t m = 0;
        const char *p = s;

        if (!s || !*s)
                return -EINVAL;
        for (; *p >= '0' && *p <= '7'; p++) {
                m = (mode_t) (m * 8 + (mode_t) (*p - '0'));
                if (m > 07777)
                        return -ERANGE;
        }
        if (p == s || !only_space(p))
                return -EINVAL;
        *ret = m;
        return 0;
}

char *format_size(uint64_t bytes, char *buf, size_t size) {
        static const char units[] = "KMGTPE";
        unsigned i = 0;
        uint64_t v = bytes;

        if (v == 0 || v % 1024 != 0) {
                bufprintf_trunc(buf, size, "%" PRIu64, v);
                return buf;
        }
        while (v % 1024 == 0 && v >= 1024 && i < sizeof(units) - 1) {
                v /= 1024;
                i++;
        }
        if (i == 0) { /* unreachable: v is a non-zero multiple of 1024 */
                bufprintf_trunc(buf, size, "%" PRIu64, bytes);
                return buf;
        }
        bufprintf_trunc(buf, size, "%" PRIu64 "%c", v, units[i - 1]);
        return buf;
}

char *format_duration(uint64_t usec, char *buf, size_t size) {
        if (usec >= USEC_PER_SEC)
                bufprintf_trunc(buf, size, "%.3gs", (double) usec / (double) USEC_PER_SEC);
        else if (usec >= USEC_PER_MSEC)
                bufprintf_trunc(buf, size, "%.3gms", (double) usec / (double) USEC_PER_MSEC);
        else
                bufprintf_trunc(buf, size, "%" PRIu64 "us", usec);
        return buf;
}

int parse_id_list(const char *s, int (*cb)(unsigned id, void *userdata), void *userdata) {
        const char *p = s;

        if (!s)
                return -EINVAL;
        while (*p && !isspace((unsigned char) *p)) {
                uint64_t a, b;
                const char *end;
                int r;

                r = parse_digits(p, &a, &end);
                if (r < 0)
                        return r;
                b = a;
                if (*end == '-') {
                        r = parse_digits(end + 1, &b, &end);
                        if (r < 0)
                                return r;
                        if (b < a)
                                return -EINVAL;
                }
                if (b > 65535 || b - a > 65535)
                        return -ERANGE;
                for (uint64_t i = a; i <= b; i++) {
                        r = cb((unsigned) i, userdata);
                        if (r < 0)
                                return r;
                }
                p = end;
                if (*p == ',')
                        p++;
                else if (*p && !isspace((unsigned char) *p))
                        return -EINVAL;
        }
        return only_space(p) ? 0 : -EINVAL;
}

static int count_cb(unsigned id, void *userdata) {
        (void) id;
        (*(unsigned *) userdata)++;
        return 0;
}

int count_id_list(const char *s, unsigned *ret) {
        unsigned n = 0;
        int r = parse_id_list(s, count_cb, &n);

        if (r < 0)
                return r;
        *ret = n;
        return 0;
}

int base64_encode(const void *data, size_t len, char *buf, size_t size) {
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *in = data;
        size_t n = 0;

        /* Bounded so that the length fits the int returned. */
        if (len > (UINT32_C(1) << 28) || size < (len + 2) / 3 * 4 + 1)
                return -ENOBUFS;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) in[i] << 16;
                if (i + 1 < len)
                        v |= (uint32_t) in[i + 1] << 8;
                if (i + 2 < len)
                        v |= in[i + 2];
                buf[n++] = alphabet[(v >> 18) & 63];
                buf[n++] = alphabet[(v >> 12) & 63];
                buf[n++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
                buf[n++] = i + 2 < len ? alphabet[v & 63] : '=';
        }
        buf[n] = 0;
        return (int) n;
}
