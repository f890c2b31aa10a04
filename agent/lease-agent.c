/* SPDX-License-Identifier: MIT */
/* The leases as the rest of the agent sees them: start (the lease file of an earlier run)
 * and stop, the policy changing, what the lease cgroups hold. */
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
        for (unsigned i = 0; i < m->table.n_leases; i++) {
                struct lease *l = m->table.leases[i];
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
        /* Its first write, at the latest once the leases of the last run are restored, compacts:
         * the file the last run left may end in a torn line, never to be appended to. */
        lease_log_init(&m->table.log, a->runtime_fd);
        a->lease.mgr = m;
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
        struct lease_manager *m = a->lease.mgr;

        if (!m)
                return;
        /* The table as it is now goes to the file before it is freed. */
        if (m->table.save_pending)
                (void) lease_manager_save(m, NULL);
        lease_log_close(&m->table.log);
        free(m->table.removed);
        /* Waiting calls get an answer; leases stay on record for the next start. */
        while (m->requests.n_queue > 0) {
                struct lease_request *req = m->requests.queue[m->requests.n_queue - 1];
                if (req->lease)
                        req->lease->req = NULL;
                if (req->sock)
                        lease_sock_reply_error(req->sock, AGENT_ERROR_NOT_READY,
                                               "hosttuned stopped");
                else
                        (void) sd_bus_reply_method_errorf(req->msg, AGENT_ERROR_NOT_READY,
                                                          "hosttuned stopped");
                lease_stats_answered(m, req, AGENT_ERROR_NOT_READY);
                m->requests.n_queue--;
                lease_request_free(req);
        }
        for (unsigned i = 0; i < m->table.n_leases; i++)
                lease_free(m->table.leases[i]);
        while (m->peers.n_clients > 0) {
                struct lease_client *c = m->peers.clients[m->peers.n_clients - 1];
                c->gone = true;
                c->n_refs = 1;
                lease_client_unref(c);
        }
        free(m->table.leases);
        free(m->requests.queue);
        free(m->peers.clients);
        sd_event_source_disable_unref(m->timers.shrink);
        sd_event_source_disable_unref(m->timers.tap_retry);
        sd_event_source_disable_unref(m->timers.wait);
        sd_event_source_disable_unref(m->timers.save);
        lease_cgroups_free(m->cgroups);
        safe_close(m->root_fd);
        free(m);
        a->lease.mgr = NULL;
}

void agent_leases_policy_changed(struct agent *a) {
        if (!a->lease.mgr)
                return;
        lease_pools_track_policy(a->lease.mgr);
        lease_pools_arm_shrink(a->lease.mgr);
        lease_manager_run_queue(a->lease.mgr);
}

const char *agent_leases_unenforced(const struct agent *a) {
        const char *why;

        if (!a->lease.mgr || lease_cgroups_available(a->lease.mgr->cgroups, &why))
                return "";
        return why;
}

void agent_add_unleased(const struct agent *a, json_object *o) {
        uint64_t total = 0, bytes;

        for (unsigned i = 0; a->verdict.as.report && i < a->verdict.as.report->hugetlb.n_sizes;
             i++) {
                if (agent_leases_unleased(a, a->verdict.as.report->hugetlb.sizes[i].page_size,
                                          &bytes) < 0)
                        return;
                total += bytes;
        }
        json_object_object_add(o, "hugepages_unleased", json_object_new_uint64(total));
}

void agent_leases_cgroups(const struct agent *a, char *buf, size_t size) {
        buf[0] = 0;
        if (a->lease.mgr)
                (void) lease_cgroups_base(a->lease.mgr->cgroups, buf, size);
}

int agent_leases_unleased(const struct agent *a, uint64_t page_size, uint64_t *ret) {
        struct hugepages_counts c;
        uint64_t charged, in_use;
        int r;

        if (!a->lease.mgr)
                return -EOPNOTSUPP;
        /* The cgroups first: a page faulted in between is then counted in use but not yet
         * charged at worst, never the other way round (no negative reading hidden by 0). */
        r = lease_cgroups_charged(a->lease.mgr->cgroups, page_size, &charged);
        if (r >= 0)
                r = hugepages_counts_read(a->lease.mgr->root_fd, page_size, &c);
        if (r < 0)
                return r;
        in_use = c.nr > c.free ? (c.nr - c.free) * page_size : 0;
        *ret = in_use > charged ? in_use - charged : 0;
        return 0;
}

unsigned agent_leases_count(const struct agent *a) {
        return a->lease.mgr ? a->lease.mgr->table.n_leases : 0;
}
