/* SPDX-License-Identifier: MIT */
/* Unit tests for the pure parts of policies/apply/: knob normalising and path rules, hugepage
 * pool paths and the shortfall explanation, the swap header layout, the NOCOW journal form,
 * and the revert journal (first original wins, reload, lock, damaged file, entries from an
 * earlier boot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "lib/fileio.h"
#include "lib/util.h"
#include "policies/apply/hugepages.h"
#include "policies/apply/journal.h"
#include "policies/apply/nocow.h"
#include "policies/apply/sysctl.h"
#include "policies/apply/zram.h"
#include "policies/policy.h"
#include "runtime/dir.h"

static void test_normalize(void **state) {
        char buf[64];
        (void) state;

        knob_value_normalize("always [madvise] never\n", buf, sizeof(buf));
        assert_string_equal(buf, "madvise");
        knob_value_normalize("32768\t60999\n", buf, sizeof(buf));
        assert_string_equal(buf, "32768 60999");
        knob_value_normalize("  10  \n", buf, sizeof(buf));
        assert_string_equal(buf, "10");
        knob_value_normalize("", buf, sizeof(buf));
        assert_string_equal(buf, "");
        knob_value_normalize("4096 131072 6291456", buf, 8);
        assert_string_equal(buf, "4096 13");
}

static void test_sysctl_paths(void **state) {
        char buf[128];
        (void) state;

        assert_int_equal(sysctl_knob_to_path("vm.swappiness", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/proc/sys/vm/swappiness");
        assert_int_equal(sysctl_knob_to_path("net/ipv4/conf/eth0.100/rp_filter", buf, sizeof(buf)),
                         0);
        assert_string_equal(buf, "/proc/sys/net/ipv4/conf/eth0.100/rp_filter");

        assert_true(sysctl_path_allowed("/proc/sys/vm/swappiness"));
        assert_true(sysctl_path_allowed("/proc/sys/kernel/numa_balancing"));
        assert_true(sysctl_path_allowed("/proc/sys/net/ipv4/conf/eth0.100/rp_filter"));
        assert_false(sysctl_path_allowed("/proc/sys/fs/file-max"));
        assert_false(sysctl_path_allowed("/proc/sys/vm/../fs/file-max"));
        assert_false(sysctl_path_allowed("/proc/sys/vm/./swappiness"));
        assert_false(sysctl_path_allowed("/proc/sys/vm//swappiness"));
        assert_false(sysctl_path_allowed("/proc/sys/vm/"));
        assert_false(sysctl_path_allowed("/proc/sys/vm/swappiness/"));
        assert_false(sysctl_path_allowed("/proc/sys/vmx/a"));
        assert_false(sysctl_path_allowed("/sys/kernel/mm/ksm/run"));

        assert_true(sysfs_path_allowed("/sys/kernel/mm/transparent_hugepage/enabled"));
        assert_true(sysfs_path_allowed("/sys/kernel/mm/ksm/run"));
        assert_false(sysfs_path_allowed("/sys/kernel/mm/ksm/pages_to_scan"));
        assert_false(sysfs_path_allowed("/sys/kernel/mm/transparent_hugepage/../ksm/run"));
}

static void test_hugepage_paths(void **state) {
        char buf[160];
        (void) state;

        assert_int_equal(hugepages_nr_path(2U << 20, -1, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
        assert_true(hugepages_path_allowed(buf));
        assert_int_equal(hugepages_nr_path(1U << 30, 1, buf, sizeof(buf)), 0);
        assert_string_equal(
                buf, "/sys/devices/system/node/node1/hugepages/hugepages-1048576kB/nr_hugepages");
        assert_true(hugepages_path_allowed(buf));
        assert_int_equal(hugepages_nr_path(0, -1, buf, sizeof(buf)), -EINVAL);
        assert_false(hugepages_path_allowed("/sys/kernel/mm/hugepages/hugepages-2048kB/free"));
        assert_false(
                hugepages_path_allowed("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages/x"));
        assert_false(hugepages_path_allowed("/proc/sys/vm/nr_hugepages"));
}

static void test_explain(void **state) {
        const uint64_t M = 1U << 20, G = 1U << 30;
        struct hugepages_shortfall f = {
                .page_size = 2 * M,
                .requested = 1024,
                .obtained = 900,
                .reclaim = RECLAIM_COMPACT,
                .compacted = true,
                .mem_free = 100 * M,
                .page_cache = G + G / 5,
                .slab_reclaimable = 300 * M,
        };
        char buf[400];
        (void) state;

        /* Short because caches hold the memory and the policy forbids dropping them. */
        hugepages_explain(&f, buf, sizeof(buf));
        assert_non_null(strstr(buf, "obtained 900 of 1024 2M pages after compaction; "));
        assert_non_null(strstr(buf, "1.2G held by page cache"));
        assert_non_null(strstr(buf, "reclaim=compact forbids dropping them"));

        /* Dropping the caches would not make up the difference: no advice to drop them (a
         * 1G pool asked of a 256M machine, as test-apply-hugepages-short saw it). */
        f.requested = 512;
        f.obtained = 88;
        f.mem_free = 13 * M;
        f.page_cache = 0;
        f.slab_reclaimable = 9 * M;
        hugepages_explain(&f, buf, sizeof(buf));
        assert_null(strstr(buf, "drop-caches would"));
        assert_non_null(strstr(buf, "the memory is not there: 848M more needed, 13M free and 9M in "
                                    "caches"));

        /* The memory does not exist even with the caches dropped. */
        f.requested = 1024;
        f.obtained = 900;
        f.mem_free = 100 * M;
        f.reclaim = RECLAIM_DROP_CACHES;
        f.caches_dropped = true;
        f.page_cache = 0;
        hugepages_explain(&f, buf, sizeof(buf));
        assert_non_null(strstr(buf, "after compaction and dropping caches; "));
        assert_non_null(strstr(buf, "the memory is not there: 248M more needed, 100M free"));

        /* Free memory exists but fragmented; compaction was not allowed. */
        f = (struct hugepages_shortfall){ .page_size = 2 * M,
                                          .requested = 10,
                                          .obtained = 4,
                                          .reclaim = RECLAIM_NONE,
                                          .mem_free = G };
        hugepages_explain(&f, buf, sizeof(buf));
        assert_non_null(strstr(buf, "obtained 4 of 10 2M pages without compaction; "));
        assert_non_null(strstr(buf, "reclaim=none forbids compaction"));

        /* Compacted, memory free, still short: unmovable memory in the way. */
        f.reclaim = RECLAIM_COMPACT;
        f.compacted = true;
        hugepages_explain(&f, buf, sizeof(buf));
        assert_non_null(strstr(buf, "not in contiguous 2M blocks (unmovable"));
}

static void test_keep_free(void **state) {
        const uint64_t M = UINT64_C(1) << 20, G = UINT64_C(1) << 30;
        (void) state;

        assert_int_equal(hugepages_keep_free(24 * G), 768 * M); /* 1/32 */
        assert_int_equal(hugepages_keep_free(256 * M), 64 * M); /* at least 64M */
        assert_int_equal(hugepages_keep_free(96 * M), 48 * M);  /* never more than half */
        assert_int_equal(hugepages_keep_free(512 * G), G);      /* at most 1G */
        assert_int_equal(hugepages_keep_free(0), 0);
}

static void test_growth_fits(void **state) {
        const uint64_t M = UINT64_C(1) << 20, G = UINT64_C(1) << 30;
        char why[160] = "";
        (void) state;

        /* 24G host keeps 768M free: 2G more fits in 3G available, not in 2.5G. */
        assert_true(hugepages_growth_fits(24 * G, 3 * G, 2 * G, why, sizeof(why)));
        assert_true(hugepages_growth_fits(24 * G, 2 * G + 768 * M, 2 * G, why, sizeof(why)));
        assert_false(hugepages_growth_fits(24 * G, 2 * G + 512 * M, 2 * G, why, sizeof(why)));
        assert_string_equal(why, "2G more needed, 2.5G available, 768M kept free");
        /* More than is available at all, and a need that would overflow a sum. */
        assert_false(hugepages_growth_fits(256 * M, 150 * M, 168 * M, why, sizeof(why)));
        assert_string_equal(why, "168M more needed, 150M available, 64M kept free");
        assert_false(hugepages_growth_fits(256 * M, 150 * M, UINT64_MAX, why, sizeof(why)));
        /* No MemTotal read: no verdict, the applier finds out. */
        assert_true(hugepages_growth_fits(0, 0, G, why, sizeof(why)));
}

static void test_swap_header(void **state) {
        uint8_t uuid[16], page[4096];
        uint32_t v;
        (void) state;

        for (unsigned i = 0; i < sizeof(uuid); i++)
                uuid[i] = (uint8_t) i;
        assert_int_equal(swap_header_build(page, sizeof(page), 64U << 20, uuid, "hosttune"), 0);
        assert_memory_equal(page + 4096 - 10, "SWAPSPACE2", 10);
        memcpy(&v, page + 1024, 4);
        assert_int_equal(v, 1); /* version */
        memcpy(&v, page + 1028, 4);
        assert_int_equal(v, (64U << 20) / 4096 - 1); /* last_page */
        memcpy(&v, page + 1032, 4);
        assert_int_equal(v, 0); /* nr_badpages */
        assert_memory_equal(page + 1036, uuid, 16);
        assert_memory_equal(page + 1052, "hosttune\0", 9);
        for (unsigned i = 0; i < 1024; i++)
                assert_int_equal(page[i], 0);

        assert_int_equal(swap_header_build(page, sizeof(page), 9 * 4096, uuid, NULL), -EINVAL);
        assert_int_equal(swap_header_build(page, 3000, 1U << 20, uuid, NULL), -EINVAL);

        assert_int_equal(uuid_random(uuid), 0);
        assert_int_equal(uuid[6] >> 4, 4);
        assert_int_equal(uuid[8] >> 6, 2);
}

static void test_nocow_form(void **state) {
        struct nocow_attrs a = { .nocow = false }, b;
        char buf[64];
        (void) state;

        strscpy(a.compression, sizeof(a.compression), "zstd:3");
        assert_int_equal(nocow_format(&a, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "nocow=0 compression=zstd:3");
        assert_int_equal(nocow_parse(buf, &b), 0);
        assert_false(b.nocow);
        assert_string_equal(b.compression, "zstd:3");
        assert_int_equal(nocow_parse("nocow=1 compression=", &b), 0);
        assert_true(b.nocow);
        assert_string_equal(b.compression, "");
        assert_int_equal(nocow_parse("nocow=2 compression=", &b), -EINVAL);
}

/* A temporary runtime directory per test. */
static int setup_dir(void **state) {
        static char d[64];

        strscpy(d, sizeof(d), "/tmp/hosttune-test-journal.XXXXXX");
        if (!mkdtemp(d))
                return -1;
        *state = d;
        return 0;
}

static int teardown_dir(void **state) {
        char cmd[128];

        xsprintf(cmd, "rm -rf '%s'", (char *) *state);
        return system(cmd) == 0 ? 0 : -1;
}

static bool file_exists(const char *dir, const char *name) {
        char p[256];
        xsprintf(p, "%s/%s", dir, name);
        return access(p, F_OK) == 0;
}

static void test_journal_first_wins(void **state) {
        const char *dir = *state;
        const struct journal_entry *e;
        struct journal *j = NULL, *j2 = NULL;

        assert_int_equal(journal_open(dir, &j), 0);
        assert_int_equal(journal_size(j), 0);
        assert_false(file_exists(dir, JOURNAL_FILE_NAME));
        assert_int_equal(journal_record_changed(j, JOURNAL_FILE, "/proc/sys/vm/swappiness",
                                                "vm.swappiness", "60"),
                         1);
        assert_true(file_exists(dir, JOURNAL_FILE_NAME));
        /* A second apply's intermediate value never replaces the first original. */
        assert_int_equal(journal_record_changed(j, JOURNAL_FILE, "/proc/sys/vm/swappiness",
                                                "vm.swappiness", "10"),
                         0);
        assert_int_equal(journal_record_created(j, JOURNAL_LINK, "htap0", "htap0"), 1);
        assert_int_equal(journal_record_created(j, JOURNAL_DIR, "/var/lib/hosttune", NULL), 1);

        /* Locked while open. */
        assert_int_equal(journal_open(dir, &j2), -EBUSY);
        journal_close(j);

        assert_int_equal(journal_open(dir, &j), 0);
        assert_int_equal(journal_size(j), 3);
        e = journal_find(j, JOURNAL_FILE, "/proc/sys/vm/swappiness");
        assert_non_null(e);
        assert_string_equal(e->original, "60");
        assert_int_equal(e->action, JOURNAL_CHANGED);
        assert_string_equal(e->label, "vm.swappiness");
        e = journal_entry_at(j, 1);
        assert_int_equal(e->kind, JOURNAL_LINK);
        assert_int_equal(e->action, JOURNAL_CREATED);
        assert_true(journal_entry_at(j, 0)->seq < e->seq);
        assert_null(journal_find(j, JOURNAL_LINK, "htap1"));

        /* Sequence numbers keep growing after a reload. */
        assert_int_equal(journal_record_created(j, JOURNAL_LINK, "htap1", "htap1"), 1);
        assert_true(journal_entry_at(j, 3)->seq > journal_entry_at(j, 2)->seq);

        assert_int_equal(journal_forget(j, JOURNAL_LINK, "htap0"), 1);
        assert_int_equal(journal_forget(j, JOURNAL_LINK, "htap0"), 0);
        assert_int_equal(journal_size(j), 3);
        assert_int_equal(journal_forget(j, JOURNAL_FILE, "/proc/sys/vm/swappiness"), 1);
        assert_int_equal(journal_forget(j, JOURNAL_DIR, "/var/lib/hosttune"), 1);
        assert_int_equal(journal_forget(j, JOURNAL_LINK, "htap1"), 1);
        /* Nothing left to revert: no file. */
        assert_false(file_exists(dir, JOURNAL_FILE_NAME));
        journal_close(j);
}

static void write_journal(const char *dir, const char *text) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write_file_atomic_at(fd, JOURNAL_FILE_NAME, text, strlen(text), 0600), 0);
        close(fd);
}

static void test_journal_damaged(void **state) {
        const char *dir = *state;
        struct journal *j = NULL;

        write_journal(dir, "{\"schema\":\"hosttune.journal/1\",\"entries\":[{\"seq\":1}]}");
        assert_int_equal(journal_open(dir, &j), -EBADMSG);
        write_journal(dir, "not json");
        assert_int_equal(journal_open(dir, &j), -EBADMSG);
        write_journal(dir, "{\"schema\":\"hosttune.journal/9\",\"entries\":[]}");
        assert_int_equal(journal_open(dir, &j), -EBADMSG);
        /* The damaged file is left for a person to look at. */
        assert_true(file_exists(dir, JOURNAL_FILE_NAME));
}

/* Each kind of damage has its own message (issue 12, point 11). */
static void test_journal_damage_messages(void **state) {
        static const struct {
                const char *text, *message;
        } cases[] = {
                /* json-c's own words for the syntax error vary between versions. */
                { "not json", "not JSON (" },
                { "{\"schema\":", "not JSON (" },
                { "{} {}", "not JSON (text after the document at byte 3)" },
                { "[1,2]", "a JSON array, not an object: not a hosttune journal" },
                { "{\"entries\":[]}", "no \"schema\": not a hosttune journal" },
                { "{\"schema\":1,\"entries\":[]}",
                  "\"schema\" is not a string: not a hosttune journal" },
                { "{\"schema\":\"hosttune.journal/9\",\"entries\":[]}",
                  "written by a newer hosttune (schema 9 > 1); use that version to revert" },
                { "{\"schema\":\"other/1\",\"entries\":[]}",
                  "schema \"other/1\" is not hosttune.journal/1: not a hosttune journal" },
                { "{\"schema\":\"hosttune.journal/1\"}", "no \"entries\"" },
                { "{\"schema\":\"hosttune.journal/1\",\"entries\":{}}",
                  "\"entries\" is object, not an array" },
                { "{\"schema\":\"hosttune.journal/1\",\"entries\":[3]}",
                  "entry 0 is int, not an object" },
                { "{\"schema\":\"hosttune.journal/1\",\"entries\":[{\"seq\":1}]}",
                  "entry 0 has no \"kind\"" },
                { "{\"schema\":\"hosttune.journal/1\",\"entries\":[{\"seq\":\"1\"}]}",
                  "entry 0: \"seq\" is string, not int" },
                { "{\"schema\":\"hosttune.journal/1\",\"entries\":[{\"seq\":1,\"kind\":\"x\","
                  "\"action\":\"created\",\"object\":\"/a\",\"boot_id\":\"b\"}]}",
                  "entry 0: unknown kind \"x\"" },
                { "{\"schema\":\"hosttune.journal/1\",\"entries\":[{\"seq\":1,\"kind\":\"dir\","
                  "\"action\":\"changed\",\"object\":\"/a\",\"boot_id\":\"b\"}]}",
                  "entry 0 has no \"original\" (a string) for a changed dir" },
        };
        const char *dir = *state;
        struct journal *j = NULL;
        char msg[512];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                write_journal(dir, cases[i].text);
                msg[0] = 0;
                assert_int_equal(journal_open_diag(dir, &j, msg, sizeof(msg)), -EBADMSG);
                if (cases[i].message[strlen(cases[i].message) - 1] == '(')
                        assert_true(startswith(msg, cases[i].message));
                else
                        assert_string_equal(msg, cases[i].message);
        }
}

static void test_journal_other_boot(void **state) {
        const char *dir = *state;
        struct journal *j = NULL;

        /* Entries of an earlier boot: the sysctl was reset by the reboot, the directory was
         * not. */
        write_journal(dir,
                      "{\"schema\":\"hosttune.journal/1\",\"entries\":["
                      "{\"seq\":4,\"kind\":\"file\",\"action\":\"changed\",\"object\":\"/proc/sys/"
                      "vm/swappiness\",\"label\":\"vm.swappiness\",\"original\":\"60\","
                      "\"boot_id\":\"00000000-0000-0000-0000-000000000000\"},"
                      "{\"seq\":5,\"kind\":\"dir\",\"action\":\"created\",\"object\":\"/var/lib/"
                      "hosttune\",\"label\":\"\",\"boot_id\":\"00000000-0000-0000-0000-"
                      "000000000000\"}]}");
        assert_int_equal(journal_open(dir, &j), 0);
        assert_int_equal(journal_size(j), 1);
        assert_int_equal(journal_entry_at(j, 0)->kind, JOURNAL_DIR);
        assert_string_equal(journal_entry_at(j, 0)->object, "/var/lib/hosttune");
        assert_int_equal(journal_record_created(j, JOURNAL_LINK, "htap0", NULL), 1);
        assert_true(journal_entry_at(j, 1)->seq > 5);
        journal_close(j);
}

static void test_journal_kinds(void **state) {
        enum journal_kind k;
        (void) state;

        for (unsigned i = 0; i < _JOURNAL_KIND_MAX; i++) {
                assert_int_equal(journal_kind_from_string(journal_kind_to_string(i), &k), 0);
                assert_int_equal(k, i);
        }
        assert_int_equal(journal_kind_from_string("bogus", &k), -EINVAL);
        assert_true(journal_kind_persistent(JOURNAL_SUBVOLUME));
        assert_false(journal_kind_persistent(JOURNAL_HUGEPAGES));
}

/* The journal has no directory of its own: the caller resolves it (runtime/dir.h). */
static void test_runtime_dir(void **state) {
        struct journal *j = NULL;
        (void) state;

        setenv("HOSTTUNE_RUNTIME_DIR", "/tmp/x", 1);
        assert_string_equal(runtime_dir_resolve(NULL), "/tmp/x");
        setenv("HOSTTUNE_RUNTIME_DIR", "", 1);
        assert_string_equal(runtime_dir_resolve(NULL), RUNTIME_DIR_DEFAULT);
        unsetenv("HOSTTUNE_RUNTIME_DIR");
        assert_string_equal(runtime_dir_resolve(NULL), RUNTIME_DIR_DEFAULT);
        assert_int_equal(journal_open(NULL, &j), -EINVAL);
        assert_int_equal(journal_open("relative", &j), -EINVAL);
        assert_null(j);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_normalize),
                cmocka_unit_test(test_sysctl_paths),
                cmocka_unit_test(test_hugepage_paths),
                cmocka_unit_test(test_explain),
                cmocka_unit_test(test_keep_free),
                cmocka_unit_test(test_growth_fits),
                cmocka_unit_test(test_swap_header),
                cmocka_unit_test(test_nocow_form),
                cmocka_unit_test_setup_teardown(test_journal_first_wins, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_journal_damaged, setup_dir, teardown_dir),
                cmocka_unit_test_setup_teardown(test_journal_damage_messages, setup_dir,
                                                teardown_dir),
                cmocka_unit_test_setup_teardown(test_journal_other_boot, setup_dir, teardown_dir),
                cmocka_unit_test(test_journal_kinds),
                cmocka_unit_test(test_runtime_dir),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
