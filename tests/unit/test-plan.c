/* SPDX-License-Identifier: MIT */
/* Unit tests for the planner over host reports built here: every step kind, manual steps and
 * their notes, per-node splits, and the property that planning again after the steps took
 * effect (simulated on the report) plans nothing; and, over the fixture hosts, that the probes
 * plan_probe_mask names give the plan a full probe gives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/if_tun.h>

#include <dirent.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "lib/util.h"
#include "policies/plan-json.h"
#include "policies/plan.h"
#include "policies/policy.h"
#include "policies/profiles.h"
#include "tests/unit/fixture-util.h"

static struct host_report r;
static struct policy p;
static struct plan plan;

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

/* A plain host: 16 GiB, 2M and 1G pools empty on one NUMA node, THP madvise, KSM off, no taps. */
static int setup(void **state) {
        (void) state;
        memset(&r, 0, sizeof(r));
        plan_free(&plan);
        r.memory.mem_total_kib = 16 * 1024 * 1024;
        strscpy(r.memory.thp_enabled, sizeof(r.memory.thp_enabled), "madvise");
        strscpy(r.memory.thp_defrag, sizeof(r.memory.thp_defrag), "madvise");
        r.memory.ksm_run = 0;
        r.memory.swappiness = 60;
        r.hugetlb.supported = true;
        r.hugetlb.default_size = 2 * MIB;
        r.hugetlb.n_sizes = 2;
        r.hugetlb.sizes[0].page_size = 2 * MIB;
        r.hugetlb.sizes[1].page_size = GIB;
        r.zram.module = true;
        r.knobs.read = true;
        strscpy(r.btrfs.snapshot_root.path, sizeof(r.btrfs.snapshot_root.path),
                DEFAULT_SNAPSHOT_ROOT);
        r.btrfs.snapshot_root.nocow = -1;
        return 0;
}

static int teardown(void **state) {
        (void) state;
        plan_free(&plan);
        return 0;
}

static void use(const char *text) {
        struct policy_error err;
        char buf[512];
        int r2 = policy_load_string("p.ini", text, &p, &err);
        if (r2 < 0)
                fail_msg("policy does not load: %s", policy_error_format(&err, buf, sizeof(buf)));
}

static unsigned build(void) {
        plan_free(&plan);
        assert_int_equal(plan_build(&r, &p, &plan), 0);
        return plan.n;
}

static const struct plan_step *step(unsigned i) {
        assert_true(i < plan.n);
        return &plan.steps[i];
}

static const char *describe(unsigned i) {
        static char buf[512];
        return plan_step_describe(step(i), buf, sizeof(buf));
}

static struct hugetlb_pool *pool2m(void) {
        return &r.hugetlb.sizes[0];
}

/* What an applier would leave behind, written into the report: the test of "a second apply
 * plans nothing". */
static void simulate(const struct plan_step *s) {
        switch (s->kind) {
        case PLAN_SYSCTL:
                if (streq(s->knob, "vm.swappiness"))
                        r.memory.swappiness = atoi(s->wanted);
                else
                        for (unsigned i = 0; i < r.knobs.n_sysctl; i++)
                                if (streq(r.knobs.sysctl[i].key, s->knob))
                                        strscpy(r.knobs.sysctl[i].value,
                                                sizeof(r.knobs.sysctl[i].value), s->wanted);
                break;
        case PLAN_SYSFS:
                if (streq(s->knob, "ksm/run"))
                        r.memory.ksm_run = atoi(s->wanted);
                else if (streq(s->knob, "transparent_hugepage/enabled"))
                        strscpy(r.memory.thp_enabled, sizeof(r.memory.thp_enabled), s->wanted);
                else
                        strscpy(r.memory.thp_defrag, sizeof(r.memory.thp_defrag), s->wanted);
                break;
        case PLAN_HUGEPAGES: {
                struct hugetlb_pool *hp = NULL;
                for (unsigned i = 0; i < r.hugetlb.n_sizes; i++)
                        if (r.hugetlb.sizes[i].page_size == s->u.hugepages.page_size)
                                hp = &r.hugetlb.sizes[i];
                assert_non_null(hp);
                if (!hp) /* for the analyzer: cmocka's failure does not return */
                        return;
                if (s->u.hugepages.node < 0)
                        hp->nr = s->u.hugepages.pages;
                else {
                        uint64_t total = 0;
                        for (unsigned i = 0; i < hp->n_nodes; i++) {
                                if ((int) hp->nodes[i].node == s->u.hugepages.node)
                                        hp->nodes[i].nr = s->u.hugepages.pages;
                                total += hp->nodes[i].nr;
                        }
                        hp->nr = total;
                }
                break;
        }
        case PLAN_HUGETLBFS_MOUNT: {
                struct hugetlb_mount *m = &r.hugetlb.mounts[r.hugetlb.n_mounts++];
                strscpy(m->path, sizeof(m->path), s->path);
                m->page_size = s->u.mount.page_size;
                m->mode = s->u.mount.mode;
                m->gid = s->u.mount.gid;
                m->has_gid = true;
                break;
        }
        case PLAN_ZRAM: {
                struct zram_device *z = NULL;
                for (unsigned i = 0; i < r.zram.n_devices; i++)
                        if (streq(r.zram.devices[i].name, s->u.zram.device))
                                z = &r.zram.devices[i];
                if (!z) {
                        z = &r.zram.devices[r.zram.n_devices++];
                        strscpy(z->name, sizeof(z->name), s->u.zram.device);
                }
                z->disksize = s->u.zram.disksize;
                strscpy(z->algorithm, sizeof(z->algorithm),
                        s->u.zram.algorithm[0] ? s->u.zram.algorithm : "lzo-rle");
                z->is_swap = true;
                z->swap_priority = s->u.zram.priority;
                break;
        }
        case PLAN_SNAPSHOT_ROOT:
                r.btrfs.snapshot_root.exists = r.btrfs.snapshot_root.is_dir = true;
                r.btrfs.snapshot_root.nocow = 0;
                break;
        case PLAN_NOCOW:
                r.btrfs.snapshot_root.nocow = 1;
                break;
        case PLAN_SNAPSHOT_SLOT:
                r.btrfs.free_slots++;
                break;
        case PLAN_SNAPSHOT_PREPARED:
                for (unsigned i = 0; i < r.knobs.n_templates; i++)
                        if (streq(r.knobs.templates[i].name, s->u.snapshot.template_name))
                                r.knobs.templates[i].prepared++;
                break;
        case PLAN_BRIDGE:
                r.net.bridge_exists = true;
                break;
        case PLAN_TAP: {
                struct tap_facts *t = NULL;
                for (unsigned i = 0; i < r.net.n_taps; i++)
                        if (streq(r.net.taps[i].name, s->u.tap.name))
                                t = &r.net.taps[i];
                if (!t) {
                        t = &r.net.taps[r.net.n_taps++];
                        strscpy(t->name, sizeof(t->name), s->u.tap.name);
                        t->flags = IFF_TAP | (s->u.tap.vnet_hdr ? IFF_VNET_HDR : 0) |
                                   (s->u.tap.multi_queue ? IFF_MULTI_QUEUE : 0);
                }
                t->owner = s->u.tap.owner == (uid_t) -1 ? -1 : (int64_t) s->u.tap.owner;
                t->group = -1;
                break;
        }
        case PLAN_TAP_MASTER:
                for (unsigned i = 0; i < r.net.n_taps; i++)
                        if (streq(r.net.taps[i].name, s->u.link.name))
                                strscpy(r.net.taps[i].master, sizeof(r.net.taps[i].master),
                                        s->u.link.master);
                break;
        case PLAN_DEVICE_MODE:
                r.kvm.dev.mode = s->u.device.mode;
                break;
        default:
                fail_msg("no simulation for %s", plan_kind_to_string(s->kind));
        }
}

/* Apply every automatic step to the report and plan again, until only manual steps remain;
 * returns how many applies that took. */
static unsigned converge(void) {
        unsigned rounds = 0;

        while (build(), plan_count_automatic(&plan) > 0) {
                assert_true(++rounds <= 3);
                for (unsigned i = 0; i < plan.n; i++)
                        if (!plan.steps[i].manual)
                                simulate(&plan.steps[i]);
        }
        return rounds;
}

/* One apply is enough: the next plan holds only the manual steps. */
static void assert_converges(void) {
        assert_int_equal(converge(), 1);
}

static void test_default_plans_nothing(void **state) {
        struct policy_error err;
        (void) state;

        assert_int_equal(policy_load_default(&p, &err), 0);
        assert_int_equal(build(), 0);
        /* Whatever the host looks like. */
        r.memory.swappiness = 200;
        r.memory.ksm_run = 1;
        r.kvm.dev.exists = true;
        r.kvm.dev.mode = 0600;
        pool2m()->nr = 1000;
        assert_int_equal(build(), 0);
}

static void test_sysctl(void **state) {
        (void) state;

        use("[memory]\n# Kernel docs: a reason\nswappiness = 10\n[sysctl]\n"
            "net.ipv4.tcp_rmem = 4096 131072 6291456\nvm.dirty_ratio = 20\nnet.x.missing = 1\n");
        r.knobs.n_sysctl = 3;
        strscpy(r.knobs.sysctl[0].key, 128, "net.ipv4.tcp_rmem");
        /* The kernel prints tabs: equal after folding whitespace. */
        strscpy(r.knobs.sysctl[0].value, 128, "4096\t131072\t6291456");
        strscpy(r.knobs.sysctl[1].key, 128, "vm.dirty_ratio");
        strscpy(r.knobs.sysctl[1].value, 128, "10");
        strscpy(r.knobs.sysctl[2].key, 128, "net.x.missing");
        r.knobs.sysctl[2].error = -ENOENT;
        assert_int_equal(build(), 3);
        assert_int_equal(step(0)->kind, PLAN_SYSCTL);
        assert_string_equal(step(0)->knob, "vm.swappiness");
        assert_string_equal(step(0)->path, "/proc/sys/vm/swappiness");
        assert_string_equal(step(0)->current, "60");
        assert_string_equal(step(0)->wanted, "10");
        assert_string_equal(step(0)->origin, "p.ini:3");
        assert_string_equal(step(0)->why,
                            "p.ini:3: [memory] swappiness = 10 (Kernel docs: a reason)");
        assert_string_equal(describe(0), "vm.swappiness is 60, wants 10 (p.ini:3)");
        assert_string_equal(step(1)->path, "/proc/sys/vm/dirty_ratio");
        assert_string_equal(step(1)->why, "p.ini:6: [sysctl] vm.dirty_ratio = 20");
        assert_true(step(2)->manual);
        assert_string_equal(step(2)->knob, "net.x.missing");
        assert_string_equal(step(2)->note, "this kernel has no such sysctl (a module not loaded, "
                                           "or a key of another kernel version)");
        assert_converges();
}

static void test_memory(void **state) {
        (void) state;

        use("[memory]\nthp = never\nthp-defrag = defer\nksm = no\n");
        r.memory.ksm_run = 2; /* unmerging leaves 2 behind: not off */
        assert_int_equal(build(), 3);
        assert_string_equal(step(0)->path, "/sys/kernel/mm/transparent_hugepage/enabled");
        assert_string_equal(step(0)->current, "madvise");
        assert_string_equal(step(0)->wanted, "never");
        assert_string_equal(step(1)->knob, "transparent_hugepage/defrag");
        assert_string_equal(step(2)->path, "/sys/kernel/mm/ksm/run");
        assert_string_equal(step(2)->current, "2");
        assert_string_equal(step(2)->wanted, "0");
        assert_converges();

        /* A kernel without KSM is off already; one without THP cannot be set. */
        setup(NULL);
        r.memory.ksm_run = -1;
        r.memory.thp_enabled[0] = 0;
        use("[memory]\nksm = no\nthp = always\n");
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
        use("[memory]\nksm = yes\n");
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
        assert_string_equal(step(0)->knob, "ksm/run");
}

static void test_hugepages_global(void **state) {
        (void) state;

        use("[hugepages]\npool = 1G\nmax = 2G\nreclaim = drop-caches\ntimeout = 5s\n");
        pool2m()->nr = 100;
        assert_int_equal(build(), 1);
        assert_int_equal(step(0)->kind, PLAN_HUGEPAGES);
        assert_string_equal(step(0)->knob, "hugepages-2048kB");
        assert_string_equal(step(0)->path,
                            "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
        assert_string_equal(step(0)->current, "100 pages");
        assert_string_equal(step(0)->wanted, "512 pages (1G)");
        assert_true(step(0)->u.hugepages.page_size == 2 * MIB);
        assert_true(step(0)->u.hugepages.pages == 512);
        assert_int_equal(step(0)->u.hugepages.node, -1);
        assert_int_equal(step(0)->u.hugepages.reclaim, RECLAIM_DROP_CACHES);
        assert_true(step(0)->u.hugepages.timeout_usec == 5000000);
        /* Between pool and max (leases grew it): left alone. Above max: back to max. */
        pool2m()->nr = 700;
        assert_int_equal(build(), 0);
        pool2m()->nr = 1500;
        assert_int_equal(build(), 1);
        assert_true(step(0)->u.hugepages.pages == 1024);
        assert_string_equal(step(0)->origin, "p.ini:3");
        assert_converges();

        /* Percentages of the report's RAM, rounded up to whole pages. */
        use("[hugepages-1G]\npool = 10%\n");
        assert_int_equal(build(), 1);
        assert_true(step(0)->u.hugepages.pages == 2); /* 1.6 GiB */
        assert_string_equal(step(0)->knob, "hugepages-1048576kB");
        assert_converges();

        /* A size this kernel does not offer. */
        use("[hugepages-16G]\npool = 1\n");
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
        assert_string_equal(step(0)->note,
                            "this kernel offers no pool of this size: boot with hugepagesz=1G (and "
                            "hugepages=N to reserve early)");
}

static void test_hugepages_nodes(void **state) {
        struct hugetlb_pool *hp = pool2m();
        (void) state;

        hp->n_nodes = 2;
        hp->nodes[0].node = 0;
        hp->nodes[1].node = 1;
        r.hugetlb.n_numa_nodes = 2;
        /* 513 pages over two nodes: 257 and 256. */
        use("[hugepages]\npool = 513\nper-node = even\n");
        assert_int_equal(build(), 2);
        assert_string_equal(step(0)->knob, "hugepages-2048kB/node0");
        assert_string_equal(step(0)->path, "/sys/devices/system/node/node0/hugepages/"
                                           "hugepages-2048kB/nr_hugepages");
        assert_true(step(0)->u.hugepages.pages == 257);
        assert_int_equal(step(0)->u.hugepages.node, 0);
        assert_true(step(1)->u.hugepages.pages == 256);
        assert_converges();

        setup(NULL);
        hp->n_nodes = 2;
        hp->nodes[0].node = 0;
        hp->nodes[1].node = 1;
        use("[hugepages]\nper-node = 0:1G 1:0 3:2M\n");
        hp->nodes[1].nr = 5;
        hp->nr = 5;
        assert_int_equal(build(), 2);
        assert_true(step(0)->u.hugepages.pages == 512);
        assert_int_equal(step(0)->u.hugepages.node, 0);
        /* Node 3 has no memory here. */
        assert_true(step(1)->manual);
        assert_string_equal(step(1)->knob, "hugepages-2048kB/node3");
        assert_string_equal(step(1)->note, "this host has no NUMA node 3 with memory");

        /* No per-node counters (a kernel without NUMA): the global pool stands in. */
        setup(NULL);
        use("[hugepages]\npool = 2M\nper-node = even\n");
        assert_int_equal(build(), 1);
        assert_int_equal(step(0)->u.hugepages.node, -1);
}

static void test_mount(void **state) {
        (void) state;

        use("[hugepages]\nsize = 2M\nmount = /dev/hugepages-vm\nmode = 0770\ngroup = kvm\n");
        /* The group is resolved through the report's knob facts. */
        r.knobs.n_groups = 1;
        strscpy(r.knobs.groups[0].name, 64, "kvm");
        r.knobs.groups[0].id = 302;
        assert_int_equal(build(), 1);
        assert_int_equal(step(0)->kind, PLAN_HUGETLBFS_MOUNT);
        assert_string_equal(step(0)->path, "/dev/hugepages-vm");
        assert_string_equal(step(0)->wanted, "hugetlbfs pagesize=2M mode=0770 gid=302");
        assert_int_equal(step(0)->u.mount.gid, 302);
        assert_int_equal(step(0)->u.mount.mode, 0770);
        assert_true(step(0)->u.mount.page_size == 2 * MIB);
        assert_converges();

        /* Mounted with other options: hosttune leaves it to a person. */
        r.hugetlb.mounts[0].mode = 01777;
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
        assert_string_equal(step(0)->current, "hugetlbfs pagesize=2M mode=01777 gid=302");

        /* An unknown group. */
        setup(NULL);
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
        assert_string_equal(step(0)->note, "group 'kvm' does not exist on this host (/etc/group)");
        assert_string_equal(step(0)->origin, "p.ini:5");
}

static void test_zram(void **state) {
        struct zram_device *z = &r.zram.devices[0];
        (void) state;

        use("[zram]\nsize = 4G\nalgorithm = zstd\npriority = 5\n");
        assert_int_equal(build(), 1);
        assert_int_equal(step(0)->kind, PLAN_ZRAM);
        assert_string_equal(step(0)->knob, "zram0");
        assert_string_equal(step(0)->path, "/sys/block/zram0");
        assert_string_equal(step(0)->current, "");
        assert_string_equal(step(0)->u.zram.device, "zram0");
        assert_true(step(0)->u.zram.disksize == 4 * GIB);
        assert_string_equal(step(0)->u.zram.algorithm, "zstd");
        assert_int_equal(step(0)->u.zram.priority, 5);
        assert_converges();

        /* An unconfigured device is configured. */
        setup(NULL);
        r.zram.n_devices = 1;
        strscpy(z->name, sizeof(z->name), "zram0");
        assert_int_equal(build(), 1);
        assert_string_equal(step(0)->current, "unconfigured");
        assert_false(step(0)->manual);

        /* An active swap device of another size is never resized: the planner says so. */
        z->disksize = 2 * GIB;
        strscpy(z->algorithm, sizeof(z->algorithm), "lzo-rle");
        z->is_swap = true;
        z->swap_priority = 100;
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
        assert_string_equal(step(0)->current, "2G lzo-rle swap priority 100");
        assert_string_equal(step(0)->note,
                            "zram0 is active swap: hosttune does not reconfigure a zram device in "
                            "use (its contents would be lost); swapoff /dev/zram* first, echo 1 > "
                            "/sys/block/zram0/reset, then apply");
        /* As wanted: nothing. */
        z->disksize = 4 * GIB;
        strscpy(z->algorithm, sizeof(z->algorithm), "zstd");
        z->swap_priority = 5;
        assert_int_equal(build(), 0);

        /* A percentage matches what another tool sized within 1%. */
        use("[zram]\nsize = 25%\nalgorithm = zstd\npriority = 5\n");
        z->disksize = 4 * GIB - 20 * MIB;
        assert_int_equal(build(), 0);
        z->disksize = 3 * GIB;
        assert_int_equal(build(), 1);

        /* Without the zram module, nothing can be hot-added. */
        setup(NULL);
        r.zram.module = false;
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
}

static void test_kvm(void **state) {
        (void) state;

        use("[kvm]\nmode = 0666\n");
        assert_int_equal(build(), 0); /* no /dev/kvm: readiness says so, nothing to chmod */
        r.kvm.dev.exists = true;
        r.kvm.dev.mode = 0660;
        assert_int_equal(build(), 1);
        assert_int_equal(step(0)->kind, PLAN_DEVICE_MODE);
        assert_string_equal(describe(0), "/dev/kvm is 0660, wants 0666 (p.ini:2)");
        assert_int_equal(step(0)->u.device.mode, 0666);
        assert_converges();
}

static void test_snapshots(void **state) {
        (void) state;

        use("[snapshots]\nslots = 3\ntemplates = base, gone\nprepared = 2\n");
        r.knobs.n_templates = 2;
        strscpy(r.knobs.templates[0].name, 64, "base");
        r.knobs.templates[0].exists = true;
        strscpy(r.knobs.templates[1].name, 64, "gone");
        /* No root yet: root, NOCOW, three slots; templates cannot exist yet. */
        assert_int_equal(build(), 7);
        assert_int_equal(step(0)->kind, PLAN_SNAPSHOT_ROOT);
        assert_string_equal(step(0)->path, DEFAULT_SNAPSHOT_ROOT);
        assert_string_equal(step(0)->origin, "p.ini:2"); /* the slots are why */
        assert_int_equal(step(1)->kind, PLAN_NOCOW);
        assert_int_equal(step(2)->kind, PLAN_SNAPSHOT_SLOT);
        assert_string_equal(step(2)->path, DEFAULT_SNAPSHOT_ROOT "/slots");
        assert_string_equal(step(4)->knob, "snapshot slot 3 of 3");
        assert_true(step(5)->manual);
        assert_true(step(6)->manual);
        /* Once the root exists, base (placed there by a person) gets its prepared snapshots on the
         * next apply; gone stays manual. */
        assert_int_equal(converge(), 2);
        assert_int_equal(build(), 1);
        assert_string_equal(step(0)->knob, DEFAULT_SNAPSHOT_ROOT "/templates/gone");
        assert_string_equal(step(0)->note, "hosttune prepares snapshots of a template it does "
                                           "not make: put template gone at " DEFAULT_SNAPSHOT_ROOT
                                           "/templates/gone");
        assert_true(r.knobs.templates[0].prepared == 2);

        /* An existing copy-on-write root gets NOCOW; nocow = no leaves it. */
        setup(NULL);
        r.btrfs.snapshot_root.exists = r.btrfs.snapshot_root.is_dir = true;
        r.btrfs.snapshot_root.nocow = 0;
        r.btrfs.free_slots = 3;
        use("[snapshots]\nslots = 3\n");
        assert_int_equal(build(), 1);
        assert_int_equal(step(0)->kind, PLAN_NOCOW);
        assert_string_equal(step(0)->current, "copy-on-write");
        use("[snapshots]\nslots = 3\nnocow = no\n");
        assert_int_equal(build(), 0);
        /* A file where the root should be. */
        r.btrfs.snapshot_root.is_dir = false;
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
}

/* The longest root a policy line takes (190 characters: an INI line holds 197) and the longest
 * template name give paths longer than 256 bytes: the steps hold them whole (a cut-short path
 * would name another directory). */
static void test_snapshots_long_paths(void **state) {
        char root[191], tmpl[POLICY_TEMPLATE_NAME_MAX], text[1024], want[1024];
        (void) state;

        memcpy(root, "/srv/", 5);
        memset(root + 5, 'r', sizeof(root) - 6);
        root[sizeof(root) - 1] = 0;
        memset(tmpl, 't', sizeof(tmpl) - 1);
        tmpl[sizeof(tmpl) - 1] = 0;
        assert_int_equal(bufprintf(text, sizeof(text),
                                   "[snapshots]\nroot = %s\ntemplates = %s\nprepared = 2\n", root,
                                   tmpl),
                         0);
        use(text);
        r.btrfs.snapshot_root.exists = r.btrfs.snapshot_root.is_dir = true;
        r.btrfs.snapshot_root.nocow = 1;
        r.knobs.n_templates = 1;
        strscpy(r.knobs.templates[0].name, sizeof(r.knobs.templates[0].name), tmpl);
        r.knobs.templates[0].exists = true;
        assert_int_equal(build(), 2);
        assert_int_equal(bufprintf(want, sizeof(want), "%s/prepared/%s", root, tmpl), 0);
        assert_true(strlen(want) > 256);
        assert_string_equal(step(0)->path, want);
        assert_string_equal(step(1)->path, want);
        assert_int_equal(bufappendf(want, sizeof(want), " (2 of 2)"), 0);
        assert_string_equal(step(1)->knob, want);
        assert_string_equal(step(1)->u.snapshot.template_name, tmpl);
}

static void test_mount_options(void **state) {
        struct btrfs_mount *m = &r.btrfs.mounts[0];
        (void) state;

        use("[btrfs]\nrequire-options = noatime, compress=zstd, space_cache=v2\n");
        r.btrfs.n_mounts = 2;
        strscpy(m->target, sizeof(m->target), "/");
        strscpy(r.btrfs.mounts[1].target, sizeof(m->target), "/var/lib");
        strscpy(r.btrfs.mounts[1].compress, sizeof(m->compress), "zstd:3");
        r.btrfs.mounts[1].space_cache_v2 = true;
        /* The deepest mount above the root counts: /var/lib lacks noatime. */
        assert_int_equal(build(), 1);
        assert_int_equal(step(0)->kind, PLAN_MOUNT_OPTIONS);
        assert_true(step(0)->manual);
        assert_string_equal(step(0)->path, "/var/lib");
        assert_string_equal(step(0)->current, "lacks noatime");
        assert_string_equal(step(0)->note,
                            "mount -o remount,noatime /var/lib, and add the options to the file "
                            "system's entry (fileSystems.\"/var/lib\".options on NixOS, /etc/fstab "
                            "elsewhere)");
        r.btrfs.mounts[1].noatime = true;
        assert_int_equal(build(), 0);
        /* compress=zstd:1 is not zstd:3. */
        use("[btrfs]\nrequire-options = compress=zstd:1\n");
        assert_int_equal(build(), 1);
        /* Not on btrfs at all. */
        r.btrfs.n_mounts = 0;
        assert_int_equal(build(), 1);
        assert_string_equal(step(0)->current, "not on btrfs");
}

static void test_net(void **state) {
        (void) state;

        use("[net]\nbridge = br0\ntaps = 2\nowner = microvm\nmulti-queue = yes\n");
        r.knobs.n_users = 1;
        strscpy(r.knobs.users[0].name, 64, "microvm");
        r.knobs.users[0].id = 993;
        assert_int_equal(build(), 5);
        assert_int_equal(step(0)->kind, PLAN_BRIDGE);
        assert_string_equal(step(0)->u.link.name, "br0");
        assert_int_equal(step(1)->kind, PLAN_TAP);
        assert_string_equal(step(1)->u.tap.name, "htap0");
        assert_int_equal(step(1)->u.tap.owner, 993);
        assert_true(step(1)->u.tap.vnet_hdr);
        assert_true(step(1)->u.tap.multi_queue);
        assert_string_equal(step(1)->wanted, "tap owner microvm vnet_hdr multi_queue");
        assert_int_equal(step(2)->kind, PLAN_TAP_MASTER);
        assert_string_equal(step(2)->u.link.name, "htap0");
        assert_string_equal(step(2)->u.link.master, "br0");
        assert_string_equal(step(3)->u.tap.name, "htap1");
        assert_converges();

        /* An existing tap with another owner: TUNSETOWNER, no recreation. */
        r.net.taps[0].owner = 1000;
        assert_int_equal(build(), 1);
        assert_false(step(0)->manual);
        assert_string_equal(step(0)->current, "tap owner 1000 vnet_hdr multi_queue");
        /* Other flags: a person must delete it. */
        r.net.taps[0].owner = 993;
        r.net.taps[0].flags &= ~(unsigned) IFF_MULTI_QUEUE;
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
        /* Detached from the bridge. */
        r.net.taps[0].flags |= IFF_MULTI_QUEUE;
        r.net.taps[1].master[0] = 0;
        assert_int_equal(build(), 1);
        assert_int_equal(step(0)->kind, PLAN_TAP_MASTER);
        assert_string_equal(describe(0), "htap1 master is missing, wants br0 (p.ini:2)");

        /* An owner that does not exist on this host. */
        setup(NULL);
        r.net.bridge_exists = true;
        assert_int_equal(build(), 1);
        assert_true(step(0)->manual);
        assert_string_equal(step(0)->note,
                            "user 'microvm' does not exist on this host (/etc/passwd)");

        /* No owner: root's (unset or 0) taps are right. */
        setup(NULL);
        use("[net]\ntaps = 1\n");
        r.net.n_taps = 1;
        strscpy(r.net.taps[0].name, 16, "htap0");
        r.net.taps[0].flags = IFF_TAP | IFF_VNET_HDR;
        r.net.taps[0].owner = 0;
        assert_int_equal(build(), 0);
        r.net.taps[0].owner = -1;
        assert_int_equal(build(), 0);
}

static void test_everything_converges(void **state) {
        (void) state;

        /* Every automatic kind at once, in the order appliers must run them. */
        use("[memory]\nswappiness = 1\nthp = never\nksm = yes\n[hugepages]\npool = 64M\n"
            "mount = /dev/hugepages-hp\n[zram]\nsize = 1G\n[kvm]\nmode = 0666\n[snapshots]\nslots "
            "= 1\n"
            "[net]\nbridge = br0\ntaps = 1\n");
        static const enum plan_kind order[] = {
                PLAN_SYSCTL,          PLAN_SYSFS,         PLAN_SYSFS,       PLAN_HUGEPAGES,
                PLAN_HUGETLBFS_MOUNT, PLAN_ZRAM,          PLAN_DEVICE_MODE, PLAN_SNAPSHOT_ROOT,
                PLAN_NOCOW,           PLAN_SNAPSHOT_SLOT, PLAN_BRIDGE,      PLAN_TAP,
                PLAN_TAP_MASTER,
        };
        r.kvm.dev.exists = true;
        assert_int_equal(build(), ELEMENTSOF(order));
        for (unsigned i = 0; i < plan.n; i++)
                assert_string_equal(plan_kind_to_string(step(i)->kind),
                                    plan_kind_to_string(order[i]));
        assert_converges();
        assert_int_equal(plan.n, 0);
}

static void test_knob_request(void **state) {
        struct knob_request q;
        (void) state;

        use("[sysctl]\nvm.dirty_ratio = 1\n[hugepages]\npool = 1G\nper-node = even\nmount = "
            "/mnt/x\n"
            "group = kvm\n[hugepages-1G]\npool = 1\n[net]\ntaps = 2\nowner = microvm\n"
            "[snapshots]\ntemplates = a\nprepared = 1\n[memory]\nthp-defrag = never\n");
        plan_knob_request(&p, &q);
        assert_int_equal(q.n_sysctl, 1);
        assert_string_equal(q.sysctl[0], "vm.dirty_ratio");
        assert_int_equal(q.n_users, 1);
        assert_string_equal(q.users[0], "microvm");
        assert_int_equal(q.n_groups, 1);
        assert_int_equal(q.n_templates, 1);
        assert_string_equal(q.snapshot_root, DEFAULT_SNAPSHOT_ROOT);
        assert_int_equal(q.n_node_sizes, 1); /* only the per-node pool */
        assert_true(q.node_sizes[0] == 2 * MIB);
        assert_true(q.thp_defrag);
        assert_true(q.tap_details);
        /* The default policy asks for nothing: `check` reads nothing more. */
        {
                struct policy_error err;
                assert_int_equal(policy_load_default(&p, &err), 0);
                plan_knob_request(&p, &q);
                assert_int_equal(
                        q.n_sysctl + q.n_users + q.n_groups + q.n_templates + q.n_node_sizes, 0);
                assert_false(q.thp_defrag || q.tap_details);
        }
}

/* Probe fixture host dir for p as `hosttune apply` does (probes of mask, detail as given, then
 * probe_knobs) and plan; returns the plan in ret. */
static void plan_on_fixture(const char *dir, probe_mask_t mask, bool detail, struct plan *ret) {
        static struct host_report fr;
        struct probe_targets targets = policy_probe_targets(&p);
        struct knob_request q;
        struct probe_ctx ctx;

        memset(&fr, 0, sizeof(fr));
        assert_int_equal(probe_ctx_open(dir, &targets, &ctx), 0);
        ctx.detail = detail;
        assert_int_equal(probe_run(&ctx, mask, &fr), 0);
        plan_knob_request(&p, &q);
        assert_int_equal(probe_knobs(&ctx, &q, &fr), 0);
        probe_ctx_done(&ctx);
        assert_int_equal(plan_build(&fr, &p, ret), 0);
}

/* The plan from only the probes plan_probe_mask names, without detail, is the plan from every
 * probe with detail: on every fixture host, for policies that use every section of the planner
 * and for the built-in profiles. A planner that reads a probe the mask leaves out fails here. */
static void test_probe_mask_plans_as_full_probe(void **state) {
        static const char *const policies[] = {
                "[memory]\nswappiness = 1\nthp = never\nthp-defrag = never\nksm = yes\n"
                "[hugepages]\npool = 64M\nmount = /dev/hugepages-hp\ngroup = kvm\n[zram]\nsize = "
                "1G\n"
                "[kvm]\nmode = 0666\n[snapshots]\nslots = 1\ntemplates = a\nprepared = 1\n"
                "[btrfs]\nrequire-options = noatime\n[net]\nbridge = br0\ntaps = 2\n"
                "owner = root\n[sysctl]\nvm.dirty_ratio = 5\n",
                "[hugepages]\npool = 513\nper-node = even\nmax = 2G\n[hugepages-1G]\npool = 1\n",
                "[hugepages]\nper-node = 0:4M 1:2M\n",
                "[hugepages]\npool = 10%\nper-node = kernel\n",
                "[hugepages]\nmount = /dev/hugepages\n",
                "[memory]\nswappiness = 1\nthp = never\nksm = yes\n",
                "[memory]\nthp-defrag = madvise\n",
                "[zram]\nsize = 50%\nalgorithm = lz4\n",
                "[kvm]\nmode = 0660\n",
                "[snapshots]\nslots = 2\n",
                "[btrfs]\nrequire-options = noatime space_cache=v2\n",
                "[net]\ntaps = 1\n",
                "[net]\nbridge = br0\n",
        };
        char path[512];
        unsigned hosts = 0, cases = 0;
        DIR *d = opendir(fixtures_dir());
        struct dirent *de;
        (void) state;

        assert_non_null(d);
        while ((de = readdir(d))) {
                char dir[sizeof(path) + 16];

                if (de->d_name[0] == '.')
                        continue;
                fixture_path(de->d_name, path, sizeof(path));
                xsprintf(dir, "%s/" FIXTURE_DIR, path);
                if (access(dir, F_OK) < 0)
                        continue; /* README.md, the capture scripts */
                hosts++;
                for (unsigned i = 0; i < ELEMENTSOF(policies) + n_embedded_profiles; i++) {
                        struct plan full = { 0 }, masked = { 0 };

                        if (i < ELEMENTSOF(policies))
                                use(policies[i]);
                        else
                                assert_int_equal(
                                        policy_load_string(
                                                embedded_profiles[i - ELEMENTSOF(policies)].name,
                                                embedded_profiles[i - ELEMENTSOF(policies)].text,
                                                &p, NULL),
                                        0);
                        plan_on_fixture(path, PROBE_MASK_ALL, true, &full);
                        plan_on_fixture(path, plan_probe_mask(&p), false, &masked);
                        /* The JSON `hosttune apply --json` prints: every field of every
                         * step. */
                        json_object *jf = plan_to_json(&full), *jm = plan_to_json(&masked);
                        const char *tf = json_object_to_json_string(jf),
                                   *tm = json_object_to_json_string(jm);
                        if (!streq(tf, tm))
                                fail_msg("%s, policy %u: from every probe\n%s\nfrom the "
                                         "mask\n%s",
                                         de->d_name, i, tf, tm);
                        json_object_put(jf);
                        json_object_put(jm);
                        cases += full.n;
                        plan_free(&full);
                        plan_free(&masked);
                }
        }
        closedir(d);
        assert_true(hosts >= 10);
        assert_true(cases > 0); /* the comparison compared steps */
}

/* A copy is the plan, step for step, in storage of its own: it outlives the original. */
static void test_copy(void **state) {
        struct plan copy = { 0 };
        (void) state;

        use("[memory]\nthp = never\nthp-defrag = defer\nksm = no\n");
        r.memory.ksm_run = 2;
        assert_int_equal(build(), 3);
        assert_int_equal(plan_copy(&plan, &copy), 0);
        assert_int_equal(copy.n, plan.n);
        assert_ptr_not_equal(copy.steps, plan.steps);
        assert_memory_equal(copy.steps, plan.steps, plan.n * sizeof(*plan.steps));
        plan_free(&plan);
        assert_string_equal(copy.steps[0].path, "/sys/kernel/mm/transparent_hugepage/enabled");
        assert_string_equal(copy.steps[0].wanted, "never");
        assert_string_equal(copy.steps[2].path, "/sys/kernel/mm/ksm/run");
        plan_free(&copy);

        /* An empty plan copies to an empty one. */
        copy = (struct plan){ .n = 7 };
        assert_int_equal(plan_copy(&plan, &copy), 0);
        assert_int_equal(copy.n, 0);
        assert_null(copy.steps);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_default_plans_nothing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sysctl, setup, teardown),
                cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hugepages_global, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hugepages_nodes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mount, setup, teardown),
                cmocka_unit_test_setup_teardown(test_zram, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kvm, setup, teardown),
                cmocka_unit_test_setup_teardown(test_snapshots, setup, teardown),
                cmocka_unit_test_setup_teardown(test_snapshots_long_paths, setup, teardown),
                cmocka_unit_test_setup_teardown(test_mount_options, setup, teardown),
                cmocka_unit_test_setup_teardown(test_net, setup, teardown),
                cmocka_unit_test_setup_teardown(test_everything_converges, setup, teardown),
                cmocka_unit_test_setup_teardown(test_knob_request, setup, teardown),
                cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_probe_mask_plans_as_full_probe, setup,
                                                teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
