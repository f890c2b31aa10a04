/* SPDX-License-Identifier: MIT */
/* The policy model's own functions: its defaults, sizes resolved against the memory, origins
 * and errors as text, the probe targets it sets. They need neither the key table (keys.c) nor
 * the loader (load.c), which both use them. */
#include <inttypes.h>
#include <stdio.h>

#include "lib/parse.h"
#include "lib/util.h"
#include "policies/policy.h"

void policy_init(struct policy *p) {
        memset(p, 0, sizeof(*p));
        policy_init_zeroed(p);
}

void policy_init_zeroed(struct policy *p) {
        p->hugepages_size = UINT64_C(2) << 20;
        p->reclaim = RECLAIM_COMPACT;
        p->reclaim_timeout_usec = 30 * USEC_PER_SEC;
        p->shrink_after_usec = 60 * USEC_PER_SEC;
        p->hugetlbfs_mode = 01770;
        p->kvm_mode = -1;
        strscpy(p->zram_device, sizeof(p->zram_device), "zram0");
        p->zram_priority = 100;
        p->ksm = -1;
        p->swappiness = -1;
        strscpy(p->snapshot_root, sizeof(p->snapshot_root), DEFAULT_SNAPSHOT_ROOT);
        p->nocow = true;
        strscpy(p->tap_prefix, sizeof(p->tap_prefix), DEFAULT_TAP_PREFIX);
        p->vnet_hdr = true;
        strscpy(p->nix_conf, sizeof(p->nix_conf), DEFAULT_NIX_CONF);
        p->reprobe_interval_usec = 60 * USEC_PER_SEC;
        p->max_leases_per_uid = POLICY_MAX_LEASES_PER_UID;
        strscpy(p->build_users_group, sizeof(p->build_users_group), "nixbld");
        p->max_waiting_per_uid = POLICY_MAX_WAITING_PER_UID;
        p->n_reasons = 1; /* reasons[0] = "": origin.reason 0 means none */
}

uint64_t policy_size_resolve(const struct policy_size *s, uint64_t mem_total) {
        if (!s->set)
                return 0;
        if (!s->percent)
                return s->bytes;
        return (uint64_t) ((unsigned __int128) mem_total * s->percent_millis / 100000);
}

char *policy_error_format(const struct policy_error *e, char *buf, size_t size) {
        char where[POLICY_PATH_MAX + 16], raw[sizeof(where) + sizeof(e->key) + sizeof(e->message)];

        if (e->line)
                bufprintf_trunc(where, sizeof(where), "%s:%u", e->file, e->line);
        else
                bufprintf_trunc(where, sizeof(where), "%s", e->file[0] ? e->file : "policy");
        if (e->key[0])
                bufprintf_trunc(raw, sizeof(raw), "%s: %s: %s", where, e->key, e->message);
        else
                bufprintf_trunc(raw, sizeof(raw), "%s: %s", where, e->message);
        /* Values and file names are quoted back from the policy: escape what a terminal, the
         * journal or a D-Bus client would act on. */
        return str_escape_control(raw, buf, size);
}

char *policy_origin_format(const struct policy *p, struct policy_origin o, char *buf, size_t size) {
        if (o.line == 0 || o.file >= p->n_files)
                bufprintf_trunc(buf, size, "built-in default");
        else
                bufprintf_trunc(buf, size, "%s:%u", p->files[o.file], o.line);
        return buf;
}

const char *policy_origin_reason(const struct policy *p, struct policy_origin o) {
        return o.reason < p->n_reasons && o.reason < POLICY_REASONS_MAX ? p->reasons[o.reason] : "";
}

struct probe_targets policy_probe_targets(const struct policy *p) {
        return (struct probe_targets){
                .snapshot_root = p->snapshot_root,
                .tap_prefix = p->tap_prefix,
                .bridge = p->bridge[0] ? p->bridge : NULL,
                .nix_conf = p->nix_conf,
        };
}
