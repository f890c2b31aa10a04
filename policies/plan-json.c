/* SPDX-License-Identifier: MIT */
/* Plan steps as JSON objects with stable keys (docs/json-schema.md). */
#include "policies/plan-json.h"

#include <stdio.h>

#include "lib/util.h"

static const char *reclaim_name(enum policy_reclaim r) {
        return r == RECLAIM_NONE ? "none" : r == RECLAIM_COMPACT ? "compact" : "drop-caches";
}

static json_object *mode_json(mode_t m) {
        char v[16];
        xsprintf(v, "0%03o", (unsigned) m);
        return json_object_new_string(v);
}

static json_object *details_json(const struct plan_step *s) {
        json_object *d = json_object_new_object();

        switch (s->kind) {
        case PLAN_HUGEPAGES:
                json_object_object_add(d, "page_size",
                                       json_object_new_uint64(s->u.hugepages.page_size));
                json_object_object_add(d, "pages", json_object_new_uint64(s->u.hugepages.pages));
                json_object_object_add(d, "node", json_object_new_int(s->u.hugepages.node));
                json_object_object_add(
                        d, "reclaim", json_object_new_string(reclaim_name(s->u.hugepages.reclaim)));
                json_object_object_add(d, "timeout_usec",
                                       json_object_new_uint64(s->u.hugepages.timeout_usec));
                break;
        case PLAN_HUGETLBFS_MOUNT:
                json_object_object_add(d, "page_size",
                                       json_object_new_uint64(s->u.mount.page_size));
                json_object_object_add(d, "mode", mode_json(s->u.mount.mode));
                json_object_object_add(d, "gid", json_object_new_uint64(s->u.mount.gid));
                break;
        case PLAN_ZRAM:
                json_object_object_add(d, "device", json_object_new_string(s->u.zram.device));
                json_object_object_add(d, "disksize", json_object_new_uint64(s->u.zram.disksize));
                json_object_object_add(d, "algorithm", json_object_new_string(s->u.zram.algorithm));
                json_object_object_add(d, "priority", json_object_new_int(s->u.zram.priority));
                break;
        case PLAN_TAP:
                json_object_object_add(d, "name", json_object_new_string(s->u.tap.name));
                json_object_object_add(d, "owner",
                                       s->u.tap.owner == (uid_t) -1
                                               ? NULL
                                               : json_object_new_uint64(s->u.tap.owner));
                json_object_object_add(d, "vnet_hdr", json_object_new_boolean(s->u.tap.vnet_hdr));
                json_object_object_add(d, "multi_queue",
                                       json_object_new_boolean(s->u.tap.multi_queue));
                break;
        case PLAN_BRIDGE:
        case PLAN_TAP_MASTER:
                json_object_object_add(d, "name", json_object_new_string(s->u.link.name));
                if (s->kind == PLAN_TAP_MASTER)
                        json_object_object_add(d, "master",
                                               json_object_new_string(s->u.link.master));
                break;
        case PLAN_SNAPSHOT_PREPARED:
                json_object_object_add(d, "template",
                                       json_object_new_string(s->u.snapshot.template_name));
                break;
        case PLAN_DEVICE_MODE:
                json_object_object_add(d, "mode", mode_json(s->u.device.mode));
                break;
        default:
                break;
        }
        return d;
}

json_object *plan_to_json(const struct plan *plan) {
        json_object *a = json_object_new_array();

        if (!a)
                return NULL;
        for (unsigned i = 0; i < plan->n; i++) {
                const struct plan_step *s = &plan->steps[i];
                json_object *o = json_object_new_object();

                json_object_object_add(o, "kind",
                                       json_object_new_string(plan_kind_to_string(s->kind)));
                json_object_object_add(o, "manual", json_object_new_boolean(s->manual));
                json_object_object_add(o, "knob", json_object_new_string(s->knob));
                json_object_object_add(o, "path", json_object_new_string(s->path));
                json_object_object_add(o, "current", json_object_new_string(s->current));
                json_object_object_add(o, "wanted", json_object_new_string(s->wanted));
                json_object_object_add(o, "origin", json_object_new_string(s->origin));
                json_object_object_add(o, "why", json_object_new_string(s->why));
                json_object_object_add(o, "note", json_object_new_string(s->note));
                json_object_object_add(o, "details", details_json(s));
                json_object_array_add(a, o);
        }
        return a;
}
