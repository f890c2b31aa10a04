/* SPDX-License-Identifier: MIT */
/* Lease records: their JSON form, checked key by key, and their usage. */
#include "runtime/lease-record.h"

#include "lib/util.h"

static const char *const lease_state_table[_LEASE_STATE_MAX] = {
        [LEASE_PROVISIONING] = "provisioning",
        [LEASE_ACTIVE] = "active",
        [LEASE_RELEASING] = "releasing",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(lease_state, enum lease_state, "?")
DEFINE_PRIVATE_STRING_TABLE_LOOKUP_FROM_STRING(lease_state, enum lease_state)

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
