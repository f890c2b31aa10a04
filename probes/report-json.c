/* SPDX-License-Identifier: MIT */
/* JSON serialisation of the host report; keys are stable (docs/json-schema.md). */
#include "probes/report-json.h"

#include <string.h>

#include "lib/util.h"

/* Small adders that keep the facts functions readable. json-c takes ownership of values. */
static void add_str(json_object *o, const char *k, const char *v) {
        json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}
static void add_u64(json_object *o, const char *k, uint64_t v) {
        json_object_object_add(o, k, json_object_new_uint64(v));
}
static void add_i64(json_object *o, const char *k, int64_t v) {
        json_object_object_add(o, k, json_object_new_int64(v));
}
static void add_bool(json_object *o, const char *k, bool v) {
        json_object_object_add(o, k, json_object_new_boolean(v));
}
/* -1 means unknown: null in JSON. */
static void add_tri(json_object *o, const char *k, int v) {
        json_object_object_add(o, k, v < 0 ? NULL : json_object_new_int(v));
}
static void add_tri_bool(json_object *o, const char *k, int v) {
        json_object_object_add(o, k, v < 0 ? NULL : json_object_new_boolean(v != 0));
}
/* A space separated word list as a JSON array. */
static void add_words(json_object *o, const char *k, const char *words) {
        json_object *a = json_object_new_array();
        for (const char *p = words; p && *p;) {
                size_t l;
                p += strspn(p, " \t");
                l = strcspn(p, " \t");
                if (l)
                        json_object_array_add(a, json_object_new_string_len(p, (int) l));
                p += l;
        }
        json_object_object_add(o, k, a);
}

static json_object *device_json(const struct device_facts *d) {
        json_object *o = json_object_new_object();
        char mode[8];

        add_bool(o, "exists", d->exists);
        if (!d->exists)
                return o;
        add_str(o, "type", d->is_char ? "char" : d->is_block ? "block" : "other");
        add_u64(o, "major", d->major);
        add_u64(o, "minor", d->minor);
        xsprintf(mode, "%04o", (unsigned) d->mode & 07777);
        add_str(o, "mode", mode);
        add_u64(o, "uid", d->uid);
        add_u64(o, "gid", d->gid);
        add_bool(o, "acl", d->has_acl);
        return o;
}

static void cpu_json(const struct host_report *r, json_object *o) {
        const struct cpu_facts *c = &r->cpu;
        add_str(o, "vendor", c->vendor);
        add_str(o, "model_name", c->model_name);
        add_bool(o, "vmx", c->flag_vmx);
        add_bool(o, "svm", c->flag_svm);
        add_bool(o, "hypervisor", c->flag_hypervisor);
        add_str(o, "smt_control", c->smt_control);
        add_tri_bool(o, "smt_active", c->smt_active);
        add_u64(o, "cpus_online", c->cpus_online);
}

/* A smoke guest verdict (docs/json-schema.md), or null when none was tried. */
static json_object *smoke_json(const struct kvm_smoke_result *s) {
        json_object *o;

        if (!s->tried)
                return NULL;
        o = json_object_new_object();
        add_bool(o, "ran", s->ran);
        add_str(o, "step", s->step);
        add_str(o, "reason", s->reason);
        add_str(o, "user", s->user);
        add_u64(o, "uid", s->uid);
        add_u64(o, "usec", s->usec);
        json_object_object_add(o, "ratio", json_object_new_double(s->ratio));
        return o;
}

static void kvm_json(const struct host_report *r, json_object *o) {
        const struct kvm_facts *k = &r->kvm;
        json_object *caps, *missing_fc, *missing_ch, *missing_qemu;

        json_object_object_add(o, "device", device_json(&k->dev));
        add_bool(o, "module_loaded", k->module_loaded);
        add_str(o, "vendor_module", k->vendor_module);
        add_tri_bool(o, "nested", k->nested);
        add_str(o, "nx_huge_pages", k->nx_huge_pages);
        add_bool(o, "queried", k->queried);
        if (k->queried && k->open_error < 0)
                add_str(o, "open_error", strerror(-k->open_error));
        else
                json_object_object_add(o, "open_error", NULL);
        add_tri(o, "api_version", k->api_version);
        caps = json_object_new_object();
        missing_fc = json_object_new_array();
        missing_ch = json_object_new_array();
        missing_qemu = json_object_new_array();
        for (unsigned i = 0; i < _KVM_CAPI_MAX; i++) {
                if (k->caps[i] >= 0)
                        json_object_object_add(caps, kvm_cap_name(i),
                                               json_object_new_int(k->caps[i]));
                if (k->queried && k->open_error == 0 && k->caps[i] <= 0) {
                        if (kvm_cap_needed_by_firecracker(i))
                                json_object_array_add(missing_fc,
                                                      json_object_new_string(kvm_cap_name(i)));
                        if (kvm_cap_needed_by_cloud_hypervisor(i))
                                json_object_array_add(missing_ch,
                                                      json_object_new_string(kvm_cap_name(i)));
                        if (kvm_cap_needed_by_qemu(i))
                                json_object_array_add(missing_qemu,
                                                      json_object_new_string(kvm_cap_name(i)));
                }
        }
        json_object_object_add(o, "capabilities", caps);
        json_object_object_add(o, "missing_for_firecracker", missing_fc);
        json_object_object_add(o, "missing_for_cloud_hypervisor", missing_ch);
        json_object_object_add(o, "missing_for_qemu", missing_qemu);
        json_object_object_add(o, "smoke_root", smoke_json(&k->smoke.root));
        json_object_object_add(o, "smoke_build", smoke_json(&k->smoke.build));
        json_object_object_add(o, "smoke_source",
                               k->smoke_source ? json_object_new_string(k->smoke_source) : NULL);
        add_bool(o, "usable", k->usable);
        add_bool(o, "world_accessible", k->world_accessible);
}

static void memory_json(const struct host_report *r, json_object *o) {
        const struct memory_facts *m = &r->memory;
        json_object *swaps = json_object_new_array();

        add_u64(o, "mem_total_bytes", m->mem_total_kib * 1024);
        add_u64(o, "mem_free_bytes", m->mem_free_kib * 1024);
        add_u64(o, "mem_available_bytes", m->mem_available_kib * 1024);
        add_u64(o, "cached_bytes", m->cached_kib * 1024);
        add_u64(o, "slab_reclaimable_bytes", m->slab_reclaimable_kib * 1024);
        add_str(o, "thp_enabled", m->thp_enabled);
        add_str(o, "thp_defrag", m->thp_defrag);
        add_tri(o, "ksm_run", m->ksm_run);
        add_u64(o, "ksm_pages_sharing", m->ksm_pages_sharing);
        add_tri(o, "swappiness", m->swappiness);
        add_tri(o, "overcommit_memory", m->overcommit_memory);
        add_u64(o, "min_free_kbytes", m->min_free_kbytes);
        for (unsigned i = 0; i < m->n_swaps; i++) {
                json_object *s = json_object_new_object();
                add_str(s, "path", m->swaps[i].path);
                add_str(s, "type", m->swaps[i].type);
                add_u64(s, "size_bytes", m->swaps[i].size_kib * 1024);
                add_u64(s, "used_bytes", m->swaps[i].used_kib * 1024);
                add_i64(s, "priority", m->swaps[i].priority);
                json_object_array_add(swaps, s);
        }
        json_object_object_add(o, "swaps", swaps);
}

static void hugetlb_json(const struct host_report *r, json_object *o) {
        const struct hugetlb_facts *h = &r->hugetlb;
        json_object *sizes = json_object_new_array(), *mounts = json_object_new_array();

        add_bool(o, "supported", h->supported);
        add_u64(o, "default_page_size", h->default_size);
        add_u64(o, "numa_nodes", h->n_numa_nodes);
        for (unsigned i = 0; i < h->n_sizes; i++) {
                const struct hugetlb_pool *p = &h->sizes[i];
                json_object *s = json_object_new_object(), *nodes = json_object_new_array();

                add_u64(s, "page_size", p->page_size);
                add_u64(s, "nr", p->nr);
                add_u64(s, "free", p->free);
                add_u64(s, "resv", p->resv);
                add_u64(s, "surplus", p->surplus);
                add_u64(s, "nr_overcommit", p->nr_overcommit);
                add_u64(s, "available", p->free >= p->resv ? p->free - p->resv : 0);
                json_object_object_add(s, "obtainable_now",
                                       p->obtainable_now == UINT64_MAX
                                               ? NULL
                                               : json_object_new_uint64(p->obtainable_now));
                for (unsigned j = 0; j < p->n_nodes; j++) {
                        json_object *n = json_object_new_object();
                        add_u64(n, "node", p->nodes[j].node);
                        add_u64(n, "nr", p->nodes[j].nr);
                        add_u64(n, "free", p->nodes[j].free);
                        add_u64(n, "surplus", p->nodes[j].surplus);
                        json_object_object_add(
                                n, "obtainable_now",
                                p->nodes[j].obtainable_now == UINT64_MAX
                                        ? NULL
                                        : json_object_new_uint64(p->nodes[j].obtainable_now));
                        json_object_array_add(nodes, n);
                }
                json_object_object_add(s, "nodes", nodes);
                json_object_array_add(sizes, s);
        }
        json_object_object_add(o, "pools", sizes);
        for (unsigned i = 0; i < h->n_mounts; i++) {
                json_object *m = json_object_new_object();
                char mode[8];
                add_str(m, "path", h->mounts[i].path);
                add_u64(m, "page_size", h->mounts[i].page_size);
                xsprintf(mode, "%04o", (unsigned) h->mounts[i].mode & 07777);
                add_str(m, "mode", mode);
                json_object_object_add(
                        m, "gid",
                        h->mounts[i].has_gid ? json_object_new_int64(h->mounts[i].gid) : NULL);
                json_object_array_add(mounts, m);
        }
        json_object_object_add(o, "mounts", mounts);
}

static void zram_json(const struct host_report *r, json_object *o) {
        const struct zram_facts *z = &r->zram;
        json_object *devs = json_object_new_array();

        add_bool(o, "module", z->module);
        for (unsigned i = 0; i < z->n_devices; i++) {
                const struct zram_device *d = &z->devices[i];
                json_object *j = json_object_new_object();
                add_str(j, "name", d->name);
                add_u64(j, "disksize", d->disksize);
                add_str(j, "algorithm", d->algorithm);
                add_u64(j, "orig_data_size", d->orig_data_size);
                add_u64(j, "compr_data_size", d->compr_data_size);
                add_u64(j, "mem_used_total", d->mem_used_total);
                add_bool(j, "swap", d->is_swap);
                json_object_object_add(j, "swap_priority",
                                       d->is_swap ? json_object_new_int(d->swap_priority) : NULL);
                add_bool(j, "mounted", d->is_mounted);
                json_object_array_add(devs, j);
        }
        json_object_object_add(o, "devices", devs);
}

static json_object *path_json(const struct path_facts *p) {
        json_object *o = json_object_new_object();
        add_str(o, "path", p->path);
        add_bool(o, "exists", p->exists);
        add_bool(o, "on_btrfs", p->on_btrfs);
        add_bool(o, "subvolume", p->is_subvolume);
        add_tri_bool(o, "nocow", p->nocow);
        add_str(o, "compression", p->compression);
        if (p->error < 0)
                add_str(o, "error", strerror(-p->error));
        return o;
}

static void btrfs_json(const struct host_report *r, json_object *o) {
        const struct btrfs_facts *b = &r->btrfs;
        json_object *mounts = json_object_new_array();

        add_bool(o, "supported", b->supported);
        for (unsigned i = 0; i < b->n_mounts; i++) {
                const struct btrfs_mount *m = &b->mounts[i];
                json_object *j = json_object_new_object();
                add_str(j, "target", m->target);
                add_str(j, "source", m->source);
                add_str(j, "subvol", m->subvol);
                add_str(j, "compress", m->compress);
                add_bool(j, "noatime", m->noatime);
                add_bool(j, "space_cache_v2", m->space_cache_v2);
                add_bool(j, "discard_async", m->discard_async);
                add_bool(j, "ssd", m->ssd);
                json_object_array_add(mounts, j);
        }
        json_object_object_add(o, "mounts", mounts);
        json_object_object_add(o, "snapshot_root", path_json(&b->snapshot_root));
        add_u64(o, "free_slots", b->free_slots);
}

static void rng_json(const struct host_report *r, json_object *o) {
        const struct rng_facts *g = &r->rng;
        add_words(o, "available", g->available);
        add_str(o, "current", g->current);
        json_object_object_add(o, "hwrng", device_json(&g->hwrng));
        add_tri_bool(o, "crng_ready", g->crng_ready);
}

static void net_json(const struct host_report *r, json_object *o) {
        const struct net_facts *n = &r->net;
        json_object *taps = json_object_new_array();

        json_object_object_add(o, "tun", device_json(&n->tun));
        json_object_object_add(o, "vhost_net", device_json(&n->vhost_net));
        json_object_object_add(o, "vhost_vsock", device_json(&n->vhost_vsock));
        add_bool(o, "bridge_exists", n->bridge_exists);
        for (unsigned i = 0; i < n->n_taps; i++) {
                const struct tap_facts *t = &n->taps[i];
                json_object *j = json_object_new_object();
                add_str(j, "name", t->name);
                add_u64(j, "tun_flags", t->flags);
                add_bool(j, "vnet_hdr", (t->flags & 0x4000) != 0);
                add_bool(j, "multi_queue", (t->flags & 0x0100) != 0);
                json_object_object_add(j, "owner",
                                       t->owner >= 0 ? json_object_new_int64(t->owner) : NULL);
                json_object_object_add(j, "group",
                                       t->group >= 0 ? json_object_new_int64(t->group) : NULL);
                add_str(j, "master", t->master);
                add_bool(j, "up", t->up);
                json_object_array_add(taps, j);
        }
        json_object_object_add(o, "taps", taps);
}

static void userfaultfd_json(const struct host_report *r, json_object *o) {
        const struct userfaultfd_facts *u = &r->userfaultfd;
        json_object_object_add(o, "device", device_json(&u->dev));
        add_tri_bool(o, "unprivileged", u->unprivileged);
        add_bool(o, "syscall_available", u->syscall_available);
}

static void userns_json(const struct host_report *r, json_object *o) {
        const struct userns_facts *u = &r->userns;
        json_object_object_add(
                o, "max_user_namespaces",
                u->max_user_namespaces < 0 ? NULL : json_object_new_int64(u->max_user_namespaces));
        add_tri_bool(o, "unprivileged_userns_clone", u->unprivileged_userns_clone);
        add_tri_bool(o, "apparmor_restrict_unprivileged_userns", u->apparmor_restrict_unprivileged);
}

static void nix_json(const struct host_report *r, json_object *o) {
        const struct nix_facts *n = &r->nix;
        add_str(o, "conf_path", n->conf_path);
        add_bool(o, "conf_exists", n->conf_exists);
        add_words(o, "system_features", n->system_features);
        add_bool(o, "features_explicit", n->features_explicit);
        add_str(o, "sandbox", n->sandbox[0] ? n->sandbox : "true");
        add_words(o, "sandbox_paths", n->sandbox_paths);
        add_str(o, "build_dir", n->build_dir);
        add_bool(o, "claims_kvm", n->claims_kvm);
        add_bool(o, "tun_in_sandbox", n->tun_in_sandbox);
        add_bool(o, "kvm_in_sandbox", n->kvm_in_sandbox);
        add_u64(o, "includes_followed", n->includes_followed);
}

static void (*const facts_funcs[_PROBE_MAX])(const struct host_report *, json_object *) = {
        [PROBE_CPU] = cpu_json,
        [PROBE_KVM] = kvm_json,
        [PROBE_MEMORY] = memory_json,
        [PROBE_HUGETLB] = hugetlb_json,
        [PROBE_ZRAM] = zram_json,
        [PROBE_BTRFS] = btrfs_json,
        [PROBE_RNG] = rng_json,
        [PROBE_NET] = net_json,
        [PROBE_USERFAULTFD] = userfaultfd_json,
        [PROBE_USERNS] = userns_json,
        [PROBE_NIX] = nix_json,
};

json_object *probe_facts_to_json(const struct host_report *r, enum probe_id id) {
        json_object *o = json_object_new_object();
        if (o && id < _PROBE_MAX)
                facts_funcs[id](r, o);
        return o;
}

json_object *probe_result_to_json(const struct host_report *r, enum probe_id id) {
        const struct probe_result *res = &r->results[id];
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        add_str(o, "id", probe_id_to_string(id));
        add_str(o, "status", probe_status_to_string(res->status));
        add_str(o, "reason", res->reason);
        add_str(o, "remedy", res->remedy);
        json_object_object_add(
                o, "error", res->error < 0 ? json_object_new_string(strerror(-res->error)) : NULL);
        json_object_object_add(o, "facts", probe_facts_to_json(r, id));
        return o;
}

json_object *report_probes_to_json(const struct host_report *r) {
        json_object *a = json_object_new_array();

        for (unsigned i = 0; i < _PROBE_MAX; i++)
                if (r->probed[i])
                        json_object_array_add(a, probe_result_to_json(r, i));
        return a;
}
