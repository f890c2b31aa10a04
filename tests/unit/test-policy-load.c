/* SPDX-License-Identifier: MIT */
/* Unit tests for the policy loader: every key, every kind of error with its exact
 * "file:line: key: message", includes (relative, profiles, cycles, depth), later-wins,
 * percentages, reasons from comments, and INI/JSON output that reads back as the same policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "lib/parse.h"
#include "lib/users.h"
#include "lib/util.h"
#include "policies/policy.h"
#include "policies/profiles.h"

static struct policy p;
static struct policy_error err;

static int load(const char *text) {
        return policy_load_string("t.ini", text, &p, &err);
}

/* Load text that must fail, and return the formatted error. */
static const char *load_error(const char *text, int expected) {
        static char buf[1024];
        int r = load(text);

        if (r != expected)
                fail_msg("expected %d, got %d for:\n%s", expected, r, text);
        return policy_error_format(&err, buf, sizeof(buf));
}

static void assert_error(const char *text, const char *message) {
        assert_string_equal(load_error(text, -EINVAL), message);
}

static void test_defaults(void **state) {
        (void) state;

        assert_int_equal(load(""), 0);
        assert_string_equal(p.name, "t");
        assert_int_equal(p.n_files, 1);
        assert_string_equal(p.files[0], "t.ini");
        assert_int_equal(p.require.n, 0);
        assert_int_equal(p.n_pools, 0);
        assert_true(p.hugepages_size == 2U << 20);
        assert_int_equal(p.reclaim, RECLAIM_COMPACT);
        assert_true(p.reclaim_timeout_usec == 30 * USEC_PER_SEC);
        assert_string_equal(p.hugetlbfs_mount, "");
        assert_int_equal(p.hugetlbfs_mode, 01770);
        assert_int_equal(p.kvm_mode, -1);
        assert_string_equal(p.zram_device, "zram0");
        assert_false(p.zram_size.set);
        assert_int_equal(p.zram_priority, 100);
        assert_string_equal(p.thp, "");
        assert_int_equal(p.ksm, -1);
        assert_int_equal(p.swappiness, -1);
        assert_string_equal(p.snapshot_root, DEFAULT_SNAPSHOT_ROOT);
        assert_false(p.snapshots_managed);
        assert_true(p.nocow);
        assert_string_equal(p.tap_prefix, DEFAULT_TAP_PREFIX);
        assert_true(p.vnet_hdr);
        assert_false(p.multi_queue);
        assert_string_equal(p.nix_conf, DEFAULT_NIX_CONF);
        assert_true(p.reprobe_interval_usec == 60 * USEC_PER_SEC);
        assert_false(p.revert_on_stop);
        assert_false(p.reapply_on_drift);
        assert_int_equal(p.max_leases_per_uid, POLICY_MAX_LEASES_PER_UID);
        assert_int_equal(p.max_waiting_per_uid, POLICY_MAX_WAITING_PER_UID);
        for (unsigned k = 0; k < _POLICY_KEY_MAX; k++)
                assert_int_equal(p.origins[k].line, 0);
}

static const char every_key[] = "[policy]\n"
                                "name = every-key\n"
                                "description = Sets every key\n"
                                "[readiness]\n"
                                "require = kvm, hugepages=2G, taps=4\n"
                                "  snapshots=2\n"
                                "[hugepages]\n"
                                "pool = 1G\n"
                                "size = 2M\n"
                                "max = 2G\n"
                                "per-node = even\n"
                                "reclaim = drop-caches\n"
                                "timeout = 90s\n"
                                "mount = /dev/hugepages2M\n"
                                "mode = 0770\n"
                                "group = kvm\n"
                                "[hugepages-1G]\n"
                                "pool = 2\n"
                                "per-node = 0:1G 1:1G\n"
                                "[kvm]\n"
                                "require = yes\n"
                                "mode = 0666\n"
                                "[zram]\n"
                                "device = zram3\n"
                                "size = 12.5%\n"
                                "algorithm = lz4\n"
                                "priority = 32767\n"
                                "[memory]\n"
                                "thp = madvise\n"
                                "thp-defrag = defer+madvise\n"
                                "ksm = no\n"
                                "swappiness = 200\n"
                                "[sysctl]\n"
                                "vm.dirty_ratio = 20\n"
                                "net.ipv4.tcp_rmem = 4096 131072 6291456\n"
                                "kernel.sched_autogroup_enabled = 0\n"
                                "[btrfs]\n"
                                "require-options = noatime, space_cache=v2 compress=zstd:3\n"
                                "[snapshots]\n"
                                "root = /srv/snap\n"
                                "slots = 8\n"
                                "templates = base, other\n"
                                "prepared = 3\n"
                                "nocow = no\n"
                                "[net]\n"
                                "bridge = br-vm\n"
                                "taps = 16\n"
                                "tap-prefix = vmtap\n"
                                "owner = microvm\n"
                                "multi-queue = yes\n"
                                "vnet-hdr = no\n"
                                "[rng]\n"
                                "require = hwrng\n"
                                "[nix]\n"
                                "conf = /etc/nix/other.conf\n"
                                "features-file = /etc/nix/hosttune.conf\n"
                                "[agent]\n"
                                "reprobe-interval = 250ms\n"
                                "revert-on-stop = yes\n"
                                "reapply-on-drift = on\n"
                                "metrics-file = /var/lib/node_exporter/hosttune.prom\n"
                                "lease-group = 1000\n"
                                "nfd-features-file = /etc/kubernetes/node-feature-discovery/"
                                "features.d/hosttune\n"
                                "max-leases-per-uid = 8\n"
                                "max-waiting-per-uid = 0\n";

static void test_every_key(void **state) {
        char buf[64];
        (void) state;

        assert_int_equal(load(every_key), 0);
        assert_string_equal(p.name, "every-key");
        assert_string_equal(p.description, "Sets every key");
        /* kvm, hugepages=2G, taps=4, snapshots=2, then rng and hwrng from [rng]; [kvm] require
         * merges into the kvm already there. */
        assert_int_equal(p.require.n, 6);
        assert_string_equal(requirement_to_string(&p.require.items[1], buf, sizeof(buf)),
                            "hugepages=2G");
        assert_string_equal(requirement_to_string(&p.require.items[3], buf, sizeof(buf)),
                            "snapshots=2");
        assert_int_equal(p.require.items[5].kind, REQ_HWRNG);
        assert_int_equal(p.n_pools, 2);
        /* Sorted by page size: the [hugepages] 2M pool first. */
        assert_true(p.pools[0].main);
        assert_true(p.pools[0].page_size == 2U << 20);
        assert_true(p.pools[0].pool.bytes == 1U << 30);
        assert_true(p.pools[0].max.bytes == 2U << 30);
        assert_int_equal(p.pools[0].per_node, PER_NODE_EVEN);
        assert_int_equal(p.pools[0].pool.origin.line, 8);
        assert_false(p.pools[1].main);
        assert_true(p.pools[1].page_size == 1U << 30);
        assert_true(p.pools[1].pool.bytes == 2U << 30); /* 2 pages of 1G */
        assert_int_equal(p.pools[1].per_node, PER_NODE_EXPLICIT);
        assert_true(p.pools[1].node_pool[0].set && p.pools[1].node_pool[1].set);
        assert_false(p.pools[1].node_pool[2].set);
        assert_int_equal(p.reclaim, RECLAIM_DROP_CACHES);
        assert_true(p.reclaim_timeout_usec == 90 * USEC_PER_SEC);
        assert_string_equal(p.hugetlbfs_mount, "/dev/hugepages2M");
        assert_int_equal(p.hugetlbfs_mode, 0770);
        assert_string_equal(p.hugetlbfs_group, "kvm");
        assert_int_equal(p.kvm_mode, 0666);
        assert_string_equal(p.zram_device, "zram3");
        assert_true(p.zram_size.set && p.zram_size.percent);
        assert_int_equal(p.zram_size.percent_millis, 12500);
        assert_string_equal(p.zram_algorithm, "lz4");
        assert_int_equal(p.zram_priority, 32767);
        assert_string_equal(p.thp, "madvise");
        assert_string_equal(p.thp_defrag, "defer+madvise");
        assert_int_equal(p.ksm, 0);
        assert_int_equal(p.swappiness, 200);
        assert_int_equal(p.n_sysctl, 3);
        assert_string_equal(p.sysctl[1].key, "net.ipv4.tcp_rmem");
        assert_string_equal(p.sysctl[1].value, "4096 131072 6291456");
        assert_int_equal(p.sysctl[1].origin.line, 35);
        assert_string_equal(p.require_options, "noatime space_cache=v2 compress=zstd:3");
        assert_string_equal(p.snapshot_root, "/srv/snap");
        assert_int_equal(p.slots, 8);
        assert_int_equal(p.n_templates, 2);
        assert_string_equal(p.templates[1], "other");
        assert_int_equal(p.prepared, 3);
        assert_false(p.nocow);
        assert_true(p.snapshots_managed);
        assert_string_equal(p.bridge, "br-vm");
        assert_int_equal(p.taps, 16);
        assert_string_equal(p.tap_prefix, "vmtap");
        assert_string_equal(p.tap_owner, "microvm");
        assert_true(p.multi_queue);
        assert_false(p.vnet_hdr);
        assert_string_equal(p.nix_conf, "/etc/nix/other.conf");
        assert_string_equal(p.features_file, "/etc/nix/hosttune.conf");
        assert_true(p.reprobe_interval_usec == 250 * USEC_PER_MSEC);
        assert_true(p.revert_on_stop);
        assert_true(p.reapply_on_drift);
        assert_string_equal(p.metrics_file, "/var/lib/node_exporter/hosttune.prom");
        assert_string_equal(p.lease_group, "1000");
        assert_int_equal(p.origins[POLICY_KEY_MEMORY_SWAPPINESS].line, 32);
        assert_int_equal(p.origins[POLICY_KEY_AGENT_LEASE_GROUP].line, 62);
        assert_string_equal(p.nfd_features_file,
                            "/etc/kubernetes/node-feature-discovery/features.d/hosttune");
        assert_int_equal(p.max_leases_per_uid, 8);
        assert_int_equal(p.max_waiting_per_uid, 0);
}

static void test_keep_and_none(void **state) {
        (void) state;

        assert_int_equal(load("[memory]\nthp = never\nksm = yes\nswappiness = 1\n"
                              "[memory]\nthp = keep\nksm = keep\nswappiness = keep\n"
                              "[kvm]\nmode = 0600\nmode = keep\n"
                              "[zram]\nsize = 2G\nsize = none\n"
                              "[hugepages]\npool = 1G\npool = none\n"),
                         0);
        assert_string_equal(p.thp, "");
        assert_int_equal(p.ksm, -1);
        assert_int_equal(p.swappiness, -1);
        assert_int_equal(p.kvm_mode, -1);
        assert_false(p.zram_size.set);
        /* pool = none with nothing else: no pool to manage. */
        assert_int_equal(p.n_pools, 0);
}

static void test_sizes(void **state) {
        (void) state;

        assert_int_equal(load("[hugepages]\npool = 50%\nmax = 75.5%\n[zram]\nsize = 4G\n"), 0);
        assert_true(p.pools[0].pool.percent);
        assert_true(policy_size_resolve(&p.pools[0].pool, 1000000) == 500000);
        assert_true(policy_size_resolve(&p.pools[0].max, 1000000) == 755000);
        assert_true(policy_size_resolve(&p.zram_size, 1000000) == 4ULL << 30);
        /* A plain number is a count of pages of the section's size, whatever comes first. */
        assert_int_equal(load("[hugepages]\npool = 512\nsize = 1G\n"), 0);
        assert_true(p.pools[0].page_size == 1U << 30);
        assert_true(p.pools[0].pool.bytes == 512ULL << 30);
        assert_int_equal(load("[hugepages-2M]\npool = 512\n"), 0);
        assert_true(p.pools[0].pool.bytes == 1U << 30);
        /* Explicit nodes add up to the pool when no pool is written. */
        assert_int_equal(load("[hugepages]\nper-node = 0:1G, 1:512M\n"), 0);
        assert_true(p.pools[0].pool.bytes == 3U << 29);
        assert_int_equal(load("[hugepages]\npool = 1536M\nper-node = 0:1G 1:256\n"), 0);
}

static void test_later_wins(void **state) {
        (void) state;

        assert_int_equal(load("[memory]\nswappiness = 10\n[net]\ntaps = 2\n[memory]\nswappiness "
                              "= 20\n[sysctl]\nvm.dirty_ratio = 5\nvm.dirty_ratio = 6\n"),
                         0);
        assert_int_equal(p.swappiness, 20);
        assert_int_equal(p.origins[POLICY_KEY_MEMORY_SWAPPINESS].line, 6);
        assert_int_equal(p.n_sysctl, 1);
        assert_string_equal(p.sysctl[0].value, "6");
        /* Lists: a later templates replaces, require accumulates, an empty require resets. */
        assert_int_equal(load("[snapshots]\ntemplates = a b\ntemplates = c\n[readiness]\n"
                              "require = kvm\nrequire = rng\n"),
                         0);
        assert_int_equal(p.n_templates, 1);
        assert_string_equal(p.templates[0], "c");
        assert_int_equal(p.require.n, 2);
        assert_int_equal(load("[readiness]\nrequire = kvm\nrequire =\nrequire = tun\n"), 0);
        assert_int_equal(p.require.n, 1);
        assert_int_equal(p.require.items[0].kind, REQ_TUN);
        assert_int_equal(load("[readiness]\nrequire = kvm rng hwrng\n[kvm]\nrequire = no\n[rng]\n"
                              "require = crng\n"),
                         0);
        assert_int_equal(p.require.n, 1);
        assert_int_equal(p.require.items[0].kind, REQ_RNG);
        assert_int_equal(load("[readiness]\nrequire = rng\n[rng]\nrequire = none\n"), 0);
        assert_int_equal(p.require.n, 0);
}

static void test_errors(void **state) {
        (void) state;

        assert_error("[bogus]\n",
                     "t.ini:1: unknown section [bogus] (known: policy, readiness, hugepages, "
                     "hugepages-SIZE, kvm, zram, memory, sysctl, btrfs, snapshots, net, rng, nix, "
                     "agent)");
        assert_error("[memory]\nswapiness = 1\n",
                     "t.ini:2: swapiness: unknown key in [memory] (known: thp, thp-defrag, ksm, "
                     "swappiness)");
        assert_error("name = x\n",
                     "t.ini:1: name: key outside of a section (put it under a [section] line)");
        assert_error("[net]\n\nthis is not a key\n",
                     "t.ini:3: expected 'key = value', '[section]' or a comment");
        assert_error("[net\n", "t.ini:1: section header without a closing ']'");
        assert_error("[memory]\nswappiness = 201\n",
                     "t.ini:2: swappiness: '201' is not a number from 0 to 200, or keep");
        assert_error("[memory]\nthp = sometimes\n",
                     "t.ini:2: thp: 'sometimes' is not one of always, madvise, never, keep");
        /* node-feature-discovery skips dot files; its expiry-time needs re-probes to renew it. */
        assert_error("[agent]\nnfd-features-file = /etc/nfd/.hosttune\n",
                     "t.ini:2: nfd-features-file: '/etc/nfd/.hosttune' must not start with '.': "
                     "node-feature-discovery ignores such files");
        assert_error("[agent]\nnfd-features-file = features.d/hosttune\n",
                     "t.ini:2: nfd-features-file: 'features.d/hosttune' must be an absolute path");
        assert_error("[agent]\nnfd-features-file = /etc/nfd/\n",
                     "t.ini:2: nfd-features-file: '/etc/nfd/' must name a file, not a directory");
        assert_error(
                "[agent]\nnfd-features-file = /run/nfd/features.d/hosttune\nreprobe-interval = 0\n",
                "t.ini:2: nfd-features-file: needs reprobe-interval above 0: each re-probe "
                "renews the file's expiry-time");
        assert_error("[memory]\nksm = maybe\n", "t.ini:2: ksm: 'maybe' is not yes, no or keep");
        assert_error("[snapshots]\nnocow = 2\n",
                     "t.ini:2: nocow: '2' is not a boolean (yes or no)");
        assert_error("[snapshots]\nslots = 1025\n",
                     "t.ini:2: slots: '1025' is not a number from 0 to 1024");
        assert_error("[snapshots]\nroot = var/lib\n",
                     "t.ini:2: root: 'var/lib' must be an absolute path");
        assert_error("[snapshots]\nroot = /var/../etc\n",
                     "t.ini:2: root: '/var/../etc' must not contain '.' or '..' components");
        assert_error("[agent]\nreprobe-interval = 1fortnight\n",
                     "t.ini:2: reprobe-interval: '1fortnight' is not a duration up to 86400s "
                     "(30s, 250ms, 5min)");
        assert_error("[hugepages]\nmode = 0999\n",
                     "t.ini:2: mode: '0999' is not an octal mode up to 07777");
        assert_error("[kvm]\nmode = 01777\n",
                     "t.ini:2: mode: '01777' is not an octal mode up to 0777, or keep");
        assert_error("[hugepages]\nreclaim = harder\n",
                     "t.ini:2: reclaim: 'harder' is not one of none, compact, drop-caches");
        assert_error("[hugepages]\npool = lots\n",
                     "t.ini:2: pool: 'lots' is not a size (2G, 512M), a count of pages (1024), a "
                     "percentage of RAM (25%) or none");
        assert_error("[hugepages]\npool = 150%\n",
                     "t.ini:2: pool: '150%' is not a percentage of RAM (0% to 100%)");
        assert_error("[hugepages]\nsize = 3M\n",
                     "t.ini:2: size: '3M' is not a hugepage size (a power of two of at least 64K, "
                     "such as 2M or 1G)");
        assert_error("[hugepages-3M]\npool = 1\n",
                     "t.ini:1: [hugepages-3M]: '3M' is not a hugepage size (a power of two of at "
                     "least 64K, such as 2M or 1G)");
        assert_error("[hugepages]\nper-node = 0:1G 0:2G\n",
                     "t.ini:2: per-node: node 0 is listed twice");
        assert_error("[hugepages]\nper-node = 64:1G\n",
                     "t.ini:2: per-node: '64:1G': node must be a number below 64");
        assert_error("[hugepages]\nper-node = 0:10%\n",
                     "t.ini:2: per-node: '0:10%': per-node sizes cannot be percentages");
        assert_error("[hugepages]\nper-node = sometimes\n",
                     "t.ini:2: per-node: 'sometimes' is not NODE:SIZE (per-node = kernel, even, "
                     "or a list such as '0:1G 1:1G')");
        assert_error("[zram]\nsize = 1K\n",
                     "t.ini:2: size: '1K' is not a size of at least 1M (4G), a percentage of RAM "
                     "(50%) or none");
        assert_error("[zram]\ndevice = sda\n", "t.ini:2: device: 'sda' must be zramN (zram0, "
                                               "zram1, ...)");
        assert_error("[net]\nbridge = a-very-long-bridge-name\n",
                     "t.ini:2: bridge: 'a-very-long-bridge-name' is longer than 15 characters "
                     "(IFNAMSIZ)");
        assert_error("[net]\nowner = -root\n",
                     "t.ini:2: owner: '-root' is not a valid user or group name (letters, digits, "
                     "'_', '.', '-'; starting with a letter or '_'; at most 31 characters) or "
                     "numeric id");
        assert_error("[rng]\nrequire = strong\n",
                     "t.ini:2: require: 'strong' is not one of none, crng, hwrng");
        assert_error("[readiness]\nrequire = kvm, warp-drive\n",
                     "t.ini:2: require: unknown requirement 'warp-drive' (known: kvm, "
                     "hugepages=SIZE[:PAGESIZE], rng, hwrng, tun, vhost-net, vhost-vsock, "
                     "userfaultfd, userns, snapshots=N, taps=N, zram, btrfs, nix, no-swap, "
                     "smt-off, ksm-off)");
        assert_error("[readiness]\nrequire = hugepages=10%\n",
                     "t.ini:2: require: percentages are not allowed here (a policy is validated "
                     "without knowing the host's RAM); write an absolute size such as "
                     "hugepages=2G");
        assert_error("[btrfs]\nrequire-options = autodefrag\n",
                     "t.ini:2: require-options: hosttune can verify only noatime, ssd, "
                     "space_cache=v2, discard=async, compress and compress=ALGORITHM[:LEVEL]");
        assert_error("[snapshots]\ntemplates = a, a\n",
                     "t.ini:2: templates: a template is listed twice");
        assert_error("[policy]\nname = my policy\n",
                     "t.ini:2: name: 'my policy' may hold only letters, digits, '.', '_' and '-'");
}

static void test_sysctl_errors(void **state) {
        (void) state;

        assert_error("[sysctl]\nfs.file-max = 1\n",
                     "t.ini:2: fs.file-max: only keys under vm., kernel. and net. may be set");
        assert_error("[sysctl]\nvm..dirty_ratio = 1\n",
                     "t.ini:2: vm..dirty_ratio: must not contain '..'");
        assert_error("[sysctl]\nnet.ipv4.conf.eth0/100.rp_filter = 1\n",
                     "t.ini:2: net.ipv4.conf.eth0/100.rp_filter: must not contain '/' (keys of "
                     "interfaces whose names hold a dot cannot be set here)");
        assert_error("[sysctl]\nvm. = 1\n", "t.ini:2: vm.: must not end with '.'");
        assert_error("[sysctl]\nvm.dirty_ratio =\n", "t.ini:2: vm.dirty_ratio: needs a value");
        assert_error("[sysctl]\nvm.nr_hugepages = 10\n",
                     "t.ini:2: vm.nr_hugepages: the hugepage pool is set by [hugepages] pool");
        assert_error("[sysctl]\nvm.drop_caches = 3\n",
                     "t.ini:2: vm.drop_caches: is an action, not a setting ([hugepages] reclaim "
                     "uses it)");
        assert_error(
                "[memory]\nswappiness = 10\n[sysctl]\nvm.swappiness = 20\n",
                "t.ini:4: vm.swappiness: [memory] swappiness sets it too; keep one of the two");
}

static void test_structure_errors(void **state) {
        char line[400], text[600];
        (void) state;

        /* A line continued by an indented one: fine for lists, an error for single values. */
        assert_error("[memory]\nswappiness = 10\n  20\n",
                     "t.ini:3: swappiness: takes a single value; a line that starts with "
                     "whitespace continues the value of the line before");
        memset(line, 'x', 200);
        line[200] = 0;
        xsprintf(text, "[policy]\ndescription = %s\n[memory]\nswappiness = 1\n", line);
        assert_error(text, "t.ini:2: line longer than 197 characters (continue a list on the next "
                           "line, indented)");
        assert_error("[hugepages]\npool = 1G\nsize = 1G\n[hugepages-1G]\npool = 2G\n",
                     "t.ini:5: [hugepages-1G] names the page size of [hugepages] size = 1G "
                     "(t.ini:3); set that pool in one of the two sections");
        assert_error("[hugepages]\npool = 1G\nmax = 512M\n",
                     "t.ini:3: max: max (512M) is below pool (1G)");
        assert_error("[hugepages]\nmax = 1G\n", "t.ini:2: max: max needs a pool");
        assert_error("[hugepages]\npool = 2G\nper-node = 0:1G 1:512M\n",
                     "t.ini:3: per-node: the nodes add up to 1536M but pool is 2G");
        assert_error("[readiness]\nrequire = no-swap\n[zram]\nsize = 1G\n",
                     "t.ini:4: size: zram swap contradicts the no-swap requirement in [readiness] "
                     "(Firecracker's advice); choose one");
        assert_error("[readiness]\nrequire = ksm-off\n[memory]\nksm = yes\n",
                     "t.ini:4: ksm: ksm = yes contradicts the ksm-off requirement in [readiness]");
        assert_error("[net]\ntap-prefix = abcdefghijkl\n",
                     "t.ini:2: tap-prefix: 'abcdefghijkl' is longer than 11 characters (room for "
                     "the tap number)");
        assert_error("[hugepages-64K]\npool=1\n[hugepages-128K]\npool=1\n[hugepages-256K]\npool=1\n"
                     "[hugepages-512K]\npool=1\n[hugepages-1M]\npool=1\n",
                     "t.ini:10: pool: more than 4 hugepage sizes");
}

static void test_nothing_on_error(void **state) {
        (void) state;

        memset(&p, 0x5a, sizeof(p));
        assert_int_equal(load("[memory]\nswappiness = 10\n[net]\ntaps = x\n"), -EINVAL);
        /* The half-read policy never reaches the caller. */
        for (size_t i = 0; i < sizeof(p); i++)
                assert_int_equal(((unsigned char *) &p)[i], 0x5a);
        assert_int_equal(err.line, 4);
        assert_string_equal(err.file, "t.ini");
        assert_string_equal(err.key, "taps");
}

static void test_reasons(void **state) {
        (void) state;

        assert_int_equal(load("# file header\n\n[memory]\n# Kernel docs: a reason\n#   over two "
                              "lines\nswappiness = 10\nthp = never ; inline reason\n\n# not "
                              "directly above\n\nksm = no\n"),
                         0);
        assert_string_equal(policy_origin_reason(&p, p.origins[POLICY_KEY_MEMORY_SWAPPINESS]),
                            "Kernel docs: a reason over two lines");
        assert_string_equal(p.thp, "never");
        assert_string_equal(policy_origin_reason(&p, p.origins[POLICY_KEY_MEMORY_THP]),
                            "inline reason");
        assert_string_equal(policy_origin_reason(&p, p.origins[POLICY_KEY_MEMORY_KSM]), "");
}

/* A temporary directory of policy files for include tests. */
static char dir[64];

static void write_file(const char *name, const char *text) {
        char path[128];
        FILE *f;

        xsprintf(path, "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static int setup_dir(void **state) {
        (void) state;
        xsprintf(dir, "/tmp/test-policy-load.XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        mkdir(strcat(strcpy((char[128]){ 0 }, dir), "/sub"), 0755);
        return 0;
}

static int teardown_dir(void **state) {
        char cmd[128];
        (void) state;
        xsprintf(cmd, "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* The path of a file in the directory; a few calls may share one expression. */
static const char *path_of(const char *name) {
        static char paths[4][128];
        static unsigned next;
        char *path = paths[next++ % 4];
        assert_int_equal(bufprintf(path, sizeof(paths[0]), "%s/%s", dir, name), 0);
        return path;
}

static void test_includes(void **state) {
        char buf[1024], expect[512];
        (void) state;

        /* Relative to the including file; included first, then the including file wins. */
        write_file("sub/base.ini", "[policy]\nname = base\n[memory]\nswappiness = 10\nthp = never\n"
                                   "[readiness]\nrequire = kvm\n");
        write_file("main.ini", "[memory]\nswappiness = 30\n[policy]\ninclude = sub/base.ini, "
                               "default\n");
        assert_int_equal(policy_load_file(path_of("main.ini"), &p, &err), 0);
        assert_int_equal(p.swappiness, 30);
        assert_string_equal(p.thp, "never");
        /* name comes from the main file only. */
        assert_string_equal(p.name, "main");
        assert_int_equal(p.n_files, 3);
        assert_string_equal(p.files[1], path_of("sub/base.ini"));
        assert_string_equal(p.files[2], "<builtin:default>");
        /* default's kvm, rng, tun, userfaultfd merge with base's kvm. */
        assert_int_equal(p.require.n, 4);
        assert_int_equal(p.origins[POLICY_KEY_MEMORY_THP].file, 1);
        assert_int_equal(p.origins[POLICY_KEY_MEMORY_THP].line, 5);
        policy_origin_format(&p, p.origins[POLICY_KEY_MEMORY_THP], buf, sizeof(buf));
        xsprintf(expect, "%s:5", path_of("sub/base.ini"));
        assert_string_equal(buf, expect);

        /* An include inside an included file is relative to that file. */
        write_file("sub/inner.ini", "[policy]\ninclude = base.ini\n");
        write_file("outer.ini", "[policy]\ninclude = sub/inner.ini\n");
        assert_int_equal(policy_load_file(path_of("outer.ini"), &p, &err), 0);
        assert_int_equal(p.swappiness, 10);

        /* A missing include names the including line. */
        write_file("missing.ini", "[policy]\n\ninclude = nothere.ini\n");
        assert_int_equal(policy_load_file(path_of("missing.ini"), &p, &err), -ENOENT);
        xsprintf(expect, "%s:3: include: cannot read '%s': No such file or directory",
                 path_of("missing.ini"), path_of("nothere.ini"));
        assert_string_equal(policy_error_format(&err, buf, sizeof(buf)), expect);
        assert_int_equal(policy_load_file(path_of("nosuch.ini"), &p, &err), -ENOENT);
        xsprintf(expect, "%s: cannot read: No such file or directory", path_of("nosuch.ini"));
        assert_string_equal(policy_error_format(&err, buf, sizeof(buf)), expect);

        /* A profile name that does not exist. */
        assert_string_equal(load_error("[policy]\ninclude = no-such-profile\n", -ENOENT),
                            "t.ini:2: include: no profile named 'no-such-profile'");
        /* A directory is not a policy. */
        write_file("dirinc.ini", "[policy]\ninclude = ./sub\n");
        assert_int_equal(policy_load_file(path_of("dirinc.ini"), &p, &err), -EISDIR);
}

static void test_cycles(void **state) {
        char buf[1024], expect[1024];
        (void) state;

        write_file("a.ini", "[policy]\ninclude = b.ini\n");
        write_file("b.ini", "[memory]\nksm = no\n[policy]\ninclude = a.ini\n");
        assert_int_equal(policy_load_file(path_of("a.ini"), &p, &err), -ELOOP);
        xsprintf(expect, "%s:4: include: include cycle: %s -> %s -> %s", path_of("b.ini"),
                 path_of("a.ini"), path_of("b.ini"), path_of("a.ini"));
        assert_string_equal(policy_error_format(&err, buf, sizeof(buf)), expect);

        write_file("self.ini", "[policy]\ninclude = self.ini\n");
        assert_int_equal(policy_load_file(path_of("self.ini"), &p, &err), -ELOOP);

        /* A diamond (two files including one) is not a cycle. */
        write_file("leaf.ini", "[memory]\nswappiness = 7\n");
        write_file("l.ini", "[policy]\ninclude = leaf.ini\n");
        write_file("r.ini", "[policy]\ninclude = leaf.ini\n");
        write_file("top.ini", "[policy]\ninclude = l.ini r.ini\n");
        assert_int_equal(policy_load_file(path_of("top.ini"), &p, &err), 0);
        assert_int_equal(p.swappiness, 7);

        /* A chain deeper than the limit. */
        for (unsigned i = 0; i < POLICY_INCLUDE_DEPTH_MAX + 2; i++) {
                char name[32], text[64];
                xsprintf(name, "d%u.ini", i);
                xsprintf(text, "[policy]\ninclude = d%u.ini\n", i + 1);
                write_file(name, text);
        }
        write_file("d10.ini", "[memory]\nksm = no\n");
        assert_int_equal(policy_load_file(path_of("d0.ini"), &p, &err), -ELOOP);
        assert_string_equal(err.message, "includes nested deeper than 8");
        assert_int_equal(err.line, 2);
}

static void test_profiles(void **state) {
        (void) state;

        assert_true(policy_is_profile_name("microvm-ci"));
        assert_false(policy_is_profile_name("microvm-ci.ini"));
        assert_false(policy_is_profile_name("./x"));
        assert_false(policy_is_profile_name(""));
        assert_int_equal(policy_load_default(&p, &err), 0);
        assert_string_equal(p.name, "default");
        assert_int_equal(p.require.n, 4);
        for (unsigned i = 0; i < n_embedded_profiles; i++) {
                assert_int_equal(policy_load(embedded_profiles[i].name, &p, &err), 0);
                assert_string_equal(p.name, embedded_profiles[i].name);
        }
        /* The default profile only checks: no knob, no pool, nothing managed. */
        assert_int_equal(policy_load("default", &p, &err), 0);
        assert_int_equal(p.n_pools, 0);
        assert_int_equal(p.n_sysctl, 0);
        assert_int_equal(p.swappiness, -1);
        assert_int_equal(p.ksm, -1);
        assert_string_equal(p.thp, "");
        assert_int_equal(p.kvm_mode, -1);
        assert_false(p.zram_size.set);
        assert_false(p.snapshots_managed);
        assert_int_equal(p.taps, 0);
        assert_string_equal(p.bridge, "");
        assert_string_equal(p.hugetlbfs_mount, "");
        assert_string_equal(p.require_options, "");
}

/* Writing a policy and reading it back gives the same policy: compare the INI texts, which
 * show every key. */
static void assert_round_trip(const struct policy *in) {
        _cleanup_free_ char *a = policy_to_ini(in), *b = NULL, *json = NULL;
        static struct policy again;
        char name[80], *nl;

        assert_non_null(a);
        assert_int_equal(policy_load_string("again.ini", a, &again, &err), 0);
        b = policy_to_ini(&again);
        /* The first line names the files read, which differ. */
        nl = strchr(a, '\n');
        assert_non_null(nl);
        assert_string_equal(nl, strchr(b, '\n'));
        assert_string_equal(in->name, again.name);
        xsprintf(name, "%s", again.name);
        json = policy_to_json(&again);
        assert_non_null(json);
        {
                json_object *o = json_tokener_parse(json), *v;
                assert_non_null(o);
                assert_true(json_object_object_get_ex(o, "name", &v));
                assert_string_equal(json_object_get_string(v), name);
                assert_true(json_object_object_get_ex(o, "hugepages", &v));
                json_object_put(o);
        }
}

static void test_round_trip(void **state) {
        static struct policy q;
        char line[120];
        (void) state;

        assert_int_equal(load(every_key), 0);
        assert_round_trip(&p);
        for (unsigned i = 0; i < n_embedded_profiles; i++) {
                assert_int_equal(policy_load(embedded_profiles[i].name, &q, &err), 0);
                assert_round_trip(&q);
        }
        /* Found by fuzz-policy: a [hugepages-2M] section next to show's empty [hugepages], and
         * sizes that are no multiple of 1K (a plain number would read back as pages). */
        assert_int_equal(load("[hugepages-2M]\npool = 20M\n"), 0);
        assert_round_trip(&p);
        assert_int_equal(load("[hugepages]\npool = 1.66666666T\nper-node = 0:1000B\n"), -EINVAL);
        assert_int_equal(load("[hugepages]\npool = 1.66666666T\n[zram]\nsize = 1048577B\n"), 0);
        assert_round_trip(&p);
        /* A list too long for one line comes back as continuation lines. */
        {
                char text[4096] = "[snapshots]\ntemplates = ";
                for (unsigned i = 0; i < POLICY_TEMPLATES_MAX; i++) {
                        xsprintf(line, "%s\n  template-with-a-rather-long-name-number-%02u",
                                 i ? "," : "", i);
                        strcat(text, line);
                }
                strcat(text, "\n");
                assert_int_equal(load(text), 0);
                assert_int_equal(p.n_templates, POLICY_TEMPLATES_MAX);
                assert_round_trip(&p);
        }
}

static void test_users(void **state) {
        const char passwd[] = "root:x:0:0:root:/root:/bin/sh\nmicrovm:x:993:301::/var/empty:/s\n"
                              "broken:x::1::/:\n";
        uint32_t id;
        (void) state;

        assert_true(user_group_name_valid("microvm"));
        assert_true(user_group_name_valid("_apt"));
        assert_true(user_group_name_valid("1000"));
        assert_false(user_group_name_valid("4294967295"));
        assert_false(user_group_name_valid("-x"));
        assert_false(user_group_name_valid("a b"));
        assert_false(user_group_name_valid(""));
        assert_false(user_group_name_valid("a-name-that-is-much-longer-than-31-chars"));
        assert_int_equal(user_db_find(passwd, "microvm", &id), 0);
        assert_int_equal(id, 993);
        assert_int_equal(user_db_find(passwd, "root", &id), 0);
        assert_int_equal(id, 0);
        assert_int_equal(user_db_find(passwd, "micro", &id), -ENOENT);
        assert_int_equal(user_db_find(passwd, "broken", &id), -EBADMSG);

        /* The first member of a group: whom the KVM probe's build-user guest runs as. */
        static const char group[] = "root:x:0:\nnixbldx:x:1:other\nnixbld:x:30000:nixbld1,nixbld2\n"
                                    "empty:x:5:\nlast:x:6:solo";
        char m[32];
        assert_int_equal(group_db_first_member(group, "nixbld", m, sizeof(m), &id), 0);
        assert_string_equal(m, "nixbld1");
        assert_int_equal(id, 30000);
        assert_int_equal(group_db_first_member(group, "last", m, sizeof(m), &id), 0);
        assert_string_equal(m, "solo");
        assert_int_equal(group_db_first_member(group, "empty", m, sizeof(m), &id), -ENOENT);
        assert_int_equal(group_db_first_member(group, "missing", m, sizeof(m), &id), -ENOENT);
        assert_int_equal(group_db_first_member(group, "nixbld", m, 4, &id), -ENOBUFS);
}

/* The allow-lists of the path keys (policies/paths.c, docs/policy.md "Paths"): what the attack
 * run of issue 12 got through, and what an operator must still be able to write. */
static void test_path_allow_lists(void **state) {
        static const char *const refused[] = {
                "[hugepages]\nmount = /etc\n",
                "[hugepages]\nmount = /\n",
                "[hugepages]\nmount = /dev\n",
                "[hugepages]\nmount = /sys/fs\n",
                "[hugepages]\nmount = /usr\n",
                "[hugepages]\nmount = /boot\n",
                "[hugepages]\nmount = /run/hosttune\n",
                "[hugepages]\nmount = /run\n",
                "[hugepages]\nmount = /tmp/x\n",
                "[snapshots]\nroot = /\n",
                "[snapshots]\nroot = /etc\n",
                "[snapshots]\nroot = /dev\n",
                "[snapshots]\nroot = /sys\n",
                "[snapshots]\nroot = /proc/sys\n",
                "[snapshots]\nroot = /run/hosttune\n",
                "[snapshots]\nroot = /var/lib\n",
                "[snapshots]\nroot = //var//lib//\n",
                "[agent]\nmetrics-file = /etc/shadow\n",
                "[agent]\nmetrics-file = /var/lib/x/m.txt\n",
                "[agent]\nmetrics-file = /run/hosttune/journal.prom\n",
                "[nix]\nfeatures-file = /etc/passwd\n",
                "[nix]\nfeatures-file = /dev/sda\n",
                "[nix]\nfeatures-file = /etc/nix/nix.conf\n",
                "[nix]\nfeatures-file = /run/hosttune/journal.json\n",
                "[nix]\nfeatures-file = /run/hosttune/agent.state\n",
                "[nix]\nconf = /dev/zero\n",
                "[agent]\nnfd-features-file = /etc/passwd\n",
                "[agent]\nnfd-features-file = /var/lib/dpkg/status\n",
                "[hugepages]\nmount = /run/systemd\n",
                "[hugepages]\nmount = /run/user/1000\n",
                "[nix]\nfeatures-file = /run/systemd/resolve/stub-resolv.conf\n",
                "[nix]\nfeatures-file = /var/lib/dpkg/status\n",
                "[agent]\nnfd-features-file = /run/hosttune/ready.json\n",
                "[nix]\nconf = /proc/self/environ\n",
        };
        static const char *const accepted[] = {
                "[hugepages]\nmount = /dev/hugepages\n",
                "[hugepages]\nmount = /dev/hugepages1G\n",
                "[hugepages]\nmount = /dev/hugepages-vm/\n",
                "[hugepages]\nmount = /run/hugepages/vm\n",
                "[hugepages]\nmount = /mnt/huge\n",
                "[hugepages]\nmount = /tmp/hosttune-test.abc/huge\n",
                "[snapshots]\nroot = /var/lib/hosttune/snapshots\n",
                "[snapshots]\nroot = /srv/snap\n",
                "[snapshots]\nroot = /mnt/btrfs/snapshots\n",
                "[snapshots]\nroot = /var/tmp/ci.1/snapshots\n",
                "[agent]\nmetrics-file = /var/lib/prometheus/node-exporter/hosttune.prom\n",
                "[agent]\nmetrics-file = /run/hosttune/metrics.prom\n",
                "[nix]\nfeatures-file = /etc/nix/hosttune.conf\n",
                "[nix]\nfeatures-file = /run/hosttune/nix.conf\n",
                "[nix]\nconf = /etc/nix/nix.conf\n",
                "[agent]\nnfd-features-file = /etc/kubernetes/nfd/features.d/hosttune\n",
                "[agent]\nnfd-features-file = /run/nfd/features.d/hosttune\n",
                "[hugepages]\nmount = /run/hosttune/hugepages\n",
        };
        char path[256], text[320];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                const char *m = load_error(refused[i], -EINVAL);
                if (!strstr(m, "t.ini:2: ") || (!strstr(m, "not") && !strstr(m, "must")))
                        fail_msg("%s: %s", refused[i], m);
        }
        for (size_t i = 0; i < ELEMENTSOF(accepted); i++)
                if (load(accepted[i]) != 0)
                        fail_msg("%s: %s", accepted[i], load_error(accepted[i], 0));
        /* Control characters quoted back are escaped (issue 12, point 8). */
        assert_error("[policy]\ndescription = a\033[31mb\007\n",
                     "t.ini:2: description: 'a\\x1b[31mb\\x07' must not hold control characters");
        assert_error("[hugepages]\nmount = /etc\n",
                     "t.ini:2: mount: '/etc' is not a place for a hugetlbfs mount (allowed: "
                     "/dev/hugepages*, /run/hugepages*, below /run/hosttune/, /mnt/ or /srv/, or "
                     "inside a directory below /tmp/ or /var/tmp/)");

        /* An output path that exists and is not a regular file (a FIFO here, a device on a
         * host) is refused; a regular file there is an earlier output. */
        xsprintf(path, "%s/m.prom", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        xsprintf(text, "[agent]\nmetrics-file = %s\n", path);
        assert_non_null(strstr(load_error(text, -EINVAL), "exists and is not a regular file"));
        assert_int_equal(unlink(path), 0);
        assert_int_equal(load(text), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_every_key),
                cmocka_unit_test(test_keep_and_none),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_later_wins),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_sysctl_errors),
                cmocka_unit_test(test_structure_errors),
                cmocka_unit_test(test_nothing_on_error),
                cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_includes),
                cmocka_unit_test(test_cycles),
                cmocka_unit_test(test_profiles),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_users),
                cmocka_unit_test(test_path_allow_lists),
        };
        return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
