/* SPDX-License-Identifier: MIT */
/* Unit tests for policies/fleet.c: the verified features, the node-feature-discovery file and
 * the Nix machines-file line, from hand-made reports. tests/integration/fleet-formats.py reads
 * the same formats back with NFD's and Nix's rules against a real agent and a real Nix. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "lib/parse.h"
#include "lib/util.h"
#include "policies/fleet.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static struct host_report *report_new(void) {
        struct host_report *r = calloc(1, sizeof(*r));
        assert_non_null(r);
        for (unsigned i = 0; i < _PROBE_MAX; i++)
                r->probed[i] = true;
        r->kvm.usable = true; /* root's smoke guest ran */
        r->kvm.world_accessible = true;
        r->kvm.smoke.build = (struct kvm_smoke_result){ .tried = true, .ran = true };
        r->rng.crng_ready = 1;
        r->net.tun = (struct device_facts){ .exists = true, .is_char = true, .mode = 0666 };
        r->results[PROBE_USERFAULTFD].status = PROBE_FAIL;
        r->results[PROBE_USERNS].status = PROBE_OK;
        r->results[PROBE_RNG].status = PROBE_WARN; /* no hwrng */
        r->hugetlb.supported = true;
        r->hugetlb.default_size = 2 * MiB;
        r->hugetlb.n_sizes = 2;
        r->hugetlb.sizes[0] =
                (struct hugetlb_pool){ .page_size = 2 * MiB, .nr = 1024, .free = 1000, .resv = 10 };
        r->hugetlb.sizes[1] = (struct hugetlb_pool){ .page_size = GiB, .nr = 0 };
        r->net.n_taps = 8;
        r->btrfs.free_slots = 3;
        return r;
}

/* The policy's hugepages requirement as evaluated against r. */
static unsigned eval_policy(const struct host_report *r, const char *require,
                            const struct lease_usage *leases, struct requirement_result *res) {
        struct requirements req = { 0 };
        char err[128];

        assert_int_equal(requirements_parse(require, 0, &req, err, sizeof(err)), 0);
        (void) requirements_evaluate(&req, r, leases, res);
        return req.n;
}

static void test_view_and_nix_features(void **state) {
        _cleanup_free_ struct host_report *r = report_new();
        struct lease_usage leases = { .n_sizes = 1, .taps = 3 };
        struct requirement_result res[REQUIREMENTS_MAX];
        struct fleet_view v;
        char buf[64];
        unsigned n;
        (void) state;

        leases.hugepages[0].page_size = 2 * MiB;
        leases.hugepages[0].bytes = 100 * 2 * MiB;
        n = eval_policy(r, "kvm,hugepages=1G", &leases, res);
        fleet_view_build(r, res, n, true, &leases, &v);
        assert_true(v.kvm && v.kvm_build_users && v.hugepages);
        assert_true(v.checks[FLEET_CHECK_RNG] && v.checks[FLEET_CHECK_TUN]);
        assert_true(v.checks[FLEET_CHECK_USERNS]);
        assert_false(v.checks[FLEET_CHECK_HWRNG] || v.checks[FLEET_CHECK_USERFAULTFD]);
        assert_false(v.checks[FLEET_CHECK_VHOST_NET]);
        assert_int_equal(v.n_pools, 2);
        /* free - reserved = 990, but only 924 pages are not promised to leases. */
        assert_int_equal(v.pools[0].leased, 100);
        assert_int_equal(v.pools[0].available, 924);
        assert_int_equal(v.taps_free, 5);
        assert_int_equal(v.snapshot_slots_free, 3);
        assert_int_equal(fleet_nix_features(&v, buf, sizeof(buf)), 24);
        assert_string_equal(buf, "kvm nixos-test hugepages");
        assert_int_equal(fleet_nix_features(&v, buf, 10), -ENOBUFS);

        /* /dev/kvm open to everyone, but the build user's own smoke guest did not run (a KVM
         * that answers the API and runs no stock guest, as kvm_pvm): no kvm for Nix. */
        r->kvm.smoke.build.ran = false;
        n = eval_policy(r, "rng", NULL, res);
        fleet_view_build(r, res, n, true, NULL, &v);
        assert_true(v.kvm);
        assert_false(v.kvm_build_users);
        assert_int_equal(fleet_nix_features(&v, buf, sizeof(buf)), 0);
        /* No build user could be tried at all: no kvm for Nix either. */
        r->kvm.smoke.build = (struct kvm_smoke_result){ .tried = false, .ran = true };
        fleet_view_build(r, res, n, true, NULL, &v);
        assert_false(v.kvm_build_users);

        /* KVM root can use but build users cannot (mode 0660, their guest fails at open): no
         * kvm for Nix. */
        r->kvm.world_accessible = false;
        r->kvm.smoke.build = (struct kvm_smoke_result){ .tried = true, .ran = false };
        n = eval_policy(r, "hugepages=4G", NULL, res);
        fleet_view_build(r, res, n, false, NULL, &v);
        assert_true(v.kvm);
        assert_false(v.kvm_build_users || v.hugepages); /* 990 pages are not 4G */
        assert_int_equal(fleet_nix_features(&v, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "");

        /* A policy without hugepage requirements never claims hugepages. */
        r->kvm.world_accessible = true;
        r->kvm.smoke.build.ran = true;
        n = eval_policy(r, "rng", NULL, res);
        fleet_view_build(r, res, n, true, NULL, &v);
        assert_int_equal(fleet_nix_features(&v, buf, sizeof(buf)), 14);
        assert_string_equal(buf, "kvm nixos-test");

        /* No KVM probe run, no kvm. */
        r->probed[PROBE_KVM] = false;
        fleet_view_build(r, res, n, true, NULL, &v);
        assert_false(v.kvm || v.kvm_build_users);
}

static void test_nfd_names(void **state) {
        char long_name[80];
        (void) state;

        assert_true(fleet_nfd_name_valid("hosttune.feature.node.kubernetes.io/kvm"));
        assert_true(fleet_nfd_name_valid("feature.node.kubernetes.io/kvm"));
        assert_true(fleet_nfd_name_valid("profile.node.kubernetes.io/x"));
        assert_true(fleet_nfd_name_valid("vendor.io/hugepages-2M.free"));
        assert_true(fleet_nfd_name_valid("vendor.io/A_b.C-9"));
        /* Unprefixed: NFD auto-prefixes today, a feature gate refuses it. */
        assert_false(fleet_nfd_name_valid("kvm"));
        /* nfd-master denies kubernetes.io and subdomains other than its own. */
        assert_false(fleet_nfd_name_valid("kubernetes.io/kvm"));
        assert_false(fleet_nfd_name_valid("node.kubernetes.io/kvm"));
        assert_false(fleet_nfd_name_valid("xfeature.node.kubernetes.io/kvm"));
        /* Qualified-name rules. */
        assert_false(fleet_nfd_name_valid("Vendor.io/kvm"));
        assert_false(fleet_nfd_name_valid("vendor..io/kvm"));
        assert_false(fleet_nfd_name_valid("-vendor.io/kvm"));
        assert_false(fleet_nfd_name_valid("vendor.io./kvm"));
        assert_false(fleet_nfd_name_valid("/kvm"));
        assert_false(fleet_nfd_name_valid("vendor.io/"));
        assert_false(fleet_nfd_name_valid("vendor.io/-kvm"));
        assert_false(fleet_nfd_name_valid("vendor.io/kvm."));
        assert_false(fleet_nfd_name_valid("vendor.io/k=vm"));
        assert_false(fleet_nfd_name_valid("vendor.io/a/b"));
        xsprintf(long_name, "v.io/%063d", 0);
        assert_true(fleet_nfd_name_valid(long_name));
        xsprintf(long_name, "v.io/%064d", 0);
        assert_false(fleet_nfd_name_valid(long_name));

        assert_true(fleet_nfd_value_valid(""));
        assert_true(fleet_nfd_value_valid("true"));
        assert_true(fleet_nfd_value_valid("18446744073709551615"));
        assert_false(fleet_nfd_value_valid("two words"));
        assert_false(fleet_nfd_value_valid("-1"));
        assert_false(fleet_nfd_value_valid("a="));
}

static void test_nfd_format(void **state) {
        _cleanup_free_ struct host_report *r = report_new();
        struct requirement_result res[REQUIREMENTS_MAX];
        struct fleet_view v;
        char buf[4096];
        unsigned n;
        int len;
        (void) state;

        n = eval_policy(r, "kvm,hugepages=1G", NULL, res);
        fleet_view_build(r, res, n, true, NULL, &v);
        /* 2026-12-06T07:00:00Z, a whole second; the microseconds are cut. */
        len = fleet_nfd_format(&v, UINT64_C(1796540400) * 1000000 + 999999, buf, sizeof(buf));
        assert_int_equal(len, (int) strlen(buf));
        assert_string_equal(
                buf, "# Written by hosttuned (hosttuned(8)) for node-feature-discovery: features\n"
                     "# this host was verified to provide, and the capacity of its pools. The\n"
                     "# agent renews the expiry at each re-probe; a stopped agent's labels lapse.\n"
                     "# +expiry-time=2026-12-06T07:00:00Z\n"
                     "hosttune.feature.node.kubernetes.io/ready=true\n"
                     "hosttune.feature.node.kubernetes.io/kvm=true\n"
                     "hosttune.feature.node.kubernetes.io/kvm-build-users=true\n"
                     "hosttune.feature.node.kubernetes.io/nixos-test=true\n"
                     "hosttune.feature.node.kubernetes.io/hugepages=true\n"
                     "hosttune.feature.node.kubernetes.io/rng=true\n"
                     "hosttune.feature.node.kubernetes.io/tun=true\n"
                     "hosttune.feature.node.kubernetes.io/userns=true\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-2M.total=1024\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-2M.free=1000\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-2M.reserved=10\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-2M.leased=0\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-2M.available=990\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-1G.total=0\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-1G.free=0\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-1G.reserved=0\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-1G.leased=0\n"
                     "hosttune.feature.node.kubernetes.io/hugepages-1G.available=0\n"
                     "hosttune.feature.node.kubernetes.io/taps.free=8\n"
                     "hosttune.feature.node.kubernetes.io/snapshot-slots.free=3\n");

        /* Not ready, KVM lost: ready=false and no kvm lines at all. */
        r->kvm.usable = false;
        fleet_view_build(r, res, n, false, NULL, &v);
        assert_true(fleet_nfd_format(&v, 0, buf, sizeof(buf)) > 0);
        assert_non_null(strstr(buf, "# +expiry-time=1970-01-01T00:00:00Z\n"));
        assert_non_null(strstr(buf, "/ready=false\n"));
        assert_null(strstr(buf, "/kvm"));
        assert_null(strstr(buf, "nixos-test"));

        assert_int_equal(fleet_nfd_format(&v, 0, buf, 100), -ENOBUFS);
        assert_int_equal(fleet_nfd_format(&v, 0, buf, 0), -ENOBUFS);
}

/* The largest file the formatter can write stays far inside NFD's 64 kB: every flag, every
 * pool size, every count at its maximum. */
static void test_nfd_bounded(void **state) {
        static char buf[2 * FLEET_NFD_FILE_MAX];
        struct fleet_view v = { .ready = true,
                                .kvm = true,
                                .kvm_build_users = true,
                                .hugepages = true,
                                .n_pools = HUGETLB_SIZES_MAX,
                                .taps_free = UINT64_MAX,
                                .snapshot_slots_free = UINT64_MAX };
        int n;
        (void) state;

        for (unsigned i = 0; i < _FLEET_CHECK_MAX; i++)
                v.checks[i] = true;
        for (unsigned i = 0; i < HUGETLB_SIZES_MAX; i++)
                v.pools[i] = (struct fleet_pool){ .page_size = (UINT64_C(1) << 62) + 1,
                                                  .total = UINT64_MAX,
                                                  .free = UINT64_MAX,
                                                  .reserved = UINT64_MAX,
                                                  .leased = UINT64_MAX,
                                                  .available = UINT64_MAX };
        n = fleet_nfd_format(&v, UINT64_C(253402300799) * 1000000, buf, sizeof(buf));
        assert_true(n > 0 && n < 4096);
        assert_non_null(strstr(buf, "# +expiry-time=9999-12-31T23:59:59Z\n"));
}

static int line(const struct fleet_machine *m, const char *verified, char *buf, size_t size,
                char *err) {
        err[0] = 0;
        return fleet_machines_line(m, verified, buf, size, err, 256);
}

static void test_machines_line(void **state) {
        struct fleet_machine m = { .uri = "ssh-ng://builder-1.example.org",
                                   .systems = "x86_64-linux,i686-linux",
                                   .max_jobs = 8,
                                   .speed_factor = 2 };
        static const char *const bad_uris[] = {
                "ssh-ng://a b", "ssh-ng://a#b", "ssh-ng://a;b", "-", "", "ssh-ng://a\tb"
        };
        char buf[512], err[256];
        int n;
        (void) state;

        n = line(&m, "kvm nixos-test hugepages", buf, sizeof(buf), err);
        assert_int_equal(n, (int) strlen(buf));
        assert_string_equal(buf, "ssh-ng://builder-1.example.org x86_64-linux,i686-linux - 8 2 "
                                 "kvm,nixos-test,hugepages - -");

        /* Nothing verified, nothing extra: "-" for the empty list. */
        assert_true(line(&m, "", buf, sizeof(buf), err) > 0);
        assert_string_equal(buf,
                            "ssh-ng://builder-1.example.org x86_64-linux,i686-linux - 8 2 - - -");

        m.ssh_key = "/etc/nix/builder_ed25519";
        m.extra_features = "big-parallel,benchmark,big-parallel";
        m.mandatory_features = "benchmark";
        m.host_key_base64 = "c3NoLWVkMjU1MTkgQUFBQQo=";
        assert_true(line(&m, "kvm nixos-test", buf, sizeof(buf), err) > 0);
        assert_string_equal(buf, "ssh-ng://builder-1.example.org x86_64-linux,i686-linux "
                                 "/etc/nix/builder_ed25519 8 2 "
                                 "kvm,nixos-test,big-parallel,benchmark benchmark "
                                 "c3NoLWVkMjU1MTkgQUFBQQo=");

        /* A verified feature may be mandatory only where it holds. */
        m.mandatory_features = "kvm";
        assert_true(line(&m, "kvm nixos-test", buf, sizeof(buf), err) > 0);
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -ENXIO);
        assert_string_equal(err, "kvm is mandatory but not verified on this host: a line "
                                 "without it would accept other builds");
        m.mandatory_features = NULL;

        /* Nobody vouches for kvm by hand. */
        m.extra_features = "nixos-test";
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        assert_string_equal(err, "extra features: nixos-test is a feature hosttune verifies; it "
                                 "is listed only when it holds");
        m.extra_features = NULL;

        /* What Nix would split, cut or misread. */
        for (size_t i = 0; i < ELEMENTSOF(bad_uris); i++) {
                m.uri = bad_uris[i];
                assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        }
        m.uri = "ssh-ng://b";
        m.systems = "x86_64-linux,,i686-linux";
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        assert_string_equal(err, "systems: empty item in 'x86_64-linux,,i686-linux'");
        m.systems = "x86_64-linux,";
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        m.systems = "";
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        m.systems = "x86_64-linux";
        m.extra_features = "big parallel";
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        m.extra_features = NULL;
        m.ssh_key = "/a key";
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        m.ssh_key = NULL;
        m.host_key_base64 = "not base64!";
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        m.host_key_base64 = "abc";
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        m.host_key_base64 = NULL;
        m.max_jobs = 0;
        assert_int_equal(line(&m, "", buf, sizeof(buf), err), -EINVAL);
        m.max_jobs = 1;
        assert_int_equal(line(&m, "", buf, 10, err), -ENOBUFS);
        assert_true(line(&m, "", buf, sizeof(buf), err) > 0);
        assert_string_equal(buf, "ssh-ng://b x86_64-linux - 1 2 - - -");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_view_and_nix_features),
                cmocka_unit_test(test_nfd_names),
                cmocka_unit_test(test_nfd_format),
                cmocka_unit_test(test_nfd_bounded),
                cmocka_unit_test(test_machines_line),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
