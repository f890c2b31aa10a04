/* SPDX-License-Identifier: MIT */
/* The planner: plan = diff(report, policy), a pure function. Everything it compares comes from
 * the report (probes plus probe_knobs); it reads no file and no clock, so unit tests drive it
 * with report structs they build. */
#include "policies/plan.h"

#include <inttypes.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>

#include "lib/parse.h"
#include "lib/util.h"

/* The kernel rounds a zram disksize up to its page size (disksize_store: PAGE_ALIGN); any base
 * page size up to 64K may have done so. */
#define ZRAM_ALIGN_MAX 65536

struct builder {
        const struct host_report *r;
        const struct policy *p;
        struct plan_step *steps;
        unsigned n, allocated;
        int error;
};

static const char *const plan_kind_table[_PLAN_KIND_MAX] = {
        [PLAN_SYSCTL] = "sysctl",
        [PLAN_SYSFS] = "sysfs",
        [PLAN_HUGEPAGES] = "hugepages",
        [PLAN_HUGETLBFS_MOUNT] = "hugetlbfs-mount",
        [PLAN_ZRAM] = "zram",
        [PLAN_SNAPSHOT_ROOT] = "snapshot-root",
        [PLAN_SNAPSHOT_SLOT] = "snapshot-slot",
        [PLAN_SNAPSHOT_PREPARED] = "snapshot-prepared",
        [PLAN_NOCOW] = "nocow",
        [PLAN_BRIDGE] = "bridge",
        [PLAN_TAP] = "tap",
        [PLAN_TAP_MASTER] = "tap-master",
        [PLAN_DEVICE_MODE] = "device-mode",
        [PLAN_MOUNT_OPTIONS] = "mount-options",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(plan_kind, enum plan_kind, "?")

/* A field a person reads (current, note, why, a setting's text): cut short to fit. */
#define SET(field, ...) bufprintf_trunc(field, sizeof(field), __VA_ARGS__)

/* Add a step: its origin and "why" from where the policy asks for it. setting is the policy's
 * line as text ("[memory] swappiness = 10"). Returns NULL when out of memory (b->error). */
static struct plan_step *step_add(struct builder *b, enum plan_kind kind, struct policy_origin o,
                                  const char *setting) {
        struct plan_step *s;
        const char *reason = policy_origin_reason(b->p, o);

        if (b->error)
                return NULL;
        if (b->n == b->allocated) {
                unsigned na = b->allocated ? b->allocated * 2 : 16;
                struct plan_step *ns = realloc(b->steps, na * sizeof(*ns));
                if (!ns) {
                        b->error = -ENOMEM;
                        return NULL;
                }
                b->steps = ns;
                b->allocated = na;
        }
        s = &b->steps[b->n++];
        memset(s, 0, sizeof(*s));
        s->kind = kind;
        policy_origin_format(b->p, o, s->origin, sizeof(s->origin));
        if (reason[0])
                SET(s->why, "%s: %s (%s)", s->origin, setting, reason);
        else
                SET(s->why, "%s: %s", s->origin, setting);
        return s;
}

/* A field the appliers act on (knob, path, wanted, the u.* names): one that does not fit fails
 * the plan with -ENAMETOOLONG instead of naming another object. */
static void bset(struct builder *b, char *dst, size_t size, const char *fmt, ...) _printf_(4, 5);
static void bset(struct builder *b, char *dst, size_t size, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vbufprintf(dst, size, fmt, ap);
        va_end(ap);
        if (r < 0 && !b->error)
                b->error = r;
}
#define BSET(b, field, ...) bset(b, field, sizeof(field), __VA_ARGS__)

/* What a step changes, as the user reads it (NULL for "" in any field). */
struct change {
        const char *knob, *path, *current, *wanted;
};

static struct plan_step *change_add(struct builder *b, enum plan_kind kind, struct policy_origin o,
                                    const char *setting, struct change c) {
        struct plan_step *s = step_add(b, kind, o, setting);

        if (!s)
                return NULL;
        BSET(b, s->knob, "%s", c.knob ? c.knob : "");
        BSET(b, s->path, "%s", c.path ? c.path : "");
        SET(s->current, "%s", c.current ? c.current : "");
        BSET(b, s->wanted, "%s", c.wanted ? c.wanted : "");
        return s;
}

/* A difference the appliers leave alone, with what a person must do. */
static struct plan_step *manual_add(struct builder *b, enum plan_kind kind, struct policy_origin o,
                                    const char *setting, struct change c, const char *note) {
        struct plan_step *s = change_add(b, kind, o, setting, c);

        if (!s)
                return NULL;
        s->manual = true;
        SET(s->note, "%s", note);
        return s;
}

/* Sysctl values compare with runs of whitespace folded (the kernel prints tabs in lists such as
 * net.ipv4.tcp_rmem). */
static void fold_space(const char *s, char *buf, size_t size) {
        size_t n = 0;

        for (s += strspn(s, " \t\n"); *s && n + 1 < size;) {
                size_t l = strcspn(s, " \t\n");
                if (n > 0 && n + 1 < size)
                        buf[n++] = ' ';
                for (size_t i = 0; i < l && n + 1 < size; i++)
                        buf[n++] = s[i];
                s += l;
                s += strspn(s, " \t\n");
        }
        buf[n] = 0;
}

static bool values_equal(const char *a, const char *b) {
        char x[256], y[256];

        fold_space(a, x, sizeof(x));
        fold_space(b, y, sizeof(y));
        return streq(x, y);
}

static void sysctl_step(struct builder *b, const char *key, const char *wanted,
                        struct policy_origin o, const char *setting) {
        const struct knob_sysctl *k = knob_find_sysctl(&b->r->knobs, key);
        char path[160], current[128];

        xsprintf(path, "/proc/sys/%s", key);
        for (char *c = path + strlen("/proc/sys/"); *c; c++)
                if (*c == '.')
                        *c = '/';
        if (k && k->error == -ENOENT) {
                manual_add(b, PLAN_SYSCTL, o, setting, (struct change){ key, path, NULL, wanted },
                           "this kernel has no such sysctl (a module not loaded, or a key of "
                           "another kernel version)");
                return;
        }
        if (k && !k->error && values_equal(k->value, wanted))
                return;
        if (k && !k->error)
                SET(current, "%s", k->value);
        else
                SET(current, "unreadable (%s)", k ? strerror(-k->error) : "not read");
        change_add(b, PLAN_SYSCTL, o, setting, (struct change){ key, path, current, wanted });
}

static void plan_sysctls(struct builder *b) {
        const struct policy *p = b->p;
        char setting[256], v[16], cur[16];

        if (p->swappiness >= 0 && b->r->memory.swappiness != p->swappiness) {
                policy_setting_to_string(p, POLICY_KEY_MEMORY_SWAPPINESS, setting, sizeof(setting));
                xsprintf(v, "%d", p->swappiness);
                if (b->r->memory.swappiness < 0)
                        xsprintf(cur, "unreadable");
                else
                        xsprintf(cur, "%d", b->r->memory.swappiness);
                change_add(b, PLAN_SYSCTL, p->origins[POLICY_KEY_MEMORY_SWAPPINESS], setting,
                           (struct change){ "vm.swappiness", "/proc/sys/vm/swappiness", cur, v });
        }
        for (unsigned i = 0; i < p->n_sysctl; i++) {
                SET(setting, "[sysctl] %s = %s", p->sysctl[i].key, p->sysctl[i].value);
                sysctl_step(b, p->sysctl[i].key, p->sysctl[i].value, p->sysctl[i].origin, setting);
        }
}

static void sysfs_choice(struct builder *b, enum policy_key k, const char *wanted,
                         const char *current, const char *knob, const char *path) {
        struct policy_origin o = b->p->origins[k];
        struct change c = { knob, path, current, wanted };
        char setting[256];

        if (!wanted[0] || streq(current, wanted))
                return;
        policy_setting_to_string(b->p, k, setting, sizeof(setting));
        if (!current[0])
                manual_add(b, PLAN_SYSFS, o, setting, c,
                           "this kernel shows no such setting (built without it, or it could not "
                           "be read)");
        else
                change_add(b, PLAN_SYSFS, o, setting, c);
}

static void plan_memory(struct builder *b) {
        const struct policy *p = b->p;
        const struct memory_facts *m = &b->r->memory;

        sysfs_choice(b, POLICY_KEY_MEMORY_THP, p->thp, m->thp_enabled,
                     "transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/enabled");
        sysfs_choice(b, POLICY_KEY_MEMORY_THP_DEFRAG, p->thp_defrag, m->thp_defrag,
                     "transparent_hugepage/defrag", "/sys/kernel/mm/transparent_hugepage/defrag");
        /* Without KSM in the kernel (ksm_run -1), "off" holds already. */
        if (p->ksm >= 0 && m->ksm_run != p->ksm && !(p->ksm == 0 && m->ksm_run < 0)) {
                char current[DECIMAL_STR_MAX(int)] = "", wanted[DECIMAL_STR_MAX(int)];

                xsprintf(wanted, "%d", p->ksm);
                if (m->ksm_run >= 0)
                        xsprintf(current, "%d", m->ksm_run);
                sysfs_choice(b, POLICY_KEY_MEMORY_KSM, wanted, current, "ksm/run",
                             "/sys/kernel/mm/ksm/run");
        }
}

static uint64_t div_up(uint64_t a, uint64_t b) {
        return a / b + (a % b != 0);
}

static const char *pages_word(uint64_t n) {
        return n == 1 ? "page" : "pages";
}

void plan_hugepages_text(struct plan_step *s, uint64_t page_size, int node, uint64_t current,
                         uint64_t pages) {
        uint64_t kib = page_size >> 10;
        char sz[FORMAT_SIZE_MAX];

        if (node < 0) {
                xsprintf(s->knob, "hugepages-%" PRIu64 "kB", kib);
                xsprintf(s->path, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
                         kib);
        } else {
                xsprintf(s->knob, "hugepages-%" PRIu64 "kB/node%d", kib, node);
                xsprintf(s->path,
                         "/sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64
                         "kB/nr_hugepages",
                         node, kib);
        }
        s->u.hugepages.current = current;
        SET(s->current, "%" PRIu64 " %s", current, pages_word(current));
        SET(s->wanted, "%" PRIu64 " %s (%s)", pages, pages_word(pages),
            format_size(pages * page_size, sz, sizeof(sz)));
}

static void pool_step(struct builder *b, const struct policy_hugepool *h, struct policy_origin o,
                      const char *setting, int node, uint64_t current, uint64_t pages) {
        struct plan_step *s = step_add(b, PLAN_HUGEPAGES, o, setting);

        if (!s)
                return;
        plan_hugepages_text(s, h->page_size, node, current, pages);
        s->u.hugepages.page_size = h->page_size;
        s->u.hugepages.pages = pages;
        s->u.hugepages.node = node;
        s->u.hugepages.reclaim = b->p->reclaim;
        s->u.hugepages.timeout_usec = b->p->reclaim_timeout_usec;
}

static const struct hugetlb_node_pool *node_pool(const struct hugetlb_pool *rp, unsigned node) {
        for (unsigned i = 0; i < rp->n_nodes; i++)
                if (rp->nodes[i].node == node)
                        return &rp->nodes[i];
        return NULL;
}

static void plan_pool(struct builder *b, const struct policy_hugepool *h) {
        const struct hugetlb_pool *rp = hugetlb_find_pool(&b->r->hugetlb, h->page_size);
        uint64_t mem_total = b->r->memory.mem_total_kib * 1024;
        uint64_t pages, max_pages;
        char setting[256], sz[FORMAT_SIZE_MAX], v[64], sec[FORMAT_SIZE_MAX + 16];

        if (!h->pool.set)
                return;
        format_size(h->page_size, sz, sizeof(sz));
        if (h->main)
                xsprintf(sec, "[hugepages]");
        else
                xsprintf(sec, "[hugepages-%s]", sz);
        SET(setting, "%s pool = %s", sec, policy_size_format(&h->pool, v, sizeof(v)));
        if (!b->r->hugetlb.supported || !rp) {
                char knob[48];
                xsprintf(knob, "hugepages-%" PRIu64 "kB", h->page_size >> 10);
                manual_add(b, PLAN_HUGEPAGES, h->pool.origin, setting,
                           (struct change){ knob, NULL, NULL, "a pool" },
                           h->page_size >= (UINT64_C(1) << 30)
                                   ? "this kernel offers no pool of this size: boot with "
                                     "hugepagesz=1G (and hugepages=N to reserve early)"
                                   : "this kernel offers no pool of this size (CONFIG_HUGETLBFS, "
                                     "or a page size this CPU lacks)");
                return;
        }
        pages = div_up(policy_size_resolve(&h->pool, mem_total), h->page_size);
        max_pages =
                h->max.set ? div_up(policy_size_resolve(&h->max, mem_total), h->page_size) : pages;
        if (max_pages < pages)
                max_pages = pages;

        if (h->per_node == PER_NODE_KERNEL || rp->n_nodes == 0) {
                /* No per-node counters (no NUMA in this kernel): the global pool is the one. */
                if (rp->nr < pages)
                        pool_step(b, h, h->pool.origin, setting, -1, rp->nr, pages);
                else if (rp->nr > max_pages)
                        pool_step(b, h, h->max.set ? h->max.origin : h->pool.origin, setting, -1,
                                  rp->nr, max_pages);
                return;
        }
        /* Per node: each node grows to its share; only the total is bounded by max (which node
         * gives pages back is the kernel's choice). */
        SET(setting, "%s per-node = %s", sec, policy_per_node_format(h, v, sizeof(v)));
        for (unsigned i = 0; i < rp->n_nodes; i++) {
                const struct hugetlb_node_pool *np = &rp->nodes[i];
                uint64_t share;

                if (h->per_node == PER_NODE_EXPLICIT) {
                        if (np->node >= NUMA_NODES_MAX || !h->node_pool[np->node].set)
                                continue;
                        share = div_up(h->node_pool[np->node].bytes, h->page_size);
                } else
                        share = pages / rp->n_nodes + (i < pages % rp->n_nodes);
                if (np->nr < share)
                        pool_step(b, h, h->per_node_origin, setting, (int) np->node, np->nr, share);
        }
        if (h->per_node == PER_NODE_EXPLICIT)
                for (unsigned n = 0; n < NUMA_NODES_MAX; n++)
                        if (h->node_pool[n].set && !node_pool(rp, n)) {
                                char knob[64], note[96];
                                xsprintf(knob, "hugepages-%" PRIu64 "kB/node%u", h->page_size >> 10,
                                         n);
                                SET(note, "this host has no NUMA node %u with memory", n);
                                manual_add(b, PLAN_HUGEPAGES, h->per_node_origin, setting,
                                           (struct change){ knob, NULL, NULL,
                                                            format_size(h->node_pool[n].bytes, v,
                                                                        sizeof(v)) },
                                           note);
                        }
        if (rp->nr > max_pages)
                pool_step(b, h, h->max.set ? h->max.origin : h->pool.origin, setting, -1, rp->nr,
                          max_pages);
}

/* Resolve a group name through the report's knob facts: 0 for "", -1 when unknown. */
static int64_t group_id(const struct builder *b, const char *name) {
        const struct knob_id *k;

        if (!name[0])
                return 0;
        k = knob_find_group(&b->r->knobs, name);
        return k && k->error == 0 ? (int64_t) k->id : -1;
}

static void plan_mount(struct builder *b) {
        const struct policy *p = b->p;
        const struct hugetlb_facts *hf = &b->r->hugetlb;
        struct policy_origin o = p->origins[POLICY_KEY_HUGEPAGES_MOUNT];
        char setting[POLICY_PATH_MAX + 64], sz[32], wanted[128], current[128];
        int64_t gid = group_id(b, p->hugetlbfs_group);
        const char *mnt = p->hugetlbfs_mount;
        struct plan_step *s;

        if (!p->hugetlbfs_mount[0])
                return;
        SET(setting, "[hugepages] mount = %s", p->hugetlbfs_mount);
        format_size(p->hugepages_size, sz, sizeof(sz));
        if (gid < 0) {
                char note[128];
                SET(note, "group '%s' does not exist on this host (/etc/group)",
                    p->hugetlbfs_group);
                manual_add(b, PLAN_HUGETLBFS_MOUNT, p->origins[POLICY_KEY_HUGEPAGES_GROUP], setting,
                           (struct change){ mnt, mnt, NULL, "hugetlbfs" }, note);
                return;
        }
        BSET(b, wanted, "hugetlbfs pagesize=%s mode=0%03o gid=%" PRId64, sz,
             (unsigned) p->hugetlbfs_mode, gid);
        for (unsigned i = 0; i < hf->n_mounts; i++) {
                const struct hugetlb_mount *m = &hf->mounts[i];
                if (!streq(m->path, p->hugetlbfs_mount))
                        continue;
                if (m->page_size == p->hugepages_size && m->mode == p->hugetlbfs_mode &&
                    (m->has_gid ? (int64_t) m->gid : 0) == gid)
                        return;
                SET(current, "hugetlbfs pagesize=%s mode=0%03o gid=%u",
                    format_size(m->page_size, sz, sizeof(sz)), (unsigned) m->mode,
                    m->has_gid ? (unsigned) m->gid : 0);
                manual_add(b, PLAN_HUGETLBFS_MOUNT, o, setting,
                           (struct change){ mnt, mnt, current, wanted },
                           "a hugetlbfs with other options is mounted there: unmount it, then "
                           "apply");
                return;
        }
        if (!hugetlb_find_pool(hf, p->hugepages_size)) {
                manual_add(b, PLAN_HUGETLBFS_MOUNT, o, setting,
                           (struct change){ mnt, mnt, NULL, wanted },
                           "this kernel offers no hugepages of [hugepages] size");
                return;
        }
        s = change_add(b, PLAN_HUGETLBFS_MOUNT, o, setting,
                       (struct change){ mnt, mnt, NULL, wanted });
        if (!s)
                return;
        s->u.mount.page_size = p->hugepages_size;
        s->u.mount.mode = p->hugetlbfs_mode;
        s->u.mount.gid = (gid_t) gid;
}

static void plan_zram(struct builder *b) {
        const struct policy *p = b->p;
        const struct zram_device *z = NULL;
        struct policy_origin o = p->zram_size.origin;
        const char *dev = p->zram_device;
        uint64_t want, tolerance;
        char setting[128], v[64], wanted[128], current[128] = "", note[256], path[64];
        struct plan_step *s;

        if (!p->zram_size.set)
                return;
        /* A percentage is of RAM as this host counts it; other tools (zram-generator, which
         * NixOS's zramSwap uses) count slightly differently: whole MiB, within 1%. */
        want = policy_size_resolve(&p->zram_size, b->r->memory.mem_total_kib * 1024);
        want = p->zram_size.percent ? div_up(want, 1U << 20) << 20 : div_up(want, 4096) * 4096;
        tolerance = p->zram_size.percent ? want / 100 : ZRAM_ALIGN_MAX;
        SET(setting, "[zram] size = %s", policy_size_format(&p->zram_size, v, sizeof(v)));
        BSET(b, wanted, "%s %s swap priority %d", format_size(want, v, sizeof(v)),
             p->zram_algorithm[0] ? p->zram_algorithm : "(kernel default)", p->zram_priority);
        xsprintf(path, "/sys/block/%s", dev);
        for (unsigned i = 0; i < b->r->zram.n_devices; i++)
                if (streq(b->r->zram.devices[i].name, dev))
                        z = &b->r->zram.devices[i];
        if (z && z->disksize > 0) {
                bool size_ok = p->zram_size.percent
                                       ? (z->disksize > want ? z->disksize - want
                                                             : want - z->disksize) <= tolerance
                                       : z->disksize >= want && z->disksize - want < tolerance;
                bool algo_ok = !p->zram_algorithm[0] || streq(z->algorithm, p->zram_algorithm);

                if (size_ok && algo_ok && z->is_swap && z->swap_priority == p->zram_priority)
                        return;
                SET(current, "%s %s %s", format_size(z->disksize, v, sizeof(v)), z->algorithm,
                    z->is_swap      ? "swap"
                    : z->is_mounted ? "mounted"
                                    : "unused");
                if (z->is_swap)
                        bufappendf_trunc(current, sizeof(current), " priority %d",
                                         z->swap_priority);
                /* The applier refuses too: resetting a device in use loses what it holds. */
                SET(note,
                    "%s is %s: hosttune does not reconfigure a zram device in use (its contents "
                    "would be lost); %s echo 1 > /sys/block/%s/reset, then apply",
                    dev, z->is_swap ? "active swap" : "already configured",
                    z->is_swap ? "swapoff /dev/zram* first," : "if it holds nothing:", dev);
                manual_add(b, PLAN_ZRAM, o, setting, (struct change){ dev, path, current, wanted },
                           note);
                return;
        }
        if (!z && !b->r->zram.module) {
                manual_add(b, PLAN_ZRAM, o, setting, (struct change){ dev, path, NULL, wanted },
                           "the zram module is not loaded: modprobe zram (boot.kernelModules on "
                           "NixOS), then apply");
                return;
        }
        s = change_add(b, PLAN_ZRAM, o, setting,
                       (struct change){ dev, path, z ? "unconfigured" : NULL, wanted });
        if (!s)
                return;
        BSET(b, s->u.zram.device, "%s", dev);
        s->u.zram.disksize = want;
        BSET(b, s->u.zram.algorithm, "%s", p->zram_algorithm);
        s->u.zram.priority = p->zram_priority;
}

static void plan_kvm(struct builder *b) {
        const struct policy *p = b->p;
        const struct device_facts *d = &b->r->kvm.dev;
        char setting[128], cur[16], want[16];
        struct plan_step *s;

        if (p->kvm_mode < 0 || !d->exists || d->mode == (mode_t) p->kvm_mode)
                return;
        policy_setting_to_string(p, POLICY_KEY_KVM_MODE, setting, sizeof(setting));
        xsprintf(cur, "0%03o", (unsigned) d->mode);
        xsprintf(want, "0%03o", (unsigned) p->kvm_mode);
        s = change_add(b, PLAN_DEVICE_MODE, p->origins[POLICY_KEY_KVM_MODE], setting,
                       (struct change){ "/dev/kvm", "/dev/kvm", cur, want });
        if (s)
                s->u.device.mode = (mode_t) p->kvm_mode;
}

static void plan_templates(struct builder *b) {
        const struct policy *p = b->p;
        const char *root = p->snapshot_root;
        char setting[POLICY_PATH_MAX + 64];

        policy_setting_to_string(p, POLICY_KEY_SNAPSHOTS_TEMPLATES, setting, sizeof(setting));
        for (unsigned t = 0; t < p->n_templates && p->prepared > 0; t++) {
                const struct knob_template *kt =
                        b->r->btrfs.snapshot_root.exists
                                ? knob_find_template(&b->r->knobs, p->templates[t])
                                : NULL;
                char knob[PLAN_KNOB_MAX], path[PLAN_PATH_MAX], want[POLICY_TEMPLATE_NAME_MAX + 16],
                        note[PLAN_PATH_MAX + 160];

                BSET(b, path, "%s/templates/%s", root, p->templates[t]);
                if (b->error)
                        return;
                if (!kt || !kt->exists) {
                        SET(note,
                            "hosttune prepares snapshots of a template it does not make: put "
                            "template %s at %s",
                            p->templates[t], path);
                        manual_add(b, PLAN_SNAPSHOT_PREPARED,
                                   p->origins[POLICY_KEY_SNAPSHOTS_TEMPLATES], setting,
                                   (struct change){ path, path, NULL, "template" }, note);
                        continue;
                }
                BSET(b, path, "%s/prepared/%s", root, p->templates[t]);
                xsprintf(want, "snapshot of %s", p->templates[t]);
                for (unsigned i = kt->prepared; i < p->prepared; i++) {
                        struct plan_step *s;

                        BSET(b, knob, "%s (%u of %u)", path, i + 1, p->prepared);
                        s = change_add(b, PLAN_SNAPSHOT_PREPARED,
                                       p->origins[POLICY_KEY_SNAPSHOTS_PREPARED], setting,
                                       (struct change){ knob, path, NULL, want });
                        if (!s)
                                return;
                        BSET(b, s->u.snapshot.template_name, "%s", p->templates[t]);
                }
        }
}

/* Hand the steps over, or free them after an error. */
static int builder_finish(struct builder *b, struct plan *ret) {
        if (b->error) {
                free(b->steps);
                return b->error;
        }
        ret->n = b->n;
        ret->steps = b->steps;
        return 0;
}

/* One step per empty slot missing from <root>/slots. */
static void plan_slots(struct builder *b) {
        const struct policy *p = b->p;
        const struct path_facts *sr = &b->r->btrfs.snapshot_root;
        char setting[POLICY_PATH_MAX + 64], slots[POLICY_PATH_MAX + 8], knob[64];
        unsigned have = sr->exists ? b->r->btrfs.free_slots : 0;

        policy_setting_to_string(p, POLICY_KEY_SNAPSHOTS_SLOTS, setting, sizeof(setting));
        BSET(b, slots, "%s/slots", p->snapshot_root);
        for (unsigned i = have; i < p->slots; i++) {
                xsprintf(knob, "snapshot slot %u of %u", i + 1, p->slots);
                change_add(b, PLAN_SNAPSHOT_SLOT, p->origins[POLICY_KEY_SNAPSHOTS_SLOTS], setting,
                           (struct change){ knob, slots, NULL, "empty slot" });
        }
}

static void plan_snapshots(struct builder *b) {
        const struct policy *p = b->p;
        const struct path_facts *sr = &b->r->btrfs.snapshot_root;
        const char *root = p->snapshot_root;
        char setting[POLICY_PATH_MAX + 64];
        /* The root and its NOCOW flag are there for the slots and templates: when the policy
         * leaves them at their defaults, those keys are the reason. */
        enum policy_key why_root = p->origins[POLICY_KEY_SNAPSHOTS_ROOT].line
                                           ? POLICY_KEY_SNAPSHOTS_ROOT
                                   : p->slots > 0 ? POLICY_KEY_SNAPSHOTS_SLOTS
                                                  : POLICY_KEY_SNAPSHOTS_TEMPLATES;
        enum policy_key why_nocow =
                p->origins[POLICY_KEY_SNAPSHOTS_NOCOW].line ? POLICY_KEY_SNAPSHOTS_NOCOW : why_root;

        if (!p->snapshots_managed)
                return;
        policy_setting_to_string(p, why_root, setting, sizeof(setting));
        if (sr->exists && !sr->is_dir) {
                manual_add(b, PLAN_SNAPSHOT_ROOT, p->origins[why_root], setting,
                           (struct change){ root, root, "not a directory", "directory" },
                           "the snapshot root exists and is not a directory");
                return;
        }
        if (!sr->exists)
                change_add(b, PLAN_SNAPSHOT_ROOT, p->origins[why_root], setting,
                           (struct change){ root, root, NULL,
                                            "subvolume (directory when not on btrfs)" });
        if (p->nocow && (!sr->exists || sr->nocow == 0)) {
                policy_setting_to_string(p, why_nocow, setting, sizeof(setting));
                change_add(b, PLAN_NOCOW, p->origins[why_nocow], setting,
                           (struct change){ root, root, sr->exists ? "copy-on-write" : NULL,
                                            "NOCOW, no compression" });
        }
        plan_slots(b);
        plan_templates(b);
}

int plan_build_snapshot_refill(const struct host_report *r, const struct policy *p,
                               struct plan *ret) {
        struct builder b = { .r = r, .p = p };
        const struct path_facts *sr = &r->btrfs.snapshot_root;

        if (p->snapshots_managed && sr->exists && sr->is_dir) {
                plan_slots(&b);
                plan_templates(&b);
        }
        return builder_finish(&b, ret);
}

/* Is the option (as [btrfs] require-options writes it) set on mount m? */
static bool btrfs_has_option(const struct btrfs_mount *m, const char *opt) {
        const char *alg = startswith(opt, "compress=");

        if (streq(opt, "noatime"))
                return m->noatime;
        if (streq(opt, "ssd"))
                return m->ssd;
        if (streq(opt, "space_cache=v2"))
                return m->space_cache_v2;
        if (streq(opt, "discard=async"))
                return m->discard_async;
        if (streq(opt, "compress"))
                return m->compress[0] != 0;
        if (alg)
                return streq(m->compress, alg) ||
                       (!strchr(alg, ':') && startswith(m->compress, alg) &&
                        m->compress[strlen(alg)] == ':');
        return false;
}

/* The file system of the snapshot root: the deepest btrfs mount above it. */
static const struct btrfs_mount *root_mount(const struct btrfs_facts *bf, const char *root) {
        const struct btrfs_mount *best = NULL;
        size_t best_len = 0;

        for (unsigned i = 0; i < bf->n_mounts; i++) {
                const char *t = bf->mounts[i].target;
                size_t l = strlen(t);
                bool above =
                        streq(t, "/") || (startswith(root, t) && (root[l] == '/' || root[l] == 0));
                if (above && (!best || l > best_len)) {
                        best = &bf->mounts[i];
                        best_len = l;
                }
        }
        return best;
}

static void plan_mount_options(struct builder *b) {
        const struct policy *p = b->p;
        const struct btrfs_facts *bf = &b->r->btrfs;
        const struct btrfs_mount *m = root_mount(bf, p->snapshot_root);
        struct policy_origin o = p->origins[POLICY_KEY_BTRFS_REQUIRE_OPTIONS];
        char setting[320], missing[256] = "", note[640], knob[PLAN_KNOB_MAX], current[300];

        if (!p->require_options[0])
                return;
        policy_setting_to_string(p, POLICY_KEY_BTRFS_REQUIRE_OPTIONS, setting, sizeof(setting));
        if (!m || (bf->snapshot_root.exists && !bf->snapshot_root.on_btrfs)) {
                manual_add(b, PLAN_MOUNT_OPTIONS, o, setting,
                           (struct change){ p->snapshot_root, p->snapshot_root, "not on btrfs",
                                            p->require_options },
                           "the snapshot root is not on a btrfs file system");
                return;
        }
        for (const char *s = p->require_options; *s;) {
                char opt[64];
                size_t l = strcspn(s, " ");
                if (l < sizeof(opt)) {
                        memcpy(opt, s, l);
                        opt[l] = 0;
                        if (!btrfs_has_option(m, opt))
                                bufappendf_trunc(missing, sizeof(missing), "%s%s",
                                                 missing[0] ? "," : "", opt);
                }
                s += l;
                s += strspn(s, " ");
        }
        if (!missing[0])
                return;
        SET(note,
            "mount -o remount,%s %s, and add the options to the file system's entry "
            "(fileSystems.\"%s\".options on NixOS, /etc/fstab elsewhere)",
            missing, m->target, m->target);
        BSET(b, knob, "btrfs %s", m->target);
        SET(current, "lacks %s", missing);
        manual_add(b, PLAN_MOUNT_OPTIONS, o, setting,
                   (struct change){ knob, m->target, current, p->require_options }, note);
}

static const struct tap_facts *find_tap(const struct net_facts *n, const char *name) {
        for (unsigned i = 0; i < n->n_taps; i++)
                if (streq(n->taps[i].name, name))
                        return &n->taps[i];
        return NULL;
}

static void tap_master_step(struct builder *b, const char *tap, const char *current) {
        const struct policy *p = b->p;
        char setting[128], knob[32];
        struct plan_step *s;

        policy_setting_to_string(p, POLICY_KEY_NET_BRIDGE, setting, sizeof(setting));
        BSET(b, knob, "%s master", tap);
        s = change_add(b, PLAN_TAP_MASTER, p->origins[POLICY_KEY_NET_BRIDGE], setting,
                       (struct change){ knob, tap, current, p->bridge });
        if (!s)
                return;
        BSET(b, s->u.link.name, "%s", tap);
        BSET(b, s->u.link.master, "%s", p->bridge);
}

static void tap_step(struct builder *b, enum policy_key why, const char *name, int64_t owner,
                     const char *current, const char *wanted) {
        const struct policy *p = b->p;
        char setting[128], path[64];
        struct plan_step *s;

        policy_setting_to_string(p, why, setting, sizeof(setting));
        BSET(b, path, "/sys/class/net/%s", name);
        s = change_add(b, PLAN_TAP, p->origins[why], setting,
                       (struct change){ name, path, current, wanted });
        if (!s)
                return;
        BSET(b, s->u.tap.name, "%s", name);
        s->u.tap.owner = (uid_t) owner;
        s->u.tap.vnet_hdr = p->vnet_hdr;
        s->u.tap.multi_queue = p->multi_queue;
}

/* One tap of the pool that exists: flags cannot change on a live tap, the owner can. */
static void plan_existing_tap(struct builder *b, const struct tap_facts *t, int64_t owner,
                              const char *wanted) {
        const struct policy *p = b->p;
        bool vnet = (t->flags & IFF_VNET_HDR) != 0, mq = (t->flags & IFF_MULTI_QUEUE) != 0;
        char setting[128], current[128];

        policy_setting_to_string(p, POLICY_KEY_NET_TAPS, setting, sizeof(setting));
        if (!(t->flags & IFF_TAP)) {
                manual_add(b, PLAN_TAP, p->origins[POLICY_KEY_NET_TAPS], setting,
                           (struct change){ t->name, NULL, "tun device", wanted },
                           "a tun (not tap) device has the name: remove it");
                return;
        }
        SET(current, "tap owner %" PRId64 "%s%s", t->owner, vnet ? " vnet_hdr" : "",
            mq ? " multi_queue" : "");
        if (vnet != p->vnet_hdr || mq != p->multi_queue) {
                manual_add(b, PLAN_TAP, p->origins[POLICY_KEY_NET_TAPS], setting,
                           (struct change){ t->name, NULL, current, wanted },
                           "the tap exists with other flags, which cannot change on a live "
                           "tap: ip link del it when no VM uses it, then apply");
                return;
        }
        /* No owner wanted: an unset (-1) or root owner both mean root only. */
        if (owner < 0 ? t->owner > 0 : t->owner != owner)
                tap_step(b, p->tap_owner[0] ? POLICY_KEY_NET_OWNER : POLICY_KEY_NET_TAPS, t->name,
                         owner, current, wanted);
        if (p->bridge[0] && !streq(t->master, p->bridge))
                tap_master_step(b, t->name, t->master);
}

static void plan_net(struct builder *b) {
        const struct policy *p = b->p;
        const struct net_facts *nf = &b->r->net;
        char setting[128], wanted[128], path[64];
        int64_t owner = -1;
        struct plan_step *s;

        if (p->bridge[0] && !nf->bridge_exists) {
                policy_setting_to_string(p, POLICY_KEY_NET_BRIDGE, setting, sizeof(setting));
                xsprintf(path, "/sys/class/net/%s", p->bridge);
                s = change_add(b, PLAN_BRIDGE, p->origins[POLICY_KEY_NET_BRIDGE], setting,
                               (struct change){ p->bridge, path, NULL, "bridge, up" });
                if (s)
                        BSET(b, s->u.link.name, "%s", p->bridge);
        }
        if (p->taps == 0)
                return;
        if (p->tap_owner[0]) {
                const struct knob_id *k = knob_find_user(&b->r->knobs, p->tap_owner);
                if (!k || k->error) {
                        char note[128];
                        policy_setting_to_string(p, POLICY_KEY_NET_OWNER, setting, sizeof(setting));
                        SET(note, "user '%s' does not exist on this host (/etc/passwd)",
                            p->tap_owner);
                        manual_add(b, PLAN_TAP, p->origins[POLICY_KEY_NET_OWNER], setting,
                                   (struct change){ p->tap_prefix, NULL, NULL, "taps" }, note);
                        return;
                }
                owner = k->id;
        }
        BSET(b, wanted, "tap owner %s%s%s", p->tap_owner[0] ? p->tap_owner : "root",
             p->vnet_hdr ? " vnet_hdr" : "", p->multi_queue ? " multi_queue" : "");
        for (unsigned i = 0; i < p->taps; i++) {
                char name[16];
                const struct tap_facts *t;

                BSET(b, name, "%s%u", p->tap_prefix, i);
                if (b->error)
                        return;
                t = find_tap(nf, name);
                if (t && t->flags != 0)
                        plan_existing_tap(b, t, owner, wanted);
                else if (!t) {
                        tap_step(b, POLICY_KEY_NET_TAPS, name, owner, NULL, wanted);
                        if (p->bridge[0])
                                tap_master_step(b, name, "");
                }
                /* A tap whose details were not read (flags 0) is taken as it is. */
        }
}

int plan_build(const struct host_report *r, const struct policy *p, struct plan *ret) {
        struct builder b = { .r = r, .p = p };

        plan_sysctls(&b);
        plan_memory(&b);
        for (unsigned i = 0; i < p->n_pools; i++)
                plan_pool(&b, &p->pools[i]);
        plan_mount(&b);
        plan_zram(&b);
        plan_kvm(&b);
        plan_snapshots(&b);
        plan_mount_options(&b);
        plan_net(&b);
        return builder_finish(&b, ret);
}

void plan_free(struct plan *plan) {
        free(plan->steps);
        plan->steps = NULL;
        plan->n = 0;
}

int plan_copy(const struct plan *plan, struct plan *ret) {
        struct plan_step *steps = NULL;

        /* A step holds no pointers: copying the array copies the plan. */
        if (plan->n > 0) {
                steps = calloc(plan->n, sizeof(*steps));
                if (!steps)
                        return -ENOMEM;
                memcpy(steps, plan->steps, plan->n * sizeof(*steps));
        }
        *ret = (struct plan){ .n = plan->n, .steps = steps };
        return 0;
}

unsigned plan_count_automatic(const struct plan *plan) {
        unsigned n = 0;
        for (unsigned i = 0; i < plan->n; i++)
                n += !plan->steps[i].manual;
        return n;
}

static void request_add(const char **list, unsigned *n, unsigned max, const char *s) {
        for (unsigned i = 0; i < *n; i++)
                if (streq(list[i], s))
                        return;
        if (*n < max)
                list[(*n)++] = s;
}

void plan_knob_request(const struct policy *p, struct knob_request *ret) {
        struct knob_request q = { 0 };

        for (unsigned i = 0; i < p->n_sysctl && i < KNOB_SYSCTL_MAX; i++)
                q.sysctl[q.n_sysctl++] = p->sysctl[i].key;
        if (p->taps > 0 && p->tap_owner[0])
                request_add(q.users, &q.n_users, KNOB_NAMES_MAX, p->tap_owner);
        if (p->hugetlbfs_mount[0] && p->hugetlbfs_group[0])
                request_add(q.groups, &q.n_groups, KNOB_NAMES_MAX, p->hugetlbfs_group);
        if (p->snapshots_managed && p->prepared > 0) {
                q.snapshot_root = p->snapshot_root;
                for (unsigned i = 0; i < p->n_templates && i < KNOB_TEMPLATES_MAX; i++)
                        q.templates[q.n_templates++] = p->templates[i];
        }
        for (unsigned i = 0; i < p->n_pools; i++)
                if (p->pools[i].pool.set && p->pools[i].per_node != PER_NODE_KERNEL &&
                    q.n_node_sizes < KNOB_SIZES_MAX)
                        q.node_sizes[q.n_node_sizes++] = p->pools[i].page_size;
        q.thp_defrag = p->thp_defrag[0] != 0;
        q.tap_details = p->taps > 0;
        *ret = q;
}

probe_mask_t plan_probe_mask(const struct policy *p) {
        /* Memory facts (RAM size for percentages, swappiness, THP, KSM) are a handful of reads,
         * and the hugetlb and zram probes depend on that probe anyway. */
        probe_mask_t m = PROBE_MASK(PROBE_MEMORY);

        if (p->n_pools > 0 || p->hugetlbfs_mount[0])
                m |= PROBE_MASK(PROBE_HUGETLB);
        if (p->zram_size.set)
                m |= PROBE_MASK(PROBE_ZRAM);
        if (p->kvm_mode >= 0)
                m |= PROBE_MASK(PROBE_KVM);
        if (p->snapshots_managed || p->require_options[0])
                m |= PROBE_MASK(PROBE_BTRFS);
        if (p->bridge[0] || p->taps > 0)
                m |= PROBE_MASK(PROBE_NET);
        return m;
}

char *plan_step_describe(const struct plan_step *s, char *buf, size_t size) {
        if (!s->current[0])
                bufprintf_trunc(buf, size, "%s is missing, wants %s (%s)", s->knob, s->wanted,
                                s->origin);
        else
                bufprintf_trunc(buf, size, "%s is %s, wants %s (%s)", s->knob, s->current,
                                s->wanted, s->origin);
        return buf;
}
