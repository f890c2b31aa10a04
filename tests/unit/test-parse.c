/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/parse.c (numbers, sizes, durations, booleans, modes, id lists) and the
 * string helpers of lib/util.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/parse.h"
#include "lib/util.h"

static void test_u64(void **state) {
        uint64_t v;
        (void) state;

        assert_int_equal(parse_u64("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(parse_u64("18446744073709551615\n", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(parse_u64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(parse_u64("", &v), -EINVAL);
        assert_int_equal(parse_u64("-1", &v), -EINVAL);
        assert_int_equal(parse_u64(" 1", &v), -EINVAL);
        assert_int_equal(parse_u64("1x", &v), -EINVAL);
        assert_int_equal(parse_u64("12 34", &v), -EINVAL);
}

static void test_i64(void **state) {
        int64_t v;
        (void) state;

        assert_int_equal(parse_i64("-9223372036854775808", &v), 0);
        assert_true(v == INT64_MIN);
        assert_int_equal(parse_i64("9223372036854775808", &v), -ERANGE);
        assert_int_equal(parse_i64("-", &v), -EINVAL);
        assert_int_equal(parse_i64("-5\n", &v), 0);
        assert_true(v == -5);
}

static void test_size(void **state) {
        uint64_t v;
        (void) state;

        assert_int_equal(parse_size("4096", 0, &v), 0);
        assert_true(v == 4096);
        assert_int_equal(parse_size("2M", 0, &v), 0);
        assert_true(v == 2U << 20);
        assert_int_equal(parse_size("2MB", 0, &v), 0);
        assert_true(v == 2U << 20);
        assert_int_equal(parse_size("2MiB", 0, &v), 0);
        assert_true(v == 2U << 20);
        assert_int_equal(parse_size("1g", 0, &v), 0);
        assert_true(v == 1U << 30);
        assert_int_equal(parse_size("1.5G", 0, &v), 0);
        assert_true(v == 3ULL << 29);
        assert_int_equal(parse_size("512B", 0, &v), 0);
        assert_true(v == 512);
        assert_int_equal(parse_size("50%", 1000, &v), 0);
        assert_true(v == 500);
        assert_int_equal(parse_size("12.5%", 1000, &v), 0);
        assert_true(v == 125);
        assert_int_equal(parse_size("50%", 0, &v), -EINVAL);
        assert_int_equal(parse_size("101%", 1000, &v), -ERANGE);
        assert_int_equal(parse_size("16E", 0, &v), -ERANGE);
        assert_int_equal(parse_size("1.5", 0, &v), -EINVAL);
        assert_int_equal(parse_size("2X", 0, &v), -EINVAL);
        assert_int_equal(parse_size("M", 0, &v), -EINVAL);
        assert_int_equal(parse_size("", 0, &v), -EINVAL);
}

static void test_duration(void **state) {
        uint64_t v;
        (void) state;

        assert_int_equal(parse_duration("30", &v), 0);
        assert_true(v == 30 * USEC_PER_SEC);
        assert_int_equal(parse_duration("250ms", &v), 0);
        assert_true(v == 250 * USEC_PER_MSEC);
        assert_int_equal(parse_duration("5min", &v), 0);
        assert_true(v == 300 * USEC_PER_SEC);
        assert_int_equal(parse_duration("2h", &v), 0);
        assert_true(v == 7200 * USEC_PER_SEC);
        assert_int_equal(parse_duration("5 weeks", &v), -EINVAL);
        assert_int_equal(parse_duration("s", &v), -EINVAL);
        assert_int_equal(parse_duration("99999999999999999h", &v), -ERANGE);
}

static void test_bool_mode(void **state) {
        bool b;
        mode_t m;
        (void) state;

        assert_int_equal(parse_bool("Yes", &b), 0);
        assert_true(b);
        assert_int_equal(parse_bool("off", &b), 0);
        assert_false(b);
        assert_int_equal(parse_bool("maybe", &b), -EINVAL);
        assert_int_equal(parse_mode("0666", &m), 0);
        assert_int_equal(m, 0666);
        assert_int_equal(parse_mode("1777", &m), 0);
        assert_int_equal(m, 01777);
        assert_int_equal(parse_mode("0888", &m), -EINVAL);
        assert_int_equal(parse_mode("77777", &m), -ERANGE);
}

static void test_id_list(void **state) {
        unsigned n;
        (void) state;

        assert_int_equal(count_id_list("0-3,8,10-11\n", &n), 0);
        assert_int_equal(n, 7);
        assert_int_equal(count_id_list("\n", &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(count_id_list("3-1", &n), -EINVAL);
        assert_int_equal(count_id_list("0-99999", &n), -ERANGE);
        assert_int_equal(count_id_list("1,,2", &n), -EINVAL);
}

static void test_format(void **state) {
        char buf[32];
        (void) state;

        assert_string_equal(format_size(2U << 20, buf, sizeof(buf)), "2M");
        assert_string_equal(format_size(1536U << 20, buf, sizeof(buf)), "1536M");
        assert_string_equal(format_size(1U << 30, buf, sizeof(buf)), "1G");
        assert_string_equal(format_size(1000, buf, sizeof(buf)), "1000");
        assert_string_equal(format_size(0, buf, sizeof(buf)), "0");
}

static void test_word_lists(void **state) {
        char buf[16];
        (void) state;

        assert_true(word_list_contains("[lzo-rle] lzo lz4", "lzo-rle", true));
        assert_true(word_list_contains("[lzo-rle] lzo lz4", "lz4", true));
        assert_false(word_list_contains("[lzo-rle] lzo lz4", "lzo-rle", false));
        assert_false(word_list_contains("lzo lz4", "lz", true));
        assert_int_equal(word_list_selected("always [madvise] never\n", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "madvise");
        assert_int_equal(word_list_selected("always madvise never", buf, sizeof(buf)), -ENOENT);
        assert_int_equal(word_list_selected("[averyveryverylongword]", buf, 8), -ENAMETOOLONG);
}

/* RFC 4648 section 10's test vectors. */
static void test_base64(void **state) {
        static const char *const v[][2] = {
                { "", "" },
                { "f", "Zg==" },
                { "fo", "Zm8=" },
                { "foo", "Zm9v" },
                { "foob", "Zm9vYg==" },
                { "fooba", "Zm9vYmE=" },
                { "foobar", "Zm9vYmFy" },
        };
        char buf[16];
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(v); i++) {
                assert_int_equal(base64_encode(v[i][0], strlen(v[i][0]), buf, sizeof(buf)),
                                 (int) strlen(v[i][1]));
                assert_string_equal(buf, v[i][1]);
        }
        /* All 64 symbols, and a byte above 0x7f. */
        assert_int_equal(base64_encode("\xfb\xef\xff", 3, buf, sizeof(buf)), 4);
        assert_string_equal(buf, "++//");
        assert_int_equal(base64_encode("foobar", 6, buf, 9), 8);
        assert_int_equal(base64_encode("foobar", 6, buf, 8), -ENOBUFS);
}

/* The formatting helpers of lib/util.h: checked ones report a text that did not fit, the _trunc
 * ones cut it short and terminate, appends start at the terminating NUL. */
static void test_bufprintf(void **state) {
        char buf[8];
        (void) state;

        assert_int_equal(bufprintf(buf, sizeof(buf), "%s", "1234567"), 0);
        assert_string_equal(buf, "1234567");
        assert_int_equal(bufprintf(buf, sizeof(buf), "%s", "12345678"), -ENAMETOOLONG);
        assert_int_equal(bufprintf(buf, 0, "x"), -ENAMETOOLONG);
        assert_int_equal(bufprintf(buf, sizeof(buf), "ab"), 0);
        assert_int_equal(bufappendf(buf, sizeof(buf), "%d", 12345), 0);
        assert_string_equal(buf, "ab12345");
        assert_int_equal(bufappendf(buf, sizeof(buf), "x"), -ENAMETOOLONG);

        assert_string_equal(bufprintf_trunc(buf, sizeof(buf), "%s", "123456789"), "1234567");
        assert_string_equal(bufprintf_trunc(buf, sizeof(buf), "ab"), "ab");
        assert_string_equal(bufappendf_trunc(buf, sizeof(buf), "%s", "cdefgh"), "abcdefg");
        assert_string_equal(bufappendf_trunc(buf, sizeof(buf), "more"), "abcdefg");

        xsprintf(buf, "%u", 1234567u);
        assert_string_equal(buf, "1234567");
        assert_true(DECIMAL_STR_MAX(int) >= sizeof("-2147483648"));
        assert_true(DECIMAL_STR_MAX(uint64_t) >= sizeof("18446744073709551615"));
}

enum colour { COLOUR_RED, COLOUR_GREEN, COLOUR_HOLE, COLOUR_BLUE, _COLOUR_MAX };
static const char *const colour_table[_COLOUR_MAX] = {
        [COLOUR_RED] = "red",
        [COLOUR_GREEN] = "green",
        [COLOUR_BLUE] = "blue",
};
/* cppcheck 2.10 on its default platform cannot evaluate ELEMENTSOF and follows the call with
 * _COLOUR_MAX below into the table (with --platform=unix64 it sees the bound check). */
// cppcheck-suppress arrayIndexOutOfBounds
DEFINE_PRIVATE_STRING_TABLE_LOOKUP_TO_STRING(colour, enum colour, "?")
DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(colour, enum colour)

static void test_string_table(void **state) {
        enum colour c = COLOUR_RED;
        (void) state;

        assert_string_equal(colour_to_string(COLOUR_GREEN), "green");
        assert_string_equal(colour_to_string(COLOUR_BLUE), "blue");
        assert_string_equal(colour_to_string(COLOUR_HOLE), "?");
        assert_string_equal(colour_to_string(_COLOUR_MAX), "?");
        assert_string_equal(colour_to_string((enum colour) - 1), "?");
        assert_int_equal(colour_from_string("blue", &c), 0);
        assert_int_equal(c, COLOUR_BLUE);
        assert_int_equal(colour_from_string("purple", &c), -EINVAL);
        assert_int_equal(colour_from_string("", &c), -EINVAL);
        assert_int_equal(colour_from_string(NULL, &c), -EINVAL);
        assert_int_equal(c, COLOUR_BLUE); /* untouched on failure */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_u64),          cmocka_unit_test(test_i64),
                cmocka_unit_test(test_size),         cmocka_unit_test(test_duration),
                cmocka_unit_test(test_bool_mode),    cmocka_unit_test(test_id_list),
                cmocka_unit_test(test_format),       cmocka_unit_test(test_word_lists),
                cmocka_unit_test(test_base64),       cmocka_unit_test(test_bufprintf),
                cmocka_unit_test(test_string_table),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
