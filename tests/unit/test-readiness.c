/* SPDX-License-Identifier: MIT */
/* Unit tests for policies/readiness.c: requirement lists and their verdict on a host report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "lib/util.h"
#include "policies/readiness.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static void test_parse_tokens(void **state) {
        struct requirements req = { 0 };
        char err[256] = "", buf[64];
        (void) state;

        /* Commas and any whitespace separate; empty tokens are skipped. */
        assert_int_equal(requirements_parse(" kvm,,hugepages=2G\trng\nuserfaultfd , taps=8,"
                                            "snapshots=4,hwrng,tun,vhost-net,vhost-vsock,userns,"
                                            "zram,btrfs,nix,no-swap,smt-off,ksm-off",
                                            0, &req, err, sizeof(err)),
                         0);
        assert_int_equal(req.n, 17);
        assert_int_equal(req.items[0].kind, REQ_KVM);
        assert_int_equal(req.items[1].kind, REQ_HUGEPAGES);
        assert_true(req.items[1].amount == 2 * GiB);
        assert_int_equal(req.items[1].page_size, 0);
        assert_int_equal(req.items[4].kind, REQ_TAPS);
        assert_int_equal(req.items[4].amount, 8);
        assert_string_equal(requirement_to_string(&req.items[1], buf, sizeof(buf)), "hugepages=2G");
        assert_string_equal(requirement_to_string(&req.items[4], buf, sizeof(buf)), "taps=8");
        assert_string_equal(requirement_to_string(&req.items[16], buf, sizeof(buf)), "ksm-off");
        /* Every probe is needed by some token of this list. */
        assert_true(requirements_probes(&req) == PROBE_MASK_ALL);

        /* A later token of the same kind replaces; another page size is another item. */
        memset(&req, 0, sizeof(req));
        assert_int_equal(requirements_parse("taps=2,hugepages=1G,taps=4,hugepages=4G:1G,"
                                            "hugepages=512M",
                                            0, &req, err, sizeof(err)),
                         0);
        assert_int_equal(req.n, 3);
        assert_int_equal(req.items[0].amount, 4);
        assert_true(req.items[1].amount == 512 * MiB);
        assert_true(req.items[2].page_size == GiB);
        assert_string_equal(requirement_to_string(&req.items[2], buf, sizeof(buf)),
                            "hugepages=4G:1G");
        /* Merging into an existing list (a policy's list, then --require). */
        assert_int_equal(requirements_parse("taps=6", 0, &req, err, sizeof(err)), 0);
        assert_int_equal(req.n, 3);
        assert_int_equal(req.items[0].amount, 6);
        assert_true(requirements_probes(&req) ==
                    (PROBE_MASK(PROBE_NET) | PROBE_MASK(PROBE_HUGETLB)));

        /* A percentage of RAM. */
        memset(&req, 0, sizeof(req));
        assert_int_equal(requirements_parse("hugepages=10%", 20 * GiB, &req, err, sizeof(err)), 0);
        assert_true(req.items[0].amount == 2 * GiB);
        assert_int_equal(requirements_parse("", 0, &req, err, sizeof(err)), 0);
        assert_int_equal(requirements_parse(NULL, 0, &req, err, sizeof(err)), 0);
        assert_int_equal(req.n, 1);
}

static void test_parse_errors(void **state) {
        static const struct {
                const char *list;
                const char *message;
        } bad[] = {
                { "kvm,bogus", "unknown requirement 'bogus'" },
                { "hugepages", "requirement 'hugepages' needs a value" },
                { "kvm=1", "requirement 'kvm=1' takes no value" },
                { "hugepages=", "bad size in 'hugepages='" },
                { "hugepages=lots", "bad size 'lots'" },
                { "hugepages=0", "bad size '0'" },
                { "hugepages=10%", "bad size '10%'" }, /* no RAM size to take 10% of */
                { "hugepages=2G:3M", "bad page size '3M'" },
                { "hugepages=2G:", "bad page size ''" },
                { "taps=0", "bad count in 'taps=0'" },
                { "snapshots=65536", "bad count in 'snapshots=65536'" },
                { "taps=-1", "bad count" },
                { "=3", "bad requirement '=3'" },
        };
        char err[256], longtok[300];
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                struct requirements req = { 0 };
                err[0] = 0;
                assert_int_equal(requirements_parse(bad[i].list, 0, &req, err, sizeof(err)),
                                 -EINVAL);
                if (!strstr(err, bad[i].message))
                        fail_msg("'%s': message '%s' lacks '%s'", bad[i].list, err, bad[i].message);
                /* req is unchanged on error. */
                assert_int_equal(req.n, 0);
        }
        memset(longtok, 'k', sizeof(longtok) - 1);
        longtok[sizeof(longtok) - 1] = 0;
        {
                struct requirements req = { 0 };
                assert_int_equal(requirements_parse(longtok, 0, &req, err, sizeof(err)), -EINVAL);
                assert_true(strstr(err, "requirement too long") != NULL);
        }
        /* More than REQUIREMENTS_MAX distinct items. */
        {
                struct requirements req = { .n = REQUIREMENTS_MAX };

                for (unsigned i = 0; i < REQUIREMENTS_MAX; i++) {
                        req.items[i].kind = REQ_HUGEPAGES;
                        req.items[i].page_size = (uint64_t) 1 << (i + 12);
                        req.items[i].amount = 1;
                }
                assert_int_equal(requirements_parse("kvm", 0, &req, err, sizeof(err)), -E2BIG);
                assert_true(strstr(err, "more than 32 requirements") != NULL);
                assert_int_equal(req.n, REQUIREMENTS_MAX);
        }
}

/* A report with a 2M pool: nr, free, resv as given. */
static void set_pool(struct host_report *r, uint64_t nr, uint64_t free_pages, uint64_t resv) {
        r->hugetlb.supported = true;
        r->hugetlb.default_size = 2 * MiB;
        r->hugetlb.n_sizes = 1;
        r->hugetlb.sizes[0].page_size = 2 * MiB;
        r->hugetlb.sizes[0].nr = nr;
        r->hugetlb.sizes[0].free = free_pages;
        r->hugetlb.sizes[0].resv = resv;
}

static unsigned eval(const char *list, const struct host_report *r,
                     const struct lease_usage *leases, struct requirement_result *res) {
        struct requirements req = { 0 };
        char err[256];

        assert_int_equal(requirements_parse(list, 0, &req, err, sizeof(err)), 0);
        return requirements_evaluate(&req, r, leases, res);
}

static void test_hugepages(void **state) {
        struct host_report *r = calloc(1, sizeof(*r));
        struct requirement_result res[4];
        struct lease_usage leases = { .n_sizes = 1 };
        (void) state;

        assert_non_null(r);
        /* 1024 pages, 1000 free, 100 of them reserved: 900 available = 1800M. */
        set_pool(r, 1024, 1000, 100);
        assert_int_equal(eval("hugepages=1800M", r, NULL, res), 0);
        assert_string_equal(res[0].reason, "900 of 1024 2M pages available (900 needed)");
        assert_int_equal(eval("hugepages=1802M", r, NULL, res), 1);
        assert_false(res[0].satisfied);
        assert_string_equal(res[0].reason,
                            "only 900 2M pages available, 901 needed (pool 1024, free 1000, "
                            "reserved 100, leased 0): a VM using MAP_HUGETLB would die with "
                            "SIGBUS");
        assert_true(strstr(res[0].remedy, "echo 1025 > /sys/kernel/mm/hugepages/"
                                          "hugepages-2048kB/nr_hugepages") != NULL);
        /* A size that is not a whole number of pages rounds up. */
        assert_int_equal(eval("hugepages=1M", r, NULL, res), 0);
        assert_string_equal(res[0].reason, "900 of 1024 2M pages available (1 needed)");

        /* Leases: pages promised but not yet faulted in still count as free in the kernel's
         * numbers; at most nr - leased can go to a new user. 300 leased: 724 < 900. */
        leases.hugepages[0].page_size = 2 * MiB;
        leases.hugepages[0].bytes = 300 * 2 * MiB;
        assert_int_equal(eval("hugepages=1448M", r, &leases, res), 0);
        assert_int_equal(eval("hugepages=1450M", r, &leases, res), 1);
        assert_true(strstr(res[0].reason, "only 724 2M pages available, 725 needed") != NULL);
        assert_true(strstr(res[0].reason, "leased 300") != NULL);
        /* Leases of another page size do not count against this pool. */
        leases.hugepages[0].page_size = GiB;
        assert_int_equal(eval("hugepages=1800M", r, &leases, res), 0);
        /* More leased than the pool holds: nothing available. */
        leases.hugepages[0].page_size = 2 * MiB;
        leases.hugepages[0].bytes = 2000 * 2 * MiB;
        assert_int_equal(eval("hugepages=2M", r, &leases, res), 1);
        /* resv above free (cannot happen in the kernel, but never underflows). */
        set_pool(r, 10, 5, 9);
        assert_int_equal(eval("hugepages=2M", r, NULL, res), 1);
        assert_true(strstr(res[0].reason, "only 0 2M pages") != NULL);

        /* No 1G pool on this kernel. */
        assert_int_equal(eval("hugepages=1G:1G", r, NULL, res), 1);
        assert_string_equal(res[0].reason, "no 1G hugepage pool on this kernel");
        assert_true(strstr(res[0].remedy, "hugepagesz=1G") != NULL);
        /* No hugetlb at all. */
        r->hugetlb.supported = false;
        assert_int_equal(eval("hugepages=2M", r, NULL, res), 1);
        free(r);
}

static void test_status_requirements(void **state) {
        struct host_report *r = calloc(1, sizeof(*r));
        struct requirement_result res[8];
        (void) state;

        assert_non_null(r);
        /* kvm: usable decides; a warning is a caveat. Not usable: the probe's reason and its
         * error (could not probe) are carried over. */
        r->kvm.usable = true;
        r->results[PROBE_KVM].status = PROBE_WARN;
        strscpy(r->results[PROBE_KVM].reason, REASON_MAX, "KVM usable but mode 0660");
        strscpy(r->results[PROBE_KVM].remedy, REASON_MAX, "chmod 0666 /dev/kvm");
        assert_int_equal(eval("kvm", r, NULL, res), 0);
        assert_true(res[0].caveat);
        assert_string_equal(res[0].remedy, "chmod 0666 /dev/kvm");
        r->kvm.usable = false;
        r->results[PROBE_KVM].status = PROBE_FAIL;
        r->results[PROBE_KVM].error = -EIO;
        assert_int_equal(eval("kvm", r, NULL, res), 1);
        assert_int_equal(res[0].error, -EIO);
        assert_int_equal(res[0].probe, PROBE_KVM);

        /* rng: crng readiness decides, hwrng needs an active source and /dev/hwrng. */
        r->rng.crng_ready = 1;
        r->results[PROBE_RNG].status = PROBE_WARN; /* what the probe says without a source */
        assert_int_equal(eval("rng,hwrng", r, NULL, res), 1);
        assert_true(res[0].satisfied);
        strscpy(r->rng.current, sizeof(r->rng.current), "virtio_rng.0");
        r->rng.hwrng.exists = true;
        assert_int_equal(eval("rng,hwrng", r, NULL, res), 0);
        r->rng.crng_ready = 0;
        assert_int_equal(eval("rng", r, NULL, res), 1);
        assert_string_equal(res[0].reason, "crng not initialised");

        /* Device nodes. */
        r->net.tun.exists = r->net.tun.is_char = true;
        r->net.tun.mode = 0666;
        assert_int_equal(eval("tun,vhost-net,vhost-vsock", r, NULL, res), 2);
        assert_string_equal(res[0].reason, "/dev/net/tun present (mode 0666)");
        assert_string_equal(res[1].remedy, "modprobe vhost_net");

        /* userfaultfd and userns accept ok and warn, not fail or absent. */
        r->results[PROBE_USERFAULTFD].status = PROBE_WARN;
        r->results[PROBE_USERNS].status = PROBE_ABSENT;
        assert_int_equal(eval("userfaultfd,userns", r, NULL, res), 1);
        assert_true(res[0].satisfied && res[0].caveat);
        assert_false(res[1].satisfied);
        /* nix: only fail is not ready. */
        r->results[PROBE_NIX].status = PROBE_ABSENT;
        assert_int_equal(eval("nix", r, NULL, res), 0);
        r->results[PROBE_NIX].status = PROBE_FAIL;
        assert_int_equal(eval("nix", r, NULL, res), 1);
        free(r);
}

static void test_counts_and_advice(void **state) {
        struct host_report *r = calloc(1, sizeof(*r));
        struct requirement_result res[4];
        struct lease_usage leases = { .taps = 3, .snapshots = 1 };
        (void) state;

        assert_non_null(r);
        /* taps: the pool minus leased ones, and /dev/net/tun must exist. */
        r->net.n_taps = 8;
        assert_int_equal(eval("taps=8", r, NULL, res), 1);
        assert_true(strstr(res[0].reason, "(no /dev/net/tun)") != NULL);
        r->net.tun.exists = true;
        assert_int_equal(eval("taps=8", r, NULL, res), 0);
        assert_int_equal(eval("taps=6", r, &leases, res), 1);
        assert_string_equal(res[0].reason, "5 taps free in the pool, 6 needed");
        /* snapshots: prepared slots. */
        r->btrfs.free_slots = 4;
        assert_int_equal(eval("snapshots=4", r, NULL, res), 0);
        /* zram needs a device used as swap. */
        r->zram.n_devices = 1;
        assert_int_equal(eval("zram", r, NULL, res), 1);
        r->zram.devices[0].is_swap = true;
        assert_int_equal(eval("zram", r, NULL, res), 0);
        /* Firecracker's production advice. */
        strscpy(r->cpu.smt_control, sizeof(r->cpu.smt_control), "on");
        r->memory.ksm_run = 1;
        r->memory.n_swaps = 1;
        strscpy(r->memory.swaps[0].path, sizeof(r->memory.swaps[0].path), "/dev/zram0");
        assert_int_equal(eval("no-swap,smt-off,ksm-off", r, NULL, res), 3);
        assert_string_equal(res[1].reason, "SMT on: sibling threads share caches across VMs "
                                           "(Firecracker's production advice is SMT off)");
        strscpy(r->cpu.smt_control, sizeof(r->cpu.smt_control), "notsupported");
        r->memory.ksm_run = -1;
        r->memory.n_swaps = 0;
        assert_int_equal(eval("no-swap,smt-off,ksm-off", r, NULL, res), 0);
        assert_string_equal(res[2].reason, "KSM not built in");
        /* btrfs: the snapshot root on btrfs. */
        strscpy(r->btrfs.snapshot_root.path, sizeof(r->btrfs.snapshot_root.path), "/snap");
        assert_int_equal(eval("btrfs", r, NULL, res), 1);
        r->btrfs.snapshot_root.on_btrfs = true;
        assert_int_equal(eval("btrfs", r, NULL, res), 0);
        assert_string_equal(res[0].reason, "snapshot root /snap is on btrfs");
        free(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_tokens),
                cmocka_unit_test(test_parse_errors),
                cmocka_unit_test(test_hugepages),
                cmocka_unit_test(test_status_requirements),
                cmocka_unit_test(test_counts_and_advice),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
