/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/fileio.c's open and write rules (issue 12): a FIFO, a device node, a
 * directory or (where refused) a symbolic link is an error and never blocks; a write never opens
 * an existing name, so links planted at temporary or target names leave their files untouched;
 * leftover temporary files are removed by name only. Each case is checked with stat(2), not
 * with the code's own word. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/fileio.h"
#include "lib/util.h"
#include "policies/apply/journal.h"

/* A test that blocks on a FIFO would hang the suite: SIGALRM kills it instead (a failure). */
#define GUARD_SECONDS 10

static int setup(void **state) {
        char *dir = strdup("/tmp/hosttune-test-fileio-XXXXXX");

        if (!dir || !mkdtemp(dir)) {
                free(dir);
                return -1;
        }
        *state = dir;
        alarm(GUARD_SECONDS);
        return 0;
}

static int teardown(void **state) {
        char cmd[128];

        alarm(0);
        xsprintf(cmd, "rm -rf '%s'", (char *) *state);
        if (system(cmd) != 0)
                return -1;
        free(*state);
        return 0;
}

static void put(const char *dir, const char *name, const char *text, mode_t mode) {
        char p[512];
        int fd;

        xsprintf(p, "%s/%s", dir, name);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (int) strlen(text));
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static void path_of(const char *dir, const char *name, char *buf, size_t size) {
        assert_int_equal(bufprintf(buf, size, "%s/%s", dir, name), 0);
}

static void assert_content(const char *dir, const char *name, const char *want) {
        char p[512], buf[256];
        int fd;
        ssize_t n;

        path_of(dir, name, p, sizeof(p));
        fd = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        assert_true(n >= 0);
        buf[n] = 0;
        assert_string_equal(buf, want);
}

static mode_t mode_of(const char *dir, const char *name) {
        char p[512];
        struct stat st;

        path_of(dir, name, p, sizeof(p));
        assert_int_equal(lstat(p, &st), 0);
        return st.st_mode & 07777;
}

static int count_cb(const char *name, void *userdata) {
        (void) name;
        (*(int *) userdata)++;
        return 0;
}

static int entries(const char *dir) {
        int n = 0;
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(read_dir_names_at(fd, ".", count_cb, &n), 0);
        close(fd);
        return n;
}

static void test_open_read_refuses(void **state) {
        const char *dir = *state;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char p[512], *text = NULL;
        int fd;

        assert_true(dfd >= 0);
        put(dir, "plain", "hello\n", 0644);
        path_of(dir, "fifo", p, sizeof(p));
        assert_int_equal(mkfifo(p, 0600), 0);
        assert_int_equal(mkdirat(dfd, "dir", 0700), 0);
        assert_int_equal(symlinkat("plain", dfd, "link"), 0);
        assert_int_equal(symlinkat("/dev/null", dfd, "devlink"), 0);

        fd = open_read_at(dfd, "plain", READ_NOFOLLOW);
        assert_true(fd >= 0);
        /* O_NONBLOCK is cleared again once the file is known to be regular. */
        assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        close(fd);

        for (unsigned flags = 0; flags < 8; flags++) {
                /* No writer: a blocking open would hang here until the alarm. */
                assert_int_equal(open_read_at(dfd, "fifo", flags), -EBADFD);
                assert_int_equal(open_read_at(dfd, "dir", flags), -EISDIR);
                /* Through a root, the absolute link resolves inside it, where there is no
                 * dev/null. */
                assert_int_equal(open_read_at(dfd, "devlink", flags),
                                 (flags & READ_NOFOLLOW)  ? -ELOOP
                                 : (flags & READ_IN_ROOT) ? -ENOENT
                                                          : -EBADFD);
                if (flags & READ_NOFOLLOW)
                        assert_int_equal(open_read_at(dfd, "link", flags), -ELOOP);
                else {
                        fd = open_read_at(dfd, "link", flags);
                        assert_true(fd >= 0);
                        close(fd);
                }
        }
        /* A device node named directly, by absolute path and through a root. */
        assert_int_equal(open_read_at(AT_FDCWD, "/dev/null", 0), -EBADFD);
        assert_int_equal(open_read_at(AT_FDCWD, "/dev/null", READ_CHECK_FIRST), -EBADFD);
        assert_int_equal(read_regular_file_alloc(p, 4096, &text, NULL), -EBADFD);
        assert_null(text);
        assert_int_equal(read_virtual_file_alloc_at(dfd, "/fifo", 4096, &text, NULL), -EBADFD);
        assert_int_equal(read_file_alloc_at(dfd, "plain", READ_CHECK_FIRST, 4096, &text, NULL), 0);
        assert_string_equal(text, "hello\n");
        free(text);
        assert_string_equal(file_strerror(-EBADFD),
                            "not a regular file (a FIFO, socket or device node), refused");
        /* Writing a value into a FIFO neither blocks nor succeeds. */
        assert_true(write_virtual_file_at(dfd, "fifo", "1") < 0);
        close(dfd);
}

/* The fstat that refuses non-regular files is skipped only for proc/ and sys/ paths of a root
 * declared live, and only while it is: a FIFO planted at sys/... of a --root tree (never
 * declared) is refused, as is one reached through ".." from a declared root's sys/. Reads
 * through the skip leave O_NONBLOCK on, so even a FIFO there would not block them. */
static void test_kernel_files_trust(void **state) {
        const char *dir = *state;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char p[512], buf[64];

        assert_true(dfd >= 0);
        assert_int_equal(mkdirat(dfd, "sys", 0700), 0);
        path_of(dir, "sys/fifo", p, sizeof(p));
        assert_int_equal(mkfifo(p, 0600), 0);
        path_of(dir, "fifo", p, sizeof(p));
        assert_int_equal(mkfifo(p, 0600), 0);
        put(dir, "sys/value", "42\n", 0644);

        assert_int_equal(read_attribute_at(dfd, "sys/fifo", buf, sizeof(buf)), -EBADFD);
        assert_int_equal(read_virtual_file_at(dfd, "/sys/fifo", buf, sizeof(buf)), -EBADFD);
        fileio_trust_kernel_files_at(dfd, true);
        /* Declared: not refused by fstat, and the read does not block either (no writer). */
        assert_int_equal(read_attribute_at(dfd, "sys/fifo", buf, sizeof(buf)), 0);
        assert_int_equal(read_attribute_at(dfd, "sys/../fifo", buf, sizeof(buf)), -EBADFD);
        assert_int_equal(read_attribute_at(dfd, "fifo", buf, sizeof(buf)), -EBADFD);
        /* Only the virtual-file readers take the shortcut; open_read_at always checks. */
        assert_int_equal(open_read_at(dfd, "sys/fifo", READ_IN_ROOT), -EBADFD);
        assert_int_equal(read_attribute_at(dfd, "sys/value", buf, sizeof(buf)), 3);
        assert_string_equal(buf, "42\n");
        /* A directory is still refused, by the read instead of fstat: the same error. */
        assert_int_equal(read_attribute_at(dfd, "sys", buf, sizeof(buf)), -EISDIR);
        fileio_trust_kernel_files_at(dfd + 1, false); /* another fd: no effect */
        assert_int_equal(read_attribute_at(dfd, "sys/fifo", buf, sizeof(buf)), 0);
        fileio_trust_kernel_files_at(dfd, false);
        assert_int_equal(read_attribute_at(dfd, "sys/fifo", buf, sizeof(buf)), -EBADFD);
        close(dfd);
}

/* An old-style temporary name with a hard link to a victim file planted at it, and a symbolic
 * link planted at the target: writing must leave the victim untouched (content and mode). */
static void check_planted_links(const char *dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char victim[512], planted[512], old_tmp[64];

        assert_true(dfd >= 0);
        put(dir, "victim", "secret\n", 0600);
        put(dir, "victim2", "secret2\n", 0600);
        path_of(dir, "victim", victim, sizeof(victim));
        xsprintf(old_tmp, "out.tmp.%d", (int) getpid());
        path_of(dir, old_tmp, planted, sizeof(planted));
        assert_int_equal(link(victim, planted), 0);
        assert_int_equal(symlinkat("victim2", dfd, "out"), 0);

        assert_int_equal(write_file_atomic_at(dfd, "out", "new\n", 4, 0644), 0);
        assert_content(dir, "out", "new\n");
        assert_int_equal(mode_of(dir, "out"), 0644);
        assert_content(dir, "victim", "secret\n");
        assert_int_equal(mode_of(dir, "victim"), 0600);
        assert_content(dir, "victim2", "secret2\n");
        assert_int_equal(mode_of(dir, "victim2"), 0600);

        /* The mode is exactly the one asked for, whatever the umask; a replacement too. */
        mode_t old = umask(077);
        assert_int_equal(write_file_replace_at(dfd, "out", "newer\n", 6, 0640), 0);
        umask(old);
        assert_content(dir, "out", "newer\n");
        assert_int_equal(mode_of(dir, "out"), 0640);
        /* victim, victim2, planted link, out: no temporary file left behind. */
        assert_int_equal(entries(dir), 4);
        close(dfd);
}

static void test_write_o_tmpfile(void **state) {
        fileio_test_no_tmpfile = false;
        check_planted_links(*state);
}

static void test_write_fallback(void **state) {
        fileio_test_no_tmpfile = true;
        check_planted_links(*state);
        fileio_test_no_tmpfile = false;
}

static void test_tmpfile_abort(void **state) {
        const char *dir = *state;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        assert_true(dfd >= 0);
        for (int fallback = 0; fallback < 2; fallback++) {
                struct tmpfile t;

                fileio_test_no_tmpfile = fallback;
                assert_int_equal(tmpfile_open_at(dfd, "x", 0644, &t), 0);
                assert_int_equal(write_all(t.fd, "abc", 3), 0);
                tmpfile_done(&t);
                assert_int_equal(entries(dir), 0);
                assert_int_equal(t.fd, -1);
        }
        fileio_test_no_tmpfile = false;
        /* An absolute path ignores dir_fd; its directory must exist. */
        char p[512];
        path_of(dir, "abs", p, sizeof(p));
        assert_int_equal(write_file_atomic_at(-1, p, "a", 1, 0600), 0);
        assert_content(dir, "abs", "a");
        path_of(dir, "missing/abs", p, sizeof(p));
        assert_int_equal(write_file_atomic_at(-1, p, "a", 1, 0600), -ENOENT);
        close(dfd);
}

static void test_clean_leftovers(void **state) {
        const char *dir = *state;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char victim[512], p[512];

        assert_true(dfd >= 0);
        put(dir, "victim", "keep\n", 0600);
        path_of(dir, "victim", victim, sizeof(victim));
        put(dir, "journal.json.tmp.123", "{", 0600);
        put(dir, ".journal.json.tmp-0123456789abcdef", "{", 0600);
        path_of(dir, "journal.json.tmp.77", p, sizeof(p));
        assert_int_equal(link(victim, p), 0);
        assert_int_equal(symlinkat("victim", dfd, "journal.json.tmp.78"), 0);
        /* Not ours: other files, other names, and a directory. */
        put(dir, "journal.json", "{}", 0600);
        put(dir, "journal.json.tmp.12a", "x", 0600);
        put(dir, "ready.json.tmp.1", "x", 0600);
        put(dir, ".journal.json.tmp-0123", "x", 0600);
        assert_int_equal(mkdirat(dfd, "journal.json.tmp.5", 0700), 0);

        assert_int_equal(tmpfiles_clean_at(dfd, "journal.json"), 4);
        assert_content(dir, "victim", "keep\n");
        assert_int_equal(mode_of(dir, "victim"), 0600);
        /* victim, journal.json, three other files, the directory. */
        assert_int_equal(entries(dir), 6);
        assert_int_equal(tmpfiles_clean_at(dfd, "journal.json"), 0);
        close(dfd);
}

static void test_journal_refuses(void **state) {
        const char *dir = *state;
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        struct journal *j = NULL;
        char target[512], p[512];
        struct stat st;

        assert_true(dfd >= 0);
        /* A symbolic link at journal.lock: refused, its target never created. */
        path_of(dir, "created-by-root", target, sizeof(target));
        assert_int_equal(symlinkat(target, dfd, JOURNAL_LOCK_NAME), 0);
        assert_int_equal(journal_open(dir, &j), -ELOOP);
        assert_int_equal(lstat(target, &st), -1);
        assert_int_equal(errno, ENOENT);
        assert_int_equal(unlinkat(dfd, JOURNAL_LOCK_NAME, 0), 0);
        /* A FIFO at journal.lock or journal.json: an error, at once. */
        path_of(dir, JOURNAL_LOCK_NAME, p, sizeof(p));
        assert_int_equal(mkfifo(p, 0600), 0);
        assert_int_equal(journal_open(dir, &j), -EBADFD);
        assert_int_equal(unlinkat(dfd, JOURNAL_LOCK_NAME, 0), 0);
        path_of(dir, JOURNAL_FILE_NAME, p, sizeof(p));
        assert_int_equal(mkfifo(p, 0600), 0);
        assert_int_equal(journal_open(dir, &j), -EBADFD);
        assert_int_equal(unlinkat(dfd, JOURNAL_FILE_NAME, 0), 0);
        /* A symlinked journal.json is not followed either. */
        put(dir, "elsewhere.json", "{\"schema\":\"" JOURNAL_SCHEMA "\",\"entries\":[]}", 0600);
        assert_int_equal(symlinkat("elsewhere.json", dfd, JOURNAL_FILE_NAME), 0);
        assert_int_equal(journal_open(dir, &j), -ELOOP);
        assert_int_equal(unlinkat(dfd, JOURNAL_FILE_NAME, 0), 0);
        /* A leftover of a killed writer goes once the lock is held. */
        put(dir, "journal.json.tmp.4242", "{", 0600);
        assert_int_equal(journal_open(dir, &j), 0);
        assert_int_equal(faccessat(dfd, "journal.json.tmp.4242", F_OK, AT_SYMLINK_NOFOLLOW), -1);
        journal_close(j);
        close(dfd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_read_refuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kernel_files_trust, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_o_tmpfile, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_fallback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tmpfile_abort, setup, teardown),
                cmocka_unit_test_setup_teardown(test_clean_leftovers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_journal_refuses, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
