/* SPDX-License-Identifier: MIT */
/* Unit tests for probe_knobs over a root directory built here: sysctl keys, users and groups
 * from etc/passwd and etc/group, snapshot templates, per-node pools, THP defrag, tap details. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/util.h"
#include "probes/probes.h"

static char root[64];

static void put(const char *rel, const char *text) {
        char path[256], cmd[300];
        FILE *f;

        xsprintf(path, "%s/%s", root, rel);
        xsprintf(cmd, "mkdir -p \"$(dirname '%s')\"", path);
        assert_int_equal(system(cmd), 0);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int setup(void **state) {
        (void) state;
        xsprintf(root, "/tmp/test-knobs.XXXXXX");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[128];
        (void) state;
        xsprintf(cmd, "rm -rf '%s'", root);
        return system(cmd) == 0 ? 0 : -1;
}

static void test_knobs(void **state) {
        static struct host_report r;
        struct probe_ctx ctx;
        struct knob_request q = {
                .n_sysctl = 3,
                .sysctl = { "vm.dirty_ratio", "net.ipv4.tcp_rmem", "vm.no_such" },
                .n_users = 3,
                .users = { "microvm", "1234", "ghost" },
                .n_groups = 1,
                .groups = { "kvm" },
                .snapshot_root = "/srv/snap",
                .n_templates = 2,
                .templates = { "base", "absent" },
                .n_node_sizes = 1,
                .node_sizes = { 2U << 20 },
                .thp_defrag = true,
                .tap_details = true,
        };
        char link[300], target[300];
        (void) state;

        put("proc/sys/vm/dirty_ratio", "20\n");
        put("proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n");
        put("etc/passwd", "root:x:0:0::/root:/bin/sh\nmicrovm:x:993:301::/var/empty:/bin/false\n");
        put("etc/group", "root:x:0:\nkvm:x:302:microvm\n");
        put("srv/snap/templates/base/image", "");
        put("srv/snap/prepared/base/one/x", "");
        put("srv/snap/prepared/base/two/x", "");
        put("sys/devices/system/node/has_memory", "0-1\n");
        put("sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages", "3\n");
        put("sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages", "4\n");
        put("sys/kernel/mm/transparent_hugepage/defrag", "always defer [madvise] never\n");
        put("sys/class/net/htap0/tun_flags", "0x5002\n");
        put("sys/class/net/htap0/owner", "993\n");
        put("sys/class/net/br0/bridge/x", "");
        xsprintf(link, "%s/sys/class/net/htap0/master", root);
        xsprintf(target, "../br0");
        assert_int_equal(symlink(target, link), 0);

        memset(&r, 0, sizeof(r));
        r.hugetlb.n_sizes = 1;
        r.hugetlb.sizes[0].page_size = 2U << 20;
        r.net.n_taps = 1;
        strscpy(r.net.taps[0].name, sizeof(r.net.taps[0].name), "htap0");
        r.net.taps[0].owner = r.net.taps[0].group = -1;

        assert_int_equal(probe_ctx_open(root, NULL, &ctx), 0);
        assert_int_equal(probe_knobs(&ctx, &q, &r), 0);
        probe_ctx_done(&ctx);

        assert_true(r.knobs.read);
        assert_string_equal(knob_find_sysctl(&r.knobs, "vm.dirty_ratio")->value, "20");
        assert_string_equal(knob_find_sysctl(&r.knobs, "net.ipv4.tcp_rmem")->value,
                            "4096\t131072\t6291456");
        assert_int_equal(knob_find_sysctl(&r.knobs, "vm.no_such")->error, -ENOENT);
        assert_null(knob_find_sysctl(&r.knobs, "vm.other"));
        assert_int_equal(knob_find_user(&r.knobs, "microvm")->error, 0);
        assert_int_equal(knob_find_user(&r.knobs, "microvm")->id, 993);
        assert_int_equal(knob_find_user(&r.knobs, "1234")->id, 1234);
        assert_int_equal(knob_find_user(&r.knobs, "ghost")->error, -ENOENT);
        assert_int_equal(knob_find_group(&r.knobs, "kvm")->id, 302);
        assert_true(knob_find_template(&r.knobs, "base")->exists);
        assert_int_equal(knob_find_template(&r.knobs, "base")->prepared, 2);
        assert_false(knob_find_template(&r.knobs, "absent")->exists);
        assert_int_equal(r.hugetlb.n_numa_nodes, 2);
        assert_int_equal(r.hugetlb.sizes[0].n_nodes, 2);
        assert_true(r.hugetlb.sizes[0].nodes[1].nr == 4);
        assert_string_equal(r.memory.thp_defrag, "madvise");
        assert_int_equal(r.net.taps[0].flags, 0x5002);
        assert_int_equal(r.net.taps[0].owner, 993);
        assert_string_equal(r.net.taps[0].master, "br0");
}

static void test_nothing_requested(void **state) {
        static struct host_report r;
        struct knob_request q = { 0 };
        struct probe_ctx ctx;
        (void) state;

        memset(&r, 0, sizeof(r));
        assert_int_equal(probe_ctx_open(root, NULL, &ctx), 0);
        assert_int_equal(probe_knobs(&ctx, &q, &r), 0);
        probe_ctx_done(&ctx);
        assert_true(r.knobs.read);
        assert_int_equal(
                r.knobs.n_sysctl + r.knobs.n_users + r.knobs.n_groups + r.knobs.n_templates, 0);
        assert_string_equal(r.memory.thp_defrag, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_knobs),
                cmocka_unit_test(test_nothing_requested),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
