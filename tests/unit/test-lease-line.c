/* SPDX-License-Identifier: MIT */
/* Unit tests for policies/lease-line.c: the lease socket's request and reply lines, including
 * what a hostile build may send (unknown, repeated, overlong, unprintable, not offered). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/util.h"
#include "policies/lease-line.h"

static void test_parse_good(void **state) {
        struct lease_line_request r;
        char msg[256];
        (void) state;

        assert_int_equal(lease_line_parse("acquire hugepages=64M hugepage-size=2M wait=60 "
                                          "label=nix-build:vm enforce=yes",
                                          &r, msg, sizeof(msg)),
                         0);
        assert_int_equal(r.hugepages, 64 << 20);
        assert_int_equal(r.hugepage_size, 2 << 20);
        assert_int_equal(r.wait, 60);
        assert_string_equal(r.label, "nix-build:vm");
        assert_true(r.enforce);
        assert_int_equal(r.seen, (1U << _LEASE_LINE_KEY_MAX) - 1);
        /* Nothing but the verb: the agent says the request asks for nothing. */
        assert_int_equal(lease_line_parse("acquire", &r, msg, sizeof(msg)), 0);
        assert_int_equal(r.seen, 0);
        assert_int_equal(lease_line_parse("acquire hugepages=4096", &r, msg, sizeof(msg)), 0);
        assert_int_equal(r.hugepages, 4096);
}

static void test_parse_bad(void **state) {
        static const struct {
                const char *line, *msg;
        } bad[] = {
                { "", "starts with 'acquire'" },
                { "release 0123456789abcdef", "starts with 'acquire'" },
                { "acquirehugepages=1", "starts with 'acquire'" },
                { "acquire  hugepages=1", "one space" },
                { "acquire hugepages=1 ", "one space" },
                { "acquire hugepages", "not key=value" },
                { "acquire =5", "not key=value" },
                { "acquire hugepages=1 hugepages=2", "'hugepages' given twice" },
                { "acquire bogus=1", "unknown key 'bogus'" },
                { "acquire taps=1", "network namespace" },
                { "acquire snapshot=base", "not offered" },
                { "acquire persist=yes", "not offered" },
                { "acquire hugepages=-1", "not a size" },
                { "acquire hugepages=50%", "not a size" },
                { "acquire hugepages=99999999999999999999", "not a size" },
                { "acquire wait=86401", "0 .. 86400" },
                { "acquire wait=1s", "0 .. 86400" },
                { "acquire enforce=maybe", "yes or no" },
                { "acquire label=a\"b", "at most 128" },
                { "acquire label=\x01", "printable ASCII" },
                { "acquire label=\xc3\xa4", "printable ASCII" },
                { "acquire\thugepages=1", "starts with 'acquire'" },
        };
        struct lease_line_request r = { .hugepages = 7 };
        char msg[256], line[1024];
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                msg[0] = 0;
                if (lease_line_parse(bad[i].line, &r, msg, sizeof(msg)) != -EINVAL ||
                    !strstr(msg, bad[i].msg))
                        fail_msg("'%s': got '%s', wanted '%s'", bad[i].line, msg, bad[i].msg);
        }
        assert_int_equal(r.hugepages, 7); /* untouched on failure */
        /* A value longer than a label may be. */
        xsprintf(line, "acquire label=%0200d", 0);
        assert_int_equal(lease_line_parse(line, &r, msg, sizeof(msg)), -EINVAL);
        assert_non_null(strstr(msg, "longer than 128"));
        /* A key that fills the key buffer. */
        xsprintf(line, "acquire %0100d=1", 0);
        assert_int_equal(lease_line_parse(line, &r, msg, sizeof(msg)), -EINVAL);
}

static void test_format_round_trip(void **state) {
        struct lease_line_request r = { 0 }, back;
        char buf[LEASE_LINE_MAX], msg[256];
        (void) state;

        r.hugepages = UINT64_C(1) << 30;
        r.wait = 86400;
        r.enforce = true;
        strscpy(r.label, sizeof(r.label), "build/a=b");
        r.seen = (1U << LEASE_LINE_HUGEPAGES) | (1U << LEASE_LINE_WAIT) | (1U << LEASE_LINE_LABEL) |
                 (1U << LEASE_LINE_ENFORCE);
        assert_int_equal(lease_line_format(&r, buf, sizeof(buf)), 0);
        assert_string_equal(
                buf, "acquire hugepages=1073741824 wait=86400 label=build/a=b enforce=yes\n");
        buf[strlen(buf) - 1] = 0;
        assert_int_equal(lease_line_parse(buf, &back, msg, sizeof(msg)), 0);
        assert_int_equal(back.seen, r.seen);
        assert_int_equal(back.hugepages, r.hugepages);
        assert_int_equal(back.wait, r.wait);
        assert_true(back.enforce);
        assert_string_equal(back.label, r.label);
        /* A label the line cannot carry, and a buffer too small. */
        strscpy(r.label, sizeof(r.label), "a b");
        assert_int_equal(lease_line_format(&r, buf, sizeof(buf)), -EINVAL);
        strscpy(r.label, sizeof(r.label), "ab");
        assert_int_equal(lease_line_format(&r, buf, 20), -ENOBUFS);
}

static void test_reply(void **state) {
        struct lease_line_reply g;
        char v[64];
        (void) state;

        assert_int_equal(lease_line_parse_reply("granted 0123456789abcdef hugepages=67108864 "
                                                "hugepage-size=2097152 cgroup=-",
                                                &g),
                         0);
        assert_true(g.granted);
        assert_string_equal(g.id, "0123456789abcdef");
        assert_int_equal(lease_line_reply_value(&g, "hugepages", v, sizeof(v)), 0);
        assert_string_equal(v, "67108864");
        assert_int_equal(lease_line_reply_value(&g, "hugepage-size", v, sizeof(v)), 0);
        assert_string_equal(v, "2097152");
        assert_int_equal(lease_line_reply_value(&g, "cgroup", v, sizeof(v)), 0);
        assert_string_equal(v, "-");
        assert_int_equal(lease_line_reply_value(&g, "hugepage", v, sizeof(v)), -ENOENT);
        assert_int_equal(lease_line_reply_value(&g, "hugepages", v, 4), -ENOBUFS);

        assert_int_equal(lease_line_parse_reply("refused LimitExceeded builds hold 1G", &g), 0);
        assert_false(g.granted);
        assert_string_equal(g.reason, "LimitExceeded");
        assert_string_equal(g.message, "builds hold 1G");

        assert_int_equal(lease_line_parse_reply("granted 0123", &g), -EBADMSG);
        assert_int_equal(lease_line_parse_reply("granted 0123456789ABCDEF", &g), -EBADMSG);
        assert_int_equal(lease_line_parse_reply("refused ", &g), -EBADMSG);
        assert_int_equal(lease_line_parse_reply("ok", &g), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_format_round_trip),
                cmocka_unit_test(test_reply),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
