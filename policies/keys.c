/* SPDX-License-Identifier: MIT */
/* The table of policy sections and keys: how each value is parsed, validated and written back. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "lib/parse.h"
#include "lib/users.h"
#include "lib/util.h"
#include "policies/policy-internal.h"

#define KEEP "keep"

/* ---- value checks for KT_STRING keys ---------------------------------------------------- */

static bool chars_in(const char *s, const char *extra) {
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && !strchr(extra, *s))
                        return false;
        return true;
}

static const char *check_name(const char *v) {
        if (!*v)
                return "must not be empty";
        if (!chars_in(v, "._-"))
                return "may hold only letters, digits, '.', '_' and '-'";
        return NULL;
}

static const char *check_text(const char *v) {
        for (const char *s = v; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return "must not hold control characters";
        if (v[0] == ';' || v[0] == '#')
                return "must not start with a comment character";
        return NULL;
}

/* An absolute path without "." or ".." components (so it means what it says wherever the
 * applier resolves it), or "" where the key allows it. */
static const char *check_path_impl(const char *v, bool empty_ok) {
        if (!*v)
                return empty_ok ? NULL : "must not be empty";
        if (v[0] != '/')
                return "must be an absolute path";
        if (check_text(v))
                return check_text(v);
        for (const char *s = v; *s;) {
                size_t l;
                s += strspn(s, "/");
                l = strcspn(s, "/");
                if ((l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
                        return "must not contain '.' or '..' components";
                s += l;
        }
        return NULL;
}

/* An absolute path as check_path_impl, inside the allow-list of its kind. */
static const char *check_path_kind(const char *v, bool empty_ok, enum policy_path_kind kind) {
        const char *bad = check_path_impl(v, empty_ok);

        return bad || !*v ? bad : policy_path_refused(kind, v);
}

static const char *check_mount(const char *v) {
        return check_path_kind(v, true, POLICY_PATH_MOUNT);
}

static const char *check_snapshot_root(const char *v) {
        return check_path_kind(v, false, POLICY_PATH_SNAPSHOT_ROOT);
}

static const char *check_metrics_file(const char *v) {
        return check_path_kind(v, true, POLICY_PATH_METRICS);
}

static const char *check_features_file(const char *v) {
        return check_path_kind(v, true, POLICY_PATH_FEATURES);
}

static const char *check_nix_conf(const char *v) {
        return check_path_kind(v, false, POLICY_PATH_INPUT);
}

/* A file in node-feature-discovery's features.d, or "". NFD skips names that start with a dot
 * (source/local/local.go, getFeaturesFromFiles): the agent stages the file under the dotted
 * name, so the name itself must not be one. */
static const char *check_nfd_features_file(const char *v) {
        const char *base;

        if (check_path_impl(v, true))
                return check_path_impl(v, true);
        if (!*v)
                return NULL;
        base = strrchr(v, '/') + 1;
        if (!*base)
                return "must name a file, not a directory";
        if (base[0] == '.')
                return "must not start with '.': node-feature-discovery ignores such files";
        return policy_path_refused(POLICY_PATH_NFD, v);
}

static const char *check_user_group_or_empty(const char *v) {
        if (!*v || user_group_name_valid(v))
                return NULL;
        return "is not a valid user or group name (letters, digits, '_', '.', '-'; starting with "
               "a letter or '_'; at most 31 characters) or numeric id";
}

/* A network interface name (dev_valid_name() in net/core/dev.c, narrowed to the characters
 * tools quote safely). */
static const char *check_ifname_impl(const char *v, size_t max, bool empty_ok) {
        if (!*v)
                return empty_ok ? NULL : "must not be empty";
        if (strlen(v) > max)
                return max == 15 ? "is longer than 15 characters (IFNAMSIZ)"
                                 : "is longer than 11 characters (room for the tap number)";
        if (!chars_in(v, "_.-") || streq(v, ".") || streq(v, ".."))
                return "may hold only letters, digits, '_', '.' and '-'";
        return NULL;
}

static const char *check_ifname_or_empty(const char *v) {
        return check_ifname_impl(v, 15, true);
}

static const char *check_tap_prefix(const char *v) {
        return check_ifname_impl(v, 11, false);
}

static const char *check_zram_device(const char *v) {
        const char *n = startswith(v, "zram");
        if (!n || !*n || strlen(n) > 4 || !chars_in(n, ""))
                return "must be zramN (zram0, zram1, ...)";
        for (const char *s = n; *s; s++)
                if (!isdigit((unsigned char) *s))
                        return "must be zramN (zram0, zram1, ...)";
        return NULL;
}

static const char *check_algorithm(const char *v) {
        if (!*v)
                return NULL;
        if (strlen(v) > 31 || !chars_in(v, "-_"))
                return "must be a compression algorithm name such as zstd, lz4 or lzo-rle";
        return NULL;
}

/* ---- parsing helpers --------------------------------------------------------------------- */

void policy_load_error(struct policy_load *l, struct policy_origin o, const char *key,
                       const char *fmt, ...) {
        struct policy_error *e = l->err;
        va_list ap;

        memset(e, 0, sizeof(*e));
        if (o.file < l->p->n_files)
                strscpy(e->file, sizeof(e->file), l->p->files[o.file]);
        e->line = o.line;
        strscpy(e->key, sizeof(e->key), key);
        va_start(ap, fmt);
        vbufprintf_trunc(e->message, sizeof(e->message), fmt, ap);
        va_end(ap);
}

static int fail(char *msg, size_t size, const char *fmt, ...) _printf_(3, 4);
static int fail(char *msg, size_t size, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vbufprintf_trunc(msg, size, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int policy_list_walk(const char *v, int (*cb)(const char *item, void *u), void *u) {
        char item[256];

        for (const char *s = v; *s;) {
                size_t l;
                int r;

                s += strspn(s, ", \t");
                l = strcspn(s, ", \t");
                if (l == 0)
                        break;
                if (l >= sizeof(item))
                        return -ENAMETOOLONG;
                memcpy(item, s, l);
                item[l] = 0;
                r = cb(item, u);
                if (r < 0)
                        return r;
                s += l;
        }
        return 0;
}

/* A size of a pool: "none", a count of pages ("512"), a size ("2G"), or a percentage of RAM. */
static int parse_pool_size(const char *v, uint64_t page_size, struct policy_size *ret, char *msg,
                           size_t size) {
        struct policy_size s = { .set = true };
        uint64_t n;
        int r;

        if (streq(v, "none")) {
                *ret = (struct policy_size){ 0 };
                return 0;
        }
        if (parse_u64(v, &n) == 0) {
                if (__builtin_mul_overflow(n, page_size, &s.bytes))
                        return fail(msg, size, "'%s' pages is too large", v);
                *ret = s;
                return 0;
        }
        if (v[0] && v[strlen(v) - 1] == '%') {
                r = parse_size(v, 100000, &n);
                if (r < 0)
                        return fail(msg, size, "'%s' is not a percentage of RAM (0%% to 100%%)", v);
                s.percent = true;
                s.percent_millis = (uint32_t) n;
                *ret = s;
                return 0;
        }
        r = parse_size(v, 0, &s.bytes);
        if (r < 0)
                return fail(msg, size,
                            "'%s' is not a size (2G, 512M), a count of pages (1024), a "
                            "percentage of RAM (25%%) or none",
                            v);
        *ret = s;
        return 0;
}

static int parse_page_size(const char *v, uint64_t *ret, char *msg, size_t size) {
        uint64_t ps;

        if (parse_size(v, 0, &ps) < 0 || ps < 65536 || (ps & (ps - 1)) != 0)
                return fail(msg, size,
                            "'%s' is not a hugepage size (a power of two of at least 64K, such "
                            "as 2M or 1G)",
                            v);
        *ret = ps;
        return 0;
}

struct node_list_args {
        uint64_t page_size;
        struct policy_size nodes[NUMA_NODES_MAX];
        struct policy_origin origin;
        char *msg;
        size_t size;
};

static int node_item_cb(const char *item, void *u) {
        struct node_list_args *a = u;
        const char *colon = strchr(item, ':');
        char num[16];
        unsigned node;
        struct policy_size s;
        int r;

        if (!colon || colon == item || (size_t) (colon - item) >= sizeof(num))
                return fail(a->msg, a->size,
                            "'%s' is not NODE:SIZE (per-node = kernel, even, or a list such as "
                            "'0:1G 1:1G')",
                            item);
        memcpy(num, item, (size_t) (colon - item));
        num[colon - item] = 0;
        if (parse_uint(num, &node) < 0 || node >= NUMA_NODES_MAX)
                return fail(a->msg, a->size, "'%s': node must be a number below %d", item,
                            NUMA_NODES_MAX);
        if (a->nodes[node].set)
                return fail(a->msg, a->size, "node %u is listed twice", node);
        if (colon[1] && colon[strlen(colon) - 1] == '%')
                return fail(a->msg, a->size, "'%s': per-node sizes cannot be percentages", item);
        r = parse_pool_size(colon + 1, a->page_size, &s, a->msg, a->size);
        if (r < 0)
                return r;
        if (!s.set)
                return fail(a->msg, a->size, "'%s': a node's size cannot be none", item);
        s.origin = a->origin;
        a->nodes[node] = s;
        return 0;
}

static int parse_per_node(const char *v, uint64_t page_size, struct policy_origin o,
                          struct policy_hugepool *h, char *msg, size_t size) {
        struct node_list_args a = { .page_size = page_size, .origin = o, .msg = msg, .size = size };
        bool any = false;
        int r;

        if (streq(v, "kernel") || streq(v, "even")) {
                h->per_node = streq(v, "kernel") ? PER_NODE_KERNEL : PER_NODE_EVEN;
                memset(h->node_pool, 0, sizeof(h->node_pool));
                h->per_node_origin = o;
                return 0;
        }
        r = policy_list_walk(v, node_item_cb, &a);
        if (r == -ENAMETOOLONG)
                return fail(msg, size, "an item of the list is too long");
        if (r < 0)
                return r;
        for (unsigned i = 0; i < NUMA_NODES_MAX; i++)
                any = any || a.nodes[i].set;
        if (!any)
                return fail(msg, size, "must be kernel, even, or a list such as '0:1G 1:1G'");
        h->per_node = PER_NODE_EXPLICIT;
        memcpy(h->node_pool, a.nodes, sizeof(h->node_pool));
        h->per_node_origin = o;
        return 0;
}

/* The origin of an entry, its comment stored as the reason. Called once per entry, by
 * policy_key_apply(), which leaves it in l->origin for the parsers. */
static struct policy_origin entry_origin(struct policy_load *l, const struct policy_entry *e) {
        struct policy *p = l->p;
        struct policy_origin o = { .file = e->file, .line = e->line };

        if (e->reason && *e->reason && p->n_reasons < POLICY_REASONS_MAX) {
                strscpy(p->reasons[p->n_reasons], POLICY_REASON_MAX, e->reason);
                o.reason = p->n_reasons++;
        }
        return o;
}

/* ---- custom keys ------------------------------------------------------------------------- */

static int parse_include(struct policy_load *l, const struct policy_entry *e, char *msg,
                         size_t size) {
        /* The loader follows includes before it applies the including file's keys. */
        (void) l, (void) e, (void) msg, (void) size;
        return 0;
}

static bool format_nothing(const struct policy *p, char *buf, size_t size) {
        (void) p, (void) buf, (void) size;
        return false;
}

static void require_remove(struct requirements *req, enum requirement_kind kind) {
        unsigned j = 0;
        for (unsigned i = 0; i < req->n; i++)
                if (req->items[i].kind != kind)
                        req->items[j++] = req->items[i];
        req->n = j;
}

static int require_add(struct requirements *req, const char *list, char *msg, size_t size) {
        char err[256];
        int r = requirements_parse(list, 0, req, err, sizeof(err));
        if (r < 0)
                return fail(msg, size, "%s", err);
        return 0;
}

static int parse_require(struct policy_load *l, const struct policy_entry *e, char *msg,
                         size_t size) {
        struct requirements req = l->p->require;
        int r;

        /* An empty list starts afresh: a file can drop what the files it includes require. */
        if (!*e->value) {
                l->p->require.n = 0;
                return 0;
        }
        if (strchr(e->value, '%'))
                return fail(msg, size,
                            "percentages are not allowed here (a policy is validated without "
                            "knowing the host's RAM); write an absolute size such as "
                            "hugepages=2G");
        r = require_add(&req, e->value, msg, size);
        if (r < 0)
                return r;
        l->p->require = req;
        return 0;
}

static bool format_require(const struct policy *p, char *buf, size_t size) {
        buf[0] = 0;
        for (unsigned i = 0; i < p->require.n; i++) {
                char t[64];
                bufappendf_trunc(buf, size, "%s%s", i ? ", " : "",
                                 requirement_to_string(&p->require.items[i], t, sizeof(t)));
        }
        return true;
}

static int parse_kvm_require(struct policy_load *l, const struct policy_entry *e, char *msg,
                             size_t size) {
        bool b;

        if (parse_bool(e->value, &b) < 0)
                return fail(msg, size, "'%s' is not a boolean (yes or no)", e->value);
        if (!b) {
                require_remove(&l->p->require, REQ_KVM);
                return 0;
        }
        return require_add(&l->p->require, "kvm", msg, size);
}

static int parse_rng_require(struct policy_load *l, const struct policy_entry *e, char *msg,
                             size_t size) {
        struct requirements *req = &l->p->require;

        if (streq(e->value, "none")) {
                require_remove(req, REQ_RNG);
                require_remove(req, REQ_HWRNG);
                return 0;
        }
        if (streq(e->value, "crng")) {
                require_remove(req, REQ_HWRNG);
                return require_add(req, "rng", msg, size);
        }
        if (streq(e->value, "hwrng"))
                return require_add(req, "rng hwrng", msg, size);
        return fail(msg, size, "'%s' is not one of none, crng, hwrng", e->value);
}

static int parse_hugepages_size(struct policy_load *l, const struct policy_entry *e, char *msg,
                                size_t size) {
        return parse_page_size(e->value, &l->p->hugepages_size, msg, size);
}

static bool format_hugepages_size(const struct policy *p, char *buf, size_t size) {
        format_size(p->hugepages_size, buf, size);
        return true;
}

/* A size in bytes (2G, 512M, 0): no percentage, since the pool it draws from can change. */
static int parse_build_hugepages_max(struct policy_load *l, const struct policy_entry *e, char *msg,
                                     size_t size) {
        if (parse_size(e->value, 0, &l->p->build_hugepages_max) < 0)
                return fail(msg, size, "'%s' is not a size (bytes, or 512M, 2G)", e->value);
        return 0;
}

static bool format_build_hugepages_max(const struct policy *p, char *buf, size_t size) {
        format_size(p->build_hugepages_max, buf, size);
        return true;
}

/* The pool of a [hugepages-SIZE] section, created on first use. */
static struct policy_hugepool *section_pool(struct policy_load *l, const struct policy_entry *e,
                                            char *msg, size_t size) {
        struct policy *p = l->p;
        struct policy_hugepool *h;

        for (unsigned i = 0; i < p->n_pools; i++)
                if (!p->pools[i].main && p->pools[i].page_size == e->page_size)
                        return &p->pools[i];
        if (p->n_pools >= HUGETLB_SIZES_MAX) {
                fail(msg, size, "more than %d hugepage sizes", HUGETLB_SIZES_MAX);
                return NULL;
        }
        h = &p->pools[p->n_pools++];
        memset(h, 0, sizeof(*h));
        h->page_size = e->page_size;
        h->origin = l->origin;
        return h;
}

/* pool, max and per-node, for [hugepages] (staged until `size` is final) and [hugepages-SIZE]. */
static int parse_pool_key(struct policy_load *l, const struct policy_entry *e, char *msg,
                          size_t size) {
        int which = streq(e->key, "pool")  ? MAIN_POOL_POOL
                    : streq(e->key, "max") ? MAIN_POOL_MAX
                                           : MAIN_POOL_PER_NODE;
        struct policy_origin o = l->origin;
        struct policy_hugepool tmp = { 0 }, *h;
        uint64_t page_size = e->page_size ? e->page_size : l->p->hugepages_size;
        int r;

        h = e->page_size ? section_pool(l, e, msg, size) : &tmp;
        if (!h)
                return -EINVAL;
        if (which == MAIN_POOL_PER_NODE)
                r = parse_per_node(e->value, page_size, o, h, msg, size);
        else {
                struct policy_size *s = which == MAIN_POOL_POOL ? &h->pool : &h->max;
                r = parse_pool_size(e->value, page_size, s, msg, size);
                s->origin = o;
        }
        if (r < 0 || e->page_size)
                return r;
        /* [hugepages]: checked now for the line number, applied by policy_finalize(). */
        free(l->main_pool[which].value);
        l->main_pool[which].value = strdup(e->value);
        if (!l->main_pool[which].value)
                return fail(msg, size, "out of memory");
        l->main_pool[which].origin = o;
        return 0;
}

static const struct policy_hugepool *main_pool(const struct policy *p) {
        for (unsigned i = 0; i < p->n_pools; i++)
                if (p->pools[i].main)
                        return &p->pools[i];
        return NULL;
}

static bool format_main_size(const struct policy *p, bool max, char *buf, size_t size) {
        const struct policy_hugepool *h = main_pool(p);
        static const struct policy_size unset = { 0 };

        policy_size_format(!h ? &unset : max ? &h->max : &h->pool, buf, size);
        return true;
}

static bool format_main_pool(const struct policy *p, char *buf, size_t size) {
        return format_main_size(p, false, buf, size);
}

static bool format_main_max(const struct policy *p, char *buf, size_t size) {
        return format_main_size(p, true, buf, size);
}

static bool format_main_per_node(const struct policy *p, char *buf, size_t size) {
        const struct policy_hugepool *h = main_pool(p);
        bufprintf_trunc(buf, size, "kernel");
        if (h)
                policy_per_node_format(h, buf, size);
        return true;
}

static int parse_reclaim(struct policy_load *l, const struct policy_entry *e, char *msg,
                         size_t size) {
        static const char *const names[] = { "none", "compact", "drop-caches" };
        for (unsigned i = 0; i < ELEMENTSOF(names); i++)
                if (streq(e->value, names[i])) {
                        l->p->reclaim = (enum policy_reclaim) i;
                        return 0;
                }
        return fail(msg, size, "'%s' is not one of none, compact, drop-caches", e->value);
}

static bool format_reclaim(const struct policy *p, char *buf, size_t size) {
        bufprintf_trunc(buf, size, "%s",
                        p->reclaim == RECLAIM_NONE      ? "none"
                        : p->reclaim == RECLAIM_COMPACT ? "compact"
                                                        : "drop-caches");
        return true;
}

static int parse_kvm_mode(struct policy_load *l, const struct policy_entry *e, char *msg,
                          size_t size) {
        mode_t m;

        if (streq(e->value, KEEP)) {
                l->p->kvm_mode = -1;
                return 0;
        }
        if (parse_mode(e->value, &m) < 0 || m > 0777)
                return fail(msg, size, "'%s' is not an octal mode up to 0777, or keep", e->value);
        l->p->kvm_mode = (int) m;
        return 0;
}

static bool format_kvm_mode(const struct policy *p, char *buf, size_t size) {
        if (p->kvm_mode < 0)
                bufprintf_trunc(buf, size, KEEP);
        else
                bufprintf_trunc(buf, size, "0%03o", (unsigned) p->kvm_mode);
        return true;
}

static int parse_zram_size(struct policy_load *l, const struct policy_entry *e, char *msg,
                           size_t size) {
        struct policy_size s = { .set = true };
        uint64_t n;

        if (streq(e->value, "none")) {
                l->p->zram_size = (struct policy_size){ .origin = l->origin };
                return 0;
        }
        if (e->value[0] && e->value[strlen(e->value) - 1] == '%') {
                if (parse_size(e->value, 100000, &n) < 0 || n == 0)
                        return fail(msg, size, "'%s' is not a percentage of RAM (up to 100%%)",
                                    e->value);
                s.percent = true;
                s.percent_millis = (uint32_t) n;
        } else if (parse_size(e->value, 0, &s.bytes) < 0 || s.bytes < (1U << 20))
                return fail(msg, size,
                            "'%s' is not a size of at least 1M (4G), a percentage of RAM "
                            "(50%%) or none",
                            e->value);
        s.origin = l->origin;
        l->p->zram_size = s;
        return 0;
}

static bool format_zram_size(const struct policy *p, char *buf, size_t size) {
        policy_size_format(&p->zram_size, buf, size);
        return true;
}

static int parse_ksm(struct policy_load *l, const struct policy_entry *e, char *msg, size_t size) {
        bool b;

        if (streq(e->value, KEEP)) {
                l->p->ksm = -1;
                return 0;
        }
        if (parse_bool(e->value, &b) < 0)
                return fail(msg, size, "'%s' is not yes, no or keep", e->value);
        l->p->ksm = b;
        return 0;
}

static bool format_ksm(const struct policy *p, char *buf, size_t size) {
        bufprintf_trunc(buf, size, "%s", p->ksm < 0 ? KEEP : p->ksm ? "yes" : "no");
        return true;
}

static int template_cb(const char *item, void *u) {
        struct policy *p = u;
        const char *bad = check_name(item);

        if (bad || streq(item, ".") || streq(item, "..") || strlen(item) > 63)
                return -EINVAL;
        for (unsigned i = 0; i < p->n_templates; i++)
                if (streq(p->templates[i], item))
                        return -EEXIST;
        if (p->n_templates >= POLICY_TEMPLATES_MAX)
                return -E2BIG;
        strscpy(p->templates[p->n_templates++], sizeof(p->templates[0]), item);
        return 0;
}

static int parse_templates(struct policy_load *l, const struct policy_entry *e, char *msg,
                           size_t size) {
        struct policy *p = l->p;
        unsigned saved = p->n_templates;
        int r;

        p->n_templates = 0;
        r = policy_list_walk(e->value, template_cb, p);
        if (r >= 0)
                return 0;
        p->n_templates = saved;
        if (r == -EEXIST)
                return fail(msg, size, "a template is listed twice");
        if (r == -E2BIG)
                return fail(msg, size, "more than %d templates", POLICY_TEMPLATES_MAX);
        return fail(msg, size,
                    "template names may hold only letters, digits, '.', '_' and '-' (at most "
                    "63 characters)");
}

static bool format_templates(const struct policy *p, char *buf, size_t size) {
        buf[0] = 0;
        for (unsigned i = 0; i < p->n_templates; i++)
                bufappendf_trunc(buf, size, "%s%s", i ? ", " : "", p->templates[i]);
        return true;
}

struct options_args {
        char out[256];
        size_t n;
};

/* Only options the btrfs probe reads can be required: anything else could never be verified. */
static int option_cb(const char *item, void *u) {
        struct options_args *a = u;
        const char *alg = startswith(item, "compress=");

        if (!streq(item, "noatime") && !streq(item, "ssd") && !streq(item, "space_cache=v2") &&
            !streq(item, "discard=async") && !streq(item, "compress") &&
            !(alg && *alg && chars_in(alg, ":-")))
                return -EINVAL;
        if (bufappendf(a->out, sizeof(a->out), "%s%s", a->n ? " " : "", item) < 0)
                return -E2BIG;
        a->n = strlen(a->out);
        return 0;
}

static int parse_require_options(struct policy_load *l, const struct policy_entry *e, char *msg,
                                 size_t size) {
        struct options_args a = { .n = 0 };
        int r = policy_list_walk(e->value, option_cb, &a);

        if (r == -E2BIG || r == -ENAMETOOLONG)
                return fail(msg, size, "the list is too long");
        if (r < 0)
                return fail(msg, size,
                            "hosttune can verify only noatime, ssd, space_cache=v2, "
                            "discard=async, compress and compress=ALGORITHM[:LEVEL]");
        memcpy(l->p->require_options, a.out, sizeof(a.out));
        return 0;
}

static bool format_require_options(const struct policy *p, char *buf, size_t size) {
        bufprintf_trunc(buf, size, "%s", p->require_options);
        return true;
}

/* [sysctl] keys: dotted names under vm., kernel. and net., each part non-empty. Keys that a
 * dedicated section manages, and "keys" that are actions rather than settings, are refused. */
const struct policy_refused_sysctl policy_refused_sysctls[] = {
        { "vm.nr_hugepages", "the hugepage pool is set by [hugepages] pool" },
        { "vm.nr_hugepages_mempolicy", "the hugepage pool is set by [hugepages] pool" },
        { "vm.nr_overcommit_hugepages", "the hugepage pool is set by [hugepages]" },
        { "vm.drop_caches", "is an action, not a setting ([hugepages] reclaim uses it)" },
        { "vm.compact_memory", "is an action, not a setting ([hugepages] reclaim uses it)" },
};
const unsigned policy_n_refused_sysctls = ELEMENTSOF(policy_refused_sysctls);

static const char *check_sysctl_key(const char *k) {

        if (!startswith(k, "vm.") && !startswith(k, "kernel.") && !startswith(k, "net."))
                return "only keys under vm., kernel. and net. may be set";
        if (strstr(k, ".."))
                return "must not contain '..'";
        if (strchr(k, '/'))
                return "must not contain '/' (keys of interfaces whose names hold a dot cannot be "
                       "set here)";
        if (k[strlen(k) - 1] == '.')
                return "must not end with '.'";
        if (!chars_in(k, "._-"))
                return "may hold only letters, digits, '.', '_' and '-'";
        if (strlen(k) >= sizeof(((struct policy_sysctl *) NULL)->key))
                return "is too long";
        for (size_t i = 0; i < policy_n_refused_sysctls; i++)
                if (streq(k, policy_refused_sysctls[i].key))
                        return policy_refused_sysctls[i].why;
        return NULL;
}

static int parse_sysctl(struct policy_load *l, const struct policy_entry *e, char *msg,
                        size_t size) {
        struct policy *p = l->p;
        const char *bad = check_sysctl_key(e->key);
        struct policy_sysctl *s = NULL;

        if (bad)
                return fail(msg, size, "%s", bad);
        if (!*e->value)
                return fail(msg, size, "needs a value");
        if (strlen(e->value) >= sizeof(s->value))
                return fail(msg, size, "value longer than %zu characters", sizeof(s->value) - 1);
        if (check_text(e->value))
                return fail(msg, size, "value %s", check_text(e->value));
        for (unsigned i = 0; i < p->n_sysctl; i++)
                if (streq(p->sysctl[i].key, e->key))
                        s = &p->sysctl[i];
        if (!s) {
                if (p->n_sysctl >= POLICY_SYSCTL_MAX)
                        return fail(msg, size, "more than %d sysctl keys", POLICY_SYSCTL_MAX);
                s = &p->sysctl[p->n_sysctl++];
                strscpy(s->key, sizeof(s->key), e->key);
        }
        strscpy(s->value, sizeof(s->value), e->value);
        s->origin = l->origin;
        return 0;
}

/* ---- the table --------------------------------------------------------------------------- */

static const char *const thp_choices[] = { "always", "madvise", "never", NULL };
static const char *const defrag_choices[] = { "always",  "defer", "defer+madvise",
                                              "madvise", "never", NULL };

#define F(field) offsetof(struct policy, field), sizeof(((struct policy *) NULL)->field)
#define STR(sec, nm, k, field, chk, h)                                                             \
        {                                                                                          \
                .section = sec, .name = nm, .key = k, .type = KT_STRING, F(field), .check = chk,   \
                .help = h                                                                          \
        }
#define CUSTOM(sec, nm, k, p, f, h)                                                                \
        {                                                                                          \
                .section = sec, .name = nm, .key = k, .type = KT_CUSTOM, .parse = p, .format = f,  \
                .help = h                                                                          \
        }

const struct policy_key_def policy_key_defs[] = {
        { .section = "policy",
          .name = "name",
          .key = POLICY_KEY_NAME,
          .type = KT_STRING,
          F(name),
          .check = check_name,
          .main_only = true,
          .help = "name of the policy" },
        { .section = "policy",
          .name = "description",
          .key = POLICY_KEY_DESCRIPTION,
          .type = KT_STRING,
          F(description),
          .check = check_text,
          .main_only = true,
          .help = "one line for humans" },
        { .section = "policy",
          .name = "include",
          .key = POLICY_KEY_INCLUDE,
          .type = KT_CUSTOM,
          .list = true,
          .parse = parse_include,
          .format = format_nothing,
          .help = "files or profile names applied first" },

        { .section = "readiness",
          .name = "require",
          .key = POLICY_KEY_REQUIRE,
          .type = KT_CUSTOM,
          .list = true,
          .parse = parse_require,
          .format = format_require,
          .help = "readiness requirements" },

        CUSTOM("hugepages", "size", POLICY_KEY_HUGEPAGES_SIZE, parse_hugepages_size,
               format_hugepages_size, "page size of this section's pool"),
        CUSTOM("hugepages", "pool", POLICY_KEY_HUGEPAGES_POOL, parse_pool_key, format_main_pool,
               "pool to reserve"),
        CUSTOM("hugepages", "max", POLICY_KEY_HUGEPAGES_MAX, parse_pool_key, format_main_max,
               "largest pool leases may grow"),
        { .section = "hugepages",
          .name = "per-node",
          .key = POLICY_KEY_HUGEPAGES_PER_NODE,
          .type = KT_CUSTOM,
          .list = true,
          .parse = parse_pool_key,
          .format = format_main_per_node,
          .help = "kernel, even, or NODE:SIZE list" },
        CUSTOM("hugepages", "reclaim", POLICY_KEY_HUGEPAGES_RECLAIM, parse_reclaim, format_reclaim,
               "none, compact or drop-caches"),
        { .section = "hugepages",
          .name = "timeout",
          .key = POLICY_KEY_HUGEPAGES_TIMEOUT,
          .type = KT_DURATION,
          F(reclaim_timeout_usec),
          .max = 3600,
          .help = "how long to keep trying" },
        { .section = "hugepages",
          .name = "shrink-after",
          .key = POLICY_KEY_HUGEPAGES_SHRINK_AFTER,
          .type = KT_DURATION,
          F(shrink_after_usec),
          .max = 86400,
          .help = "idle time after which a pool leases grew shrinks back toward pool" },
        STR("hugepages", "mount", POLICY_KEY_HUGEPAGES_MOUNT, hugetlbfs_mount, check_mount,
            "hugetlbfs mount point"),
        { .section = "hugepages",
          .name = "mode",
          .key = POLICY_KEY_HUGEPAGES_MODE,
          .type = KT_MODE,
          F(hugetlbfs_mode),
          .max = 07777,
          .help = "mode of the mount" },
        STR("hugepages", "group", POLICY_KEY_HUGEPAGES_GROUP, hugetlbfs_group,
            check_user_group_or_empty, "group of the mount"),

        CUSTOM("hugepages-SIZE", "pool", -1, parse_pool_key, NULL, "pool to reserve"),
        CUSTOM("hugepages-SIZE", "max", -1, parse_pool_key, NULL, "largest pool leases may grow"),
        { .section = "hugepages-SIZE",
          .name = "per-node",
          .key = -1,
          .type = KT_CUSTOM,
          .list = true,
          .parse = parse_pool_key,
          .help = "kernel, even, or NODE:SIZE list" },

        CUSTOM("kvm", "require", POLICY_KEY_KVM_REQUIRE, parse_kvm_require, format_nothing,
               "add kvm to the readiness list"),
        CUSTOM("kvm", "mode", POLICY_KEY_KVM_MODE, parse_kvm_mode, format_kvm_mode,
               "mode of /dev/kvm"),

        STR("zram", "device", POLICY_KEY_ZRAM_DEVICE, zram_device, check_zram_device,
            "zram device"),
        CUSTOM("zram", "size", POLICY_KEY_ZRAM_SIZE, parse_zram_size, format_zram_size,
               "disk size"),
        STR("zram", "algorithm", POLICY_KEY_ZRAM_ALGORITHM, zram_algorithm, check_algorithm,
            "compression algorithm"),
        { .section = "zram",
          .name = "priority",
          .key = POLICY_KEY_ZRAM_PRIORITY,
          .type = KT_INT,
          F(zram_priority),
          .min = -1,
          .max = 32767,
          .help = "swap priority" },

        { .section = "memory",
          .name = "thp",
          .key = POLICY_KEY_MEMORY_THP,
          .type = KT_CHOICE,
          F(thp),
          .keep = true,
          .choices = thp_choices,
          .help = "transparent hugepages" },
        { .section = "memory",
          .name = "thp-defrag",
          .key = POLICY_KEY_MEMORY_THP_DEFRAG,
          .type = KT_CHOICE,
          F(thp_defrag),
          .keep = true,
          .choices = defrag_choices,
          .help = "THP defrag mode" },
        CUSTOM("memory", "ksm", POLICY_KEY_MEMORY_KSM, parse_ksm, format_ksm,
               "kernel samepage merging"),
        { .section = "memory",
          .name = "swappiness",
          .key = POLICY_KEY_MEMORY_SWAPPINESS,
          .type = KT_INT,
          F(swappiness),
          .min = 0,
          .max = 200,
          .keep = true,
          .help = "vm.swappiness" },

        { .section = "sysctl",
          .name = "*",
          .key = -1,
          .type = KT_CUSTOM,
          .parse = parse_sysctl,
          .help = "any key under vm., kernel. or net." },

        { .section = "btrfs",
          .name = "require-options",
          .key = POLICY_KEY_BTRFS_REQUIRE_OPTIONS,
          .type = KT_CUSTOM,
          .list = true,
          .parse = parse_require_options,
          .format = format_require_options,
          .help = "mount options the snapshot root needs" },

        STR("snapshots", "root", POLICY_KEY_SNAPSHOTS_ROOT, snapshot_root, check_snapshot_root,
            "snapshot root directory"),
        { .section = "snapshots",
          .name = "slots",
          .key = POLICY_KEY_SNAPSHOTS_SLOTS,
          .type = KT_UINT,
          F(slots),
          .max = POLICY_SLOTS_MAX,
          .help = "prepared empty slots" },
        { .section = "snapshots",
          .name = "templates",
          .key = POLICY_KEY_SNAPSHOTS_TEMPLATES,
          .type = KT_CUSTOM,
          .list = true,
          .parse = parse_templates,
          .format = format_templates,
          .help = "templates to prepare snapshots of" },
        { .section = "snapshots",
          .name = "prepared",
          .key = POLICY_KEY_SNAPSHOTS_PREPARED,
          .type = KT_UINT,
          F(prepared),
          .max = 64,
          .help = "prepared snapshots per template" },
        { .section = "snapshots",
          .name = "nocow",
          .key = POLICY_KEY_SNAPSHOTS_NOCOW,
          .type = KT_BOOL,
          F(nocow),
          .help = "NOCOW on the snapshot root" },

        STR("net", "bridge", POLICY_KEY_NET_BRIDGE, bridge, check_ifname_or_empty,
            "bridge to create"),
        { .section = "net",
          .name = "taps",
          .key = POLICY_KEY_NET_TAPS,
          .type = KT_UINT,
          F(taps),
          .max = TAPS_MAX,
          .help = "taps in the pool" },
        STR("net", "tap-prefix", POLICY_KEY_NET_TAP_PREFIX, tap_prefix, check_tap_prefix,
            "tap name prefix"),
        STR("net", "owner", POLICY_KEY_NET_OWNER, tap_owner, check_user_group_or_empty,
            "user owning the taps"),
        { .section = "net",
          .name = "multi-queue",
          .key = POLICY_KEY_NET_MULTI_QUEUE,
          .type = KT_BOOL,
          F(multi_queue),
          .help = "IFF_MULTI_QUEUE taps" },
        { .section = "net",
          .name = "vnet-hdr",
          .key = POLICY_KEY_NET_VNET_HDR,
          .type = KT_BOOL,
          F(vnet_hdr),
          .help = "IFF_VNET_HDR taps" },

        CUSTOM("rng", "require", POLICY_KEY_RNG_REQUIRE, parse_rng_require, format_nothing,
               "none, crng or hwrng"),

        STR("nix", "conf", POLICY_KEY_NIX_CONF, nix_conf, check_nix_conf, "nix.conf to check"),
        STR("nix", "features-file", POLICY_KEY_NIX_FEATURES_FILE, features_file,
            check_features_file, "where the agent writes verified features"),

        { .section = "agent",
          .name = "reprobe-interval",
          .key = POLICY_KEY_AGENT_REPROBE_INTERVAL,
          .type = KT_DURATION,
          F(reprobe_interval_usec),
          .max = 86400,
          .help = "how often the agent re-probes" },
        { .section = "agent",
          .name = "revert-on-stop",
          .key = POLICY_KEY_AGENT_REVERT_ON_STOP,
          .type = KT_BOOL,
          F(revert_on_stop),
          .help = "revert when the agent stops" },
        { .section = "agent",
          .name = "reapply-on-drift",
          .key = POLICY_KEY_AGENT_REAPPLY_ON_DRIFT,
          .type = KT_BOOL,
          F(reapply_on_drift),
          .help = "apply again when a knob drifts" },
        STR("agent", "metrics-file", POLICY_KEY_AGENT_METRICS_FILE, metrics_file,
            check_metrics_file, "Prometheus textfile"),
        STR("agent", "lease-group", POLICY_KEY_AGENT_LEASE_GROUP, lease_group,
            check_user_group_or_empty, "group allowed to take leases"),
        STR("agent", "nfd-features-file", POLICY_KEY_AGENT_NFD_FEATURES_FILE, nfd_features_file,
            check_nfd_features_file, "node-feature-discovery feature file the agent writes"),
        { .section = "agent",
          .name = "max-leases-per-uid",
          .key = POLICY_KEY_AGENT_MAX_LEASES_PER_UID,
          .type = KT_UINT,
          F(max_leases_per_uid),
          .max = POLICY_LEASE_CAP_MAX,
          .help = "leases one uid may hold" },
        { .section = "agent",
          .name = "max-waiting-per-uid",
          .key = POLICY_KEY_AGENT_MAX_WAITING_PER_UID,
          .type = KT_UINT,
          F(max_waiting_per_uid),
          .max = POLICY_LEASE_CAP_MAX,
          .help = "AcquireLease calls of one uid that may wait at once" },
        STR("agent", "build-users-group", POLICY_KEY_AGENT_BUILD_USERS_GROUP, build_users_group,
            check_user_group_or_empty, "Nix build users group that may lease over lease.sock"),
        CUSTOM("agent", "build-hugepages-max", POLICY_KEY_AGENT_BUILD_HUGEPAGES_MAX,
               parse_build_hugepages_max, format_build_hugepages_max,
               "hugepages Nix builds may hold together over lease.sock"),
};

const unsigned policy_n_key_defs = ELEMENTSOF(policy_key_defs);

/* The value syntax of a key for tools outside C (`hosttune policy keys --json`, read by the
 * NixOS module to check settings at evaluation): one name per check or parse function of the
 * table, so a new function without a name here shows up as "?" in the export's test. */
const char *policy_key_syntax(const struct policy_key_def *d) {
        static const struct {
                const char *(*check)(const char *value);
                const char *name;
        } checks[] = {
                { check_name, "name" },
                { check_text, "text" },
                /* The allow-lists of the path keys (policies/paths.c): the NixOS module
                 * (nixos-module/lib.nix) mirrors each kind's lexical rules at evaluation;
                 * `hosttune policy validate` at build time adds the one that depends on the
                 * host (an existing output that is not a regular file). */
                { check_snapshot_root, "snapshot-root" },
                { check_nix_conf, "config-file" },
                { check_mount, "mount-path-or-empty" },
                { check_metrics_file, "metrics-file-or-empty" },
                { check_features_file, "features-file-or-empty" },
                { check_nfd_features_file, "nfd-features-file" },
                { check_user_group_or_empty, "user-or-group-or-empty" },
                { check_ifname_or_empty, "ifname-or-empty" },
                { check_tap_prefix, "tap-prefix" },
                { check_zram_device, "zram-device" },
                { check_algorithm, "algorithm-or-empty" },
        };
        static const struct {
                int (*parse)(struct policy_load *l, const struct policy_entry *e, char *msg,
                             size_t size);
                const char *name;
        } parsers[] = {
                { parse_include, "include" },
                { parse_require, "requirements" },
                { parse_kvm_require, "bool" },
                { parse_rng_require, "rng" },
                { parse_hugepages_size, "page-size" },
                { parse_reclaim, "reclaim" },
                { parse_kvm_mode, "mode-or-keep" },
                { parse_zram_size, "zram-size" },
                { parse_build_hugepages_max, "size" },
                { parse_ksm, "bool-or-keep" },
                { parse_templates, "names" },
                { parse_require_options, "btrfs-options" },
                { parse_sysctl, "sysctl" },
        };

        switch (d->type) {
        case KT_STRING:
                for (size_t i = 0; i < ELEMENTSOF(checks); i++)
                        if (checks[i].check == d->check)
                                return checks[i].name;
                return "?";
        case KT_BOOL:
                return "bool";
        case KT_UINT:
        case KT_INT:
                return "int";
        case KT_MODE:
                return "mode";
        case KT_DURATION:
                return "duration";
        case KT_CHOICE:
                return "choice";
        case KT_CUSTOM:
                if (d->parse == parse_pool_key)
                        return streq(d->name, "per-node") ? "per-node" : "pool-size";
                for (size_t i = 0; i < ELEMENTSOF(parsers); i++)
                        if (parsers[i].parse == d->parse)
                                return parsers[i].name;
                return "?";
        }
        return "?";
}

const char *const policy_sections[] = { "policy", "readiness", "hugepages", "hugepages-SIZE",
                                        "kvm",    "zram",      "memory",    "sysctl",
                                        "btrfs",  "snapshots", "net",       "rng",
                                        "nix",    "agent" };
const unsigned policy_n_sections = ELEMENTSOF(policy_sections);

bool policy_section_known(const char *section, uint64_t *ret_page_size, char *msg, size_t size) {
        const char *sz = startswith(section, "hugepages-");

        *ret_page_size = 0;
        if (sz) {
                char m[200];
                if (parse_page_size(sz, ret_page_size, m, sizeof(m)) < 0) {
                        bufprintf_trunc(msg, size, "[%s]: %s", section, m);
                        return false;
                }
                return true;
        }
        for (unsigned i = 0; i < policy_n_sections; i++)
                if (streq(section, policy_sections[i]) && !streq(section, "hugepages-SIZE"))
                        return true;
        bufprintf_trunc(
                msg, size,
                "unknown section [%s] (known: policy, readiness, hugepages, hugepages-SIZE, "
                "kvm, zram, memory, sysctl, btrfs, snapshots, net, rng, nix, agent)",
                section);
        return false;
}

const struct policy_key_def *policy_key_def_find(const char *section, const char *key) {
        const char *sec = startswith(section, "hugepages-") ? "hugepages-SIZE" : section;

        for (unsigned i = 0; i < policy_n_key_defs; i++) {
                const struct policy_key_def *d = &policy_key_defs[i];
                if (streq(d->section, sec) && (streq(d->name, key) || streq(d->name, "*")))
                        return d;
        }
        return NULL;
}

const char *policy_key_to_string(enum policy_key k) {
        static char names[_POLICY_KEY_MAX][64];

        if ((unsigned) k >= _POLICY_KEY_MAX)
                return "?";
        if (!names[k][0])
                for (unsigned i = 0; i < policy_n_key_defs; i++)
                        if (policy_key_defs[i].key == (int) k)
                                xsprintf(names[k], "[%s] %s", policy_key_defs[i].section,
                                         policy_key_defs[i].name);
        return names[k];
}

char *policy_setting_to_string(const struct policy *p, enum policy_key k, char *buf, size_t size) {
        char v[512];

        for (unsigned i = 0; i < policy_n_key_defs; i++) {
                const struct policy_key_def *d = &policy_key_defs[i];
                if (d->key != (int) k)
                        continue;
                policy_key_format(p, d, v, sizeof(v));
                bufprintf_trunc(buf, size, "[%s] %s = %s", d->section, d->name, v);
                return buf;
        }
        bufprintf_trunc(buf, size, "?");
        return buf;
}

/* ---- applying and writing the simple types ---------------------------------------------- */

int policy_key_apply(struct policy_load *l, const struct policy_entry *e, char *msg, size_t size) {
        const struct policy_key_def *d = e->def;
        char *field = (char *) l->p + d->offset;
        const char *bad;
        int64_t i;
        uint64_t u;
        bool b;
        mode_t m;
        int r = 0;

        l->origin = entry_origin(l, e);
        switch (d->type) {
        case KT_STRING:
                bad = d->check ? d->check(e->value) : NULL;
                if (bad)
                        return fail(msg, size, "'%s' %s", e->value, bad);
                if (strlen(e->value) >= d->size)
                        return fail(msg, size, "longer than %zu characters", d->size - 1);
                strscpy(field, d->size, e->value);
                break;
        case KT_BOOL:
                if (parse_bool(e->value, &b) < 0)
                        return fail(msg, size, "'%s' is not a boolean (yes or no)", e->value);
                *(bool *) field = b;
                break;
        case KT_UINT:
                if (parse_u64(e->value, &u) < 0 || u > (uint64_t) d->max)
                        return fail(msg, size, "'%s' is not a number from 0 to %" PRId64, e->value,
                                    d->max);
                *(unsigned *) field = (unsigned) u;
                break;
        case KT_INT:
                if (d->keep && streq(e->value, KEEP)) {
                        *(int *) field = -1;
                        break;
                }
                if (parse_i64(e->value, &i) < 0 || i < d->min || i > d->max)
                        return fail(msg, size,
                                    "'%s' is not a number from %" PRId64 " to %" PRId64 "%s",
                                    e->value, d->min, d->max, d->keep ? ", or keep" : "");
                *(int *) field = (int) i;
                break;
        case KT_MODE:
                if (parse_mode(e->value, &m) < 0 || m > (mode_t) d->max)
                        return fail(msg, size, "'%s' is not an octal mode up to 0%" PRIo64,
                                    e->value, (uint64_t) d->max);
                *(mode_t *) field = m;
                break;
        case KT_DURATION:
                if (parse_duration(e->value, &u) < 0 || u > (uint64_t) d->max * USEC_PER_SEC)
                        return fail(msg, size,
                                    "'%s' is not a duration up to %" PRId64 "s (30s, 250ms, 5min)",
                                    e->value, d->max);
                *(uint64_t *) field = u;
                break;
        case KT_CHOICE:
                if (d->keep && streq(e->value, KEEP)) {
                        field[0] = 0;
                        break;
                }
                for (const char *const *c = d->choices; *c; c++)
                        if (streq(e->value, *c)) {
                                strscpy(field, d->size, e->value);
                                goto done;
                        }
                {
                        char list[160] = "";
                        for (const char *const *c = d->choices; *c; c++)
                                bufappendf_trunc(list, sizeof(list), "%s%s", list[0] ? ", " : "",
                                                 *c);
                        return fail(msg, size, "'%s' is not one of %s%s", e->value, list,
                                    d->keep ? ", keep" : "");
                }
        case KT_CUSTOM:
                r = d->parse(l, e, msg, size);
                break;
        }
done:
        if (r >= 0 && d->key >= 0)
                l->p->origins[d->key] = l->origin;
        return r;
}

void policy_key_format(const struct policy *p, const struct policy_key_def *d, char *buf,
                       size_t size) {
        const char *field = (const char *) p + d->offset;

        switch (d->type) {
        case KT_STRING:
                bufprintf_trunc(buf, size, "%s", field);
                break;
        case KT_BOOL:
                bufprintf_trunc(buf, size, "%s", *(const bool *) field ? "yes" : "no");
                break;
        case KT_UINT:
                bufprintf_trunc(buf, size, "%u", *(const unsigned *) field);
                break;
        case KT_INT:
                if (d->keep && *(const int *) field < 0)
                        bufprintf_trunc(buf, size, KEEP);
                else
                        bufprintf_trunc(buf, size, "%d", *(const int *) field);
                break;
        case KT_MODE:
                bufprintf_trunc(buf, size, "0%03o", (unsigned) *(const mode_t *) field);
                break;
        case KT_DURATION: {
                uint64_t us = *(const uint64_t *) field;
                /* Exact units only, so the text reads back as the same number. */
                if (us % USEC_PER_SEC == 0)
                        bufprintf_trunc(buf, size, "%" PRIu64 "s", us / USEC_PER_SEC);
                else if (us % USEC_PER_MSEC == 0)
                        bufprintf_trunc(buf, size, "%" PRIu64 "ms", us / USEC_PER_MSEC);
                else
                        bufprintf_trunc(buf, size, "%" PRIu64 "us", us);
                break;
        }
        case KT_CHOICE:
                bufprintf_trunc(buf, size, "%s", d->keep && !*field ? KEEP : field);
                break;
        case KT_CUSTOM:
                if (!d->format || !d->format(p, buf, size))
                        buf[0] = 0;
                break;
        }
}

/* Bytes as a size that reads back as bytes: "1536M", or "1000B" (a plain number would be a
 * count of pages in a hugepage key). */
static char *bytes_format(uint64_t bytes, char *buf, size_t size) {
        format_size(bytes, buf, size);
        if (bytes != 0 && bytes % 1024 != 0)
                bufprintf_trunc(buf, size, "%" PRIu64 "B", bytes);
        return buf;
}

char *policy_size_format(const struct policy_size *s, char *buf, size_t size) {
        if (!s->set)
                bufprintf_trunc(buf, size, "none");
        else if (s->percent) {
                if (s->percent_millis % 1000 == 0)
                        bufprintf_trunc(buf, size, "%u%%", s->percent_millis / 1000);
                else
                        bufprintf_trunc(buf, size, "%u.%03u%%", s->percent_millis / 1000,
                                        s->percent_millis % 1000);
        } else
                bytes_format(s->bytes, buf, size);
        return buf;
}

char *policy_per_node_format(const struct policy_hugepool *h, char *buf, size_t size) {
        if (h->per_node != PER_NODE_EXPLICIT) {
                bufprintf_trunc(buf, size, "%s",
                                h->per_node == PER_NODE_KERNEL ? "kernel" : "even");
                return buf;
        }
        buf[0] = 0;
        for (unsigned i = 0; i < NUMA_NODES_MAX; i++)
                if (h->node_pool[i].set) {
                        char sz[FORMAT_SIZE_MAX];
                        bufappendf_trunc(buf, size, "%s%u:%s", buf[0] ? " " : "", i,
                                         bytes_format(h->node_pool[i].bytes, sz, sizeof(sz)));
                }
        return buf;
}

/* ---- cross-key checks -------------------------------------------------------------------- */

static bool has_requirement(const struct policy *p, enum requirement_kind k) {
        for (unsigned i = 0; i < p->require.n; i++)
                if (p->require.items[i].kind == k)
                        return true;
        return false;
}

/* Place the staged [hugepages] pool keys now that `size` is final. */
static int finalize_main_pool(struct policy_load *l) {
        struct policy *p = l->p;
        struct policy_hugepool h = { .page_size = p->hugepages_size, .main = true };
        bool any = false;
        char msg[256];

        for (unsigned i = 0; i < _MAIN_POOL_MAX; i++) {
                struct policy_origin o = l->main_pool[i].origin;
                int r;

                if (!l->main_pool[i].value)
                        continue;
                if (!any)
                        h.origin = o;
                any = true;
                if (i == MAIN_POOL_PER_NODE)
                        r = parse_per_node(l->main_pool[i].value, h.page_size, o, &h, msg,
                                           sizeof(msg));
                else {
                        struct policy_size *s = i == MAIN_POOL_POOL ? &h.pool : &h.max;
                        r = parse_pool_size(l->main_pool[i].value, h.page_size, s, msg,
                                            sizeof(msg));
                        s->origin = o;
                }
                if (r < 0) {
                        policy_load_error(l, o,
                                          i == MAIN_POOL_POOL  ? "pool"
                                          : i == MAIN_POOL_MAX ? "max"
                                                               : "per-node",
                                          "%s", msg);
                        return r;
                }
        }
        /* "pool = none, per-node = kernel" (what `policy show` writes for no pool) is no pool. */
        if (!any || (!h.pool.set && !h.max.set && h.per_node == PER_NODE_KERNEL))
                return 0;
        for (unsigned i = 0; i < p->n_pools; i++)
                if (p->pools[i].page_size == h.page_size) {
                        char sz[32], where[POLICY_PATH_MAX + 16];
                        policy_load_error(
                                l, p->pools[i].origin, "",
                                "[hugepages-%s] names the page size of [hugepages] size = %s "
                                "(%s); set that pool in one of the two sections",
                                format_size(h.page_size, sz, sizeof(sz)), sz,
                                policy_origin_format(p, p->origins[POLICY_KEY_HUGEPAGES_SIZE],
                                                     where, sizeof(where)));
                        return -EINVAL;
                }
        if (p->n_pools >= HUGETLB_SIZES_MAX) {
                policy_load_error(l, h.origin, "", "more than %d hugepage sizes",
                                  HUGETLB_SIZES_MAX);
                return -EINVAL;
        }
        p->pools[p->n_pools++] = h;
        return 0;
}

static int check_pool(struct policy_load *l, struct policy_hugepool *h) {
        char a[32], b[32];
        uint64_t sum = 0;
        bool sum_set = false;

        if (h->per_node == PER_NODE_EXPLICIT) {
                for (unsigned i = 0; i < NUMA_NODES_MAX; i++)
                        if (h->node_pool[i].set) {
                                sum += h->node_pool[i].bytes;
                                sum_set = true;
                        }
                if (!h->pool.set && sum_set) {
                        h->pool = (struct policy_size){ .set = true,
                                                        .bytes = sum,
                                                        .origin = h->per_node_origin };
                } else if (h->pool.percent || h->pool.bytes != sum) {
                        policy_load_error(l, h->per_node_origin, "per-node",
                                          "the nodes add up to %s but pool is %s",
                                          format_size(sum, a, sizeof(a)),
                                          policy_size_format(&h->pool, b, sizeof(b)));
                        return -EINVAL;
                }
        }
        if (h->max.set && !h->pool.set) {
                policy_load_error(l, h->max.origin, "max", "max needs a pool");
                return -EINVAL;
        }
        /* Percentages and sizes compare only on a host; the planner uses the larger then. */
        if (h->max.set && h->pool.set && h->max.percent == h->pool.percent &&
            (h->max.percent ? h->max.percent_millis < h->pool.percent_millis
                            : h->max.bytes < h->pool.bytes)) {
                policy_load_error(l, h->max.origin, "max", "max (%s) is below pool (%s)",
                                  policy_size_format(&h->max, a, sizeof(a)),
                                  policy_size_format(&h->pool, b, sizeof(b)));
                return -EINVAL;
        }
        return 0;
}

static int pool_cmp(const void *a, const void *b) {
        const struct policy_hugepool *x = a, *y = b;
        return x->page_size < y->page_size ? -1 : x->page_size > y->page_size;
}

int policy_finalize(struct policy_load *l) {
        struct policy *p = l->p;
        int r;

        r = finalize_main_pool(l);
        if (r < 0)
                return r;
        qsort(p->pools, p->n_pools, sizeof(p->pools[0]), pool_cmp);
        for (unsigned i = 0; i < p->n_pools; i++) {
                r = check_pool(l, &p->pools[i]);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < p->n_sysctl; i++)
                if (streq(p->sysctl[i].key, "vm.swappiness") && p->swappiness >= 0) {
                        policy_load_error(l, p->sysctl[i].origin, p->sysctl[i].key,
                                          "[memory] swappiness sets it too; keep one of the two");
                        return -EINVAL;
                }
        if (p->zram_size.set && has_requirement(p, REQ_NO_SWAP)) {
                policy_load_error(l, p->zram_size.origin, "size",
                                  "zram swap contradicts the no-swap requirement in [readiness] "
                                  "(Firecracker's advice); choose one");
                return -EINVAL;
        }
        if (p->ksm == 1 && has_requirement(p, REQ_KSM_OFF)) {
                policy_load_error(l, p->origins[POLICY_KEY_MEMORY_KSM], "ksm",
                                  "ksm = yes contradicts the ksm-off requirement in [readiness]");
                return -EINVAL;
        }
        /* The feature file's expiry-time is renewed at each re-probe; without re-probes the
         * labels would outlive what was verified, or expire on a healthy host. */
        if (p->nfd_features_file[0] && p->reprobe_interval_usec == 0) {
                policy_load_error(l, p->origins[POLICY_KEY_AGENT_NFD_FEATURES_FILE],
                                  "nfd-features-file",
                                  "needs reprobe-interval above 0: each re-probe renews the "
                                  "file's expiry-time");
                return -EINVAL;
        }
        /* Tap names fit IFNAMSIZ by construction: a prefix of at most 11 characters and at most
         * TAPS_MAX (256) taps, numbered from 0 to 255. */
        p->snapshots_managed = p->slots > 0 || p->n_templates > 0;
        return 0;
}
