/* SPDX-License-Identifier: MIT */
/* Knob reading: exactly the values a policy names that no probe reads, so `check` with a policy
 * costs only the reads that policy implies and the planner stays pure. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/users.h"
#include "lib/util.h"
#include "probes/probes.h"

const struct knob_sysctl *knob_find_sysctl(const struct knob_facts *k, const char *key) {
        for (unsigned i = 0; i < k->n_sysctl; i++)
                if (streq(k->sysctl[i].key, key))
                        return &k->sysctl[i];
        return NULL;
}

static const struct knob_id *find_id(const struct knob_id *ids, unsigned n, const char *name) {
        for (unsigned i = 0; i < n; i++)
                if (streq(ids[i].name, name))
                        return &ids[i];
        return NULL;
}

const struct knob_id *knob_find_user(const struct knob_facts *k, const char *name) {
        return find_id(k->users, k->n_users, name);
}

const struct knob_id *knob_find_group(const struct knob_facts *k, const char *name) {
        return find_id(k->groups, k->n_groups, name);
}

const struct knob_template *knob_find_template(const struct knob_facts *k, const char *name) {
        for (unsigned i = 0; i < k->n_templates; i++)
                if (streq(k->templates[i].name, name))
                        return &k->templates[i];
        return NULL;
}

/* /proc/sys/<key with dots as slashes>. The loader admits only [A-Za-z0-9_-] parts. */
static void read_sysctl(struct probe_ctx *ctx, const char *key, struct knob_sysctl *ret) {
        char path[160];
        size_t n;
        int r;

        strscpy(ret->key, sizeof(ret->key), key);
        r = bufprintf(path, sizeof(path), "proc/sys/%s", key);
        if (r < 0) {
                ret->error = r;
                return;
        }
        for (n = strlen("proc/sys/"); path[n]; n++)
                if (path[n] == '.')
                        path[n] = '/';
        r = read_line_at(ctx->root_fd, path, ret->value, sizeof(ret->value));
        if (r < 0) {
                ret->value[0] = 0;
                ret->error = r;
        }
}

static void read_ids(struct probe_ctx *ctx, const char *const *names, unsigned n,
                     int (*lookup)(int, const char *, uint32_t *), struct knob_id *ids,
                     unsigned *ret_n) {
        for (unsigned i = 0; i < n && i < KNOB_NAMES_MAX; i++) {
                memset(&ids[i], 0, sizeof(ids[i]));
                strscpy(ids[i].name, sizeof(ids[i].name), names[i]);
                ids[i].error = lookup(ctx->root_fd, names[i], &ids[i].id);
                if (ids[i].error > 0)
                        ids[i].error = 0;
        }
        *ret_n = n < KNOB_NAMES_MAX ? n : KNOB_NAMES_MAX;
}

static int count_cb(const char *name, void *userdata) {
        if (name[0] != '.')
                (*(unsigned *) userdata)++;
        return 0;
}

static void read_template(struct probe_ctx *ctx, const char *root, const char *name,
                          struct knob_template *t) {
        char path[512];
        struct stat st;

        strscpy(t->name, sizeof(t->name), name);
        /* A path too long to build names no directory: absent, like one that is not there. */
        t->exists = bufprintf(path, sizeof(path), "%s/templates/%s", root, name) >= 0 &&
                    stat_in_root(ctx->root_fd, path, &st) == 0 && S_ISDIR(st.st_mode);
        t->prepared = 0;
        if (bufprintf(path, sizeof(path), "%s/prepared/%s", root, name) >= 0)
                (void) read_dir_names_at(ctx->root_fd, path, count_cb, &t->prepared);
}

struct nodes {
        unsigned ids[NUMA_NODES_MAX];
        unsigned n;
};

static int node_cb(unsigned id, void *userdata) {
        struct nodes *l = userdata;
        if (l->n < NUMA_NODES_MAX)
                l->ids[l->n++] = id;
        return 0;
}

/* Per-node counters of one pool, when the hugetlb probe ran without detail. */
static void read_node_pools(struct probe_ctx *ctx, const struct nodes *nodes,
                            struct hugetlb_pool *p) {
        p->n_nodes = 0;
        for (unsigned j = 0; j < nodes->n; j++) {
                struct hugetlb_node_pool *np = &p->nodes[p->n_nodes];
                char path[192];

                memset(np, 0, sizeof(*np));
                np->node = nodes->ids[j];
                xsprintf(path,
                         "sys/devices/system/node/node%u/hugepages/hugepages-%" PRIu64
                         "kB/nr_hugepages",
                         nodes->ids[j], p->page_size >> 10);
                if (read_u64_at(ctx->root_fd, path, &np->nr) < 0)
                        continue;
                p->n_nodes++;
        }
}

int probe_knobs(struct probe_ctx *ctx, const struct knob_request *req, struct host_report *r) {
        struct knob_facts *k = &r->knobs;
        char buf[512];

        /* Counts only: clearing the whole struct would touch pages `check` never uses (the
         * report lives in zeroed static storage, see probe_run). */
        k->read = false;
        k->n_sysctl = k->n_users = k->n_groups = k->n_templates = 0;
        for (unsigned i = 0; i < req->n_sysctl && i < KNOB_SYSCTL_MAX; i++) {
                memset(&k->sysctl[k->n_sysctl], 0, sizeof(k->sysctl[0]));
                read_sysctl(ctx, req->sysctl[i], &k->sysctl[k->n_sysctl++]);
        }
        read_ids(ctx, req->users, req->n_users, user_lookup_at, k->users, &k->n_users);
        read_ids(ctx, req->groups, req->n_groups, group_lookup_at, k->groups, &k->n_groups);
        for (unsigned i = 0; req->snapshot_root && i < req->n_templates && i < KNOB_TEMPLATES_MAX;
             i++)
                read_template(ctx, req->snapshot_root, req->templates[i],
                              &k->templates[k->n_templates++]);

        if (req->thp_defrag && !r->memory.thp_defrag[0] &&
            read_virtual_file_at(ctx->root_fd, "sys/kernel/mm/transparent_hugepage/defrag", buf,
                                 sizeof(buf)) >= 0)
                (void) word_list_selected(buf, r->memory.thp_defrag, sizeof(r->memory.thp_defrag));

        /* Tap details: a tap's tun_flags always has IFF_TAP, so 0 means "not read yet". */
        for (unsigned i = 0; req->tap_details && i < r->net.n_taps; i++)
                if (r->net.taps[i].flags == 0)
                        probe_net_read_tap(ctx, r->net.taps[i].name, &r->net.taps[i]);

        if (req->n_node_sizes > 0) {
                struct nodes nodes = { .n = 0 };

                /* A kernel without NUMA has no node directory: no per-node pools to plan. */
                if (read_line_at(ctx->root_fd, "sys/devices/system/node/has_memory", buf,
                                 sizeof(buf)) == 0 &&
                    parse_id_list(buf, node_cb, &nodes) < 0)
                        nodes.n = 0;
                if (r->hugetlb.n_numa_nodes == 0)
                        r->hugetlb.n_numa_nodes = nodes.n;
                for (unsigned i = 0; i < req->n_node_sizes; i++)
                        for (unsigned j = 0; j < r->hugetlb.n_sizes; j++) {
                                struct hugetlb_pool *p = &r->hugetlb.sizes[j];
                                if (p->page_size == req->node_sizes[i] && p->n_nodes == 0)
                                        read_node_pools(ctx, &nodes, p);
                        }
        }
        k->read = true;
        return 0;
}
