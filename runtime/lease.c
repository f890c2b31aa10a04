/* SPDX-License-Identifier: MIT */
/* Lease rules without a kernel: names, hugepage admission, the lease file, the plan filter. */
#include "runtime/lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>

#include "lib/parse.h"
#include "lib/util.h"

static const char *const lease_state_table[_LEASE_STATE_MAX] = {
        [LEASE_PROVISIONING] = "provisioning",
        [LEASE_ACTIVE] = "active",
        [LEASE_RELEASING] = "releasing",
};

static const char *const lease_snapshot_source_table[_LEASE_SNAPSHOT_SOURCE_MAX] = {
        [LEASE_SNAPSHOT_NONE] = "none",
        [LEASE_SNAPSHOT_PREPARED] = "prepared",
        [LEASE_SNAPSHOT_SLOT] = "slot",
        [LEASE_SNAPSHOT_SNAPSHOT] = "snapshot",
        [LEASE_SNAPSHOT_COPY] = "copy",
        [LEASE_SNAPSHOT_NEW_SUBVOLUME] = "new-subvolume",
        [LEASE_SNAPSHOT_NEW_DIRECTORY] = "new-directory",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(lease_state, enum lease_state, "?")
DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(lease_state, enum lease_state)
DEFINE_STRING_TABLE_LOOKUP_TO_STRING(lease_snapshot_source, enum lease_snapshot_source, "?")
DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(lease_snapshot_source, enum lease_snapshot_source)

bool lease_template_name_valid(const char *name) {
        size_t l = strnlen(name, LEASE_TEMPLATE_NAME_MAX + 1);

        if (l == 0 || l > LEASE_TEMPLATE_NAME_MAX || name[0] == '.' || strstr(name, ".."))
                return false;
        for (size_t i = 0; i < l; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

bool lease_label_valid(const char *label) {
        size_t l = strnlen(label, LEASE_LABEL_MAX + 1);

        if (l > LEASE_LABEL_MAX)
                return false;
        for (size_t i = 0; i < l; i++)
                if ((unsigned char) label[i] < ' ' || label[i] == 0x7f)
                        return false;
        return true;
}

bool lease_id_valid(const char *id) {
        if (strnlen(id, LEASE_ID_LEN + 1) != LEASE_ID_LEN)
                return false;
        for (size_t i = 0; i < LEASE_ID_LEN; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
                        return false;
        return true;
}

int lease_id_new(char *buf, size_t size) {
        uint8_t raw[LEASE_ID_LEN / 2];
        ssize_t n;

        if (size < LEASE_ID_LEN + 1)
                return -ENOBUFS;
        n = getrandom(raw, sizeof(raw), 0);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != sizeof(raw))
                return -EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
                bufprintf_trunc(buf + 2 * i, 3, "%02x", raw[i]); /* two digits: never cut */
        return 0;
}

/* ---- the lease file ---- */

json_object *lease_record_to_json(const struct lease_record *r) {
        json_object *o = json_object_new_object(), *taps;

        if (!o)
                return NULL;
        json_object_object_add(o, "id", json_object_new_string(r->id));
        json_object_object_add(o, "label", json_object_new_string(r->label));
        json_object_object_add(o, "state", json_object_new_string(lease_state_to_string(r->state)));
        json_object_object_add(o, "uid", json_object_new_int64(r->uid));
        json_object_object_add(o, "gid", json_object_new_int64(r->gid));
        json_object_object_add(o, "pid", json_object_new_int64(r->pid));
        json_object_object_add(o, "client", json_object_new_string(r->client));
        json_object_object_add(o, "persist", json_object_new_boolean(r->persist));
        json_object_object_add(o, "enforced", json_object_new_boolean(r->enforced));
        json_object_object_add(o, "created_realtime_usec",
                               json_object_new_uint64(r->created_realtime_usec));
        json_object_object_add(o, "hugepage_size", json_object_new_uint64(r->hugepage_size));
        json_object_object_add(o, "hugepage_bytes", json_object_new_uint64(r->hugepage_bytes));
        json_object_object_add(o, "snapshot", json_object_new_boolean(r->snapshot));
        json_object_object_add(o, "template", json_object_new_string(r->template_name));
        json_object_object_add(o, "snapshot_path", json_object_new_string(r->snapshot_path));
        json_object_object_add(o, "snapshot_subvolume",
                               json_object_new_boolean(r->snapshot_subvolume));
        json_object_object_add(
                o, "snapshot_source",
                json_object_new_string(lease_snapshot_source_to_string(r->snapshot_source)));
        taps = json_object_new_array();
        for (unsigned i = 0; i < r->n_taps && i < LEASE_TAPS_MAX; i++) {
                json_object *t = json_object_new_object();
                json_object_object_add(t, "name", json_object_new_string(r->taps[i].name));
                json_object_object_add(t, "original_owner",
                                       json_object_new_int64(r->taps[i].original_owner));
                json_object_array_add(taps, t);
        }
        json_object_object_add(o, "taps", taps);
        return o;
}

static int get_string(json_object *o, const char *key, char *buf, size_t size) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return -EBADMSG;
        return strscpy(buf, size, json_object_get_string(v)) < 0 ? -EBADMSG : 0;
}

static int get_u64(json_object *o, const char *key, uint64_t max, uint64_t *ret) {
        json_object *v;
        int64_t i;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return -EBADMSG;
        /* json-c keeps values above INT64_MAX as unsigned; negative ones read as < 0. */
        i = json_object_get_int64(v);
        if (i < 0)
                return -EBADMSG;
        if (json_object_get_uint64(v) > max)
                return -EBADMSG;
        *ret = json_object_get_uint64(v);
        return 0;
}

static int get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_boolean))
                return -EBADMSG;
        *ret = json_object_get_boolean(v);
        return 0;
}

static int taps_from_json(json_object *o, struct lease_record *r) {
        json_object *taps;
        size_t n;

        if (!json_object_object_get_ex(o, "taps", &taps) ||
            !json_object_is_type(taps, json_type_array))
                return -EBADMSG;
        n = json_object_array_length(taps);
        if (n > LEASE_TAPS_MAX)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                json_object *t = json_object_array_get_idx(taps, i), *v;
                struct lease_tap *lt = &r->taps[i];

                if (!t || !json_object_is_type(t, json_type_object) ||
                    get_string(t, "name", lt->name, sizeof(lt->name)) < 0 || !lt->name[0] ||
                    strchr(lt->name, '/') || strchr(lt->name, ' ') ||
                    !json_object_object_get_ex(t, "original_owner", &v) ||
                    !json_object_is_type(v, json_type_int))
                        return -EBADMSG;
                lt->original_owner = json_object_get_int64(v);
                if (lt->original_owner < -1 || lt->original_owner >= UINT32_MAX)
                        return -EBADMSG;
        }
        r->n_taps = (unsigned) n;
        return 0;
}

int lease_record_from_json(json_object *o, struct lease_record *ret) {
        struct lease_record r = { 0 };
        char state[32], source[32];
        uint64_t uid, gid, pid;

        if (!o || !json_object_is_type(o, json_type_object))
                return -EBADMSG;
        if (get_string(o, "id", r.id, sizeof(r.id)) < 0 || !lease_id_valid(r.id) ||
            get_string(o, "label", r.label, sizeof(r.label)) < 0 || !lease_label_valid(r.label) ||
            get_string(o, "state", state, sizeof(state)) < 0 ||
            get_u64(o, "uid", UINT32_MAX - 1, &uid) < 0 ||
            get_u64(o, "gid", UINT32_MAX - 1, &gid) < 0 ||
            get_u64(o, "pid", UINT32_MAX, &pid) < 0 ||
            get_string(o, "client", r.client, sizeof(r.client)) < 0 ||
            get_bool(o, "persist", &r.persist) < 0 ||
            (json_object_object_get_ex(o, "enforced", NULL) &&
             get_bool(o, "enforced", &r.enforced) < 0) ||
            get_u64(o, "created_realtime_usec", UINT64_MAX, &r.created_realtime_usec) < 0 ||
            get_u64(o, "hugepage_size", UINT64_MAX, &r.hugepage_size) < 0 ||
            get_u64(o, "hugepage_bytes", UINT64_MAX, &r.hugepage_bytes) < 0 ||
            get_bool(o, "snapshot", &r.snapshot) < 0 ||
            get_string(o, "template", r.template_name, sizeof(r.template_name)) < 0 ||
            get_string(o, "snapshot_path", r.snapshot_path, sizeof(r.snapshot_path)) < 0 ||
            get_bool(o, "snapshot_subvolume", &r.snapshot_subvolume) < 0 ||
            get_string(o, "snapshot_source", source, sizeof(source)) < 0 ||
            taps_from_json(o, &r) < 0)
                return -EBADMSG;
        if (lease_state_from_string(state, &r.state) < 0 ||
            lease_snapshot_source_from_string(source, &r.snapshot_source) < 0)
                return -EBADMSG;
        /* Pages are whole; a template name must be one a request could give; a snapshot path,
         * when there is one, is absolute and ends in the lease's own id. */
        if ((r.hugepage_size == 0) != (r.hugepage_bytes == 0) ||
            (r.hugepage_size && (r.hugepage_size & (r.hugepage_size - 1))) ||
            (r.hugepage_size && r.hugepage_bytes % r.hugepage_size) ||
            (r.template_name[0] && !lease_template_name_valid(r.template_name)) ||
            (!r.snapshot && (r.template_name[0] || r.snapshot_path[0])))
                return -EBADMSG;
        if (r.snapshot_path[0]) {
                const char *slash = strrchr(r.snapshot_path, '/');
                if (r.snapshot_path[0] != '/' || !slash || !streq(slash + 1, r.id))
                        return -EBADMSG;
        }
        r.uid = (uid_t) uid;
        r.gid = (gid_t) gid;
        r.pid = (uint32_t) pid;
        *ret = r;
        return 0;
}

char *lease_file_format(const struct lease_record *const *records, unsigned n) {
        json_object *doc = json_object_new_object(), *arr = json_object_new_array();
        const char *text;
        char *ret = NULL;

        if (!doc || !arr) {
                json_object_put(doc);
                json_object_put(arr);
                return NULL;
        }
        json_object_object_add(doc, "schema", json_object_new_string(LEASES_SCHEMA));
        for (unsigned i = 0; i < n; i++)
                json_object_array_add(arr, lease_record_to_json(records[i]));
        json_object_object_add(doc, "leases", arr);
        text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_SPACED |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE);
        if (text && asprintf(&ret, "%s\n", text) < 0)
                ret = NULL;
        json_object_put(doc);
        return ret;
}

int lease_file_parse(const char *text, struct lease_record **ret, unsigned *ret_n) {
        json_object *doc = json_tokener_parse(text), *schema, *arr;
        struct lease_record *recs = NULL;
        size_t n = 0;
        int r = -EBADMSG;

        if (!doc || !json_object_is_type(doc, json_type_object) ||
            !json_object_object_get_ex(doc, "schema", &schema) ||
            !json_object_is_type(schema, json_type_string) ||
            !streq(json_object_get_string(schema), LEASES_SCHEMA) ||
            !json_object_object_get_ex(doc, "leases", &arr) ||
            !json_object_is_type(arr, json_type_array))
                goto out;
        n = json_object_array_length(arr);
        if (n > 0) {
                recs = calloc(n, sizeof(*recs));
                if (!recs) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        for (size_t i = 0; i < n; i++) {
                if (lease_record_from_json(json_object_array_get_idx(arr, i), &recs[i]) < 0)
                        goto out;
                for (size_t j = 0; j < i; j++)
                        if (streq(recs[j].id, recs[i].id))
                                goto out;
        }
        *ret = TAKE_PTR(recs);
        *ret_n = (unsigned) n;
        r = 0;
out:
        free(recs);
        json_object_put(doc);
        return r;
}

/* ---- hugepage admission ---- */

uint64_t lease_hugepages_available(const struct lease_pool *p) {
        uint64_t unreserved = p->free > p->resv ? p->free - p->resv : 0;
        uint64_t unpromised = p->nr > p->leased ? p->nr - p->leased : 0;

        return unreserved < unpromised ? unreserved : unpromised;
}

enum lease_fit lease_hugepages_fit(const struct lease_pool *p, uint64_t pages,
                                   uint64_t *ret_target) {
        uint64_t ceiling = p->max > p->nr ? p->max : p->nr;
        uint64_t unreserved = p->free > p->resv ? p->free - p->resv : 0;
        uint64_t grow = 0, target;

        if (pages <= lease_hugepages_available(p))
                return LEASE_FIT_NOW;
        if (pages > ceiling)
                return LEASE_FIT_NEVER;
        if (p->leased > ceiling - pages)
                return LEASE_FIT_WAIT; /* the promised pages alone leave no room */
        /* Grow by what is missing on either bound: room beyond the promised pages, and free
         * pages (every page added to the pool arrives free). */
        if (p->leased + pages > p->nr)
                grow = p->leased + pages - p->nr;
        if (pages > unreserved && pages - unreserved > grow)
                grow = pages - unreserved;
        target = p->nr + grow;
        if (target > ceiling)
                return LEASE_FIT_WAIT; /* someone else holds pages; they may give them back */
        *ret_target = target;
        return LEASE_FIT_GROW;
}

uint64_t lease_hugepages_shrink_target(const struct lease_pool *p, uint64_t floor) {
        uint64_t busy = (p->nr > p->free ? p->nr - p->free : 0) + p->resv;
        uint64_t need = p->leased + busy;

        if (need < floor)
                need = floor;
        return need < p->nr ? need : p->nr;
}

/* ---- plans and usage ---- */

static uint64_t usage_bytes(const struct lease_usage *u, uint64_t page_size) {
        for (unsigned i = 0; i < u->n_sizes && i < HUGETLB_SIZES_MAX; i++)
                if (u->hugepages[i].page_size == page_size)
                        return u->hugepages[i].bytes;
        return 0;
}

static bool usage_has_tap(const struct lease_usage *u, const char *name) {
        for (unsigned i = 0; i < u->taps && i < TAPS_MAX; i++)
                if (streq(u->tap_names[i], name))
                        return true;
        return false;
}

/* Should step s stay in the plan? A pool shrink is clamped in place. */
static bool step_keep(struct plan_step *s, const struct lease_usage *u) {
        uint64_t leased, cur;

        switch (s->kind) {
        case PLAN_TAP:
                /* current "" means the tap is missing: creating it takes nothing from a lease. */
                return s->manual || !s->current[0] || !usage_has_tap(u, s->u.tap.name);
        case PLAN_HUGEPAGES:
                if (s->manual || s->u.hugepages.node >= 0 || s->u.hugepages.page_size == 0)
                        return true;
                leased = usage_bytes(u, s->u.hugepages.page_size) / s->u.hugepages.page_size;
                cur = s->u.hugepages.current;
                if (s->u.hugepages.pages >= cur || s->u.hugepages.pages >= leased)
                        return true;
                if (leased >= cur)
                        return false;
                s->u.hugepages.pages = leased;
                xsprintf(s->wanted, "%" PRIu64 " pages (leased)", leased);
                bufprintf_trunc(s->note, sizeof(s->note),
                                "not below the %" PRIu64 " pages leases hold", leased);
                return true;
        default:
                return true;
        }
}

void lease_plan_filter(struct plan *plan, const struct lease_usage *u) {
        unsigned n = 0;

        if (!u)
                return;
        for (unsigned i = 0; i < plan->n; i++)
                if (step_keep(&plan->steps[i], u))
                        plan->steps[n++] = plan->steps[i];
        plan->n = n;
}

void lease_usage_compute(const struct lease_record *const *records, unsigned n,
                         struct lease_usage *ret) {
        struct lease_usage u = { 0 };

        for (unsigned i = 0; i < n; i++) {
                const struct lease_record *r = records[i];
                unsigned k;

                /* A lease being given back holds no pages any more: its holder is gone or
                 * let go, and pages still mapped show as not free in the pool itself. */
                if (r->hugepage_bytes > 0 && r->state != LEASE_RELEASING) {
                        for (k = 0; k < u.n_sizes; k++)
                                if (u.hugepages[k].page_size == r->hugepage_size)
                                        break;
                        if (k == u.n_sizes && k < HUGETLB_SIZES_MAX) {
                                u.hugepages[k].page_size = r->hugepage_size;
                                u.n_sizes++;
                        }
                        if (k < u.n_sizes)
                                u.hugepages[k].bytes += r->hugepage_bytes;
                }
                u.snapshots += r->snapshot;
                for (k = 0; k < r->n_taps && u.taps < TAPS_MAX; k++)
                        strscpy(u.tap_names[u.taps++], LEASE_TAP_NAME_MAX, r->taps[k].name);
        }
        *ret = u;
}

bool lease_usage_equal(const struct lease_usage *a, const struct lease_usage *b) {
        if (a->n_sizes != b->n_sizes || a->taps != b->taps || a->snapshots != b->snapshots)
                return false;
        for (unsigned i = 0; i < a->n_sizes && i < HUGETLB_SIZES_MAX; i++)
                if (a->hugepages[i].page_size != b->hugepages[i].page_size ||
                    a->hugepages[i].bytes != b->hugepages[i].bytes)
                        return false;
        for (unsigned i = 0; i < a->taps && i < TAPS_MAX; i++)
                if (!streq(a->tap_names[i], b->tap_names[i]))
                        return false;
        return true;
}
