/* SPDX-License-Identifier: MIT */
/* Unit tests for runtime/check-facts.c: the agent's probe facts for `hosttune check` written and
 * read back (only the blocks that hold something, some diverted), files of another build or cut
 * short refused, a range cleared only in the blocks stored, stamps that notice a chmod, a replaced
 * file and a new directory entry, and the mount table hash against a real mount in a private mount
 * namespace when one can be made. */
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"
#include "runtime/check-facts.h"

static char dir[] = "/tmp/test-check-facts.XXXXXX";

static struct check_facts *sample(void) {
        struct check_facts *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->h.pid = 4242;
        f->h.generation = 3;
        strcpy(f->report.cpu.vendor, "AuthenticAMD");
        f->report.memory.mem_total_kib = 1234;
        f->report.hugetlb.n_sizes = 1;
        f->report.hugetlb.sizes[0].page_size = 2 << 20;
        f->report.nix.includes_followed = 2;
        f->report.probed[PROBE_NIX] = true;
        f->report.kvm.smoke_source = "probe";
        return f;
}

static void test_round_trip(void **state) {
        _cleanup_free_ struct check_facts *f = sample();
        _cleanup_free_ struct host_report *r = calloc(1, sizeof(*r));
        enum {
                FROM = offsetof(struct host_report, memory),
                TO = offsetof(struct host_report, zram)
        };
        _Alignas(struct host_report) static char diverted[TO - FROM];
        struct check_facts_divert d = { FROM, TO, diverted };
        struct check_facts_header h;
        struct stat st;
        _cleanup_close_ int fd = open(dir, O_DIRECTORY | O_CLOEXEC);
        char path[256];

        (void) state;
        assert_int_equal(check_facts_write(fd, f), 0);
        snprintf(path, sizeof(path), "%s/%s", dir, CHECK_FACTS_FILE);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        /* Mostly zeros: far smaller than the report. */
        assert_true((size_t) st.st_size < sizeof(struct host_report) / 2);

        assert_int_equal(check_facts_read(dir, &h, r, &d), 0);
        assert_int_equal(h.pid, 4242);
        assert_int_equal(h.generation, 3);
        assert_string_equal(r->cpu.vendor, "AuthenticAMD");
        assert_int_equal(r->nix.includes_followed, 2);
        assert_true(r->probed[PROBE_NIX]);
        assert_string_equal(r->kvm.smoke_source, "agent");
        /* The diverted part landed beside the report, which stayed zero there. */
        assert_int_equal(((struct memory_facts *) diverted)->mem_total_kib, 1234);
        assert_int_equal(r->memory.mem_total_kib, 0);
        assert_int_equal(
                ((struct hugetlb_facts *) (diverted + offsetof(struct host_report, hugetlb) - FROM))
                        ->sizes[0]
                        .page_size,
                2 << 20);
        assert_int_equal(r->hugetlb.n_sizes, 0);

        /* Without a divert everything goes into the report. */
        memset(r, 0, sizeof(*r));
        assert_int_equal(check_facts_read(dir, &h, r, NULL), 0);
        assert_int_equal(r->memory.mem_total_kib, 1234);
}

static void test_rejects(void **state) {
        _cleanup_free_ struct check_facts *f = sample();
        _cleanup_free_ struct host_report *r = calloc(1, sizeof(*r));
        _cleanup_close_ int fd = open(dir, O_DIRECTORY | O_CLOEXEC);
        struct check_facts_header h;
        char path[256];
        int w;

        (void) state;
        snprintf(path, sizeof(path), "%s/%s", dir, CHECK_FACTS_FILE);
        assert_int_equal(check_facts_write(fd, f), 0);
        /* Cut short: a block missing. */
        assert_int_equal(truncate(path, (off_t) sizeof(struct check_facts_header) + 100), 0);
        assert_int_equal(check_facts_read(dir, &h, r, NULL), -EBADMSG);
        /* Longer than its blocks. */
        assert_int_equal(check_facts_write(fd, f), 0);
        w = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(w >= 0);
        assert_int_equal(write(w, "x", 1), 1);
        close(w);
        assert_int_equal(check_facts_read(dir, &h, r, NULL), -EBADMSG);
        /* Another build's layout. */
        assert_int_equal(check_facts_write(fd, f), 0);
        w = open(path, O_WRONLY | O_CLOEXEC);
        assert_true(w >= 0);
        uint64_t key = check_facts_layout_key() ^ 1;
        assert_int_equal(pwrite(w, &key, sizeof(key),
                                (off_t) offsetof(struct check_facts_header, layout_key)),
                         (ssize_t) sizeof(key));
        close(w);
        assert_int_equal(check_facts_read(dir, &h, r, NULL), -EBADMSG);
        /* A symbolic link is never followed in the runtime directory. */
        assert_int_equal(unlink(path), 0);
        assert_int_equal(symlink("/etc/passwd", path), 0);
        assert_true(check_facts_read(dir, &h, r, NULL) < 0);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(check_facts_read(dir, &h, r, NULL), -ENOENT);
}

static void test_stamps(void **state) {
        struct check_facts_header h = { .n_stamps = 2 };
        char file[256], sub[256];
        int fd;

        (void) state;
        snprintf(file, sizeof(file), "%s/node", dir);
        snprintf(sub, sizeof(sub), "%s/sub", dir);
        assert_int_equal(mkdir(sub, 0755), 0);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        strcpy(h.stamps[0].path, file);
        strcpy(h.stamps[1].path, sub);
        assert_int_equal(check_facts_stamp_read(file, &h.stamps[0]), 0);
        assert_int_equal(check_facts_stamp_read(sub, &h.stamps[1]), 0);
        h.stamps[1].entries = true;
        assert_true(check_facts_stamps_match(&h));

        /* A chmod changes mode and ctime. */
        assert_int_equal(chmod(file, 0666), 0);
        assert_false(check_facts_stamps_match(&h));
        assert_int_equal(check_facts_stamp_read(file, &h.stamps[0]), 0);
        assert_true(check_facts_stamps_match(&h));
        /* Replaced by another file. */
        assert_int_equal(unlink(file), 0);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        assert_true(fd >= 0);
        close(fd);
        (void) chmod(file, 0666);
        assert_false(check_facts_stamps_match(&h));
        assert_int_equal(check_facts_stamp_read(file, &h.stamps[0]), 0);
        assert_true(check_facts_stamps_match(&h));
        /* A new entry in a directory whose entries count (a later mtime). */
        usleep(10000);
        char entry[300];
        snprintf(entry, sizeof(entry), "%s/zram0", sub);
        fd = open(entry, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_false(check_facts_stamps_match(&h));
        /* ... which is only identity for a directory whose entries do not count. */
        h.stamps[1].entries = false;
        assert_true(check_facts_stamps_match(&h));
        unlink(entry);
        /* Gone. */
        assert_int_equal(unlink(file), 0);
        assert_false(check_facts_stamps_match(&h));
        assert_int_equal(check_facts_stamp_read(file, &h.stamps[0]), 0);
        assert_false(h.stamps[0].exists);
        assert_true(check_facts_stamps_match(&h));
        rmdir(sub);
}

/* The mount table's hash changes with a mount and back with the unmount (a private mount
 * namespace in a child, so the machine's table is never touched). */
/* check_facts_clear zeroes the range only within the blocks the file stored: a block it did not
 * store keeps its bytes (in check, untouched zero pages it must not fault in). */
static void test_clear(void **state) {
        struct check_facts_header h = { 0 };
        struct host_report *r = malloc(sizeof(*r));
        size_t off = CHECK_FACTS_BLOCK - 100, len = 300;
        const unsigned char *p = (const unsigned char *) r;

        (void) state;
        assert_non_null(r);
        memset(r, 0xab, sizeof(*r));
        h.blocks[0] = UINT64_C(1) << 0; /* block 0 stored, block 1 not */
        check_facts_clear(&h, r, off, len);
        for (size_t i = 0; i < 2 * CHECK_FACTS_BLOCK; i++)
                assert_int_equal(p[i], i >= off && i < CHECK_FACTS_BLOCK ? 0 : 0xab);
        /* Past the report's end: clipped, no write outside it. */
        h.blocks[0] = ~UINT64_C(0);
        h.blocks[1] = ~UINT64_C(0);
        check_facts_clear(&h, r, sizeof(*r) - 10, 4096);
        for (size_t i = sizeof(*r) - 20; i < sizeof(*r); i++)
                assert_int_equal(p[i], i >= sizeof(*r) - 10 ? 0 : 0xab);
        free(r);
}

static void test_mounts_hash(void **state) {
        uint64_t before, again;
        pid_t pid;
        int status;

        (void) state;
        if (check_facts_mounts_hash(&before) < 0)
                skip(); /* before Linux 6.8, or a seccomp filter */
        assert_int_equal(check_facts_mounts_hash(&again), 0);
        assert_true(before == again);
        assert_true(before != 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                uint64_t ns, mounted, unmounted;
                if (unshare(CLONE_NEWNS) < 0 ||
                    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
                        _exit(77);
                if (check_facts_mounts_hash(&ns) < 0 || ns == before)
                        _exit(1); /* another namespace, other mount IDs */
                if (mount("none", dir, "tmpfs", 0, NULL) < 0)
                        _exit(77);
                if (check_facts_mounts_hash(&mounted) < 0 || mounted == ns)
                        _exit(2);
                if (umount(dir) < 0 || check_facts_mounts_hash(&unmounted) < 0 || unmounted != ns)
                        _exit(3);
                _exit(0);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                skip(); /* no CAP_SYS_ADMIN here */
        assert_int_equal(WEXITSTATUS(status), 0);
}

static int setup(void **state) {
        (void) state;
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char path[256];

        (void) state;
        snprintf(path, sizeof(path), "%s/%s", dir, CHECK_FACTS_FILE);
        (void) unlink(path);
        return rmdir(dir);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),  cmocka_unit_test(test_rejects),
                cmocka_unit_test(test_stamps),      cmocka_unit_test(test_clear),
                cmocka_unit_test(test_mounts_hash),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
