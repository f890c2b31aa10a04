/* SPDX-License-Identifier: MIT */
/* Requirement parsing and evaluation: the readiness verdict of `check` and of the agent. */
#include "policies/readiness.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "lib/parse.h"
#include "lib/util.h"

static const struct {
        const char *name;
        enum probe_id probe;
        bool takes_value;
} kinds[_REQ_MAX] = {
        [REQ_KVM] = { "kvm", PROBE_KVM, false },
        [REQ_HUGEPAGES] = { "hugepages", PROBE_HUGETLB, true },
        [REQ_RNG] = { "rng", PROBE_RNG, false },
        [REQ_HWRNG] = { "hwrng", PROBE_RNG, false },
        [REQ_TUN] = { "tun", PROBE_NET, false },
        [REQ_VHOST_NET] = { "vhost-net", PROBE_NET, false },
        [REQ_VHOST_VSOCK] = { "vhost-vsock", PROBE_NET, false },
        [REQ_USERFAULTFD] = { "userfaultfd", PROBE_USERFAULTFD, false },
        [REQ_USERNS] = { "userns", PROBE_USERNS, false },
        [REQ_SNAPSHOTS] = { "snapshots", PROBE_BTRFS, true },
        [REQ_TAPS] = { "taps", PROBE_NET, true },
        [REQ_ZRAM] = { "zram", PROBE_ZRAM, false },
        [REQ_BTRFS] = { "btrfs", PROBE_BTRFS, false },
        [REQ_NIX] = { "nix", PROBE_NIX, false },
        [REQ_NO_SWAP] = { "no-swap", PROBE_MEMORY, false },
        [REQ_SMT_OFF] = { "smt-off", PROBE_CPU, false },
        [REQ_KSM_OFF] = { "ksm-off", PROBE_MEMORY, false },
};

static int parse_token(const char *tok, uint64_t mem_total, struct requirement *ret, char *err,
                       size_t errsize) {
        char name[32];
        const char *eq = strchr(tok, '=');
        size_t nl = eq ? (size_t) (eq - tok) : strlen(tok);
        struct requirement q = { 0 };
        bool found = false;

        if (nl == 0 || nl >= sizeof(name)) {
                bufprintf_trunc(err, errsize, "bad requirement '%s'", tok);
                return -EINVAL;
        }
        memcpy(name, tok, nl);
        name[nl] = 0;
        for (unsigned i = 0; i < _REQ_MAX; i++)
                if (streq(name, kinds[i].name)) {
                        q.kind = (enum requirement_kind) i;
                        found = true;
                }
        if (!found) {
                bufprintf_trunc(
                        err, errsize,
                        "unknown requirement '%s' (known: kvm, hugepages=SIZE[:PAGESIZE], rng, "
                        "hwrng, tun, vhost-net, vhost-vsock, userfaultfd, userns, snapshots=N, "
                        "taps=N, zram, btrfs, nix, no-swap, smt-off, ksm-off)",
                        name);
                return -EINVAL;
        }
        if (kinds[q.kind].takes_value != (eq != NULL)) {
                bufprintf_trunc(err, errsize,
                                kinds[q.kind].takes_value
                                        ? "requirement '%s' needs a value ('%s=...')"
                                        : "requirement '%s' takes no value ('%s')",
                                tok, name);
                return -EINVAL;
        }
        if (q.kind == REQ_HUGEPAGES) {
                char amount[64];
                const char *colon = strchr(eq + 1, ':');
                size_t al = colon ? (size_t) (colon - eq - 1) : strlen(eq + 1);

                if (al == 0 || al >= sizeof(amount)) {
                        bufprintf_trunc(err, errsize, "bad size in '%s'", tok);
                        return -EINVAL;
                }
                memcpy(amount, eq + 1, al);
                amount[al] = 0;
                if (parse_size(amount, mem_total, &q.amount) < 0 || q.amount == 0) {
                        bufprintf_trunc(err, errsize, "bad size '%s' in '%s' (use 2G, 512M, 10%%)",
                                        amount, tok);
                        return -EINVAL;
                }
                if (colon && (parse_size(colon + 1, 0, &q.page_size) < 0 || q.page_size == 0 ||
                              (q.page_size & (q.page_size - 1)) != 0)) {
                        bufprintf_trunc(err, errsize, "bad page size '%s' in '%s' (use 2M or 1G)",
                                        colon + 1, tok);
                        return -EINVAL;
                }
        } else if (eq) {
                unsigned n;
                if (parse_uint(eq + 1, &n) < 0 || n == 0 || n > 65535) {
                        bufprintf_trunc(err, errsize, "bad count in '%s' (1..65535)", tok);
                        return -EINVAL;
                }
                q.amount = n;
        }
        *ret = q;
        return 0;
}

int requirements_parse(const char *list, uint64_t mem_total, struct requirements *req, char *err,
                       size_t errsize) {
        struct requirements out = *req;

        for (const char *p = list; p && *p;) {
                char tok[128];
                struct requirement q;
                size_t l;
                unsigned i;
                int r;

                p += strspn(p, ", \t\n");
                l = strcspn(p, ", \t\n");
                if (l == 0)
                        break;
                if (l >= sizeof(tok)) {
                        bufprintf_trunc(err, errsize, "requirement too long: '%.40s...'", p);
                        return -EINVAL;
                }
                memcpy(tok, p, l);
                tok[l] = 0;
                p += l;
                r = parse_token(tok, mem_total, &q, err, errsize);
                if (r < 0)
                        return r;
                for (i = 0; i < out.n; i++)
                        if (out.items[i].kind == q.kind && out.items[i].page_size == q.page_size)
                                break;
                if (i == out.n) {
                        if (out.n >= REQUIREMENTS_MAX) {
                                bufprintf_trunc(err, errsize, "more than %d requirements",
                                                REQUIREMENTS_MAX);
                                return -E2BIG;
                        }
                        out.n++;
                }
                out.items[i] = q;
        }
        *req = out;
        return 0;
}

const char *requirement_kind_name(enum requirement_kind k) {
        return kinds[k].name;
}

char *requirement_to_string(const struct requirement *q, char *buf, size_t size) {
        char a[FORMAT_SIZE_MAX], b[32];

        if (q->kind == REQ_HUGEPAGES) {
                if (q->page_size)
                        bufprintf_trunc(buf, size, "hugepages=%s:%s",
                                        format_size(q->amount, a, sizeof(a)),
                                        format_size(q->page_size, b, sizeof(b)));
                else
                        bufprintf_trunc(buf, size, "hugepages=%s",
                                        format_size(q->amount, a, sizeof(a)));
        } else if (kinds[q->kind].takes_value)
                bufprintf_trunc(buf, size, "%s=%" PRIu64, kinds[q->kind].name, q->amount);
        else
                bufprintf_trunc(buf, size, "%s", kinds[q->kind].name);
        return buf;
}

probe_mask_t requirements_probes(const struct requirements *req) {
        probe_mask_t m = 0;
        for (unsigned i = 0; i < req->n; i++)
                m |= PROBE_MASK(kinds[req->items[i].kind].probe);
        return m;
}

static void set_result(struct requirement_result *res, bool ok, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void set_result(struct requirement_result *res, bool ok, const char *fmt, ...) {
        va_list ap;
        res->satisfied = ok;
        va_start(ap, fmt);
        vbufprintf_trunc(res->reason, sizeof(res->reason), fmt, ap);
        va_end(ap);
}

static uint64_t leased_bytes(const struct lease_usage *l, uint64_t page_size) {
        if (!l)
                return 0;
        for (unsigned i = 0; i < l->n_sizes && i < HUGETLB_SIZES_MAX; i++)
                if (l->hugepages[i].page_size == page_size)
                        return l->hugepages[i].bytes;
        return 0;
}

uint64_t hugetlb_pages_available(const struct hugetlb_pool *p, const struct lease_usage *leases,
                                 uint64_t *ret_leased) {
        uint64_t avail, unpromised, leased;

        /* free_hugepages counts pages reserved by mappings that have not faulted them in yet;
         * only free - resv can go to a new user. Pages promised to leases are not available
         * either, whether or not their holder has touched them yet: a bound from each side. */
        avail = p->free >= p->resv ? p->free - p->resv : 0;
        leased = p->page_size ? leased_bytes(leases, p->page_size) / p->page_size : 0;
        unpromised = p->nr > leased ? p->nr - leased : 0;
        if (ret_leased)
                *ret_leased = leased;
        return unpromised < avail ? unpromised : avail;
}

static void eval_hugepages(const struct requirement *q, const struct host_report *r,
                           const struct lease_usage *leases, struct requirement_result *res) {
        const struct hugetlb_facts *h = &r->hugetlb;
        uint64_t ps = q->page_size ? q->page_size : h->default_size;
        const struct hugetlb_pool *p = hugetlb_find_pool(h, ps);
        uint64_t need, avail, leased;
        char a[32], b[32];

        if (!h->supported || !p) {
                set_result(res, false, "no %s hugepage pool on this kernel",
                           format_size(ps, a, sizeof(a)));
                bufprintf_trunc(res->remedy, sizeof(res->remedy),
                                ps >= (1U << 30)
                                        ? "boot with hugepagesz=1G hugepages=N (gigantic pages)"
                                        : "use a kernel with CONFIG_HUGETLBFS");
                return;
        }
        need = (q->amount + ps - 1) / ps;
        avail = hugetlb_pages_available(p, leases, &leased);
        if (avail >= need) {
                set_result(res, true,
                           "%" PRIu64 " of %" PRIu64 " %s pages available (%" PRIu64 " needed)",
                           avail, p->nr, format_size(ps, a, sizeof(a)), need);
                return;
        }
        set_result(res, false,
                   "only %" PRIu64 " %s pages available, %" PRIu64 " needed (pool %" PRIu64
                   ", free %" PRIu64 ", reserved %" PRIu64 ", leased %" PRIu64 "): a VM using "
                   "MAP_HUGETLB would die with SIGBUS",
                   avail, format_size(ps, a, sizeof(a)), need, p->nr, p->free, p->resv, leased);
        bufprintf_trunc(res->remedy, sizeof(res->remedy),
                        "grow the pool: hosttune apply with [hugepages] pool = %s, or echo %" PRIu64
                        " > /sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
                        format_size(q->amount + (p->nr - avail) * ps, b, sizeof(b)),
                        p->nr + (need - avail), ps >> 10);
        /* A pool counter the probe could not read counts as 0 above: the shortfall may not be
         * real, so the verdict is "could not probe", not "not ready". */
        res->error = r->results[PROBE_HUGETLB].error;
}

/* A requirement that a probe's status decides: satisfied when the status is in ok_mask. */
static void eval_status(const struct host_report *r, enum probe_id id, unsigned ok_mask,
                        struct requirement_result *res) {
        const struct probe_result *pr = &r->results[id];
        set_result(res, (ok_mask >> pr->status) & 1, "%s", pr->reason);
        strscpy(res->remedy, sizeof(res->remedy), pr->remedy);
        if (!res->satisfied)
                res->error = pr->error;
        else
                res->caveat = pr->status == PROBE_WARN;
}

static void eval_device(const struct device_facts *d, const char *path, const char *module,
                        struct requirement_result *res) {
        if (d->exists && d->is_char)
                set_result(res, true, "%s present (mode %04o)", path, (unsigned) d->mode);
        else {
                set_result(res, false, "%s missing", path);
                bufprintf_trunc(res->remedy, sizeof(res->remedy), "modprobe %s", module);
        }
}

unsigned requirements_evaluate(const struct requirements *req, const struct host_report *r,
                               const struct lease_usage *leases,
                               struct requirement_result *results) {
        unsigned failed = 0;

        for (unsigned i = 0; i < req->n; i++) {
                const struct requirement *q = &req->items[i];
                struct requirement_result *res = &results[i];
                uint64_t have, used;

                memset(res, 0, sizeof(*res));
                res->req = *q;
                res->probe = kinds[q->kind].probe;
                switch (q->kind) {
                case REQ_KVM:
                        if (r->kvm.usable) {
                                set_result(res, true, "%s", r->results[PROBE_KVM].reason);
                                res->caveat = r->results[PROBE_KVM].status == PROBE_WARN;
                                strscpy(res->remedy, sizeof(res->remedy),
                                        r->results[PROBE_KVM].remedy);
                        } else
                                eval_status(r, PROBE_KVM, 0, res);
                        break;
                case REQ_HUGEPAGES:
                        eval_hugepages(q, r, leases, res);
                        break;
                case REQ_RNG:
                        if (r->rng.crng_ready == 1) {
                                set_result(res, true, "%s", r->results[PROBE_RNG].reason);
                                res->caveat = r->results[PROBE_RNG].status == PROBE_WARN;
                                strscpy(res->remedy, sizeof(res->remedy),
                                        r->results[PROBE_RNG].remedy);
                        } else {
                                set_result(res, false, "%s",
                                           r->rng.crng_ready == 0 ? "crng not initialised"
                                                                  : "crng state unknown");
                                strscpy(res->remedy, sizeof(res->remedy),
                                        r->results[PROBE_RNG].remedy);
                        }
                        break;
                case REQ_HWRNG:
                        if (r->rng.current[0] && !streq(r->rng.current, "none") &&
                            r->rng.hwrng.exists)
                                set_result(res, true, "%s active, /dev/hwrng present",
                                           r->rng.current);
                        else
                                eval_status(r, PROBE_RNG, 1U << PROBE_OK, res);
                        break;
                case REQ_TUN:
                        eval_device(&r->net.tun, "/dev/net/tun", "tun", res);
                        break;
                case REQ_VHOST_NET:
                        eval_device(&r->net.vhost_net, "/dev/vhost-net", "vhost_net", res);
                        break;
                case REQ_VHOST_VSOCK:
                        eval_device(&r->net.vhost_vsock, "/dev/vhost-vsock", "vhost_vsock", res);
                        break;
                case REQ_USERFAULTFD:
                        eval_status(r, PROBE_USERFAULTFD, (1U << PROBE_OK) | (1U << PROBE_WARN),
                                    res);
                        break;
                case REQ_USERNS:
                        eval_status(r, PROBE_USERNS, (1U << PROBE_OK) | (1U << PROBE_WARN), res);
                        break;
                case REQ_SNAPSHOTS:
                        have = r->btrfs.free_slots;
                        if (have >= q->amount)
                                set_result(res, true, "%" PRIu64 " prepared snapshot slots free",
                                           have);
                        else {
                                set_result(res, false,
                                           "%" PRIu64 " prepared snapshot slots free, %" PRIu64
                                           " needed",
                                           have, q->amount);
                                bufprintf_trunc(res->remedy, sizeof(res->remedy),
                                                "set [snapshots] slots = %" PRIu64
                                                " and run hosttune apply",
                                                q->amount);
                        }
                        break;
                case REQ_TAPS:
                        used = leases ? leases->taps : 0;
                        have = r->net.n_taps > used ? r->net.n_taps - used : 0;
                        if (have >= q->amount && r->net.tun.exists)
                                set_result(res, true, "%" PRIu64 " taps free in the pool", have);
                        else {
                                set_result(res, false,
                                           "%" PRIu64 " taps free in the pool, %" PRIu64
                                           " needed%s",
                                           have, q->amount,
                                           r->net.tun.exists ? "" : " (no /dev/net/tun)");
                                bufprintf_trunc(res->remedy, sizeof(res->remedy),
                                                "set [net] taps = %" PRIu64
                                                " and run hosttune apply",
                                                q->amount);
                        }
                        break;
                case REQ_ZRAM: {
                        bool any = false;
                        for (unsigned j = 0; j < r->zram.n_devices; j++)
                                any = any || r->zram.devices[j].is_swap;
                        if (any)
                                set_result(res, true, "%s", r->results[PROBE_ZRAM].reason);
                        else {
                                set_result(res, false, "no zram device serves as swap");
                                bufprintf_trunc(res->remedy, sizeof(res->remedy),
                                                "set [zram] size and run hosttune apply");
                        }
                        break;
                }
                case REQ_BTRFS:
                        if (r->btrfs.snapshot_root.on_btrfs)
                                set_result(res, true, "snapshot root %s is on btrfs",
                                           r->btrfs.snapshot_root.path);
                        else
                                eval_status(r, PROBE_BTRFS, 0, res);
                        if (!res->satisfied && !res->reason[0])
                                set_result(res, false, "snapshot root %s is not on btrfs",
                                           r->btrfs.snapshot_root.path);
                        break;
                case REQ_NIX:
                        eval_status(r, PROBE_NIX,
                                    (1U << PROBE_OK) | (1U << PROBE_WARN) | (1U << PROBE_ABSENT),
                                    res);
                        break;
                case REQ_NO_SWAP:
                        if (r->memory.n_swaps == 0)
                                set_result(res, true, "no swap devices");
                        else {
                                set_result(res, false,
                                           "%u swap device%s active (%s first): Firecracker's "
                                           "production advice is no swap, guest memory must "
                                           "not be paged out",
                                           r->memory.n_swaps, r->memory.n_swaps == 1 ? "" : "s",
                                           r->memory.swaps[0].path);
                                bufprintf_trunc(
                                        res->remedy, sizeof(res->remedy),
                                        "swapoff -a, or choose a policy that wants zram swap "
                                        "(microvm-ci) instead of firecracker-prod");
                        }
                        break;
                case REQ_SMT_OFF:
                        if (streq(r->cpu.smt_control, "off") ||
                            streq(r->cpu.smt_control, "forceoff") ||
                            streq(r->cpu.smt_control, "notsupported") ||
                            streq(r->cpu.smt_control, "notimplemented"))
                                set_result(res, true, "SMT %s", r->cpu.smt_control);
                        else {
                                set_result(res, false,
                                           "SMT %s: sibling threads share caches across VMs "
                                           "(Firecracker's production advice is SMT off)",
                                           r->cpu.smt_control[0] ? r->cpu.smt_control
                                                                 : "state unknown");
                                bufprintf_trunc(
                                        res->remedy, sizeof(res->remedy),
                                        "echo off > /sys/devices/system/cpu/smt/control, or "
                                        "boot with nosmt");
                        }
                        break;
                case REQ_KSM_OFF:
                        if (r->memory.ksm_run == 0 || r->memory.ksm_run == -1)
                                set_result(res, true, "KSM %s",
                                           r->memory.ksm_run == 0 ? "off" : "not built in");
                        else {
                                set_result(res, false,
                                           "KSM is %s: merged pages leak timing across VMs "
                                           "(Firecracker's production advice is KSM off)",
                                           r->memory.ksm_run == 1 ? "running" : "unmerging");
                                bufprintf_trunc(
                                        res->remedy, sizeof(res->remedy),
                                        "echo 0 > /sys/kernel/mm/ksm/run ([memory] ksm = no)");
                        }
                        break;
                default:
                        set_result(res, false, "unknown requirement");
                        break;
                }
                if (!res->satisfied)
                        failed++;
        }
        return failed;
}
