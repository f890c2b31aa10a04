/* SPDX-License-Identifier: MIT */
/* Parsers for procfs text formats: mountinfo, meminfo, buddyinfo, cpuinfo, swaps. Each takes
 * the file's text and never touches the file system, so fuzzers and unit tests feed them
 * directly. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One line of /proc/self/mountinfo, fields unescaped (\040 -> space) into the struct. */
struct mount_entry {
        unsigned mount_id, parent_id, major, minor;
        char root[512];
        char target[512];
        char mount_options[512];
        char fstype[64];
        char source[512];
        char super_options[1024];
};

/* Call cb for every well-formed line. Malformed lines (and a last line without its newline:
 * the kernel ends every line, so the text was cut short) are skipped and counted in
 * *ret_malformed (may be NULL). Returns the first negative value of cb, else 0. The other
 * line-based parsers below (buddyinfo, swaps) follow the same rules. */
int mountinfo_parse(const char *text, int (*cb)(const struct mount_entry *e, void *userdata),
                    void *userdata, unsigned *ret_malformed);

/* The same for the lines that contain needle (" - btrfs ", "/dev/zram"): only they are parsed
 * and passed to cb; the others are checked for the " - " separator alone (and counted
 * malformed without it). Parsing every field of every line was most of what `check` spent its
 * instructions on, four probes over. */
int mountinfo_parse_matching(const char *text, const char *needle,
                             int (*cb)(const struct mount_entry *e, void *userdata), void *userdata,
                             unsigned *ret_malformed);

/* Does a comma-separated option list contain opt (exactly, or as "opt=...")? With ret_value,
 * the value after '=' is copied out ("" when there is none). */
bool mount_option_find(const char *options, const char *opt, char *ret_value, size_t size);

/* Look up "Key:   value [kB]" in /proc/meminfo text; value in the file's unit (kB for sizes,
 * pages for HugePages_*). -ENOENT when missing, -EINVAL when garbled or when the line lacks its
 * newline (cut short). */
int meminfo_get(const char *text, const char *key, uint64_t *ret);

#define BUDDY_ORDERS_MAX 16
/* One line of /proc/buddyinfo: "Node 0, zone   Normal  1 2 3 ...". */
struct buddy_zone {
        unsigned node;
        char zone[16];
        unsigned n_orders;
        uint64_t free[BUDDY_ORDERS_MAX];
};

int buddyinfo_parse(const char *text, int (*cb)(const struct buddy_zone *z, void *userdata),
                    void *userdata, unsigned *ret_malformed);

/* Free blocks of at least 2^order base pages, in units of 2^order pages, over the zones a
 * hugepage can come from (every zone but DMA). UINT64_MAX when order exceeds the largest
 * order the file lists (gigantic pages). */
uint64_t buddyinfo_obtainable(const char *text, unsigned order, int node);

/* buddyinfo_obtainable one zone at a time, for a caller that walks the file once for several
 * orders: start with a zeroed struct buddy_obtainable per order, add every zone
 * buddyinfo_parse gives, then take buddy_obtainable_result. */
struct buddy_obtainable {
        uint64_t sum;
        bool too_big;
};
void buddy_obtainable_add(struct buddy_obtainable *a, const struct buddy_zone *z, unsigned order,
                          int node);
uint64_t buddy_obtainable_result(const struct buddy_obtainable *a);

/* The fields of the first processor block of /proc/cpuinfo that hosttune uses. */
struct cpuinfo_first {
        char vendor[32];
        char model_name[96];
        bool vmx, svm, hypervisor;
        bool have_flags;
};

/* Parse the first processor block. -EINVAL when it has no flags (or Features) line. */
int cpuinfo_parse_first(const char *text, struct cpuinfo_first *ret);

/* One line of /proc/swaps. */
struct swaps_entry {
        char path[256];
        char type[16];
        uint64_t size_kib, used_kib;
        int priority;
};

int swaps_parse(const char *text, int (*cb)(const struct swaps_entry *e, void *userdata),
                void *userdata, unsigned *ret_malformed);
