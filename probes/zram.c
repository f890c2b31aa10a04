/* SPDX-License-Identifier: MIT */
/* zram probe: devices, their size and compression, whether they serve as swap or are mounted. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "probes/probes.h"

struct mounted_args {
        const char *dev;
        bool found;
};

static int mounted_cb(const struct mount_entry *e, void *userdata) {
        struct mounted_args *a = userdata;
        if (streq(e->source, a->dev))
                a->found = true;
        return 0;
}

/* zram devices in numeric order (zram2 before zram10). */
static int zram_dir_cb(const char *name, void *userdata) {
        struct zram_facts *zf = userdata;
        unsigned i;

        if (!startswith(name, "zram") || zf->n_devices >= ZRAM_DEVICES_MAX ||
            strlen(name) >= sizeof(zf->devices[0].name))
                return 0;
        for (i = zf->n_devices; i > 0 && name_cmp(zf->devices[i - 1].name, name) > 0; i--)
                zf->devices[i] = zf->devices[i - 1];
        memset(&zf->devices[i], 0, sizeof(zf->devices[i]));
        strscpy(zf->devices[i].name, sizeof(zf->devices[i].name), name);
        zf->n_devices++;
        return 0;
}

/* Fill one device from /sys/block/zramN; files that hold garbage are noted in bad. */
static void read_device(struct probe_ctx *ctx, const struct memory_facts *m, const char *mountinfo,
                        struct zram_device *z, struct probe_bad *bad) {
        char path[128], buf[512], dev[32];
        uint64_t v[3];
        ssize_t k;

        xsprintf(path, "sys/block/%s/disksize", z->name);
        k = read_u64_at(ctx->root_fd, path, &z->disksize);
        probe_bad_note(bad, (int) k, path);
        xsprintf(path, "sys/block/%s/comp_algorithm", z->name);
        k = read_attribute_at(ctx->root_fd, path, buf, sizeof(buf));
        if (k >= 0 && word_list_selected(buf, z->algorithm, sizeof(z->algorithm)) < 0)
                k = -EINVAL; /* no bracketed choice */
        probe_bad_note(bad, (int) k, path);
        /* mm_stat: orig_data_size compr_data_size mem_used_total mem_limit ... */
        xsprintf(path, "sys/block/%s/mm_stat", z->name);
        if (ctx->detail && read_attribute_at(ctx->root_fd, path, buf, sizeof(buf)) >= 0) {
                const char *p = buf;
                unsigned n = 0;
                while (n < 3) {
                        char num[32];
                        size_t l;
                        p += strspn(p, " \t");
                        l = strspn(p, "0123456789");
                        if (l == 0 || l >= sizeof(num))
                                break;
                        memcpy(num, p, l);
                        num[l] = 0;
                        if (parse_u64(num, &v[n]) < 0)
                                break;
                        p += l;
                        n++;
                }
                if (n == 3) {
                        z->orig_data_size = v[0];
                        z->compr_data_size = v[1];
                        z->mem_used_total = v[2];
                }
        }
        xsprintf(dev, "/dev/%s", z->name);
        for (unsigned i = 0; i < m->n_swaps; i++)
                if (streq(m->swaps[i].path, dev)) {
                        z->is_swap = true;
                        z->swap_priority = m->swaps[i].priority;
                }
        if (mountinfo) {
                struct mounted_args a = { dev, false };
                (void) mountinfo_parse_matching(mountinfo, dev, mounted_cb, &a, NULL);
                z->is_mounted = a.found;
        }
}

int probe_zram(struct probe_ctx *ctx, struct host_report *r) {
        struct zram_facts *zf = &r->zram;
        struct probe_result *res = &r->results[PROBE_ZRAM];
        struct probe_bad bad = { 0 };
        char desc[REASON_MAX] = "";
        const char *mountinfo = NULL;
        int e;

        zf->module = probe_ctx_exists(ctx, "sys/class/zram-control");
        e = read_dir_names_at(ctx->root_fd, "sys/block", zram_dir_cb, zf);
        if (e < 0 && e != -ENOENT) {
                probe_set_error(res, PROBE_FAIL, e, "/sys/block");
                return 0;
        }
        if (zf->n_devices > 0)
                zf->module = true;
        if (!zf->module) {
                probe_set(res, PROBE_ABSENT, "no zram devices (module not loaded)");
                probe_set_remedy(res, "modprobe zram (NixOS: zramSwap.enable or hosttune [zram])");
                return 0;
        }
        (void) probe_ctx_mountinfo(ctx, &mountinfo);
        for (unsigned i = 0; i < zf->n_devices; i++)
                read_device(ctx, &r->memory, mountinfo, &zf->devices[i], &bad);
        for (unsigned i = 0; i < zf->n_devices; i++) {
                const struct zram_device *z = &zf->devices[i];
                char sz[FORMAT_SIZE_MAX];

                if (z->disksize == 0)
                        bufappendf_trunc(desc, sizeof(desc), "%s%s unconfigured", i ? "; " : "",
                                         z->name);
                else
                        bufappendf_trunc(desc, sizeof(desc), "%s%s %s %s%s", i ? "; " : "", z->name,
                                         format_size(z->disksize, sz, sizeof(sz)), z->algorithm,
                                         z->is_swap      ? ", swap"
                                         : z->is_mounted ? ", mounted"
                                                         : ", unused");
                if (z->is_swap)
                        bufappendf_trunc(desc, sizeof(desc), " priority %d", z->swap_priority);
        }
        if (zf->n_devices == 0)
                bufprintf_trunc(desc, sizeof(desc), "zram module loaded, no devices");
        probe_set(res, PROBE_OK, "%s", desc);
        probe_bad_apply(&bad, res);
        return 0;
}
