/* SPDX-License-Identifier: MIT */
/* Giving a lease's resources back: its snapshot directory (by a job), its taps (again
 * later while a VM still holds one), then the lease itself. */
#include "agent/lease.h"

#include "agent/log.h"
#include "lib/parse.h"

/* Taps a VM still held when their lease ended are tried again this often. */
#define TAP_RETRY_USEC (USEC_PER_SEC)

/* The snapshot root a lease's directory lives under: its path without "/leases/<id>". */
static int snapshot_root_of(const struct lease *l, char *buf, size_t size) {
        size_t len = strlen(l->rec.snapshot_path),
               tail = strlen(LEASES_SNAPSHOT_DIR) + 2 + strlen(l->rec.id);

        if (len <= tail || len - tail >= size)
                return -EINVAL;
        memcpy(buf, l->rec.snapshot_path, len - tail);
        buf[len - tail] = 0;
        return 0;
}

static void arm_retry(struct lease_manager *m);

void lease_release_continue(struct lease_manager *m, struct lease *l) {
        char root[LEASE_PATH_MAX];
        unsigned kept = 0;
        int r;

        if (l->rec.snapshot_path[0]) {
                /* Deleted by a job on the work queue: a subvolume deletion waits for a btrfs
                 * transaction commit that a refill may have under way (milliseconds), a plain tree
                 * can be large; the event loop goes on answering meanwhile. */
                struct lease_job *job = calloc(1, sizeof(*job));

                r = job ? snapshot_root_of(l, root, sizeof(root)) : -ENOMEM;
                if (r >= 0) {
                        job->kind = LEASE_JOB_DELETE;
                        job->lease = l;
                        strscpy(job->root, sizeof(job->root), root);
                        strscpy(job->id, sizeof(job->id), l->rec.id);
                        l->job_running = true;
                        lease_job_submit(m, job);
                        return;
                }
                free(job);
                agent_set_last_error(m->a, "leases: cannot delete %s of lease %s: %s",
                                     l->rec.snapshot_path, l->rec.id, strerror(-r));
                l->rec.snapshot_path[0] = 0;
        }
        for (unsigned i = 0; i < l->rec.n_taps; i++) {
                r = lease_tap_give_back(m, &l->rec.taps[i], l->rec.uid);
                if (r == -EBUSY) {
                        l->rec.taps[kept++] = l->rec.taps[i];
                        continue;
                }
                if (r < 0)
                        agent_set_last_error(m->a,
                                             "leases: cannot give tap %s of lease %s back: %s",
                                             l->rec.taps[i].name, l->rec.id, strerror(-r));
        }
        l->rec.n_taps = kept;
        if (kept > 0) {
                /* A VM still holds it: the lease stays (releasing) until it let go. */
                log_info("leases: lease %s: %u tap%s still in use, trying again", l->rec.id, kept,
                         kept == 1 ? "" : "s");
                l->next_tap_retry_usec = now_usec() + TAP_RETRY_USEC;
                lease_manager_save_later(m, l);
                lease_manager_publish(m);
                arm_retry(m);
                return;
        }
        lease_manager_remove(m, l);
        /* Not written ahead of the reply: what a crash could bring back (the write-ahead in
         * lease_release() aside) is a lease whose holder is still on the bus, kept until it
         * leaves: capacity held too long, never promised twice. A burst of releases (a holder
         * of many leases left) writes once, a line per lease. */
        lease_manager_save_later(m, NULL);
        lease_manager_publish(m);
        lease_free(l);
        lease_manager_run_queue(m);
}

void lease_release(struct lease_manager *m, struct lease *l, const char *why) {
        if (l->req || l->job_running) {
                l->release_wanted = true;
                strscpy(l->release_reason, sizeof(l->release_reason), why);
                return;
        }
        if (l->rec.state != LEASE_RELEASING) {
                log_info("leases: lease %s%s%s%s of uid %u released: %s", l->rec.id,
                         l->rec.label[0] ? " (" : "", l->rec.label, l->rec.label[0] ? ")" : "",
                         (unsigned) l->rec.uid, why);
                l->rec.state = LEASE_RELEASING;
                lease_client_unref(l->client);
                l->client = NULL;
                if (l->rec.enforced)
                        lease_cgroups_end(m->cgroups, l->rec.id);
                /* Write-ahead where a crash could undo the release: taps to give back, and a
                 * lease that persists (it would be kept at the next start). Otherwise the next
                 * start finds its holder gone, or its directory named by no lease. */
                if (l->rec.n_taps > 0 || l->rec.persist)
                        (void) lease_manager_save(m, l);
                else
                        lease_manager_save_later(m, l);
                if (l->rec.hugepage_bytes > 0) {
                        struct lease_pool_state *st = lease_pool_find(m, l->rec.hugepage_size);
                        if (st)
                                st->no_grow_before = 0;
                        lease_pools_arm_shrink(m);
                }
        }
        lease_release_continue(m, l);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct lease_manager *m = userdata;
        bool again = true;

        (void) s;
        (void) usec;
        while (again) {
                again = false;
                for (unsigned i = 0; i < m->table.n_leases; i++) {
                        struct lease *l = m->table.leases[i];
                        if (l->rec.state != LEASE_RELEASING || l->job_running ||
                            l->next_tap_retry_usec == 0 || l->next_tap_retry_usec > now_usec())
                                continue;
                        l->next_tap_retry_usec = 0;
                        lease_release_continue(m, l);
                        again = true;
                        break;
                }
        }
        return 0;
}

static void arm_retry(struct lease_manager *m) {
        int r = agent_timer_arm(m->a, &m->timers.tap_retry, TAP_RETRY_USEC, USEC_PER_MSEC * 100,
                                on_retry, m);

        if (r < 0)
                log_warning("leases: cannot arm the tap retry timer: %s", strerror(-r));
}
