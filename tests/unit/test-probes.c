/* SPDX-License-Identifier: MIT */
/* Unit tests for every probe over the fixture trees of tests/unit/fixtures/ (README.md there).
 * Each expected value is stated with the fixture file it comes from. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/fileio.h"
#include "lib/util.h"
#include "policies/readiness.h"
#include "probes/probes.h"
#include "tests/unit/fixture-util.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* The captured host: a Firecracker VM on AMD EPYC without KVM (fc-vm-amd). */
static void test_captured_host(void **state) {
        struct host_report *r = run_fixture("fc-vm-amd", true);
        const struct hugetlb_pool *p;
        (void) state;

        /* proc/cpuinfo: vendor_id AuthenticAMD, model name AMD EPYC, flags with hypervisor and
         * neither vmx nor svm; smt/control notsupported, smt/active 0, cpu/online 0-1. */
        assert_status(r, PROBE_CPU, PROBE_OK);
        assert_string_equal(r->cpu.vendor, "AuthenticAMD");
        assert_string_equal(r->cpu.model_name, "AMD EPYC");
        assert_true(r->cpu.flag_hypervisor);
        assert_false(r->cpu.flag_vmx);
        assert_false(r->cpu.flag_svm);
        assert_string_equal(r->cpu.smt_control, "notsupported");
        assert_int_equal(r->cpu.smt_active, 0);
        assert_int_equal(r->cpu.cpus_online, 2);

        /* No /dev/kvm in .fixture/devices; sys/module/kvm and sys/module/kvm_pvm exist (PVM,
         * KVM without VT-x/AMD-V, built in), nx_huge_pages N. */
        assert_status(r, PROBE_KVM, PROBE_ABSENT);
        assert_reason_contains(r, PROBE_KVM, "no vmx/svm flag (a virtual machine without nested");
        assert_reason_contains(r, PROBE_KVM, "kvm_pvm, which needs neither, registered no device");
        assert_false(r->kvm.dev.exists);
        assert_true(r->kvm.module_loaded);
        assert_string_equal(r->kvm.vendor_module, "kvm_pvm");
        assert_int_equal(r->kvm.nested, -1);
        assert_string_equal(r->kvm.nx_huge_pages, "N");
        assert_false(r->kvm.queried);
        assert_false(r->kvm.usable);

        /* proc/meminfo: MemTotal 24683620, MemFree 23959820, MemAvailable 24262868, Cached
         * 501784, SReclaimable 66184 kB; THP [madvise] (defrag [madvise]), ksm/run 0,
         * swappiness 60, overcommit 0, min_free_kbytes 67584; /proc/swaps header only. */
        assert_status(r, PROBE_MEMORY, PROBE_OK);
        assert_int_equal(r->memory.mem_total_kib, 24683620);
        assert_int_equal(r->memory.mem_free_kib, 23959820);
        assert_int_equal(r->memory.mem_available_kib, 24262868);
        assert_int_equal(r->memory.cached_kib, 501784);
        assert_int_equal(r->memory.slab_reclaimable_kib, 66184);
        assert_string_equal(r->memory.thp_enabled, "madvise");
        assert_string_equal(r->memory.thp_defrag, "madvise");
        assert_int_equal(r->memory.ksm_run, 0);
        assert_int_equal(r->memory.swappiness, 60);
        assert_int_equal(r->memory.overcommit_memory, 0);
        assert_int_equal(r->memory.min_free_kbytes, 67584);
        assert_int_equal(r->memory.n_swaps, 0);
        assert_reason_contains(r, PROBE_MEMORY, "24105 MiB RAM, 23694 MiB available");

        /* hugepages-2048kB with every counter 0; Hugepagesize 2048 kB; has_memory 0;
         * buddyinfo order 9/10 free blocks: DMA32 2/752, Normal 3/1917 (DMA ignored) ->
         * 2 + 2*752 + 3 + 2*1917 = 5343 pages of 2M obtainable now. No hugetlbfs mount. */
        assert_status(r, PROBE_HUGETLB, PROBE_OK);
        assert_true(r->hugetlb.supported);
        assert_int_equal(r->hugetlb.default_size, 2 * MiB);
        assert_int_equal(r->hugetlb.n_sizes, 1);
        assert_int_equal(r->hugetlb.n_numa_nodes, 1);
        p = hugetlb_find_pool(&r->hugetlb, 2 * MiB);
        assert_non_null(p);
        assert_int_equal(p->nr, 0);
        assert_int_equal(p->free, 0);
        assert_int_equal(p->obtainable_now, 5343);
        assert_int_equal(p->n_nodes, 1);
        assert_int_equal(p->nodes[0].obtainable_now, 5343);
        assert_int_equal(r->hugetlb.n_mounts, 0);
        assert_null(hugetlb_find_pool(&r->hugetlb, GiB));

        /* sys/block/zram0: disksize 0, comp_algorithm [lzo-rle]; zram-control exists. */
        assert_status(r, PROBE_ZRAM, PROBE_OK);
        assert_true(r->zram.module);
        assert_int_equal(r->zram.n_devices, 1);
        assert_string_equal(r->zram.devices[0].name, "zram0");
        assert_int_equal(r->zram.devices[0].disksize, 0);
        assert_string_equal(r->zram.devices[0].algorithm, "lzo-rle");
        assert_string_equal(r->results[PROBE_ZRAM].reason, "zram0 unconfigured");

        /* proc/filesystems lists btrfs, mountinfo has no btrfs, .fixture/paths is empty. */
        assert_status(r, PROBE_BTRFS, PROBE_ABSENT);
        assert_true(r->btrfs.supported);
        assert_int_equal(r->btrfs.n_mounts, 0);
        assert_false(r->btrfs.snapshot_root.exists);

        /* hw_random: rng_available "virtio_rng.0 none", rng_current virtio_rng.0; /dev/hwrng
         * c 10 183 0600; .fixture/crng ready. */
        assert_status(r, PROBE_RNG, PROBE_OK);
        assert_string_equal(r->rng.current, "virtio_rng.0");
        assert_string_equal(r->rng.available, "virtio_rng.0 none");
        assert_int_equal(r->rng.crng_ready, 1);
        assert_true(r->rng.hwrng.exists && r->rng.hwrng.is_char);
        assert_int_equal(r->rng.hwrng.minor, 183);
        assert_int_equal(r->rng.hwrng.mode, 0600);

        /* /dev/net/tun c 10 200 0600; no vhost nodes: warn. No htap* interfaces. */
        assert_status(r, PROBE_NET, PROBE_WARN);
        assert_true(r->net.tun.exists);
        assert_int_equal(r->net.tun.major, 10);
        assert_int_equal(r->net.tun.minor, 200);
        assert_false(r->net.vhost_net.exists);
        assert_false(r->net.vhost_vsock.exists);
        assert_int_equal(r->net.n_taps, 0);

        /* /dev/userfaultfd c 10 257 0600 and unprivileged_userfaultfd 0: warn. The syscall is
         * never tried on a fixture. */
        assert_status(r, PROBE_USERFAULTFD, PROBE_WARN);
        assert_int_equal(r->userfaultfd.dev.minor, 257);
        assert_int_equal(r->userfaultfd.unprivileged, 0);
        assert_false(r->userfaultfd.syscall_available);

        /* max_user_namespaces 96365, no Debian or AppArmor sysctl. */
        assert_status(r, PROBE_USERNS, PROBE_OK);
        assert_int_equal(r->userns.max_user_namespaces, 96365);
        assert_int_equal(r->userns.unprivileged_userns_clone, -1);
        assert_int_equal(r->userns.apparmor_restrict_unprivileged, -1);

        /* etc/nix/nix.conf: "sandbox = false" only; default features without kvm. / is ext4. */
        assert_status(r, PROBE_NIX, PROBE_OK);
        assert_true(r->nix.conf_exists);
        assert_string_equal(r->nix.sandbox, "false");
        assert_false(r->nix.features_explicit);
        assert_string_equal(r->nix.system_features, "nixos-test benchmark big-parallel");
        assert_false(r->nix.claims_kvm);
        assert_reason_contains(r, PROBE_NIX, "sandbox off; build-dir /tmp (ext4)");

        for (unsigned i = 0; i < _PROBE_MAX; i++)
                assert_true(r->probed[i]);
        free(r);
}

/* Every fixture tree (each directory of tests/unit/fixtures): statuses and reasons are the
 * same with and without detail, and no probe fails to run. */
static void test_detail_never_changes_verdicts(void **state) {
        DIR *d = opendir(fixtures_dir());
        struct dirent *de;
        unsigned n = 0;
        (void) state;

        assert_non_null(d);
        while ((de = readdir(d))) {
                struct host_report *a, *b;

                if (de->d_name[0] == '.' || de->d_type != DT_DIR)
                        continue;
                a = run_fixture(de->d_name, true);
                b = run_fixture(de->d_name, false);
                for (unsigned i = 0; i < _PROBE_MAX; i++)
                        if (a->results[i].status != b->results[i].status ||
                            !streq(a->results[i].reason, b->results[i].reason))
                                fail_msg("%s/%s: detail '%s' vs no detail '%s'", de->d_name,
                                         probe_id_to_string(i), a->results[i].reason,
                                         b->results[i].reason);
                free(a);
                free(b);
                n++;
        }
        closedir(d);
        assert_true(n >= 18);
}

static void test_kvm_usable(void **state) {
        struct host_report *r = run_fixture("kvm-intel-usable", false);
        (void) state;

        /* cpuinfo: GenuineIntel, vmx, no hypervisor flag; kvm_intel nested Y; /dev/kvm
         * c 10 232 0666 gid 993; .fixture/kvm: open ok, api 12, ADJUST_CLOCK 7,
         * NR_MEMSLOTS 32764, every other capability 1. */
        assert_string_equal(r->cpu.vendor, "GenuineIntel");
        assert_true(r->cpu.flag_vmx);
        assert_false(r->cpu.flag_hypervisor);
        assert_status(r, PROBE_KVM, PROBE_OK);
        assert_string_equal(r->kvm.vendor_module, "kvm_intel");
        assert_int_equal(r->kvm.nested, 1);
        assert_true(r->kvm.queried);
        assert_int_equal(r->kvm.open_error, 0);
        assert_int_equal(r->kvm.api_version, 12);
        assert_int_equal(r->kvm.caps[KVM_CAPI_ADJUST_CLOCK], 7);
        assert_int_equal(r->kvm.caps[KVM_CAPI_NR_MEMSLOTS], 32764);
        assert_int_equal(r->kvm.caps[KVM_CAPI_IRQCHIP], 1);
        assert_int_equal(r->kvm.caps[KVM_CAPI_ARM_PSCI_0_2], 0); /* not listed */
        assert_true(r->kvm.usable);
        assert_true(r->kvm.world_accessible);
        assert_int_equal(r->kvm.dev.gid, 993);
        assert_string_equal(r->results[PROBE_KVM].reason,
                            "KVM usable: API 12, kvm_intel, mode 0666, nested on; a smoke guest "
                            "ran (loop 1.01x native)");
        /* .fixture/kvm smoke-root and smoke-build: both guests ran. */
        assert_string_equal(r->kvm.smoke_source, "fixture");
        assert_true(r->kvm.smoke.root.ran);
        assert_true(r->kvm.smoke.build.ran);
        assert_string_equal(r->kvm.smoke.build.user, "nixbld1");
        assert_int_equal(r->kvm.smoke.build.uid, 30001);
        assert_int_equal(r->kvm.smoke.root.usec, 2900);
        /* QEMU's list is all there too (MCE 32 and the rest listed). */
        for (unsigned i = 0; i < _KVM_CAPI_MAX; i++)
                if (kvm_cap_needed_by_qemu(i))
                        assert_true(r->kvm.caps[i] > 0);
        /* vhost-net c 10 238, vhost-vsock c 10 241 in .fixture/devices. */
        assert_status(r, PROBE_NET, PROBE_OK);
        /* No system-features line: Nix's default includes kvm when KVM is usable. */
        assert_true(r->nix.claims_kvm);
        assert_status(r, PROBE_NIX, PROBE_OK);
        free(r);
}

static void test_kvm_mode_and_acl(void **state) {
        struct host_report *r = run_fixture("kvm-mode-0660", false);
        struct requirements req = { 0 };
        struct requirement_result res[1];
        char err[256];
        (void) state;

        /* /dev/kvm c 10 232 0660 without acl; the build user's guest failed to open it. */
        assert_status(r, PROBE_KVM, PROBE_WARN);
        assert_true(r->kvm.usable);
        assert_false(r->kvm.world_accessible);
        assert_false(r->kvm.dev.has_acl);
        assert_string_equal(r->results[PROBE_KVM].reason,
                            "KVM runs a guest for root, but not for Nix build user nixbld1 (uid "
                            "30001, no supplementary groups): failed at open: open /dev/kvm: "
                            "Permission denied");
        assert_int_equal(requirements_parse("kvm", 0, &req, err, sizeof(err)), 0);
        assert_int_equal(requirements_evaluate(&req, r, NULL, res), 0);
        assert_true(res[0].satisfied);
        assert_true(res[0].caveat);
        free(r);

        /* The same with "acl": an ACL grants what the mode bits do not. */
        r = run_fixture("kvm-acl", false);
        assert_status(r, PROBE_KVM, PROBE_OK);
        assert_true(r->kvm.dev.has_acl);
        assert_reason_contains(r, PROBE_KVM, ", ACL");
        free(r);
}

static void test_kvm_missing_caps_and_eacces(void **state) {
        struct host_report *r = run_fixture("kvm-missing-caps", false);
        (void) state;

        /* .fixture/kvm: cap IRQCHIP 0, no XSAVE line. */
        assert_status(r, PROBE_KVM, PROBE_FAIL);
        assert_false(r->kvm.usable);
        assert_int_equal(r->kvm.caps[KVM_CAPI_IRQCHIP], 0);
        assert_int_equal(r->kvm.caps[KVM_CAPI_XSAVE], 0);
        assert_string_equal(r->results[PROBE_KVM].reason,
                            "KVM lacks capabilities Firecracker needs: IRQCHIP,XSAVE");
        /* Nix default features then leave kvm out. */
        assert_false(r->nix.claims_kvm);
        free(r);

        /* .fixture/kvm: open EACCES; /dev/kvm 0600 root:root. A permission problem is a
         * verdict about the host, not a failure to probe: error stays 0. */
        r = run_fixture("kvm-eacces", false);
        assert_status(r, PROBE_KVM, PROBE_FAIL);
        assert_int_equal(r->kvm.open_error, -EACCES);
        assert_int_equal(r->results[PROBE_KVM].error, 0);
        assert_reason_contains(r, PROBE_KVM, "cannot open /dev/kvm: Permission denied");
        free(r);
}

/* The captured PVM host's kind: everything the kernel is asked answers yes, the guest fails. */
static void test_kvm_pvm_smoke_fails(void **state) {
        struct host_report *r = run_fixture("kvm-pvm-msr", false);
        struct requirements req = { 0 };
        struct requirement_result res[1];
        char err[256];
        (void) state;

        assert_int_equal(r->kvm.api_version, 12);
        assert_string_equal(r->kvm.vendor_module, "kvm_pvm");
        assert_status(r, PROBE_KVM, PROBE_FAIL);
        assert_false(r->kvm.usable);
        assert_string_equal(r->kvm.smoke.root.step, "set-msrs");
        assert_string_equal(r->results[PROBE_KVM].reason,
                            "KVM smoke guest failed at set-msrs: KVM_SET_MSRS wrote 1 of 4 MSRs "
                            "(first refused: 0x10a) of the feature MSRs QEMU -cpu max writes "
                            "(value 0x400000000c000069); kvm_pvm runs only PVM-enabled guest "
                            "kernels");
        assert_non_null(strstr(r->results[PROBE_KVM].remedy, "PVM-enabled kernel"));
        assert_string_equal(r->kvm.smoke.build.user, "nobody");
        assert_int_equal(r->kvm.smoke.build.error, -EACCES);
        assert_int_equal(requirements_parse("kvm", 0, &req, err, sizeof(err)), 0);
        assert_int_equal(requirements_evaluate(&req, r, NULL, res), 1);
        assert_false(res[0].satisfied);
        /* Nix's default features leave kvm out: the kernel's answers no longer decide. */
        assert_false(r->nix.claims_kvm);
        free(r);

        /* Every kernel answer right but no guest run: a warning, and not usable. */
        r = run_fixture("kvm-unverified", false);
        assert_status(r, PROBE_KVM, PROBE_WARN);
        assert_false(r->kvm.usable);
        assert_null(r->kvm.smoke_source);
        assert_reason_contains(r, PROBE_KVM, "no smoke guest was run");
        free(r);

        /* KVM_CREATE_VM EBUSY with vboxdrv loaded: VirtualBox is named. */
        r = run_fixture("kvm-busy", false);
        assert_status(r, PROBE_KVM, PROBE_FAIL);
        assert_int_equal(r->kvm.smoke.root.error, -EBUSY);
        assert_false(r->kvm.smoke.build.tried);
        assert_string_equal(r->results[PROBE_KVM].reason,
                            "KVM smoke guest failed at create-vm: KVM_CREATE_VM: Device or "
                            "resource busy: VirtualBox (vboxdrv) holds VT-x/AMD-V");
        assert_non_null(strstr(r->results[PROBE_KVM].remedy, "stop VirtualBox (vboxdrv)"));
        free(r);
}

static void test_numa_hugepages(void **state) {
        struct host_report *r = run_fixture("numa-2node", true);
        const struct hugetlb_pool *p;
        struct requirements req = { 0 };
        struct requirement_result res[2];
        struct lease_usage leases = { .n_sizes = 1 };
        char err[256];
        (void) state;

        /* has_memory 0-1; hugepages-2048kB nr 1024, free 1012, resv 12, overcommit 16;
         * node0 512/500, node1 512/512; buddyinfo orders 9 and 10: node 0 DMA32 2/752,
         * Normal 3/100 -> 1506 + 203 = 1709; node 1 Normal 1/50 -> 101; total 1810. */
        assert_status(r, PROBE_HUGETLB, PROBE_OK);
        assert_int_equal(r->hugetlb.n_numa_nodes, 2);
        p = hugetlb_find_pool(&r->hugetlb, 2 * MiB);
        assert_non_null(p);
        assert_int_equal(p->nr, 1024);
        assert_int_equal(p->free, 1012);
        assert_int_equal(p->resv, 12);
        assert_int_equal(p->nr_overcommit, 16);
        assert_int_equal(p->obtainable_now, 1810);
        assert_int_equal(p->n_nodes, 2);
        assert_int_equal(p->nodes[0].node, 0);
        assert_int_equal(p->nodes[0].nr, 512);
        assert_int_equal(p->nodes[0].free, 500);
        assert_int_equal(p->nodes[0].obtainable_now, 1709);
        assert_int_equal(p->nodes[1].node, 1);
        assert_int_equal(p->nodes[1].free, 512);
        assert_int_equal(p->nodes[1].obtainable_now, 101);

        /* Free minus reserved: 1012 - 12 = 1000 pages of 2M can go to a new user. 2G is 1024
         * pages: not ready; 1900M is 950 pages: ready. */
        assert_int_equal(
                requirements_parse("hugepages=2G hugepages=1900M:2M", 0, &req, err, sizeof(err)),
                0);
        assert_int_equal(req.n, 2);
        assert_int_equal(requirements_evaluate(&req, r, NULL, res), 1);
        assert_false(res[0].satisfied);
        assert_true(strstr(res[0].reason, "only 1000 2M pages available, 1024 needed") != NULL);
        assert_true(res[1].satisfied);
        /* 100 pages promised to leases: at most 1024 - 100 = 924 < 950 remain. */
        leases.hugepages[0].page_size = 2 * MiB;
        leases.hugepages[0].bytes = 100 * 2 * MiB;
        assert_int_equal(requirements_evaluate(&req, r, &leases, res), 2);
        assert_true(strstr(res[1].reason, "only 924 2M pages available, 950 needed") != NULL);
        free(r);
}

static void test_gigantic_pages_and_mount(void **state) {
        struct host_report *r = run_fixture("hugepages-1g", false);
        const struct hugetlb_pool *p;
        struct requirements req = { 0 };
        struct requirement_result res[2];
        char err[256];
        (void) state;

        /* hugepages-1048576kB: nr 4, free 3, resv 1; 1G is above buddyinfo's largest order
         * (10), so what is obtainable now is unknown. mountinfo: hugetlbfs at
         * /dev/hugepages1G with pagesize=1024M,mode=1770,gid=3000. */
        assert_int_equal(r->hugetlb.n_sizes, 2);
        assert_int_equal(r->hugetlb.sizes[0].page_size, 2 * MiB);
        assert_int_equal(r->hugetlb.sizes[1].page_size, GiB);
        p = hugetlb_find_pool(&r->hugetlb, GiB);
        assert_non_null(p);
        assert_int_equal(p->nr, 4);
        assert_int_equal(p->free, 3);
        assert_int_equal(p->resv, 1);
        assert_true(p->obtainable_now == UINT64_MAX);
        assert_int_equal(r->hugetlb.n_mounts, 1);
        assert_string_equal(r->hugetlb.mounts[0].path, "/dev/hugepages1G");
        assert_int_equal(r->hugetlb.mounts[0].page_size, GiB);
        assert_int_equal(r->hugetlb.mounts[0].mode, 01770);
        assert_true(r->hugetlb.mounts[0].has_gid);
        assert_int_equal(r->hugetlb.mounts[0].gid, 3000);
        assert_string_equal(r->results[PROBE_HUGETLB].reason,
                            "2M pool 0 (0 free, at least 5343 more obtainable now); 1G pool 4 (3 "
                            "free, gigantic)");
        /* 2 pages of 1G available (3 free - 1 reserved): 2G ready, 3G not. */
        assert_int_equal(
                requirements_parse("hugepages=2G:1G,hugepages=3G:1G", 0, &req, err, sizeof(err)),
                0);
        /* The later token of the same kind and page size replaces the earlier one. */
        assert_int_equal(req.n, 1);
        assert_int_equal(requirements_evaluate(&req, r, NULL, res), 1);
        req.items[0].amount = 2 * GiB;
        assert_int_equal(requirements_evaluate(&req, r, NULL, res), 0);
        free(r);
}

static void test_zram_swap(void **state) {
        struct host_report *r = run_fixture("zram-swap", true);
        const struct zram_device *z = &r->zram.devices[0];
        struct requirements req = { 0 };
        struct requirement_result res[2];
        char err[256];
        (void) state;

        /* zram0: disksize 8589934592, [zstd], mm_stat 1048576 262144 393216; /proc/swaps:
         * /dev/zram0 partition 8388604 1024 100 (tab separated). */
        assert_status(r, PROBE_MEMORY, PROBE_OK);
        assert_int_equal(r->memory.n_swaps, 1);
        assert_string_equal(r->memory.swaps[0].path, "/dev/zram0");
        assert_string_equal(r->memory.swaps[0].type, "partition");
        assert_int_equal(r->memory.swaps[0].size_kib, 8388604);
        assert_int_equal(r->memory.swaps[0].used_kib, 1024);
        assert_int_equal(r->memory.swaps[0].priority, 100);
        assert_status(r, PROBE_ZRAM, PROBE_OK);
        assert_int_equal(z->disksize, 8 * GiB);
        assert_string_equal(z->algorithm, "zstd");
        assert_true(z->is_swap);
        assert_int_equal(z->swap_priority, 100);
        assert_int_equal(z->orig_data_size, 1048576);
        assert_int_equal(z->compr_data_size, 262144);
        assert_int_equal(z->mem_used_total, 393216);
        assert_string_equal(r->results[PROBE_ZRAM].reason, "zram0 8G zstd, swap priority 100");
        assert_int_equal(requirements_parse("zram,no-swap", 0, &req, err, sizeof(err)), 0);
        assert_int_equal(requirements_evaluate(&req, r, NULL, res), 1);
        assert_true(res[0].satisfied);
        assert_false(res[1].satisfied);
        assert_true(strstr(res[1].reason, "1 swap device active (/dev/zram0 first)") != NULL);
        free(r);
}

static void test_btrfs(void **state) {
        struct host_report *r = run_fixture("btrfs-snapshots", false);
        const struct btrfs_mount *m;
        struct requirements req = { 0 };
        struct requirement_result res[3];
        char err[256];
        (void) state;

        /* mountinfo 91: /var/lib/hosttune btrfs /dev/vdb rw,noatime
         * compress=zstd:3,ssd,discard=async,space_cache=v2,subvol=/@hosttune; mountinfo 92:
         * /srv/vm\040images compress-force=lzo, relatime, optional fields shared:42 master:7. */
        assert_status(r, PROBE_BTRFS, PROBE_OK);
        assert_int_equal(r->btrfs.n_mounts, 2);
        m = &r->btrfs.mounts[0];
        assert_string_equal(m->target, "/var/lib/hosttune");
        assert_string_equal(m->source, "/dev/vdb");
        assert_string_equal(m->subvol, "/@hosttune");
        assert_string_equal(m->compress, "zstd:3");
        assert_true(m->noatime && m->ssd && m->discard_async && m->space_cache_v2);
        m = &r->btrfs.mounts[1];
        assert_string_equal(m->target, "/srv/vm images");
        assert_string_equal(m->compress, "lzo");
        assert_false(m->noatime);
        assert_false(m->discard_async);
        /* .fixture/paths: snapshot root fs=btrfs subvolume=1 nocow=1; slots 0 1 2. */
        assert_true(r->btrfs.snapshot_root.exists);
        assert_true(r->btrfs.snapshot_root.on_btrfs);
        assert_true(r->btrfs.snapshot_root.is_subvolume);
        assert_int_equal(r->btrfs.snapshot_root.nocow, 1);
        assert_int_equal(r->btrfs.free_slots, 3);
        assert_string_equal(
                r->results[PROBE_BTRFS].reason,
                "2 btrfs mounts; snapshot root /var/lib/hosttune/snapshots: subvolume, NOCOW");
        assert_int_equal(
                requirements_parse("btrfs,snapshots=3,snapshots=4", 0, &req, err, sizeof(err)), 0);
        assert_int_equal(req.n, 2);
        assert_int_equal(requirements_evaluate(&req, r, NULL, res), 1);
        assert_true(res[0].satisfied);
        assert_false(res[1].satisfied);
        assert_string_equal(res[1].reason, "3 prepared snapshot slots free, 4 needed");
        free(r);

        /* btrfs-cow: nocow=0 compression=zstd: warn, still "on btrfs". */
        r = run_fixture("btrfs-cow", false);
        assert_status(r, PROBE_BTRFS, PROBE_WARN);
        assert_int_equal(r->btrfs.snapshot_root.nocow, 0);
        assert_string_equal(r->btrfs.snapshot_root.compression, "zstd");
        assert_reason_contains(r, PROBE_BTRFS, "is copy-on-write");
        assert_int_equal(r->btrfs.free_slots, 0);
        free(r);

        /* btrfs-nocow-compress: nocow=1 compression=zstd: they exclude each other. */
        r = run_fixture("btrfs-nocow-compress", false);
        assert_status(r, PROBE_BTRFS, PROBE_WARN);
        assert_reason_contains(r, PROBE_BTRFS, "NOCOW and has compression zstd");
        free(r);
}

static void test_nix_claims_kvm(void **state) {
        struct host_report *r = run_fixture("nix-claims-kvm", false);
        (void) state;

        /* nix.conf: system-features = nixos-test benchmark big-parallel kvm; sandbox = true;
         * include nix.d/sandbox.conf (extra-sandbox-paths = /dev/net/tun /dev/kvm?, build-dir
         * = /var/lib/nix-build); !include of a missing file (ignored, as by Nix). */
        assert_status(r, PROBE_NIX, PROBE_FAIL);
        assert_true(r->nix.features_explicit);
        assert_true(r->nix.claims_kvm);
        assert_false(r->kvm.usable);
        assert_string_equal(r->nix.system_features, "nixos-test benchmark big-parallel kvm");
        assert_string_equal(r->nix.sandbox, "true");
        assert_int_equal(r->nix.includes_followed, 1);
        assert_string_equal(r->nix.sandbox_paths, "/dev/net/tun /dev/kvm?");
        assert_true(r->nix.tun_in_sandbox);
        assert_true(r->nix.kvm_in_sandbox);
        assert_string_equal(r->nix.build_dir, "/var/lib/nix-build");
        assert_reason_contains(r, PROBE_NIX, "advertises system feature kvm but KVM is not usable");
        free(r);
}

/* Write text to path under dir_fd, creating the parent directories. */
static void put_file(int dir_fd, const char *path, const char *text) {
        char parent[256];
        _cleanup_close_ int fd = -1;

        for (const char *p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
                assert_int_equal(bufprintf(parent, sizeof(parent), "%.*s", (int) (p - path), path),
                                 0);
                (void) mkdirat(dir_fd, parent, 0755);
        }
        fd = openat(dir_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
}

/* Run the nix probe over a tree holding only the given nix.conf and includes. */
static struct host_report *run_nix(const char *conf, const char *inc_path, const char *inc) {
        char tmp[] = "/tmp/hosttune-test-nix.XXXXXX", cmd[64];
        struct host_report *r = calloc(1, sizeof(*r));
        struct probe_ctx ctx;
        _cleanup_close_ int dir_fd = -1;

        assert_non_null(r);
        assert_non_null(mkdtemp(tmp));
        dir_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dir_fd >= 0);
        assert_int_equal(mkdirat(dir_fd, ".fixture", 0755), 0);
        put_file(dir_fd, "etc/nix/nix.conf", conf);
        if (inc_path)
                put_file(dir_fd, inc_path, inc);
        assert_int_equal(probe_ctx_open(tmp, NULL, &ctx), 0);
        assert_int_equal(probe_run(&ctx, PROBE_MASK(PROBE_NIX), r), 0);
        probe_ctx_done(&ctx);
        xsprintf(cmd, "rm -rf %s", tmp);
        assert_int_equal(system(cmd), 0);
        return r;
}

static void test_nix_includes(void **state) {
        struct host_report *r;
        (void) state;

        /* A plain include of a missing file stops Nix ("file ... included from ... not
         * found"); a missing !include does not. */
        r = run_nix("sandbox = true\ninclude /etc/nix/gone.conf\n", NULL, NULL);
        assert_status(r, PROBE_NIX, PROBE_FAIL);
        assert_reason_contains(r, PROBE_NIX, "Nix rejects /etc/nix/nix.conf:2");
        free(r);
        r = run_nix("!include gone.conf\nsandbox = relaxed\n", NULL, NULL);
        assert_status(r, PROBE_NIX, PROBE_WARN);
        assert_reason_contains(r, PROBE_NIX, "sandbox = relaxed");
        free(r);
        /* Relative includes resolve against the including file's directory; a later
         * system-features replaces, extra-system-features adds; a bad line in an included
         * file is reported with that file's name and line. */
        r = run_nix("system-features = a b\ninclude d/x.conf\n", "etc/nix/d/x.conf",
                    "extra-system-features = c\nsystem-features = big\nextra-sandbox-paths = "
                    "/dev/net/tun\n");
        assert_status(r, PROBE_NIX, PROBE_OK);
        assert_string_equal(r->nix.system_features, "big c");
        assert_int_equal(r->nix.includes_followed, 1);
        assert_true(r->nix.tun_in_sandbox);
        free(r);
        r = run_nix("include d/x.conf\n", "etc/nix/d/x.conf", "ok = 1\nbroken=1\n");
        assert_status(r, PROBE_NIX, PROBE_FAIL);
        assert_reason_contains(r, PROBE_NIX, "Nix rejects /etc/nix/d/x.conf:2");
        free(r);
        /* A file that includes itself: the depth limit stops it, and says where. */
        r = run_nix("include nix.conf\n", NULL, NULL);
        assert_status(r, PROBE_NIX, PROBE_WARN);
        assert_reason_contains(r, PROBE_NIX, "/etc/nix/nix.conf");
        assert_int_equal(r->results[PROBE_NIX].error, -ELOOP);
        free(r);
}

/* Garbage in every file a status depends on: each probe names its file, nothing crashes. */
static void test_garbage(void **state) {
        static const struct {
                enum probe_id id;
                enum probe_status status;
                const char *needle;
        } want[] = {
                { PROBE_CPU, PROBE_FAIL, "unexpected content in /proc/cpuinfo" },
                { PROBE_KVM, PROBE_ABSENT, "/sys/module/kvm_amd/parameters/nested" },
                { PROBE_MEMORY, PROBE_FAIL, "unexpected content in /proc/meminfo" },
                { PROBE_HUGETLB, PROBE_WARN, "unexpected content in /proc/buddyinfo" },
                { PROBE_ZRAM, PROBE_WARN, "unexpected content in /sys/block/zram0/disksize" },
                { PROBE_BTRFS, PROBE_ABSENT, "unexpected content in /proc/self/mountinfo" },
                { PROBE_RNG, PROBE_WARN, "/sys/class/misc/hw_random/rng_current" },
                { PROBE_NET, PROBE_FAIL, "unexpected content in /dev/net/tun" },
                { PROBE_USERFAULTFD, PROBE_WARN, "/proc/sys/vm/unprivileged_userfaultfd" },
                { PROBE_USERNS, PROBE_FAIL, "/proc/sys/user/max_user_namespaces" },
                { PROBE_NIX, PROBE_FAIL, "Nix rejects /etc/nix/nix.conf:2" },
        };
        struct host_report *r = run_fixture("garbage", false);
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_status(r, want[i].id, want[i].status);
                assert_reason_contains(r, want[i].id, want[i].needle);
        }
        /* Garbage that decides a verdict is an error ("could not probe"); garbage beside a
         * verdict that stands is not. */
        assert_int_equal(r->results[PROBE_MEMORY].error, -EBADMSG);
        assert_int_equal(r->results[PROBE_HUGETLB].error, -EBADMSG);
        assert_int_equal(r->results[PROBE_KVM].error, 0);
        /* The kvm probe does not blame vmx/svm when it could not read the CPU flags. */
        assert_reason_contains(r, PROBE_KVM, "why is unknown");
        free(r);
}

static void test_truncated(void **state) {
        struct host_report *r = run_fixture("truncated", false);
        (void) state;

        /* cpuinfo cut before its flags line, meminfo inside "MemTotal", buddyinfo, mountinfo
         * and swaps mid-line, nix.conf after "sandbox". */
        assert_status(r, PROBE_CPU, PROBE_FAIL);
        assert_reason_contains(r, PROBE_CPU, "/proc/cpuinfo");
        assert_status(r, PROBE_MEMORY, PROBE_FAIL);
        assert_reason_contains(r, PROBE_MEMORY, "/proc/meminfo");
        assert_status(r, PROBE_HUGETLB, PROBE_WARN);
        assert_reason_contains(r, PROBE_HUGETLB, "unexpected content in /proc/");
        assert_reason_contains(r, PROBE_BTRFS, "/proc/self/mountinfo");
        assert_status(r, PROBE_NIX, PROBE_FAIL);
        assert_reason_contains(r, PROBE_NIX, "/etc/nix/nix.conf:2");
        /* The cut swap line is not taken as a device. */
        assert_int_equal(r->memory.n_swaps, 0);
        free(r);
}

static void test_missing(void **state) {
        static const struct {
                enum probe_id id;
                enum probe_status status;
                const char *needle;
        } want[] = {
                { PROBE_CPU, PROBE_FAIL, "cannot read /proc/cpuinfo" },
                { PROBE_KVM, PROBE_ABSENT, "no /dev/kvm" },
                { PROBE_MEMORY, PROBE_FAIL, "cannot read /proc/meminfo" },
                { PROBE_HUGETLB, PROBE_ABSENT, "no /sys/kernel/mm/hugepages" },
                { PROBE_ZRAM, PROBE_ABSENT, "no zram devices" },
                { PROBE_BTRFS, PROBE_FAIL, "cannot read /proc/self/mountinfo" },
                { PROBE_RNG, PROBE_WARN, "no hardware RNG" },
                { PROBE_NET, PROBE_FAIL, "no /dev/net/tun" },
                { PROBE_USERFAULTFD, PROBE_ABSENT, "no userfaultfd" },
                { PROBE_USERNS, PROBE_ABSENT, "without user namespaces" },
                { PROBE_NIX, PROBE_ABSENT, "Nix is not installed" },
        };
        struct host_report *r = run_fixture("missing", true);
        (void) state;

        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                assert_status(r, want[i].id, want[i].status);
                assert_reason_contains(r, want[i].id, want[i].needle);
        }
        assert_int_equal(r->results[PROBE_MEMORY].error, -ENOENT);
        assert_int_equal(r->rng.crng_ready, -1);
        free(r);
}

/* Write a text file of at least size bytes made of line repeated. */
static void write_repeated(int dir_fd, const char *path, const char *line, size_t size) {
        _cleanup_close_ int fd =
                openat(dir_fd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        char block[65536];
        size_t l = strlen(line), n = 0;

        assert_true(fd >= 0);
        while (n + l < sizeof(block)) {
                memcpy(block + n, line, l); /* NOLINT(bugprone-not-null-terminated-result) */
                n += l;
        }
        for (size_t done = 0; done < size; done += n)
                assert_int_equal(write(fd, block, n), (ssize_t) n);
}

static void test_huge_files(void **state) {
        struct host_report *r = run_fixture("huge", false);
        char tmp[] = "/tmp/hosttune-test-huge.XXXXXX";
        struct probe_ctx ctx;
        _cleanup_close_ int dir_fd = -1;
        (void) state;

        /* First cpuinfo block over 8 KiB without reaching flags; ksm/run and swappiness longer
         * than their buffers; /proc/swaps over 4 KiB. */
        assert_status(r, PROBE_CPU, PROBE_FAIL);
        assert_string_equal(r->results[PROBE_CPU].reason,
                            "unexpected content in /proc/cpuinfo (File too large)");
        assert_status(r, PROBE_MEMORY, PROBE_WARN);
        assert_string_equal(r->results[PROBE_MEMORY].reason,
                            "unexpected content in /sys/kernel/mm/ksm/run (File too large)");
        assert_int_equal(r->memory.ksm_run, -1);
        assert_int_equal(r->memory.swappiness, -1);
        assert_int_equal(r->memory.n_swaps, 0);
        free(r);

        /* mountinfo and meminfo over their 16 MiB cap, written here (not kept in git). */
        assert_non_null(mkdtemp(tmp));
        dir_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dir_fd >= 0);
        assert_int_equal(mkdirat(dir_fd, ".fixture", 0755), 0);
        assert_int_equal(mkdirat(dir_fd, "proc", 0755), 0);
        assert_int_equal(mkdirat(dir_fd, "proc/self", 0755), 0);
        write_repeated(dir_fd, "proc/meminfo", "MemTotal:       24683620 kB\n",
                       VIRTUAL_FILE_MAX + 1);
        write_repeated(dir_fd, "proc/self/mountinfo",
                       "21 26 0:20 / /proc rw,relatime - proc proc rw\n", VIRTUAL_FILE_MAX + 1);
        r = calloc(1, sizeof(*r));
        assert_non_null(r);
        assert_int_equal(probe_ctx_open(tmp, NULL, &ctx), 0);
        assert_int_equal(probe_run(&ctx, PROBE_MASK_ALL, r), 0);
        probe_ctx_done(&ctx);
        assert_status(r, PROBE_MEMORY, PROBE_FAIL);
        assert_string_equal(r->results[PROBE_MEMORY].reason,
                            "unexpected content in /proc/meminfo (File too large)");
        assert_int_equal(r->results[PROBE_MEMORY].error, -EFBIG);
        assert_status(r, PROBE_BTRFS, PROBE_FAIL);
        assert_string_equal(r->results[PROBE_BTRFS].reason,
                            "unexpected content in /proc/self/mountinfo (File too large)");
        free(r);
        assert_int_equal(unlinkat(dir_fd, "proc/self/mountinfo", 0), 0);
        assert_int_equal(unlinkat(dir_fd, "proc/meminfo", 0), 0);
        assert_int_equal(unlinkat(dir_fd, "proc/self", AT_REMOVEDIR), 0);
        assert_int_equal(unlinkat(dir_fd, "proc", AT_REMOVEDIR), 0);
        assert_int_equal(unlinkat(dir_fd, ".fixture", AT_REMOVEDIR), 0);
        assert_int_equal(rmdir(tmp), 0);
}

/* Absolute symlinks in a fixture resolve inside it, never on this machine. */
static void test_symlinks_stay_inside(void **state) {
        struct host_report *r = run_fixture("escape", true);
        struct probe_ctx ctx;
        char path[512], buf[64];
        (void) state;

        /* proc/sys/vm/swappiness 17; min_free_kbytes -> /proc/sys/vm/swappiness reads the
         * fixture's 17, whatever this machine's swappiness is. */
        assert_int_equal(r->memory.swappiness, 17);
        assert_int_equal(r->memory.min_free_kbytes, 17);
        /* etc/nix/nix.conf -> /etc/nix/nix.conf loops inside the fixture. */
        assert_status(r, PROBE_NIX, PROBE_FAIL);
        assert_int_equal(r->results[PROBE_NIX].error, -ELOOP);
        /* sys/class/net/htap0 -> /sys/devices/virtual/net/htap0 (tun_flags 0x5002, owner 1000,
         * group -1, operstate down, master -> ../br-test). */
        assert_int_equal(r->net.n_taps, 1);
        assert_string_equal(r->net.taps[0].name, "htap0");
        assert_int_equal(r->net.taps[0].flags, 0x5002);
        assert_int_equal(r->net.taps[0].owner, 1000);
        assert_int_equal(r->net.taps[0].group, -1);
        assert_false(r->net.taps[0].up);
        assert_string_equal(r->net.taps[0].master, "br-test");
        free(r);

        assert_int_equal(probe_ctx_open(fixture_path("escape", path, sizeof(path)), NULL, &ctx), 0);
        /* sys/class/zram-control -> itself: a loop inside, while on this machine the path may
         * well exist. */
        assert_false(probe_ctx_exists(&ctx, "sys/class/zram-control"));
        assert_false(probe_ctx_exists(&ctx, "/sys/class/zram-control"));
        assert_true(probe_ctx_exists(&ctx, "sys/class/net/htap0/tun_flags"));
        assert_int_equal(probe_ctx_readlink(&ctx, "sys/class/net/htap0", buf, sizeof(buf)),
                         (int) strlen("/sys/devices/virtual/net/htap0"));
        assert_string_equal(buf, "/sys/devices/virtual/net/htap0");
        assert_int_equal(probe_ctx_readlink(&ctx, "proc/meminfo", buf, sizeof(buf)), -EINVAL);
        assert_int_equal(probe_ctx_readlink(&ctx, "nope", buf, sizeof(buf)), -ENOENT);
        probe_ctx_done(&ctx);
}

/* A root that is not a fixture (no .fixture/) and not "/": devices are stat()ed inside it,
 * KVM is not opened, the crng state is unknown. */
static void test_plain_root(void **state) {
        char tmp[] = "/tmp/hosttune-test-root.XXXXXX";
        struct host_report *r = calloc(1, sizeof(*r));
        struct probe_ctx ctx;
        (void) state;

        assert_non_null(r);
        assert_non_null(mkdtemp(tmp));
        assert_int_equal(probe_ctx_open(tmp, NULL, &ctx), 0);
        assert_false(ctx.live);
        assert_false(ctx.fixture);
        assert_int_equal(probe_run(&ctx, PROBE_MASK(PROBE_RNG) | PROBE_MASK(PROBE_NET), r), 0);
        probe_ctx_done(&ctx);
        assert_false(r->probed[PROBE_CPU]);
        assert_true(r->probed[PROBE_NET]);
        assert_int_equal(r->rng.crng_ready, -1);
        assert_false(r->net.tun.exists);
        assert_int_equal(rmdir(tmp), 0);
        free(r);
}

/* probe_run adds what a probe depends on: nix needs kvm and cpu. */
static void test_probe_dependencies(void **state) {
        struct host_report *r = calloc(1, sizeof(*r));
        struct probe_ctx ctx;
        char path[512];
        (void) state;

        assert_non_null(r);
        assert_int_equal(
                probe_ctx_open(fixture_path("kvm-intel-usable", path, sizeof(path)), NULL, &ctx),
                0);
        assert_int_equal(probe_run(&ctx, PROBE_MASK(PROBE_NIX), r), 0);
        probe_ctx_done(&ctx);
        assert_true(r->probed[PROBE_NIX] && r->probed[PROBE_KVM] && r->probed[PROBE_CPU]);
        assert_false(r->probed[PROBE_MEMORY]);
        assert_true(r->nix.claims_kvm);
        free(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_captured_host),
                cmocka_unit_test(test_detail_never_changes_verdicts),
                cmocka_unit_test(test_kvm_usable),
                cmocka_unit_test(test_kvm_mode_and_acl),
                cmocka_unit_test(test_kvm_missing_caps_and_eacces),
                cmocka_unit_test(test_kvm_pvm_smoke_fails),
                cmocka_unit_test(test_numa_hugepages),
                cmocka_unit_test(test_gigantic_pages_and_mount),
                cmocka_unit_test(test_zram_swap),
                cmocka_unit_test(test_btrfs),
                cmocka_unit_test(test_nix_claims_kvm),
                cmocka_unit_test(test_nix_includes),
                cmocka_unit_test(test_garbage),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_missing),
                cmocka_unit_test(test_huge_files),
                cmocka_unit_test(test_symlinks_stay_inside),
                cmocka_unit_test(test_plain_root),
                cmocka_unit_test(test_probe_dependencies),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
