/* SPDX-License-Identifier: MIT */
/* Strict parsers for numbers, sizes, durations, booleans and modes: no atoi, no sscanf. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define USEC_PER_MSEC UINT64_C(1000)
#define USEC_PER_SEC UINT64_C(1000000)

/* Standard base64 (RFC 4648, with padding) of len bytes into buf, NUL-terminated. Returns the
 * length written, or -ENOBUFS when buf cannot hold 4 * ceil(len / 3) + 1 bytes. */
int base64_encode(const void *data, size_t len, char *buf, size_t size);

/* Parse an unsigned decimal number. Trailing whitespace (sysfs files end in "\n") is allowed;
 * anything else, a sign, an empty string or overflow is -EINVAL/-ERANGE. */
int parse_u64(const char *s, uint64_t *ret);

/* Same, for a signed decimal number. */
int parse_i64(const char *s, int64_t *ret);

/* Parse a hexadecimal number with an optional "0x" prefix ("0x1002\n", as sysfs prints
 * tun_flags); trailing whitespace allowed, nothing else. */
int parse_hex_u64(const char *s, uint64_t *ret);

/* parse_u64 bounded to unsigned int. */
int parse_uint(const char *s, unsigned *ret);

/* Parse a size: plain bytes ("4096"), binary units with optional "B"/"iB" suffix ("2M",
 * "2MB", "2MiB", "1G", "512k"), or a percentage of percent_base ("50%"). percent_base 0
 * rejects percentages with -EINVAL. Fractions ("1.5G") are accepted and rounded down to a
 * byte. Overflow gives -ERANGE. */
int parse_size(const char *s, uint64_t percent_base, uint64_t *ret);

/* Parse a duration into microseconds: "30s", "250ms", "5min", "2h", "1us"; a plain number
 * means seconds. */
int parse_duration(const char *s, uint64_t *ret_usec);

/* yes/no, true/false, on/off, 1/0 (case-insensitive). */
int parse_bool(const char *s, bool *ret);

/* An octal file mode "0666" or "666", at most 07777. */
int parse_mode(const char *s, mode_t *ret);

/* Bytes that always hold format_size's and format_duration's text (a 20-digit number, a unit,
 * the NUL). */
#define FORMAT_SIZE_MAX 32
#define FORMAT_DURATION_MAX 32

/* Format bytes as the shortest exact binary-unit string ("2G", "1536M", "4096"); buf holds
 * FORMAT_SIZE_MAX bytes (a smaller one cuts the text short). Returns buf. */
char *format_size(uint64_t bytes, char *buf, size_t size);

/* Format microseconds as a short human duration ("1.5s", "20ms", "300us"); buf holds
 * FORMAT_DURATION_MAX bytes (a smaller one cuts the text short). Returns buf. */
char *format_duration(uint64_t usec, char *buf, size_t size);

/* Parse a kernel id list such as "0-3,8,10-11" (cpu and node lists); calls cb for every id in
 * order. An empty string (or just "\n") is an empty list. Ranges above 65535 ids are rejected
 * with -ERANGE. */
int parse_id_list(const char *s, int (*cb)(unsigned id, void *userdata), void *userdata);

/* Number of ids in such a list. */
int count_id_list(const char *s, unsigned *ret);
