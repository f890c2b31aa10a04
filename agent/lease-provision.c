/* SPDX-License-Identifier: MIT */
/* Provisioning a lease: its taps, its snapshot directory (taken from the prepared set,
 * or made by a job) and its cgroup, then the grant; the ends of the lease jobs; the refill of
 * the prepared set. */
#include "agent/lease-bus.h"
#include "agent/lease-sock.h"
#include "agent/lease.h"

#include "agent/log.h"
#include "lib/parse.h"
#include "policies/apply/net.h"

/* A growth that fell short is not tried again for this long (unless a lease ends). */
#define GROW_RETRY_USEC (5 * USEC_PER_SEC)

static bool root_on_btrfs(struct lease_manager *m) {
        const struct path_facts *sr = &m->a->verdict.as.report->btrfs.snapshot_root;

        return sr->exists && sr->on_btrfs;
}

static bool refill_job_active(const struct lease_manager *m) {
        return m->snapshots.refill_jobs > 0;
}

/* Refill the prepared set in the background once leases took from it. */
void lease_maybe_refill(struct lease_manager *m) {
        struct lease_job *job;

        if (!m->snapshots.refill_wanted || !m->a->in_force.policy->snapshots_managed ||
            refill_job_active(m))
                return;
        job = calloc(1, sizeof(*job));
        if (job)
                job->policy = malloc(sizeof(*job->policy));
        if (!job || !job->policy) {
                lease_job_free(job);
                return;
        }
        m->snapshots.refill_wanted = false;
        job->kind = LEASE_JOB_REFILL;
        memcpy(job->policy, m->a->in_force.policy, sizeof(*job->policy));
        lease_job_submit(m, job);
}

static int reply_grant(struct lease_request *req, const struct lease *l) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        if (req->sock)
                return lease_sock_reply_grant(req->sock, l);
        if (!req->msg)
                return -ENOTCONN;
        r = sd_bus_message_new_method_return(req->msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", l->rec.id);
        if (r >= 0)
                r = lease_append_details(reply, l);
        if (r >= 0)
                r = sd_bus_send(NULL, reply, NULL);
        return r;
}

/* Undo what provisioning did and answer the request with the error. */
static void provision_abort(struct lease_manager *m, struct lease *l, const char *errname,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void provision_abort(struct lease_manager *m, struct lease *l, const char *errname,
                            const char *fmt, ...) {
        struct lease_request *req = l->req;
        char msg[640];
        va_list ap;

        va_start(ap, fmt);
        vbufprintf_trunc(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        l->req = NULL;
        if (req) {
                req->lease = NULL;
                lease_request_fail(m, req, errname, "%s", msg);
        }
        lease_release(m, l, msg);
}

/* A hugepage lease asked to be enforced: its caller goes into a cgroup limited to it, where the
 * host has cgroup v2 hugetlb (else the lease stays bookkeeping, enforced false). */
static int enforce(struct lease_manager *m, struct lease *l, const struct lease_request *req) {
        int r;

        if (!req->enforce || l->rec.hugepage_bytes == 0 ||
            !lease_cgroups_available(m->cgroups, NULL))
                return 0;
        if (l->rec.pid == 0)
                return -ESRCH; /* the bus daemon did not say who called */
        r = lease_cgroups_enter(m->cgroups, l->rec.id, l->rec.hugepage_size, l->rec.hugepage_bytes,
                                (pid_t) l->rec.pid, l->rec.uid, req->arrived_ticks);
        if (r >= 0)
                r = lease_cgroups_path(m->cgroups, l->rec.id, l->cgroup, sizeof(l->cgroup));
        if (r < 0)
                return r;
        l->rec.enforced = true;
        log_info("leases: lease %s: pid %u in %s, limited to its hugepages", l->rec.id,
                 (unsigned) l->rec.pid, l->cgroup);
        return 0;
}

/* Provisioning ended: the lease is granted (or given back when its holder left meanwhile). */
static void provision_finish(struct lease_manager *m, struct lease *l) {
        struct lease_request *req = l->req;
        char hp[32];
        int r;

        if (l->release_wanted || !req) {
                l->req = NULL;
                if (req) {
                        lease_stats_abandoned(m, req);
                        lease_queue_remove(m, req);
                        lease_request_free(req);
                }
                lease_release(m, l,
                              l->release_reason[0] ? l->release_reason
                                                   : "its holder left before the grant");
                return;
        }
        r = enforce(m, l, req);
        if (r < 0) {
                provision_abort(m, l, AGENT_ERROR_NOT_READY,
                                "cannot move the caller (pid %u) into the lease's cgroup: %s",
                                (unsigned) l->rec.pid, strerror(-r));
                return;
        }
        l->rec.state = LEASE_ACTIVE;
        r = lease_manager_save(m, l);
        if (r < 0) {
                provision_abort(m, l, SD_BUS_ERROR_FAILED, "cannot record the lease: %s",
                                strerror(-r));
                return;
        }
        l->req = NULL;
        lease_manager_publish(m);
        r = reply_grant(req, l);
        lease_stats_answered(m, req, NULL);
        log_info("leases: lease %s granted to %s (uid %u%s%s): hugepages %s, snapshot %s, %u "
                 "tap%s%s",
                 l->rec.id, l->rec.client, (unsigned) l->rec.uid, l->rec.label[0] ? ", " : "",
                 l->rec.label, format_size(l->rec.hugepage_bytes, hp, sizeof(hp)),
                 l->rec.snapshot_path[0] ? l->rec.snapshot_path : "none", l->rec.n_taps,
                 l->rec.n_taps == 1 ? "" : "s", r < 0 ? " (the reply could not be sent)" : "");
        lease_queue_remove(m, req);
        lease_request_free(req);
        if (l->rec.hugepage_bytes > 0)
                lease_pools_arm_shrink(m);
        lease_maybe_refill(m);
}

static void snapshot_done(struct lease_manager *m, struct lease *l,
                          const struct snapshot_lease_dir *d) {
        strscpy(l->rec.snapshot_path, sizeof(l->rec.snapshot_path), d->path);
        l->rec.snapshot_subvolume = d->subvolume;
        l->rec.snapshot_source = d->source;
        if (d->source == LEASE_SNAPSHOT_PREPARED || d->source == LEASE_SNAPSHOT_SLOT)
                m->snapshots.refill_wanted = true;
}

enum serve lease_provision(struct lease_manager *m, struct lease_request *req,
                           const struct lease_tap *taps) {
        struct agent *a = m->a;
        struct lease *l = calloc(1, sizeof(*l));
        struct snapshot_lease_dir d;
        const char *root = a->in_force.policy->snapshot_root;
        int r;

        if (!l) {
                lease_request_fail(m, req, SD_BUS_ERROR_NO_MEMORY, "out of memory");
                return SERVE_FAILED;
        }
        l->rec = req->want;
        l->rec.state = LEASE_PROVISIONING;
        l->rec.created_realtime_usec = agent_now_usec(CLOCK_REALTIME);
        l->rec.hugepage_bytes = req->pages * req->want.hugepage_size;
        if (req->pages == 0)
                l->rec.hugepage_size = 0;
        l->rec.n_taps = req->taps;
        memcpy(l->rec.taps, taps, req->taps * sizeof(*taps));
        r = lease_id_new(l->rec.id, sizeof(l->rec.id));
        if (r >= 0)
                r = lease_manager_add(m, l);
        if (r < 0) {
                free(l);
                lease_request_fail(m, req, SD_BUS_ERROR_FAILED, "cannot make a lease: %s",
                                   strerror(-r));
                return SERVE_FAILED;
        }
        if (!req->want.persist && req->client) {
                l->client = req->client;
                l->client->n_refs++;
        }
        l->req = req;
        req->lease = l;
        /* Write-ahead: taps about to change owner are on record first, so a crash in the
         * middle leaks nothing (the next start gives them back). A snapshot directory needs no
         * record: one under <root>/leases that no lease names is removed at start; hugepages
         * are only numbers. */
        if (l->rec.n_taps > 0) {
                r = lease_manager_save(m, l);
                if (r < 0) {
                        provision_abort(m, l, SD_BUS_ERROR_FAILED, "cannot record the lease: %s",
                                        strerror(-r));
                        return SERVE_FAILED;
                }
        }
        lease_manager_publish(m);

        for (unsigned i = 0; i < l->rec.n_taps; i++) {
                r = tap_set_owner(m->root_fd, l->rec.taps[i].name, l->rec.uid);
                if (r == -EBUSY) {
                        /* Someone holds it: give back what was taken and choose again. */
                        lease_tap_mark_busy(m, l->rec.taps[i].name);
                        l->rec.n_taps = i;
                        l->req = NULL;
                        req->lease = NULL;
                        lease_release(m, l, "a tap was busy; choosing again");
                        return SERVE_AGAIN;
                }
                if (r < 0) {
                        l->rec.n_taps = i;
                        provision_abort(m, l, SD_BUS_ERROR_FAILED,
                                        "cannot give tap %s to uid %u: %s", l->rec.taps[i].name,
                                        (unsigned) l->rec.uid, strerror(-r));
                        return SERVE_FAILED;
                }
        }

        if (l->rec.snapshot) {
                /* Off btrfs a prepared copy is made in place by the refill: never take one
                 * while a refill may be writing it. */
                r = !root_on_btrfs(m) && refill_job_active(m)
                            ? -EAGAIN
                            : snapshot_lease_take(m->root_fd, root, l->rec.template_name, l->rec.id,
                                                  l->rec.uid, l->rec.gid, &d);
                if (r == -EAGAIN && !l->rec.template_name[0])
                        /* An empty subvolume costs about 0.1 ms: made here and now. */
                        r = snapshot_lease_make(m->root_fd, root, "", l->rec.id, l->rec.uid,
                                                l->rec.gid, &d);
                if (r == -EAGAIN) {
                        /* A snapshot of the template: a transaction commit, in the worker. */
                        struct lease_job *job = calloc(1, sizeof(*job));
                        if (!job) {
                                provision_abort(m, l, SD_BUS_ERROR_NO_MEMORY, "out of memory");
                                return SERVE_FAILED;
                        }
                        job->kind = LEASE_JOB_SNAPSHOT;
                        job->lease = l;
                        strscpy(job->root, sizeof(job->root), root);
                        strscpy(job->id, sizeof(job->id), l->rec.id);
                        strscpy(job->tmpl, sizeof(job->tmpl), l->rec.template_name);
                        job->uid = l->rec.uid;
                        job->gid = l->rec.gid;
                        l->job_running = true;
                        lease_job_submit(m, job);
                        m->snapshots.refill_wanted = true; /* the prepared set was empty */
                        lease_maybe_refill(m);
                        return SERVE_STARTED;
                }
                if (r < 0) {
                        provision_abort(m, l, SD_BUS_ERROR_FAILED,
                                        "cannot make a snapshot directory under %s: %s", root,
                                        strerror(-r));
                        return SERVE_FAILED;
                }
                snapshot_done(m, l, &d);
        }
        provision_finish(m, l);
        return SERVE_STARTED;
}

void lease_job_finished(struct lease_manager *m, struct lease_job *job) {
        struct agent *a = m->a;
        struct lease *l = job->lease;

        switch (job->kind) {
        case LEASE_JOB_RESIZE: {
                struct lease_pool_state *st = lease_pool_find(m, job->step.u.hugepages.page_size);
                bool fell_short = job->r < 0 || step_outcome_fell_short(job->res.outcome);

                lease_stats_resized(m, job);

                if (st) {
                        st->growing = false;
                        if (fell_short) {
                                st->no_grow_before = now_usec() + GROW_RETRY_USEC;
                                strscpy(st->shortfall, sizeof(st->shortfall), job->res.message);
                        }
                }
                if (fell_short)
                        log_warning("leases: resizing the pool fell short: %s", job->res.message);
                else
                        log_info("leases: %s", job->res.message);
                lease_pools_refresh_total(m);
                agent_notify_status(a, "%s; %u lease%s", a->props.ready ? "Ready" : "Not ready",
                                    m->table.n_leases, m->table.n_leases == 1 ? "" : "s");
                lease_manager_run_queue(m);
                break;
        }
        case LEASE_JOB_REFILL:
                if (job->r < 0 || job->short_steps > 0)
                        log_warning("leases: refilling the prepared snapshots: %u made, %u fell "
                                    "short%s%s",
                                    job->made, job->short_steps, job->r < 0 ? ": " : ": ",
                                    job->r < 0 ? strerror(-job->r) : job->res.message);
                else if (job->made > 0)
                        log_debug("leases: refilled %u prepared snapshot%s", job->made,
                                  job->made == 1 ? "" : "s");
                lease_manager_run_queue(m);
                break;
        case LEASE_JOB_SNAPSHOT:
                l->job_running = false;
                if (job->r < 0) {
                        provision_abort(m, l, SD_BUS_ERROR_FAILED,
                                        "cannot make a snapshot directory under %s: %s", job->root,
                                        strerror(-job->r));
                        break;
                }
                snapshot_done(m, l, &job->dir);
                provision_finish(m, l);
                break;
        case LEASE_JOB_DELETE:
                if (job->r < 0)
                        agent_set_last_error(a, "leases: cannot delete %s/%s/%s: %s", job->root,
                                             LEASES_SNAPSHOT_DIR, job->id, strerror(-job->r));
                if (!l)
                        break;
                l->job_running = false;
                l->rec.snapshot_path[0] = 0;
                if (l->rec.state == LEASE_RELEASING)
                        lease_release_continue(m, l);
                break;
        }
}
