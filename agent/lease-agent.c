/* SPDX-License-Identifier: MIT */
/* The leases as the rest of the agent sees them: start (the lease file of an earlier run)
 * and stop, the policy changing, what the lease cgroups hold, and the plan filter. */
#include "agent/lease-restore.h"
#include "agent/lease-sock.h"
#include "agent/lease.h"

#include <fcntl.h>

#include "policies/apply/hugepages.h"

static bool cgroup_kept(const char *id, void *userdata) {
        const struct lease *l = lease_manager_find(userdata, id);

        return l && l->rec.enforced && l->rec.state != LEASE_RELEASING;
}

/* After a restart: kept leases find their cgroups again; those of leases that ended go. */
static void cgroups_restored(struct lease_manager *m) {
        for (unsigned i = 0; i < m->n_leases; i++) {
                struct lease *l = m->leases[i];
                if (l->rec.enforced &&
                    lease_cgroups_path(m->cgroups, l->rec.id, l->cgroup, sizeof(l->cgroup)) < 0)
                        l->rec.enforced = false; /* no cgroups now: bookkeeping, and it says so */
        }
        lease_cgroups_sweep(m->cgroups, cgroup_kept, m);
}

int agent_leases_start(struct agent *a) {
        struct lease_manager *m = calloc(1, sizeof(*m));
        int r;

        if (!m)
                return -ENOMEM;
        m->a = a;
        a->lease_mgr = m;
        m->root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->root_fd < 0)
                return negative_errno();
        r = lease_cgroups_new(m->root_fd, a->runtime_dir, a->runtime_fd, a->event, &m->cgroups);
        if (r < 0)
                return r;
        r = lease_manager_restore(m);
        if (r < 0)
                return r;
        cgroups_restored(m);
        lease_pools_track_policy(m);
        lease_pools_arm_shrink(m);
        return 0;
}

void agent_leases_done(struct agent *a) {
        struct lease_manager *m = a->lease_mgr;

        if (!m)
                return;
        /* The table as it is now goes to the file before it is freed. */
        if (m->save_pending)
                (void) lease_manager_save(m);
        /* Waiting calls get an answer; leases stay on record for the next start. */
        while (m->n_queue > 0) {
                struct lease_request *req = m->queue[m->n_queue - 1];
                if (req->lease)
                        req->lease->req = NULL;
                if (req->sock)
                        lease_sock_reply_error(req->sock, AGENT_ERROR_NOT_READY,
                                               "hosttuned stopped");
                else
                        (void) sd_bus_reply_method_errorf(req->msg, AGENT_ERROR_NOT_READY,
                                                          "hosttuned stopped");
                lease_stats_answered(m, req, AGENT_ERROR_NOT_READY);
                m->n_queue--;
                lease_request_free(req);
        }
        for (unsigned i = 0; i < m->n_leases; i++)
                lease_free(m->leases[i]);
        while (m->n_clients > 0) {
                struct lease_client *c = m->clients[m->n_clients - 1];
                c->gone = true;
                c->n_refs = 1;
                lease_client_unref(c);
        }
        free(m->leases);
        free(m->queue);
        free(m->clients);
        sd_event_source_disable_unref(m->shrink_timer);
        sd_event_source_disable_unref(m->retry_timer);
        sd_event_source_disable_unref(m->wait_timer);
        sd_event_source_disable_unref(m->save_source);
        lease_cgroups_free(m->cgroups);
        safe_close(m->root_fd);
        free(m);
        a->lease_mgr = NULL;
}

void agent_leases_policy_changed(struct agent *a) {
        if (!a->lease_mgr)
                return;
        lease_pools_track_policy(a->lease_mgr);
        lease_pools_arm_shrink(a->lease_mgr);
        lease_manager_run_queue(a->lease_mgr);
}

const char *agent_leases_unenforced(const struct agent *a) {
        const char *why;

        if (!a->lease_mgr || lease_cgroups_available(a->lease_mgr->cgroups, &why))
                return "";
        return why;
}

void agent_add_unleased(const struct agent *a, json_object *o) {
        uint64_t total = 0, bytes;

        for (unsigned i = 0; a->report && i < a->report->hugetlb.n_sizes; i++) {
                if (agent_leases_unleased(a, a->report->hugetlb.sizes[i].page_size, &bytes) < 0)
                        return;
                total += bytes;
        }
        json_object_object_add(o, "hugepages_unleased", json_object_new_uint64(total));
}

void agent_leases_cgroups(const struct agent *a, char *buf, size_t size) {
        buf[0] = 0;
        if (a->lease_mgr)
                (void) lease_cgroups_base(a->lease_mgr->cgroups, buf, size);
}

int agent_leases_unleased(const struct agent *a, uint64_t page_size, uint64_t *ret) {
        struct hugepages_counts c;
        uint64_t charged, in_use;
        int r;

        if (!a->lease_mgr)
                return -EOPNOTSUPP;
        /* The cgroups first: a page faulted in between is then counted in use but not yet
         * charged at worst, never the other way round (no negative reading hidden by 0). */
        r = lease_cgroups_charged(a->lease_mgr->cgroups, page_size, &charged);
        if (r >= 0)
                r = hugepages_counts_read(a->lease_mgr->root_fd, page_size, &c);
        if (r < 0)
                return r;
        in_use = c.nr > c.free ? (c.nr - c.free) * page_size : 0;
        *ret = in_use > charged ? in_use - charged : 0;
        return 0;
}

unsigned agent_leases_count(const struct agent *a) {
        return a->lease_mgr ? a->lease_mgr->n_leases : 0;
}

void agent_leases_filter_plan(const struct agent *a, struct plan *plan) {
        lease_plan_filter(plan, &a->leases);
}
