/* SPDX-License-Identifier: MIT */
/* Unit tests for the assessment (assess/assess.h) over the fixture hosts: the verdict, its reason
 * and the plan against expectations read here from the fixture files themselves, what leases
 * hold left out of the plan and counted as taken, the snapshot refill plan, and which step a
 * failure names (results untouched). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <dirent.h>
#include <inttypes.h>

#include <cmocka.h>

#include "assess/assess.h"
#include "lib/util.h"
#include "tests/unit/fixture-util.h"

#define MIB (UINT64_C(1) << 20)

static struct policy p;
static struct host_report report;
static struct requirement_result results[REQUIREMENTS_MAX];

static void use(const char *text) {
        struct policy_error err;
        char buf[512];

        memset(&p, 0, sizeof(p));
        if (policy_load_string("p.ini", text, &p, &err) < 0)
                fail_msg("policy does not load: %s", policy_error_format(&err, buf, sizeof(buf)));
}

/* What `check` asks for the policy p: every probe, its requirements and its plan. */
static struct assess_input check_input(void) {
        return (struct assess_input){ .policy = &p,
                                      .require = &p.require,
                                      .probes = PROBE_MASK_ALL,
                                      .plan = ASSESS_PLAN_POLICY };
}

/* Assess fixture name as `check` does (every probe, the policy's plan), with in's other fields. */
static void assess_fixture(const char *name, struct assess_input in, struct assessment *ret) {
        char root[512];

        memset(&report, 0, sizeof(report));
        in.root = fixture_path(name, root, sizeof(root));
        assert_int_equal(assess(&in, &report, results, ret, NULL), 0);
        assert_false(ret->ctx.live);
        assert_true(ret->ctx.root_fd >= 0);
}

/* The first number in the fixture file path of host name (an independent reading). */
static uint64_t fixture_number(const char *name, const char *path) {
        char full[768], buf[256], *end;
        FILE *f;
        size_t n;

        snprintf(full, sizeof(full), "%s/%s/%s", fixtures_dir(), name, path);
        f = fopen(full, "re");
        assert_non_null(f);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        for (char *s = buf; *s; s++)
                if (*s >= '0' && *s <= '9')
                        return strtoull(s, &end, 10);
        fail_msg("no number in %s", full);
        return 0;
}

/* Entries of a directory of fixture host name, "." and ".." not counted. */
static unsigned fixture_entries(const char *name, const char *path) {
        char full[768];
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        snprintf(full, sizeof(full), "%s/%s/%s", fixtures_dir(), name, path);
        d = opendir(full);
        assert_non_null(d);
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* A host whose KVM runs the smoke guest and a policy that only requires: ready, nothing
 * planned. */
static void test_ready(void **state) {
        struct assessment as;
        char reason[512];
        (void) state;

        use("[readiness]\nrequire = kvm, tun\n");
        assess_fixture("kvm-intel-usable", check_input(), &as);
        /* .fixture/kvm: smoke-root ran; .fixture/devices: /dev/net/tun. */
        assert_int_equal(as.n_results, 2);
        assert_int_equal(as.n_failed, 0);
        assert_int_equal(as.plan.n, 0);
        assert_int_equal(as.unprobed, -1);
        assert_true(as.ready);
        assert_ptr_equal(as.report, &report);
        assert_ptr_equal(as.results, results);
        assert_true(report.knobs.read);
        assert_string_equal(assessment_reason(&as, reason, sizeof(reason)),
                            "ready: 2 of 2 requirements met");
        assessment_done(&as);
        assert_int_equal(as.ctx.root_fd, -1);
}

/* A failed requirement and a knob the policy wants changed: not ready, and the reason names
 * both, the knob with the value the fixture's file holds. */
static void test_not_ready_reason(void **state) {
        uint64_t swappiness = fixture_number("kvm-pvm-msr", "proc/sys/vm/swappiness");
        struct assess_input in = check_input();
        struct assessment as;
        char reason[512], want[512];
        (void) state;

        assert_true(swappiness != 7);
        use("[readiness]\nrequire = kvm, tun\n[memory]\nswappiness = 7\n");
        assess_fixture("kvm-pvm-msr", check_input(), &as);
        assert_int_equal(as.n_failed, 1);
        assert_false(results[0].satisfied); /* .fixture/kvm: smoke-root fail set-msrs */
        assert_true(results[1].satisfied);
        assert_int_equal(as.unprobed, -1); /* a verdict about the host, not a failed read */
        assert_int_equal(as.plan.n, 1);
        assert_false(as.ready);
        snprintf(want, sizeof(want),
                 "not ready: kvm (KVM smoke guest failed at set-msrs: KVM_SET_MSRS wrote 1 of 4 "
                 "MSRs (first refused: 0x10a) of the feature MSRs QEMU -cpu max writes (value "
                 "0x400000000c000069); kvm_pvm runs only PVM-enabled guest kernels); the policy "
                 "wants 1 change (vm.swappiness is %" PRIu64 ", wants 7 (p.ini:4))",
                 swappiness);
        assert_string_equal(assessment_reason(&as, reason, sizeof(reason)), want);
        /* Cut short, still terminated, never past the buffer. */
        memset(reason, 'x', sizeof(reason));
        assert_string_equal(assessment_reason(&as, reason, 20), "not ready: kvm (KVM");
        assert_int_equal(reason[20], 'x');
        assessment_done(&as);

        /* Only the plan stands between the host and ready. */
        use("[readiness]\nrequire = tun\n[memory]\nswappiness = 7\n");
        assess_fixture("kvm-pvm-msr", check_input(), &as);
        assert_int_equal(as.n_failed, 0);
        assert_false(as.ready);
        assert_non_null(strstr(assessment_reason(&as, reason, sizeof(reason)),
                               "not ready: the policy wants 1 change (vm.swappiness is "));
        assessment_done(&as);

        /* Without a plan the same host is ready. */
        in.plan = ASSESS_PLAN_NONE;
        assess_fixture("kvm-pvm-msr", in, &as);
        assert_int_equal(as.plan.n, 0);
        assert_true(as.ready);
        assessment_done(&as);
}

/* A percentage in the requirement list is of the RAM the fixture's meminfo states. */
static void test_require_list(void **state) {
        uint64_t mem_kib = fixture_number("numa-2node", "proc/meminfo"); /* MemTotal, first */
        uint64_t want = mem_kib * 1024 / 100;
        struct assess_input in = check_input();
        struct assessment as;
        (void) state;

        use("[readiness]\nrequire = kvm\n");
        in.require_list = "hugepages=1%, tun";
        assess_fixture("numa-2node", in, &as);
        /* The list replaces the policy's requirements. */
        assert_int_equal(as.n_results, 2);
        assert_int_equal(results[0].req.kind, REQ_HUGEPAGES);
        assert_true(results[0].req.amount >= want - 1 && results[0].req.amount <= want + 1);
        assert_int_equal(results[1].req.kind, REQ_TUN);
        assessment_done(&as);
}

/* What leases hold: pages counted as taken by the requirements, a pool shrink below them
 * clamped or dropped. Expectations from the fixture's pool counters. */
static void test_leases(void **state) {
        const char *pool = "sys/kernel/mm/hugepages/hugepages-2048kB/";
        char dir[128];
        uint64_t nr, free_pages, resv;
        struct lease_usage u = { .n_sizes = 1 };
        struct assess_input in = check_input();
        struct assessment as;
        char text[256];
        (void) state;

        snprintf(dir, sizeof(dir), "%snr_hugepages", pool);
        nr = fixture_number("numa-2node", dir);
        snprintf(dir, sizeof(dir), "%sfree_hugepages", pool);
        free_pages = fixture_number("numa-2node", dir);
        snprintf(dir, sizeof(dir), "%sresv_hugepages", pool);
        resv = fixture_number("numa-2node", dir);
        assert_true(nr > 8 && free_pages - resv > nr / 2);

        /* Half the pool wanted: without leases, the pool shrinks to it and the free pages
         * serve a requirement of half the pool. */
        snprintf(text, sizeof(text),
                 "[readiness]\nrequire = hugepages=%" PRIu64 "M\n[hugepages]\npool = %" PRIu64
                 "\nper-node = kernel\n",
                 nr / 2 * 2, nr / 2);
        use(text);
        assess_fixture("numa-2node", check_input(), &as);
        assert_int_equal(as.n_failed, 0);
        assert_int_equal(as.plan.n, 1);
        assert_int_equal(as.plan.steps[0].kind, PLAN_HUGEPAGES);
        assert_int_equal(as.plan.steps[0].u.hugepages.pages, nr / 2);
        assessment_done(&as);

        /* Leases hold three quarters of the pool: the shrink stops at what they hold, and
         * only a quarter of the pool is left for the requirement. */
        u.hugepages[0].page_size = 2 * MIB;
        u.hugepages[0].bytes = nr * 3 / 4 * 2 * MIB;
        in.leases = &u;
        assess_fixture("numa-2node", in, &as);
        assert_int_equal(as.n_failed, 1);
        assert_false(results[0].satisfied);
        assert_int_equal(as.plan.n, 1);
        assert_int_equal(as.plan.steps[0].u.hugepages.pages, nr * 3 / 4);
        assert_false(as.ready);
        assessment_done(&as);

        /* Leases hold the whole pool: nothing to shrink, so no step at all. */
        u.hugepages[0].bytes = nr * 2 * MIB;
        in.require = NULL;
        assess_fixture("numa-2node", in, &as);
        assert_int_equal(as.n_results, 0);
        assert_int_equal(as.plan.n, 0);
        assert_true(as.ready);
        assessment_done(&as);
}

/* The refill plan: one step per slot missing from the fixture's <snapshot root>/slots, and
 * nothing else the policy would change (the btrfs mount options are not the refill's). */
static void test_snapshot_refill(void **state) {
        const char *slots = "var/lib/hosttune/snapshots/slots";
        unsigned have = fixture_entries("btrfs-snapshots", slots);
        struct assessment as;
        (void) state;

        use("[snapshots]\nslots = 5\n[btrfs]\nrequire-options = ssd\n");
        assess_fixture("btrfs-snapshots",
                       (struct assess_input){ .policy = &p,
                                              .probes = PROBE_MASK(PROBE_BTRFS),
                                              .plan = ASSESS_PLAN_SNAPSHOT_REFILL },
                       &as);
        assert_true(have < 5);
        assert_int_equal(as.plan.n, 5 - have);
        for (unsigned i = 0; i < as.plan.n; i++)
                assert_int_equal(as.plan.steps[i].kind, PLAN_SNAPSHOT_SLOT);
        /* Only the btrfs probe (and what it depends on) ran. */
        assert_true(report.probed[PROBE_BTRFS]);
        assert_false(report.probed[PROBE_KVM]);
        assessment_done(&as);
}

/* Without a policy: the probes only, no knobs, nothing judged or planned. */
static void test_probes_only(void **state) {
        struct assessment as;
        (void) state;

        assess_fixture("fc-vm-amd",
                       (struct assess_input){ .probes = PROBE_MASK_ALL,
                                              .detail = true,
                                              .plan = ASSESS_PLAN_POLICY },
                       &as);
        assert_false(report.knobs.read);
        assert_int_equal(as.n_results, 0);
        assert_int_equal(as.plan.n, 0);
        assert_true(as.ready);
        for (unsigned i = 0; i < _PROBE_MAX; i++)
                assert_true(report.probed[i]);
        assessment_done(&as);
}

/* A requirement resting on a file the probes could not parse: `check` says "could not probe"
 * for it (the garbage fixture's 2M nr_hugepages), not for kvm, which is a verdict. */
static void test_unprobed(void **state) {
        struct assessment as;
        (void) state;

        use("[readiness]\nrequire = kvm, hugepages=2M\n");
        assess_fixture("garbage", check_input(), &as);
        assert_int_equal(as.n_failed, 2);
        assert_int_equal(as.unprobed, 1);
        assert_int_equal(results[1].req.kind, REQ_HUGEPAGES);
        assert_int_equal(results[1].error, -EBADMSG);
        assessment_done(&as);
}

/* Failures name their step and leave the results as they were. */
static void test_failures(void **state) {
        struct assess_error e = { .step = ASSESS_STEP_PLAN };
        struct assessment as;
        char root[512];
        struct assess_input in = { .probes = PROBE_MASK_ALL, .plan = ASSESS_PLAN_POLICY };
        (void) state;

        use("[readiness]\nrequire = kvm\n");
        in.policy = &p;
        in.require = &p.require;
        memset(results, 0xa5, sizeof(results));

        in.root = fixture_path("no-such-host", root, sizeof(root));
        assert_int_equal(assess(&in, &report, results, &as, &e), -ENOENT);
        assert_int_equal(e.step, ASSESS_STEP_OPEN);
        assert_string_equal(e.message, "");

        in.root = fixture_path("fc-vm-amd", root, sizeof(root));
        in.require_list = "kvm, hugepages=lots";
        memset(&report, 0, sizeof(report));
        assert_int_equal(assess(&in, &report, results, &as, &e), -EINVAL);
        assert_int_equal(e.step, ASSESS_STEP_REQUIRE);
        assert_non_null(strstr(e.message, "hugepages=lots"));
        /* Without somewhere to say why, the error alone. */
        memset(&report, 0, sizeof(report));
        assert_int_equal(assess(&in, &report, results, &as, NULL), -EINVAL);

        for (size_t i = 0; i < sizeof(results); i++)
                assert_int_equal(((unsigned char *) results)[i], 0xa5);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ready),           cmocka_unit_test(test_not_ready_reason),
                cmocka_unit_test(test_require_list),    cmocka_unit_test(test_leases),
                cmocka_unit_test(test_snapshot_refill), cmocka_unit_test(test_probes_only),
                cmocka_unit_test(test_unprobed),        cmocka_unit_test(test_failures),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
