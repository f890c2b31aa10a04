/* SPDX-License-Identifier: MIT */
/* The line protocol of the agent's lease socket (<runtime dir>/lease.sock, docs/leases.md,
 * "From a Nix build"): one request line from the client, one reply line from the agent. Pure
 * text in and out, shared by the agent, the static `hosttune` client and the tests. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policies/lease-rules.h"

#define LEASE_SOCK_NAME "lease.sock"
/* A request line, newline included, is at most this long; a longer one is refused. */
#define LEASE_LINE_MAX 512
/* A reply line, newline included. */
#define LEASE_REPLY_MAX 1024

enum lease_line_key {
        LEASE_LINE_HUGEPAGES,
        LEASE_LINE_HUGEPAGE_SIZE,
        LEASE_LINE_WAIT,
        LEASE_LINE_LABEL,
        LEASE_LINE_ENFORCE,
        _LEASE_LINE_KEY_MAX,
};

/* "acquire hugepages=64M hugepage-size=2M wait=60 label=build enforce=yes". */
struct lease_line_request {
        unsigned seen; /* bit per enum lease_line_key */
        uint64_t hugepages, hugepage_size;
        uint32_t wait;
        bool enforce;
        char label[LEASE_LABEL_MAX + 1];
};

/* Parse one request line (without its newline). -EINVAL with msg naming the key for an unknown
 * or repeated key, a key the socket does not offer (snapshot, taps, persist), a bad value; *ret
 * set only on success. Values are only read here: what they mean for the host is the agent's
 * check, the same as for AcquireLease. */
int lease_line_parse(const char *line, struct lease_line_request *ret, char *msg, size_t size);

/* Format req as a request line with its newline. -ENOBUFS when it does not fit; -EINVAL for a
 * label the protocol cannot carry (lease_line_label_valid). */
int lease_line_format(const struct lease_line_request *req, char *buf, size_t size);

/* A label that fits on the line: at most LEASE_LABEL_MAX bytes of letters, digits and
 * "._-:/@+,=" (no spaces: a value ends at the next space). */
bool lease_line_label_valid(const char *label);

/* A reply read from the agent, without its newline. */
struct lease_line_reply {
        bool granted;
        char id[LEASE_ID_LEN + 1];     /* granted */
        char reason[64];               /* refused: the class, "InsufficientHugePages" */
        char message[LEASE_REPLY_MAX]; /* refused: the message; granted: the key=value part */
};

/* Parse "granted <id> key=value ..." or "refused <class> <message>". -EBADMSG for anything
 * else; *ret set only on success. */
int lease_line_parse_reply(const char *line, struct lease_line_reply *ret);

/* The value of key in a granted reply's key=value part into buf. -ENOENT when absent. */
int lease_line_reply_value(const struct lease_line_reply *r, const char *key, char *buf,
                           size_t size);
