/* SPDX-License-Identifier: MIT */
/* Unit tests for lib/cgroup.c: the cgroup2 mount and a process's cgroup in the texts the kernel
 * writes (a hybrid host's mountinfo and /proc/self/cgroup, a pure v2 one, a v1-only one), the
 * hugetlb file names of mm/hugetlb_cgroup.c, and the file side over a scratch root (the kernel's
 * own files are what tests/integration/test-lease-enforced.sh drives). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lib/cgroup.h"
#include "lib/fileio.h"
#include "lib/fsutil.h"
#include "lib/util.h"

static void test_mount_find(void **state) {
        /* This machine (hybrid, another init than systemd), abridged. */
        const char *hybrid =
                "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
                "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
                "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        const char *pure = "26 1 254:0 / / rw - ext4 /dev/vda rw\n"
                           "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - "
                           "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        const char *v1 = "32 31 0:29 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb\n";
        char buf[CGROUP_PATH_MAX];
        (void) state;

        assert_int_equal(cgroup2_mount_find(hybrid, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/sys/fs/cgroup/unified");
        assert_int_equal(cgroup2_mount_find(pure, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/sys/fs/cgroup");
        assert_int_equal(cgroup2_mount_find(v1, buf, sizeof(buf)), -ENOENT);
        assert_int_equal(cgroup2_mount_find(pure, buf, 8), -ENAMETOOLONG);
}

static void test_path_parse(void **state) {
        const char *hybrid = "9:name=systemd:/\n4:memory:/process_api/77\n0::/\n";
        const char *unit = "0::/system.slice/hosttune.service\n";
        char buf[CGROUP_PATH_MAX];
        (void) state;

        assert_int_equal(cgroup2_path_parse(hybrid, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/");
        assert_int_equal(cgroup2_path_parse(unit, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/system.slice/hosttune.service");
        assert_int_equal(cgroup2_path_parse("4:memory:/x\n", buf, sizeof(buf)), -ENOENT);
        assert_int_equal(cgroup2_path_parse("0::relative\n", buf, sizeof(buf)), -EBADMSG);
        assert_int_equal(cgroup2_path_parse("0::\n", buf, sizeof(buf)), -EBADMSG);
        assert_int_equal(cgroup2_path_parse(unit, buf, 10), -ENAMETOOLONG);
}

static void test_size_name(void **state) {
        char buf[16];
        (void) state;

        assert_int_equal(cgroup_hugetlb_size_name(2097152, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "2MB");
        assert_int_equal(cgroup_hugetlb_size_name(UINT64_C(1) << 30, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "1GB");
        assert_int_equal(cgroup_hugetlb_size_name(65536, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "64KB");
        assert_int_equal(cgroup_hugetlb_size_name(UINT64_C(16) << 30, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "16GB");
        assert_int_equal(cgroup_hugetlb_size_name(3 << 20, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(cgroup_hugetlb_size_name(2048, buf, sizeof(buf)), -EINVAL);
}

/* A scratch root with files named as the kernel names them (regular files stand in). */
struct scratch {
        char dir[64];
        int fd;
};

static void put(const struct scratch *s, const char *path, const char *text) {
        int fd = openat(s->fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

static void get(const struct scratch *s, const char *path, char *buf, size_t size) {
        assert_true(read_virtual_file_at(s->fd, path, buf, size) >= 0);
}

static int scratch_setup(void **state) {
        struct scratch *s = calloc(1, sizeof(*s));
        assert_non_null(s);
        strscpy(s->dir, sizeof(s->dir), "/tmp/test-cgroup.XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        s->fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(s->fd >= 0);
        assert_int_equal(mkdirat(s->fd, "cg", 0755), 0);
        assert_int_equal(mkdirat(s->fd, "proc", 0755), 0);
        assert_int_equal(mkdirat(s->fd, "proc/42", 0755), 0);
        *state = s;
        return 0;
}

static int scratch_teardown(void **state) {
        struct scratch *s = *state;
        (void) remove_tree_at(AT_FDCWD, s->dir);
        close(s->fd);
        free(s);
        return 0;
}

static void test_controllers(void **state) {
        struct scratch *s = *state;
        char buf[64];

        put(s, "cg/cgroup.controllers", "cpu io memory hugetlb pids\n");
        put(s, "cg/cgroup.subtree_control", "memory\n");
        assert_int_equal(cgroup_has_controller(s->fd, "/cg", "hugetlb"), 1);
        assert_int_equal(cgroup_has_controller(s->fd, "/cg", "huge"), 0);
        assert_int_equal(cgroup_enable_controller(s->fd, "/cg", "hugetlb"), 1);
        get(s, "cg/cgroup.subtree_control", buf, sizeof(buf));
        assert_string_equal(buf, "+hugetlb");
        put(s, "cg/cgroup.subtree_control", "memory hugetlb\n");
        assert_int_equal(cgroup_enable_controller(s->fd, "/cg", "hugetlb"), 0);
        put(s, "cg/cgroup.controllers", "cpu io memory pids\n");
        assert_int_equal(cgroup_enable_controller(s->fd, "/cg", "hugetlb"), -EOPNOTSUPP);
}

static void test_hugetlb_files(void **state) {
        struct scratch *s = *state;
        char buf[64];
        uint64_t v = 0;

        /* Empty stand-ins: the writes, made for sysfs, do not truncate. */
        put(s, "cg/hugetlb.2MB.max", "");
        put(s, "cg/hugetlb.2MB.rsvd.max", "");
        put(s, "cg/hugetlb.2MB.current", "268435456\n");
        assert_int_equal(cgroup_hugetlb_limit(s->fd, "/cg", 2097152, 268435456), 0);
        get(s, "cg/hugetlb.2MB.max", buf, sizeof(buf));
        assert_string_equal(buf, "268435456");
        get(s, "cg/hugetlb.2MB.rsvd.max", buf, sizeof(buf));
        assert_string_equal(buf, "268435456");
        assert_int_equal(cgroup_hugetlb_current(s->fd, "/cg", 2097152, &v), 0);
        assert_int_equal(v, 268435456);
        /* A kernel before 5.7 has no rsvd files: the fault limit alone. */
        put(s, "cg/hugetlb.1GB.max", "");
        assert_int_equal(cgroup_hugetlb_limit(s->fd, "/cg", UINT64_C(1) << 30, 0), 0);
        get(s, "cg/hugetlb.1GB.max", buf, sizeof(buf));
        assert_string_equal(buf, "0");
        /* No such page size in this cgroup. */
        assert_int_equal(cgroup_hugetlb_limit(s->fd, "/cg", 65536, 0), -ENOENT);
}

static void test_start_ticks(void **state) {
        struct scratch *s = *state;
        uint64_t t = 0;

        /* fs/proc/array.c do_task_stat(): the command name in parentheses may hold spaces and
         * ')'; the start time is field 22. */
        put(s, "proc/42/stat",
            "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1234 56 "
            "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
        assert_int_equal(proc_start_ticks(s->fd, 42, &t), 0);
        assert_int_equal(t, 987654);
        assert_int_equal(proc_start_ticks(s->fd, 43, &t), -ESRCH);
        put(s, "proc/42/stat", "42 (short) S 1 42\n");
        assert_int_equal(proc_start_ticks(s->fd, 42, &t), -EBADMSG);
}

static void test_uids(void **state) {
        struct scratch *s = *state;
        uid_t r = 0, e = 0;

        /* fs/proc/array.c task_state(): tab-separated real, effective, saved, fs. */
        put(s, "proc/42/status",
            "Name:\tsh\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t0\t0\t0\n"
            "Gid:\t100\t100\t100\t100\n");
        assert_int_equal(proc_uids(s->fd, 42, &r, &e), 0);
        assert_int_equal(r, 1000);
        assert_int_equal(e, 0);
        assert_int_equal(proc_uids(s->fd, 43, &r, &e), -ESRCH);
        put(s, "proc/42/status", "Name:\tsh\nUid:\t1000\n");
        assert_int_equal(proc_uids(s->fd, 42, &r, &e), -EBADMSG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mount_find),
                cmocka_unit_test(test_path_parse),
                cmocka_unit_test(test_size_name),
                cmocka_unit_test_setup_teardown(test_controllers, scratch_setup, scratch_teardown),
                cmocka_unit_test_setup_teardown(test_hugetlb_files, scratch_setup,
                                                scratch_teardown),
                cmocka_unit_test_setup_teardown(test_start_ticks, scratch_setup, scratch_teardown),
                cmocka_unit_test_setup_teardown(test_uids, scratch_setup, scratch_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
