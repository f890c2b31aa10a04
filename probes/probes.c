/* SPDX-License-Identifier: MIT */
/* Probe table and dependency-ordered execution. */
#include "probes/probes.h"

#include <string.h>

static int (*const probe_funcs[_PROBE_MAX])(struct probe_ctx *, struct host_report *) = {
        [PROBE_CPU] = probe_cpu,
        [PROBE_KVM] = probe_kvm,
        [PROBE_MEMORY] = probe_memory,
        [PROBE_HUGETLB] = probe_hugetlb,
        [PROBE_ZRAM] = probe_zram,
        [PROBE_BTRFS] = probe_btrfs,
        [PROBE_RNG] = probe_rng,
        [PROBE_NET] = probe_net,
        [PROBE_USERFAULTFD] = probe_userfaultfd,
        [PROBE_USERNS] = probe_userns,
        [PROBE_NIX] = probe_nix,
};

/* What each probe reads from earlier probes' facts. */
static const probe_mask_t probe_deps[_PROBE_MAX] = {
        [PROBE_KVM] = PROBE_MASK(PROBE_CPU),
        [PROBE_HUGETLB] = PROBE_MASK(PROBE_MEMORY),
        [PROBE_ZRAM] = PROBE_MASK(PROBE_MEMORY),
        [PROBE_NIX] = PROBE_MASK(PROBE_KVM) | PROBE_MASK(PROBE_CPU),
};

int probe_run(struct probe_ctx *ctx, probe_mask_t mask, struct host_report *r) {
        /* Dependencies always have a lower id, so one pass from the top closes the set. */
        for (int i = _PROBE_MAX - 1; i >= 0; i--)
                if (mask & PROBE_MASK(i))
                        mask |= probe_deps[i];
        return probe_run_exact(ctx, mask, r);
}

int probe_run_exact(struct probe_ctx *ctx, probe_mask_t mask, struct host_report *r) {
        for (unsigned i = 0; i < _PROBE_MAX; i++) {
                int rr;
                if (!(mask & PROBE_MASK(i)))
                        continue;
                rr = probe_funcs[i](ctx, r);
                if (rr < 0)
                        return rr;
                r->probed[i] = true;
        }
        return 0;
}
