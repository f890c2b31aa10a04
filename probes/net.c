/* SPDX-License-Identifier: MIT */
/* Network device probe: /dev/net/tun, /dev/vhost-net, /dev/vhost-vsock, the policy's tap pool
 * and bridge as sysfs shows them. */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "probes/probes.h"

struct chardev_spec {
        const char *path;
        unsigned major, minor;
};

/* Fixed misc minors from include/linux/miscdevice.h. */
static const struct chardev_spec tun_spec = { "dev/net/tun", 10, 200 };
static const struct chardev_spec vhost_net_spec = { "dev/vhost-net", 10, 238 };
static const struct chardev_spec vhost_vsock_spec = { "dev/vhost-vsock", 10, 241 };

static int read_hex_u32(struct probe_ctx *ctx, const char *path, uint32_t *ret) {
        char v[32];
        uint64_t x;
        int r = read_line_at(ctx->root_fd, path, v, sizeof(v));

        if (r < 0)
                return r;
        r = parse_hex_u64(v, &x);
        if (r < 0)
                return r;
        if (x > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) x;
        return 0;
}

/* sys/class/net/NAME/ATTR into path; -ENAMETOOLONG for a name no interface can have, which
 * then reads as absent. */
static int net_attr_path(char *path, size_t size, const char *name, const char *attr) {
        return bufprintf(path, size, "sys/class/net/%s/%s", name, attr);
}

void probe_net_read_tap(struct probe_ctx *ctx, const char *name, struct tap_facts *t) {
        char path[160], v[64], link[256];
        uint32_t ifflags;
        int64_t n;

        strscpy(t->name, sizeof(t->name), name);
        t->owner = t->group = -1;
        if (net_attr_path(path, sizeof(path), name, "tun_flags") >= 0)
                (void) read_hex_u32(ctx, path, &t->flags);
        if (net_attr_path(path, sizeof(path), name, "owner") >= 0 &&
            read_line_at(ctx->root_fd, path, v, sizeof(v)) == 0 && parse_i64(v, &n) == 0)
                t->owner = n;
        if (net_attr_path(path, sizeof(path), name, "group") >= 0 &&
            read_line_at(ctx->root_fd, path, v, sizeof(v)) == 0 && parse_i64(v, &n) == 0)
                t->group = n;
        /* Administratively up (IFF_UP in flags): a tap nobody has opened yet reports
         * operstate "down" (no carrier) even when it is up and ready for its VM. */
        if (net_attr_path(path, sizeof(path), name, "flags") >= 0 &&
            read_hex_u32(ctx, path, &ifflags) == 0)
                t->up = (ifflags & IFF_UP) != 0;
        if (net_attr_path(path, sizeof(path), name, "master") >= 0 &&
            probe_ctx_readlink(ctx, path, link, sizeof(link)) > 0) {
                const char *b = strrchr(link, '/');
                strscpy(t->master, sizeof(t->master), b ? b + 1 : link);
        }
}

struct tap_walk {
        struct probe_ctx *ctx;
        struct net_facts *n;
        const char *prefix;
};

/* Taps of the pool in numeric order (htap2 before htap10). */
static int tap_dir_cb(const char *name, void *userdata) {
        struct tap_walk *w = userdata;
        struct net_facts *n = w->n;
        unsigned i;

        if (!startswith(name, w->prefix) || n->n_taps >= TAPS_MAX ||
            strlen(name) >= sizeof(n->taps[0].name))
                return 0;
        for (i = n->n_taps; i > 0 && name_cmp(n->taps[i - 1].name, name) > 0; i--)
                n->taps[i] = n->taps[i - 1];
        memset(&n->taps[i], 0, sizeof(n->taps[i]));
        n->n_taps++;
        if (w->ctx->detail)
                probe_net_read_tap(w->ctx, name, &n->taps[i]);
        else {
                strscpy(n->taps[i].name, sizeof(n->taps[i].name), name);
                n->taps[i].owner = n->taps[i].group = -1;
        }
        return 0;
}

/* Append "what" to a comma list in buf. */
static void list_add(char *buf, size_t size, const char *what) {
        bufappendf_trunc(buf, size, "%s%s", buf[0] ? ", " : "", what);
}

/* Check a char device against its expected numbers; describe problems into fail/warn lists. */
static int check_dev(struct probe_ctx *ctx, const struct chardev_spec *s, struct device_facts *d,
                     char *bad, size_t size) {
        int e = probe_ctx_device(ctx, s->path, d);
        char what[96];

        if (e < 0)
                return e;
        if (!d->exists)
                bufprintf_trunc(what, sizeof(what), "no /%s", s->path);
        else if (!d->is_char || d->major != s->major || d->minor != s->minor)
                bufprintf_trunc(what, sizeof(what), "/%s is not char %u:%u", s->path, s->major,
                                s->minor);
        else
                return 1;
        list_add(bad, size, what);
        return 0;
}

int probe_net(struct probe_ctx *ctx, struct host_report *r) {
        struct net_facts *n = &r->net;
        struct probe_result *res = &r->results[PROBE_NET];
        const char *prefix = probe_ctx_tap_prefix(ctx);
        char fail[160] = "", warn[200] = "", path[128];
        int tun, vn, vv;

        tun = check_dev(ctx, &tun_spec, &n->tun, fail, sizeof(fail));
        vn = check_dev(ctx, &vhost_net_spec, &n->vhost_net, warn, sizeof(warn));
        vv = check_dev(ctx, &vhost_vsock_spec, &n->vhost_vsock, warn, sizeof(warn));
        if (tun < 0 || vn < 0 || vv < 0) {
                probe_set_error(res, PROBE_FAIL,
                                tun < 0  ? tun
                                : vn < 0 ? vn
                                         : vv,
                                tun < 0  ? "/dev/net/tun"
                                : vn < 0 ? "/dev/vhost-net"
                                         : "/dev/vhost-vsock");
                return 0;
        }
        if (ctx->targets.bridge && ctx->targets.bridge[0]) {
                n->bridge_exists =
                        net_attr_path(path, sizeof(path), ctx->targets.bridge, "bridge") >= 0 &&
                        probe_ctx_exists(ctx, path);
        }

        {
                struct tap_walk w = { ctx, n, prefix };
                (void) read_dir_names_at(ctx->root_fd, "sys/class/net", tap_dir_cb, &w);
        }
        if (fail[0]) {
                probe_set(res, PROBE_FAIL, "%s: VMs get no tap networking%s%s", fail,
                          warn[0] ? "; also " : "", warn);
                probe_set_remedy(res, "modprobe tun%s", warn[0] ? " vhost_net vhost_vsock" : "");
                return 0;
        }
        if (warn[0]) {
                probe_set(res, PROBE_WARN,
                          "/dev/net/tun present; %s (virtio-net falls back to userspace, no vsock "
                          "for guest agents)",
                          warn);
                probe_set_remedy(res, "modprobe vhost_net vhost_vsock");
                return 0;
        }
        probe_set(res, PROBE_OK, "tun, vhost-net and vhost-vsock present; %u tap%s named %s*",
                  n->n_taps, n->n_taps == 1 ? "" : "s", prefix);
        return 0;
}
