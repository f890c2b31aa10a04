/* SPDX-License-Identifier: MIT */
/* Entropy probe: hw_random sources, /dev/hwrng, and whether the kernel's crng is ready.
 * entropy_avail is deliberately not read: since Linux 5.18 it reports a constant 256. */
#include <stdio.h>
#include <sys/random.h>

#include "lib/fileio.h"
#include "lib/util.h"
#include "probes/probes.h"

#define HWRNG_MINOR 183

/* Is the crng initialised? getrandom(GRND_NONBLOCK) fails with EAGAIN until it is. */
static int crng_ready(struct probe_ctx *ctx) {
        char v[32], b;

        if (ctx->live) {
                ssize_t n;
                do
                        n = getrandom(&b, 1, GRND_NONBLOCK);
                while (n < 0 && errno == EINTR);
                if (n == 1)
                        return 1;
                return errno == EAGAIN ? 0 : -1;
        }
        if (probe_ctx_fixture_value(ctx, "crng", "crng", v, sizeof(v)) == 0)
                return streq(v, "ready") ? 1 : streq(v, "not-ready") ? 0 : -1;
        return -1;
}

/* Read a hw_random attribute (one line); on failure buf is "" and the file noted in bad. */
static void read_attr(struct probe_ctx *ctx, const char *path, char *buf, size_t size,
                      struct probe_bad *bad) {
        int e = read_line_at(ctx->root_fd, path, buf, size);
        if (e < 0) {
                buf[0] = 0;
                probe_bad_note(bad, e, path);
        }
}

/* Read everything and decide the status; probe_rng applies the garbage note afterwards. */
static void rng_decide(struct probe_ctx *ctx, struct host_report *r, struct probe_bad *bad) {
        struct rng_facts *g = &r->rng;
        struct probe_result *res = &r->results[PROBE_RNG];
        bool hw;
        int e;

        read_attr(ctx, "sys/class/misc/hw_random/rng_available", g->available, sizeof(g->available),
                  bad);
        read_attr(ctx, "sys/class/misc/hw_random/rng_current", g->current, sizeof(g->current), bad);
        e = probe_ctx_device(ctx, "dev/hwrng", &g->hwrng);
        probe_bad_note(bad, e, "dev/hwrng");
        g->crng_ready = crng_ready(ctx);
        hw = g->current[0] && !streq(g->current, "none");

        if (g->crng_ready == 0) {
                probe_set(res, PROBE_FAIL,
                          "the kernel crng is not initialised: getrandom() blocks, so VMMs and "
                          "test drivers stall at start");
                probe_set_remedy(res, "give this machine an entropy source (virtio-rng on a VM, "
                                      "rng-tools with a hardware RNG, or random.trust_cpu=on)");
                return;
        }
        if (!hw) {
                probe_set(res, PROBE_WARN, "crng %s, but no hardware RNG is active (hw_random: %s)",
                          g->crng_ready == 1 ? "ready" : "state unknown",
                          g->available[0] ? g->available : "none");
                probe_set_remedy(res, "add a virtio-rng device to this VM, or load the driver of "
                                      "the hardware RNG (rng_current names it)");
                return;
        }
        if (!g->hwrng.exists) {
                probe_set(res, PROBE_WARN, "%s active but /dev/hwrng is missing", g->current);
                probe_set_remedy(res, "mknod /dev/hwrng c 10 %d (udev normally creates it)",
                                 HWRNG_MINOR);
                return;
        }
        probe_set(res, PROBE_OK, "%s active, /dev/hwrng present, crng %s", g->current,
                  g->crng_ready == 1 ? "ready" : "state unknown");
}

int probe_rng(struct probe_ctx *ctx, struct host_report *r) {
        struct probe_bad bad = { 0 };

        rng_decide(ctx, r, &bad);
        probe_bad_apply(&bad, &r->results[PROBE_RNG]);
        return 0;
}
