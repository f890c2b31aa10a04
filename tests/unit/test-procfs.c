/* SPDX-License-Identifier: MIT */
/* Unit tests for the text parsers of lib/procfs.c and lib/nixconf.c, fed the formats the kernel
 * and Nix write (quoted from fs/proc_namespace.c, mm/vmstat.c, mm/swapfile.c and Nix's
 * applyConfigInner where the format has a quirk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/nixconf.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"

/* A list type "name" of up to 8 entries of type, and its parser callback collect_##name. */
#define DEFINE_COLLECTOR(name, type)                                                               \
        struct name {                                                                              \
                unsigned n;                                                                        \
                type e[8];                                                                         \
        };                                                                                         \
        static int collect_##name(const type *e, void *userdata) {                                 \
                struct name *l = userdata;                                                         \
                if (l->n < ELEMENTSOF(l->e))                                                       \
                        l->e[l->n++] = *e;                                                         \
                return 0;                                                                          \
        }

DEFINE_COLLECTOR(mounts, struct mount_entry)
DEFINE_COLLECTOR(zones, struct buddy_zone)
DEFINE_COLLECTOR(swaps, struct swaps_entry)

static void test_mountinfo(void **state) {
        /* No optional fields; two optional fields; octal escapes for space (\040), tab (\011),
         * newline (\012) and backslash (\134); a source "none"; no super options at all. */
        const char *text =
                "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
                "92 26 0:51 /@images /srv/vm\\040images rw,relatime shared:42 master:7 - btrfs "
                "/dev/vdb rw,compress-force=lzo,subvol=/@images\n"
                "93 26 0:52 / /mnt/a\\011b\\012c\\134d rw shared:1 - tmpfs none rw\n"
                "94 26 0:53 / /mnt/nosuper rw - proc proc\n";
        struct mounts m = { 0 };
        unsigned bad = 99;
        (void) state;

        assert_int_equal(mountinfo_parse(text, collect_mounts, &m, &bad), 0);
        assert_int_equal(bad, 0);
        assert_int_equal(m.n, 4);
        assert_int_equal(m.e[0].mount_id, 26);
        assert_int_equal(m.e[0].parent_id, 1);
        assert_int_equal(m.e[0].major, 254);
        assert_int_equal(m.e[0].minor, 0);
        assert_string_equal(m.e[0].target, "/");
        assert_string_equal(m.e[0].fstype, "ext4");
        assert_string_equal(m.e[0].source, "/dev/vda");
        assert_string_equal(m.e[0].super_options, "rw,discard");
        assert_string_equal(m.e[1].root, "/@images");
        assert_string_equal(m.e[1].target, "/srv/vm images");
        assert_string_equal(m.e[1].mount_options, "rw,relatime");
        assert_string_equal(m.e[1].fstype, "btrfs");
        assert_string_equal(m.e[1].super_options, "rw,compress-force=lzo,subvol=/@images");
        assert_string_equal(m.e[2].target, "/mnt/a\tb\nc\\d");
        assert_string_equal(m.e[2].source, "none");
        assert_string_equal(m.e[3].target, "/mnt/nosuper");
        assert_string_equal(m.e[3].super_options, "");
}

static void test_mountinfo_malformed(void **state) {
        /* Missing "-" separator, bad device number, too few fields, a field longer than its
         * buffer, and a good last line without its newline (cut short). */
        char longpath[700];
        char text[2048];
        struct mounts m = { 0 };
        unsigned bad = 0;
        (void) state;

        memset(longpath, 'x', sizeof(longpath) - 1);
        longpath[sizeof(longpath) - 1] = 0;
        xsprintf(text,
                 "1 2 0:1 / /a rw shared:1 ext4 /dev/x rw\n"
                 "1 2 0x1 / /b rw - ext4 /dev/x rw\n"
                 "1 2 0:1 /\n"
                 "1 2 0:1 / /%s rw - ext4 /dev/x rw\n"
                 "5 2 0:1 / /ok rw - ext4 /dev/x rw\n"
                 "\n"
                 "6 2 0:1 / /cut rw - ext4 /dev/x rw",
                 longpath);
        assert_int_equal(mountinfo_parse(text, collect_mounts, &m, &bad), 0);
        assert_int_equal(m.n, 1);
        assert_string_equal(m.e[0].target, "/ok");
        assert_int_equal(bad, 5);
}

static void test_mountinfo_matching(void **state) {
        /* Only lines with the needle are parsed; the others only need " - ". */
        const char *text = "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
                           "91 26 0:51 / /var/lib/x rw,noatime shared:4 - btrfs /dev/vdb rw\n"
                           "not a mount line\n"
                           "92 26 0:52 / /mnt/btrfs-not rw - ext4 /dev/vdc rw\n";
        struct mounts m = { 0 };
        unsigned bad = 0;
        (void) state;

        assert_int_equal(mountinfo_parse_matching(text, " - btrfs ", collect_mounts, &m, &bad), 0);
        assert_int_equal(m.n, 1);
        assert_string_equal(m.e[0].target, "/var/lib/x");
        assert_string_equal(m.e[0].fstype, "btrfs");
        assert_int_equal(bad, 1); /* "not a mount line" */
        m.n = 0;
        assert_int_equal(mountinfo_parse_matching(text, "/dev/vdc", collect_mounts, &m, &bad), 0);
        assert_int_equal(m.n, 1);
        assert_string_equal(m.e[0].target, "/mnt/btrfs-not");
        /* A matching line that does not parse is malformed too. */
        m.n = 0;
        assert_int_equal(
                mountinfo_parse_matching("1 2 x - btrfs\n", " - btrfs", collect_mounts, &m, &bad),
                0);
        assert_int_equal(m.n, 0);
        assert_int_equal(bad, 1);
}

static void test_mount_option_find(void **state) {
        char v[16];
        (void) state;

        assert_true(mount_option_find("rw,compress=zstd:3,ssd", "compress", v, sizeof(v)));
        assert_string_equal(v, "zstd:3");
        assert_true(mount_option_find("rw,ssd", "ssd", v, sizeof(v)));
        assert_string_equal(v, "");
        /* "ssd_spread" is not "ssd", "compress-force" is not "compress". */
        assert_false(mount_option_find("rw,ssd_spread,compress-force=lzo", "ssd", NULL, 0));
        assert_false(mount_option_find("rw,compress-force=lzo", "compress", NULL, 0));
        assert_true(mount_option_find("mode=1770,gid=3000", "gid", v, 3));
        assert_string_equal(v, "30"); /* cut to the buffer */
        assert_false(mount_option_find("", "rw", NULL, 0));
}

static void test_meminfo(void **state) {
        const char *text = "MemTotal:       24683620 kB\n"
                           "MemFree:        23959820 kB\n"
                           "HugePages_Total:    1024\n"
                           "Bogus:          lots kB\n"
                           "Hugepagesize:       2048 kB\n"
                           "Cut:            12";
        uint64_t v;
        (void) state;

        assert_int_equal(meminfo_get(text, "MemTotal", &v), 0);
        assert_int_equal(v, 24683620);
        assert_int_equal(meminfo_get(text, "HugePages_Total", &v), 0);
        assert_int_equal(v, 1024);
        assert_int_equal(meminfo_get(text, "Hugepagesize", &v), 0);
        assert_int_equal(v, 2048);
        /* "Mem" is a prefix of keys, not a key. */
        assert_int_equal(meminfo_get(text, "Mem", &v), -ENOENT);
        assert_int_equal(meminfo_get(text, "SwapTotal", &v), -ENOENT);
        assert_int_equal(meminfo_get(text, "Bogus", &v), -EINVAL);
        assert_int_equal(meminfo_get(text, "Cut", &v), -EINVAL);
        assert_int_equal(meminfo_get("X: 99999999999999999999 kB\n", "X", &v), -ERANGE);
}

static void test_buddyinfo(void **state) {
        /* mm/vmstat.c frag_show_print: "Node %d, zone %8s " then "%6lu " per order. */
        const char *text =
                "Node 0, zone      DMA      0      0      0      0      0      0      0      0  "
                "    1      1      3 \n"
                "Node 0, zone    DMA32      2      3      0      2      3      2      1      4  "
                "    4      2    752 \n"
                "Node 0, zone   Normal    261    190     38     17     86     62     46     24  "
                "    8      0   1918 \n"
                "Node 1, zone   Normal     10     20     30     40     50     60     70     80  "
                "   90      1     50 \n"
                "Node x, zone Normal 1\n";
        struct zones zs = { 0 };
        unsigned bad = 0;
        (void) state;

        assert_int_equal(buddyinfo_parse(text, collect_zones, &zs, &bad), 0);
        assert_int_equal(bad, 1);
        assert_int_equal(zs.n, 4);
        assert_string_equal(zs.e[1].zone, "DMA32");
        assert_int_equal(zs.e[1].n_orders, 11);
        assert_int_equal(zs.e[1].free[10], 752);
        assert_int_equal(zs.e[3].node, 1);
        /* 2M = order 9 of 4K pages: blocks of order >= 9 counted in 2M units, DMA excluded.
         * Node 0: DMA32 2 + 2*752, Normal 0 + 2*1918; node 1: 1 + 2*50. */
        assert_int_equal(buddyinfo_obtainable(text, 9, 0), 2 + 2 * 752 + 2 * 1918);
        assert_int_equal(buddyinfo_obtainable(text, 9, 1), 1 + 2 * 50);
        assert_int_equal(buddyinfo_obtainable(text, 9, -1), 2 + 2 * 752 + 2 * 1918 + 1 + 2 * 50);
        assert_int_equal(buddyinfo_obtainable(text, 10, -1), 752 + 1918 + 50);
        /* 1G = order 18: above the largest order listed, unknown. */
        assert_true(buddyinfo_obtainable(text, 18, -1) == UINT64_MAX);
        /* A node that is not there has nothing. */
        assert_int_equal(buddyinfo_obtainable(text, 9, 7), 0);
        assert_int_equal(buddyinfo_obtainable("", 9, -1), 0);
}

static void test_cpuinfo(void **state) {
        struct cpuinfo_first c;
        (void) state;

        /* Only the first processor block counts; "vmx" must be a whole word. */
        assert_int_equal(cpuinfo_parse_first("processor\t: 0\n"
                                             "vendor_id\t: GenuineIntel\n"
                                             "model name\t: Intel(R) Xeon(R)\n"
                                             "flags\t\t: fpu vmxx vmx sse\n"
                                             "\n"
                                             "processor\t: 1\n"
                                             "flags\t\t: svm hypervisor\n",
                                             &c),
                         0);
        assert_string_equal(c.vendor, "GenuineIntel");
        assert_string_equal(c.model_name, "Intel(R) Xeon(R)");
        assert_true(c.vmx);
        assert_false(c.svm);
        assert_false(c.hypervisor);
        /* The flag as the last word of the line, with the file ending there. */
        assert_int_equal(cpuinfo_parse_first("processor\t: 0\nflags\t\t: fpu hypervisor svm", &c),
                         0);
        assert_true(c.svm && c.hypervisor);
        assert_false(c.vmx);
        /* "hypervisorx" is not "hypervisor". */
        assert_int_equal(cpuinfo_parse_first("processor\t: 0\nflags\t: hypervisorx\n", &c), 0);
        assert_false(c.hypervisor);
        /* arm64 names the line Features. */
        assert_int_equal(
                cpuinfo_parse_first("processor\t: 0\nFeatures\t: fp asimd evtstrm\n\n", &c), 0);
        assert_true(c.have_flags);
        assert_false(c.vmx);
        /* No flags line: cut short, or not cpuinfo. */
        assert_int_equal(cpuinfo_parse_first("processor\t: 0\nvendor_id\t: AuthenticAMD\n", &c),
                         -EINVAL);
        assert_int_equal(cpuinfo_parse_first("", &c), -EINVAL);
        /* "flags" must be followed by a colon. */
        assert_int_equal(cpuinfo_parse_first("processor: 0\nflagsvmx\n", &c), -EINVAL);
}

static void test_swaps(void **state) {
        /* mm/swapfile.c swap_show: the path padded with spaces, then tabs. */
        const char *text =
                "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
                "/dev/zram0                              partition\t8388604\t\t1024\t\t100\n"
                "/swap\\040file                           file\t\t1048572\t\t0\t\t-2\n"
                "/dev/vdb1 partition 10 0 notanumber\n"
                "/dev/vdb2 partition 10 0 99999999\n";
        struct swaps s = { 0 };
        unsigned bad = 0;
        (void) state;

        assert_int_equal(swaps_parse(text, collect_swaps, &s, &bad), 0);
        assert_int_equal(bad, 2);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.e[0].path, "/dev/zram0");
        assert_string_equal(s.e[0].type, "partition");
        assert_int_equal(s.e[0].size_kib, 8388604);
        assert_int_equal(s.e[0].used_kib, 1024);
        assert_int_equal(s.e[0].priority, 100);
        assert_string_equal(s.e[1].path, "/swap file");
        assert_int_equal(s.e[1].priority, -2);
        /* The header alone is no swap; an empty file is no swap. */
        s.n = 0;
        assert_int_equal(
                swaps_parse("Filename\tType\tSize\tUsed\tPriority\n", collect_swaps, &s, &bad), 0);
        assert_int_equal(s.n + bad, 0);
        assert_int_equal(swaps_parse("", collect_swaps, &s, &bad), 0);
        assert_int_equal(s.n + bad, 0);
}

/* A stopping callback ends the walk with its value. */
static int stop_cb(const struct swaps_entry *e, void *userdata) {
        (void) e;
        (void) userdata;
        return -ECANCELED;
}

static void test_callback_stops(void **state) {
        (void) state;
        assert_int_equal(
                swaps_parse("h\n/a partition 1 0 1\n/b partition 1 0 1\n", stop_cb, NULL, NULL),
                -ECANCELED);
}

#define NIX_ITEMS_MAX 16
struct nix_items {
        unsigned n;
        struct {
                enum nixconf_kind kind;
                char key[64];
                char value[128];
                unsigned line;
        } it[NIX_ITEMS_MAX];
};

static int collect_nix(enum nixconf_kind kind, const char *key, const char *value, unsigned line,
                       void *userdata) {
        struct nix_items *n = userdata;
        if (n->n >= NIX_ITEMS_MAX)
                return -E2BIG;
        n->it[n->n].kind = kind;
        strscpy(n->it[n->n].key, sizeof(n->it[0].key), key ? key : "");
        strscpy(n->it[n->n].value, sizeof(n->it[0].value), value);
        n->it[n->n].line = line;
        n->n++;
        return 0;
}

static void test_nixconf(void **state) {
        const char *text = "# comment\n"
                           "system-features = nixos-test  benchmark\tkvm # trailing comment\n"
                           "\n"
                           "include nix.d/a.conf\n"
                           "!include /etc/nix/missing.conf\r\n"
                           "sandbox = relaxed\r\n"
                           "empty =\n"
                           "a=b\n"
                           "c =d\n"
                           "lonely\n"
                           "include a b\n"
                           "   # indented comment\n"
                           "extra-sandbox-paths = /dev/net/tun /dev/kvm?";
        struct nix_items n = { 0 };
        unsigned bad = 0;
        (void) state;

        assert_int_equal(nixconf_parse(text, collect_nix, &n, &bad), 0);
        assert_int_equal(bad, 4);
        assert_int_equal(n.n, 10);
        assert_int_equal(n.it[0].kind, NIXCONF_SETTING);
        assert_string_equal(n.it[0].key, "system-features");
        assert_string_equal(n.it[0].value, "nixos-test benchmark kvm");
        assert_int_equal(n.it[0].line, 2);
        assert_int_equal(n.it[1].kind, NIXCONF_INCLUDE);
        assert_string_equal(n.it[1].value, "nix.d/a.conf");
        assert_int_equal(n.it[1].line, 4);
        assert_int_equal(n.it[2].kind, NIXCONF_INCLUDE_OPTIONAL);
        assert_string_equal(n.it[2].value, "/etc/nix/missing.conf");
        assert_string_equal(n.it[3].value, "relaxed");
        assert_string_equal(n.it[4].key, "empty");
        assert_string_equal(n.it[4].value, "");
        /* "a=b", "c =d": Nix tokenizes at whitespace and wants "=" as its own token. */
        assert_int_equal(n.it[5].kind, NIXCONF_MALFORMED);
        assert_int_equal(n.it[5].line, 8);
        assert_string_equal(n.it[5].value, "a=b");
        assert_int_equal(n.it[6].kind, NIXCONF_MALFORMED);
        assert_int_equal(n.it[6].line, 9);
        assert_int_equal(n.it[7].kind, NIXCONF_MALFORMED); /* "lonely" */
        assert_int_equal(n.it[8].kind, NIXCONF_MALFORMED); /* include with two paths */
        assert_int_equal(n.it[8].line, 11);
        assert_string_equal(n.it[9].key, "extra-sandbox-paths");
        assert_string_equal(n.it[9].value, "/dev/net/tun /dev/kvm?");
        assert_int_equal(n.it[9].line, 13);
}

static void test_nixconf_long_line(void **state) {
        static char text[20000];
        struct nix_items n = { 0 };
        unsigned bad = 0;
        (void) state;

        memset(text, 'x', sizeof(text) - 1);
        text[0] = 'k';
        text[1] = ' ';
        text[2] = '=';
        text[3] = ' ';
        assert_int_equal(nixconf_parse(text, collect_nix, &n, &bad), 0);
        assert_int_equal(bad, 1);
        assert_int_equal(n.n, 1);
        assert_int_equal(n.it[0].kind, NIXCONF_MALFORMED);
}

static void test_hex(void **state) {
        uint64_t v;
        (void) state;

        assert_int_equal(parse_hex_u64("0x5002\n", &v), 0);
        assert_int_equal(v, 0x5002);
        assert_int_equal(parse_hex_u64("ffFF", &v), 0);
        assert_int_equal(v, 0xffff);
        assert_int_equal(parse_hex_u64("0xffffffffffffffff", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(parse_hex_u64("0x10000000000000000", &v), -ERANGE);
        assert_int_equal(parse_hex_u64("0x", &v), -EINVAL);
        assert_int_equal(parse_hex_u64("-1", &v), -EINVAL);
        assert_int_equal(parse_hex_u64(" 0x1", &v), -EINVAL);
        assert_int_equal(parse_hex_u64("0x1g", &v), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mountinfo),
                cmocka_unit_test(test_mountinfo_malformed),
                cmocka_unit_test(test_mountinfo_matching),
                cmocka_unit_test(test_mount_option_find),
                cmocka_unit_test(test_meminfo),
                cmocka_unit_test(test_buddyinfo),
                cmocka_unit_test(test_cpuinfo),
                cmocka_unit_test(test_swaps),
                cmocka_unit_test(test_callback_stops),
                cmocka_unit_test(test_nixconf),
                cmocka_unit_test(test_nixconf_long_line),
                cmocka_unit_test(test_hex),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
