/* SPDX-License-Identifier: MIT */
/* Unit tests for cli/output.c's output_line: the bytes it writes are those of the printf
 * formats it replaced ("%s%-4s%s  %-12s %s\n", "      %-12s remedy: %s\n"), for short and long
 * names, with and without a remedy, and a reason with control characters comes out escaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/output.h"

/* What output_line(f, level, name, reason, remedy) writes without colour, by printf. */
static void expected(char *buf, size_t size, const char *word, const char *name, const char *reason,
                     const char *remedy) {
        int n = snprintf(buf, size, "%s%-4s%s  %-12s %s\n", "", word, "", name, reason);

        if (remedy)
                snprintf(buf + n, size - (size_t) n, "      %-12s remedy: %s\n", "", remedy);
}

static void check_line(enum line_level level, const char *word, const char *name,
                       const char *reason, const char *remedy, const char *want_reason) {
        char want[4096], *got = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&got, &len);

        assert_non_null(f);
        output_init(f); /* not a tty: no colour */
        output_line(f, level, name, reason, remedy);
        assert_int_equal(fclose(f), 0);
        expected(want, sizeof(want), word, name, want_reason,
                 level != LINE_PASS && remedy && remedy[0] ? remedy : NULL);
        assert_string_equal(got, want);
        free(got);
}

static void test_lines(void **state) {
        (void) state;
        check_line(LINE_PASS, "PASS", "cpu", "AMD EPYC, SMT off", "ignored for PASS",
                   "AMD EPYC, SMT off");
        check_line(LINE_WARN, "WARN", "net", "/dev/net/tun present", "modprobe vhost_net",
                   "/dev/net/tun present");
        check_line(LINE_FAIL, "FAIL", "a-name-longer-than-twelve", "reason", "", "reason");
        check_line(LINE_INFO, "INFO", "", "", NULL, "");
        /* A control character: escaped, the rest as it was. */
        check_line(LINE_FAIL, "FAIL", "policy", "bell\a and \x1b[31mred\x7f", NULL,
                   "bell\\x07 and \\x1b[31mred\\x7f");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lines),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
