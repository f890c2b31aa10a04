/* SPDX-License-Identifier: MIT */
/* The host as fleet schedulers see it: verified features and pool capacity, formatted as Nix
 * system features, a Nix machines-file line and a node-feature-discovery feature file. Pure
 * functions of a report, so the agent and the CLI give one answer. */
#include "policies/fleet.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/parse.h"
#include "lib/util.h"

static const enum requirement_kind check_kinds[_FLEET_CHECK_MAX] = {
        [FLEET_CHECK_RNG] = REQ_RNG,
        [FLEET_CHECK_HWRNG] = REQ_HWRNG,
        [FLEET_CHECK_TUN] = REQ_TUN,
        [FLEET_CHECK_VHOST_NET] = REQ_VHOST_NET,
        [FLEET_CHECK_VHOST_VSOCK] = REQ_VHOST_VSOCK,
        [FLEET_CHECK_USERFAULTFD] = REQ_USERFAULTFD,
        [FLEET_CHECK_USERNS] = REQ_USERNS,
};

/* The features hosttune decides itself: nobody may add them by hand to a machines line. */
static const char *const verified_names[] = { "kvm", "nixos-test", "hugepages" };

const char *fleet_check_name(enum fleet_check c) {
        /* The requirement token is the name: one spelling for `check --require` and the file. */
        return requirement_kind_name(check_kinds[c]);
}

void fleet_view_build(const struct host_report *r, const struct requirement_result *results,
                      unsigned n, bool ready, const struct lease_usage *leases,
                      struct fleet_view *ret) {
        struct fleet_view v = { .ready = ready };
        struct requirements req = { .n = _FLEET_CHECK_MAX };
        struct requirement_result res[_FLEET_CHECK_MAX];
        bool hp_required = false, hp_ok = true;
        unsigned used;

        /* kvm: root's smoke guest ran (r->kvm.usable, probes/kvm-smoke.c). For build users
         * only when a Nix build user's own smoke guest ran: /dev/kvm answering, or root's guest
         * running, says nothing about a builder that lost its supplementary groups, and a NixOS
         * test scheduled where its VMM cannot run a guest aborts (accel=kvm) or crawls under
         * TCG (accel=kvm:tcg; 142 s instead of 18 s in PEERS.md's measurement). nixos-test is
         * what NixOS tests require together with kvm; it means nothing more here, so it goes
         * with it. */
        v.kvm = r->probed[PROBE_KVM] && r->kvm.usable;
        v.kvm_build_users = v.kvm && r->kvm.smoke.build.tried && r->kvm.smoke.build.ran;
        for (unsigned i = 0; i < n; i++)
                if (results[i].req.kind == REQ_HUGEPAGES) {
                        hp_required = true;
                        hp_ok = hp_ok && results[i].satisfied;
                }
        v.hugepages = hp_required && hp_ok;

        for (unsigned i = 0; i < _FLEET_CHECK_MAX; i++)
                req.items[i] = (struct requirement){ .kind = check_kinds[i] };
        (void) requirements_evaluate(&req, r, leases, res);
        for (unsigned i = 0; i < _FLEET_CHECK_MAX; i++)
                v.checks[i] = r->probed[res[i].probe] && res[i].satisfied;

        for (unsigned i = 0; r->probed[PROBE_HUGETLB] && i < r->hugetlb.n_sizes; i++) {
                const struct hugetlb_pool *p = &r->hugetlb.sizes[i];
                struct fleet_pool *f = &v.pools[v.n_pools++];

                f->page_size = p->page_size;
                f->total = p->nr;
                f->free = p->free;
                f->reserved = p->resv;
                f->available = hugetlb_pages_available(p, leases, &f->leased);
        }
        used = leases ? leases->taps : 0;
        v.taps_free = r->net.n_taps > used ? r->net.n_taps - used : 0;
        /* The probe counts only slot directories no lease holds. */
        v.snapshot_slots_free = r->btrfs.free_slots;
        *ret = v;
}

int fleet_nix_features(const struct fleet_view *v, char *buf, size_t size) {
        int r = bufprintf(buf, size, "%s%s%s", v->kvm_build_users ? "kvm nixos-test" : "",
                          v->kvm_build_users && v->hugepages ? " " : "",
                          v->hugepages ? "hugepages" : "");
        return r < 0 ? -ENOBUFS : (int) strlen(buf);
}

/* ---- node-feature-discovery ---------------------------------------------------------------- */

static bool label_char(char c) {
        return isalnum((unsigned char) c) || c == '-' || c == '_' || c == '.';
}

/* k8s.io/apimachinery IsValidLabelValue and the name part of IsQualifiedName: at most 63
 * characters of [A-Za-z0-9_.-], alphanumeric at both ends; empty only where allowed. */
static bool label_word_valid(const char *s, size_t l, bool empty_ok) {
        if (l == 0)
                return empty_ok;
        if (l > 63 || !isalnum((unsigned char) s[0]) || !isalnum((unsigned char) s[l - 1]))
                return false;
        for (size_t i = 0; i < l; i++)
                if (!label_char(s[i]))
                        return false;
        return true;
}

/* A DNS-1123 subdomain: at most 253 characters, dot-separated labels of lowercase
 * alphanumerics and '-', alphanumeric at both ends. */
static bool dns_subdomain_valid(const char *s, size_t l) {
        if (l == 0 || l > 253)
                return false;
        for (size_t i = 0; i < l;) {
                size_t k = i;
                while (k < l && s[k] != '.')
                        k++;
                if (k == i || k - i > 63 || s[i] == '-' || s[k - 1] == '-')
                        return false;
                for (size_t j = i; j < k; j++)
                        if (!(islower((unsigned char) s[j]) || isdigit((unsigned char) s[j]) ||
                              s[j] == '-'))
                                return false;
                i = k + 1;
                if (k == l - 1) /* a trailing dot */
                        return false;
        }
        return true;
}

static bool has_suffix(const char *s, size_t l, const char *suffix) {
        size_t k = strlen(suffix);
        return l >= k && memcmp(s + l - k, suffix, k) == 0;
}

static bool ns_is(const char *s, size_t l, const char *ns) {
        return l == strlen(ns) && memcmp(s, ns, l) == 0;
}

bool fleet_nfd_name_valid(const char *name) {
        const char *slash = strchr(name, '/');
        size_t pl;

        /* Unprefixed names are prefixed by NFD today and refused by a future version (its
         * DisableAutoPrefix feature gate): always write a prefix. */
        if (!slash)
                return false;
        pl = (size_t) (slash - name);
        if (!dns_subdomain_valid(name, pl) ||
            !label_word_valid(slash + 1, strlen(slash + 1), false))
                return false;
        /* nfd-master denies kubernetes.io and its subdomains except its own namespaces. */
        if (ns_is(name, pl, "kubernetes.io") || has_suffix(name, pl, ".kubernetes.io"))
                return ns_is(name, pl, "feature.node.kubernetes.io") ||
                       has_suffix(name, pl, ".feature.node.kubernetes.io") ||
                       ns_is(name, pl, "profile.node.kubernetes.io") ||
                       has_suffix(name, pl, ".profile.node.kubernetes.io");
        return true;
}

bool fleet_nfd_value_valid(const char *value) {
        return label_word_valid(value, strlen(value), true);
}

/* A text being formatted into a fixed buffer; the first error sticks. */
struct out {
        char *buf;
        size_t size, len;
        int error;
};

static void out_printf(struct out *o, const char *fmt, ...) _printf_(2, 3);
static void out_printf(struct out *o, const char *fmt, ...) {
        va_list ap;
        int r;

        if (o->error)
                return;
        va_start(ap, fmt);
        r = vbufprintf(o->buf + o->len, o->size - o->len, fmt, ap);
        va_end(ap);
        if (r < 0)
                o->error = r == -ENAMETOOLONG ? -ENOBUFS : r;
        else
                o->len += strlen(o->buf + o->len);
}

/* One feature line, name and value checked against NFD's rules (a programming error here
 * would make nfd-master drop the label, or the whole file). */
static void nfd_line(struct out *o, const char *name, const char *fmt, ...) _printf_(3, 4);
static void nfd_line(struct out *o, const char *name, const char *fmt, ...) {
        char full[128], value[64];
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vbufprintf(value, sizeof(value), fmt, ap);
        va_end(ap);
        if (!o->error &&
            (r < 0 || bufprintf(full, sizeof(full), "%s/%s", FLEET_NFD_NAMESPACE, name) < 0 ||
             !fleet_nfd_name_valid(full) || !fleet_nfd_value_valid(value)))
                o->error = -EINVAL;
        out_printf(o, "%s=%s\n", full, value);
}

int fleet_nfd_format(const struct fleet_view *v, uint64_t expiry_realtime_usec, char *buf,
                     size_t size) {
        struct out o = { .buf = buf, .size = size };
        time_t t = (time_t) (expiry_realtime_usec / USEC_PER_SEC);
        char when[32], ps[32], name[64];
        struct tm tm;

        if (size == 0)
                return -ENOBUFS;
        buf[0] = 0;
        if (!gmtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return -EINVAL;
        out_printf(&o,
                   "# Written by hosttuned (hosttuned(8)) for node-feature-discovery: features\n"
                   "# this host was verified to provide, and the capacity of its pools. The\n"
                   "# agent renews the expiry at each re-probe; a stopped agent's labels lapse.\n"
                   "# +expiry-time=%s\n",
                   when);
        nfd_line(&o, "ready", "%s", v->ready ? "true" : "false");
        /* Only what holds is written: a feature that failed verification has no line, so
         * NFD removes its label, as Nix drops a feature nix.conf no longer lists. */
        if (v->kvm)
                nfd_line(&o, "kvm", "true");
        if (v->kvm_build_users) {
                nfd_line(&o, "kvm-build-users", "true");
                nfd_line(&o, "nixos-test", "true");
        }
        if (v->hugepages)
                nfd_line(&o, "hugepages", "true");
        for (unsigned i = 0; i < _FLEET_CHECK_MAX; i++)
                if (v->checks[i])
                        nfd_line(&o, fleet_check_name(i), "true");
        /* Counts as label values: node affinity's Gt and Lt compare them as integers. */
        for (unsigned i = 0; i < v->n_pools; i++) {
                const struct fleet_pool *p = &v->pools[i];
                static const char *const what[] = { "total", "free", "reserved", "leased",
                                                    "available" };
                const uint64_t n[] = { p->total, p->free, p->reserved, p->leased, p->available };

                format_size(p->page_size, ps, sizeof(ps));
                for (unsigned k = 0; k < ELEMENTSOF(what); k++) {
                        xsprintf(name, "hugepages-%s.%s", ps, what[k]);
                        nfd_line(&o, name, "%" PRIu64, n[k]);
                }
        }
        nfd_line(&o, "taps.free", "%" PRIu64, v->taps_free);
        nfd_line(&o, "snapshot-slots.free", "%" PRIu64, v->snapshot_slots_free);
        if (o.error)
                return o.error;
        if (o.len > FLEET_NFD_FILE_MAX)
                return -EFBIG;
        return (int) o.len;
}

/* ---- Nix machines file --------------------------------------------------------------------- */

/* A field Nix reads as written: no whitespace (which separates fields), no ';' (which
 * separates machines) and no '#' (which starts a comment), per expandBuilderLines() and
 * parseBuilderLine() in src/libstore/machines.cc. */
static bool nix_token_valid(const char *s) {
        if (!*s || streq(s, "-"))
                return false;
        for (; *s; s++)
                if (isspace((unsigned char) *s) || *s == ';' || *s == '#' ||
                    !isprint((unsigned char) *s))
                        return false;
        return true;
}

static bool is_verified_name(const char *f) {
        for (size_t i = 0; i < ELEMENTSOF(verified_names); i++)
                if (streq(f, verified_names[i]))
                        return true;
        return false;
}

static int fail(char *err, size_t errsize, int r, const char *fmt, ...) _printf_(4, 5);
static int fail(char *err, size_t errsize, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vbufprintf_trunc(err, errsize, fmt, ap);
        va_end(ap);
        return r;
}

/* Appending the items of a list to the field of o that starts at field, as a comma list. */
struct list_args {
        struct out *o;
        size_t field;
        const char *what;
        char *err;
        size_t errsize;
        int (*check)(const char *item, struct list_args *a);
};

/* Is item in the field already? */
static bool field_has(const struct list_args *a, const char *item) {
        const char *s = a->o->buf + a->field;
        size_t l = strlen(item);

        for (;;) {
                if (strncmp(s, item, l) == 0 && (s[l] == ',' || s[l] == 0))
                        return true;
                s = strchr(s, ',');
                if (!s)
                        return false;
                s++;
        }
}

/* Append the items of list (separated by sep; with ',' an empty item is an error, with ' '
 * runs of spaces are one separator) that the field does not hold yet; a->check may refuse
 * one. */
static int list_append(struct list_args *a, const char *list, char sep) {
        const char seps[] = { sep, 0 };
        char item[256];

        if (!list)
                return 0;
        for (const char *s = list; *s;) {
                size_t l = strcspn(s, seps);
                int r;

                if (l == 0 && sep == ' ') {
                        s++;
                        continue;
                }
                if (l == 0)
                        return fail(a->err, a->errsize, -EINVAL, "%s: empty item in '%s'", a->what,
                                    list);
                if (l >= sizeof(item))
                        return fail(a->err, a->errsize, -EINVAL, "%s: an item is too long",
                                    a->what);
                memcpy(item, s, l);
                item[l] = 0;
                if (!nix_token_valid(item) || strchr(item, ','))
                        return fail(a->err, a->errsize, -EINVAL,
                                    "%s: '%s' holds whitespace, ',', ';' or '#', or is '-'",
                                    a->what, item);
                r = a->check ? a->check(item, a) : 0;
                if (r < 0)
                        return r;
                if (!field_has(a, item))
                        out_printf(a->o, "%s%s", a->o->len > a->field ? "," : "", item);
                s += l;
                if (*s && !*++s && sep != ' ')
                        return fail(a->err, a->errsize, -EINVAL, "%s: empty item in '%s'", a->what,
                                    list);
        }
        return a->o->error;
}

static int check_extra(const char *item, struct list_args *a) {
        if (is_verified_name(item))
                return fail(a->err, a->errsize, -EINVAL,
                            "%s: %s is a feature hosttune verifies; it is listed only when it "
                            "holds",
                            a->what, item);
        return 0;
}

int fleet_machines_line(const struct fleet_machine *m, const char *verified, char *buf, size_t size,
                        char *err, size_t errsize) {
        struct out o = { .buf = buf, .size = size };
        struct list_args a = { .o = &o, .err = err, .errsize = errsize };
        int r;

        if (size == 0)
                return -ENOBUFS;
        buf[0] = 0;
        if (!m->uri || !nix_token_valid(m->uri))
                return fail(err, errsize, -EINVAL,
                            "URI '%s' is empty or holds whitespace, ';' or '#' (Nix would split "
                            "or cut it)",
                            m->uri ? m->uri : "");
        if (!isempty(m->ssh_key) && !nix_token_valid(m->ssh_key))
                return fail(err, errsize, -EINVAL, "SSH key '%s' holds whitespace, ';' or '#'",
                            m->ssh_key);
        if (m->max_jobs == 0 || m->speed_factor == 0)
                return fail(err, errsize, -EINVAL, "max-jobs and speed factor must be 1 or more");
        if (m->host_key_base64) {
                for (const char *s = m->host_key_base64; *s; s++)
                        if (!isalnum((unsigned char) *s) && *s != '+' && *s != '/' && *s != '=')
                                return fail(err, errsize, -EINVAL, "host key is not base64");
                if (!*m->host_key_base64 || strlen(m->host_key_base64) % 4 != 0)
                        return fail(err, errsize, -EINVAL, "host key is not base64");
        }

        out_printf(&o, "%s ", m->uri);
        a.field = o.len;
        a.what = "systems";
        r = list_append(&a, m->systems, ',');
        if (r < 0)
                return r;
        if (o.len == a.field)
                return fail(err, errsize, -EINVAL, "no system given");
        out_printf(&o, " %s %u %u ", isempty(m->ssh_key) ? "-" : m->ssh_key, m->max_jobs,
                   m->speed_factor);

        a.field = o.len;
        a.what = "verified features";
        r = list_append(&a, verified, ' ');
        if (r < 0)
                return r;
        a.what = "extra features";
        a.check = check_extra;
        r = list_append(&a, m->extra_features, ',');
        if (r < 0)
                return r;
        if (o.len == a.field)
                out_printf(&o, "-");

        out_printf(&o, " ");
        a.field = o.len;
        a.what = "mandatory features";
        a.check = NULL;
        r = list_append(&a, m->mandatory_features, ',');
        if (r < 0)
                return r;
        for (const char *s = buf + a.field; *s;) {
                size_t l = strcspn(s, ",");
                char item[64];

                /* An item that does not fit is longer than any feature name: cut short, it still
                 * matches none. */
                bufprintf_trunc(item, sizeof(item), "%.*s", (int) l, s);
                if (is_verified_name(item) && !word_list_contains(verified, item, false))
                        return fail(err, errsize, -ENXIO,
                                    "%s is mandatory but not verified on this host: a line "
                                    "without it would accept other builds",
                                    item);
                s += l;
                if (*s)
                        s++;
        }
        if (o.len == a.field)
                out_printf(&o, "-");
        out_printf(&o, " %s", m->host_key_base64 ? m->host_key_base64 : "-");
        if (o.error)
                return o.error;
        return (int) o.len;
}
