/* SPDX-License-Identifier: MIT */
/* The queue of lease requests: caps per uid, arrival order, first come first served
 * among the requests that want the same capacity, the wait each may have, and what serves one. */
#include "agent/lease-sock.h"
#include "agent/lease.h"

#include <malloc.h>

#include "agent/log.h"
#include "lib/parse.h"
#include "policies/apply/hugepages.h"

/* Hugepage requests that wait are tried again this often: the memory they wait for may come
 * free without any lease event (a VM or a build ended). */
#define WAIT_RETRY_USEC (2 * USEC_PER_SEC)
/* A queue this long, once drained, has its memory trimmed (queue_drained). */
#define QUEUE_TRIM_MIN 64

void lease_request_free(struct lease_request *req) {
        if (!req)
                return;
        sd_event_source_disable_unref(req->timer);
        if (req->sock)
                lease_sock_request_freed(req->sock);
        sd_bus_message_unref(req->msg);
        lease_client_unref(req->client);
        free(req);
}

/* Once a long queue drained, hand the memory its requests took back to the kernel. glibc's
 * free() keeps freed heap for reuse, and returns it only when the free space at the very top
 * exceeds its trim threshold: 10,000 waiting calls (bus messages, timers, requests, all small
 * blocks interleaved with what stays) left the agent at 52 MB for good. malloc_trim(0) also
 * madvise()s the free pages inside the heap away; it walks the heap (about a millisecond
 * here), so only after a queue that was long. */
static void queue_drained(struct lease_manager *m) {
        if (m->requests.peak < QUEUE_TRIM_MIN)
                return;
        m->requests.peak = 0;
        free(m->requests.queue);
        m->requests.queue = NULL;
        (void) malloc_trim(0);
}

void lease_queue_remove(struct lease_manager *m, struct lease_request *req) {
        for (unsigned i = 0; i < m->requests.n_queue; i++)
                if (m->requests.queue[i] == req) {
                        memmove(&m->requests.queue[i], &m->requests.queue[i + 1],
                                (m->requests.n_queue - i - 1) * sizeof(struct lease_request *));
                        m->requests.n_queue--;
                        return;
                }
}

void lease_request_fail(struct lease_manager *m, struct lease_request *req, const char *name,
                        const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vbufprintf_trunc(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_info("leases: request of %s (uid %u%s%s) refused: %s", req->want.client,
                 (unsigned) req->want.uid, req->want.label[0] ? ", " : "", req->want.label, buf);
        if (req->sock)
                lease_sock_reply_error(req->sock, name, buf);
        else if (req->msg)
                (void) sd_bus_reply_method_errorf(req->msg, name, "%s", buf);
        lease_stats_answered(m, req, name);
        lease_queue_remove(m, req);
        lease_request_free(req);
}

static int on_request_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct lease_request *req = userdata;
        struct lease_manager *m = req->m;

        (void) s;
        (void) usec;
        if (req->lease)
                return 0; /* being provisioned: it gets its grant */
        /* A request that was never tried waited behind earlier ones for the same kind. */
        lease_request_fail(m, req,
                           req->why_error   ? req->why_error
                           : req->pages > 0 ? AGENT_ERROR_INSUFFICIENT_HUGEPAGES
                                            : AGENT_ERROR_INSUFFICIENT_TAPS,
                           "%s (waited %" PRIu32 " s)",
                           req->why[0] ? req->why
                                       : "earlier requests were still waiting for the same "
                                         "capacity",
                           req->wait_sec);
        lease_manager_run_queue(m);
        return 0;
}

int lease_manager_check_caps(struct lease_manager *m, uid_t uid, sd_bus_error *error) {
        const struct policy *p = m->a->in_force.policy;
        unsigned held = 0, waiting = 0;

        for (unsigned i = 0; i < m->table.n_leases; i++)
                held += m->table.leases[i]->rec.uid == uid &&
                        m->table.leases[i]->rec.state != LEASE_RELEASING;
        for (unsigned i = 0; i < m->requests.n_queue; i++)
                waiting += m->requests.queue[i]->want.uid == uid && !m->requests.queue[i]->lease;
        /* 0: no cap. */
        if (p->max_leases_per_uid > 0 && held >= p->max_leases_per_uid)
                return sd_bus_error_setf(error, AGENT_ERROR_LIMIT_EXCEEDED,
                                         "uid %u holds %u lease%s: [agent] max-leases-per-uid = %u",
                                         (unsigned) uid, held, held == 1 ? "" : "s",
                                         p->max_leases_per_uid);
        if (p->max_waiting_per_uid > 0 && waiting >= p->max_waiting_per_uid)
                return sd_bus_error_setf(error, AGENT_ERROR_LIMIT_EXCEEDED,
                                         "uid %u has %u request%s waiting: [agent] "
                                         "max-waiting-per-uid = %u",
                                         (unsigned) uid, waiting, waiting == 1 ? "" : "s",
                                         p->max_waiting_per_uid);
        return 0;
}

int lease_manager_enqueue(struct lease_manager *m, struct lease_request *req) {
        struct lease_request **n = realloc(
                m->requests.queue, (m->requests.n_queue + 1) * sizeof(struct lease_request *));
        int r;

        if (!n)
                return -ENOMEM;
        m->requests.queue = n;
        if (req->wait_sec > 0) {
                r = sd_event_add_time_relative(m->a->event, &req->timer, CLOCK_MONOTONIC,
                                               (uint64_t) req->wait_sec * USEC_PER_SEC, 0,
                                               on_request_timeout, req);
                if (r < 0)
                        return r;
        }
        req->m = m;
        n[m->requests.n_queue++] = req;
        if (m->requests.n_queue > m->requests.peak)
                m->requests.peak = m->requests.n_queue;
        lease_manager_run_queue(m);
        return 0;
}

/* Can req be served now? Start it when it can; say why not when it cannot. */
static enum serve try_serve(struct lease_manager *m, struct lease_request *req) {
        struct agent *a = m->a;
        struct lease_tap taps[LEASE_TAPS_MAX];
        uint64_t target = 0;

        if (req->pages > 0) {
                uint64_t ps = req->want.hugepage_size;
                struct lease_pool_state *st = lease_pool_find(m, ps);
                struct lease_pool p;
                enum lease_fit fit;
                int r;

                if (!st) {
                        lease_request_fail(m, req, SD_BUS_ERROR_FAILED, "too many page sizes");
                        return SERVE_FAILED;
                }
                if (st->growing)
                        return SERVE_GROWING;
                r = lease_pool_read(m, ps, &p);
                if (r < 0) {
                        lease_request_fail(m, req, SD_BUS_ERROR_FAILED,
                                           "cannot read the hugepage pool: %s", strerror(-r));
                        return SERVE_FAILED;
                }
                fit = lease_hugepages_fit(&p, req->pages, &target);
                lease_pool_describe(&p, ps, req->pages, req->why, sizeof(req->why));
                req->why_error = AGENT_ERROR_INSUFFICIENT_HUGEPAGES;
                if (fit == LEASE_FIT_NEVER) {
                        lease_request_fail(m, req, AGENT_ERROR_EXCEEDS_POOL,
                                           "%s: more than the pool may ever hold", req->why);
                        return SERVE_FAILED;
                }
                if (fit == LEASE_FIT_GROW && now_usec() < st->no_grow_before) {
                        bufappendf_trunc(req->why, sizeof(req->why), "; growing it fell short: %s",
                                         st->shortfall);
                        return SERVE_WAIT;
                }
                if (fit == LEASE_FIT_WAIT)
                        return SERVE_WAIT;
                if (fit == LEASE_FIT_GROW) {
                        uint64_t total, avail;
                        char why[160];
                        /* A growth the memory cannot hold would fill it down to the kernel's
                         * min watermark for the policy's timeout, then give the pages back. */
                        if (hugepages_meminfo_read(m->root_fd, &total, &avail) >= 0 &&
                            !hugepages_growth_fits(total, avail, (target - p.nr) * ps, why,
                                                   sizeof(why))) {
                                bufappendf_trunc(req->why, sizeof(req->why),
                                                 "; the memory cannot hold the growth: %s", why);
                                return SERVE_WAIT;
                        }
                        bufprintf_trunc(why, sizeof(why),
                                        "a lease for %" PRIu64 " pages needs room", req->pages);
                        lease_pool_resize(m, st, p.nr, target, why);
                        return SERVE_GROWING;
                }
        }
        if (req->taps > 0) {
                unsigned have;

                if (agent_apply_running(a)) {
                        bufprintf_trunc(
                                req->why, sizeof(req->why),
                                "an apply is running (it may change the taps); the request waits "
                                "for its end");
                        req->why_error = AGENT_ERROR_NOT_READY;
                        return SERVE_WAIT;
                }
                have = lease_taps_free(m, taps, req->taps);
                if (have < req->taps) {
                        bufprintf_trunc(req->why, sizeof(req->why),
                                        "%u tap%s requested; %u of the pool's %u free (%u leased)",
                                        req->taps, req->taps == 1 ? "" : "s", have,
                                        a->in_force.policy->taps, a->lease.held.taps);
                        req->why_error = AGENT_ERROR_INSUFFICIENT_TAPS;
                        return SERVE_WAIT;
                }
        }
        return lease_provision(m, req, taps);
}

static bool size_in(const uint64_t *sizes, unsigned n, uint64_t s) {
        for (unsigned i = 0; i < n; i++)
                if (sizes[i] == s)
                        return true;
        return false;
}

/* Serve the queue in arrival order. A request that cannot be served blocks the later ones that
 * want the same kind of capacity (hugepages of its page size, taps): first come, first served
 * among those that compete, while a request for something else goes ahead. */
static void run_queue_once(struct lease_manager *m) {
        uint64_t blocked_sizes[HUGETLB_SIZES_MAX];
        unsigned n_blocked = 0;
        bool taps_blocked = false;

        for (unsigned i = 0; i < m->requests.n_queue;) {
                struct lease_request *req = m->requests.queue[i];
                enum serve s;

                if (req->lease) {
                        i++;
                        continue;
                }
                if ((req->pages > 0 &&
                     size_in(blocked_sizes, n_blocked, req->want.hugepage_size)) ||
                    (req->taps > 0 && taps_blocked))
                        s = SERVE_WAIT;
                else {
                        int tries = 0;
                        do
                                s = try_serve(m, req);
                        while (s == SERVE_AGAIN && ++tries < 8);
                        if (s == SERVE_AGAIN)
                                s = SERVE_WAIT;
                }
                if (s == SERVE_WAIT && (req->wait_sec == 0 || !req->timer)) {
                        bool behind = !req->why[0];
                        lease_request_fail(m, req,
                                           req->why_error ? req->why_error
                                                          : AGENT_ERROR_INSUFFICIENT_HUGEPAGES,
                                           "%s%s",
                                           behind ? "earlier requests wait for the same capacity"
                                                  : req->why,
                                           behind ? "" : " (no wait asked for)");
                        continue;
                }
                if (s == SERVE_FAILED)
                        continue;
                if (i < m->requests.n_queue && m->requests.queue[i] == req) {
                        if (s == SERVE_WAIT && !req->wait_logged) {
                                req->wait_logged = true;
                                log_info("leases: request of %s (uid %u%s%s) waits up to %" PRIu32
                                         " s: %s",
                                         req->want.client, (unsigned) req->want.uid,
                                         req->want.label[0] ? ", " : "", req->want.label,
                                         req->wait_sec,
                                         req->why[0] ? req->why
                                                     : "earlier requests wait for the same "
                                                       "capacity");
                        }
                        if (s != SERVE_STARTED) {
                                lease_stats_waits(m, req);
                                if (req->pages > 0 && n_blocked < HUGETLB_SIZES_MAX &&
                                    !size_in(blocked_sizes, n_blocked, req->want.hugepage_size))
                                        blocked_sizes[n_blocked++] = req->want.hugepage_size;
                                taps_blocked = taps_blocked || req->taps > 0;
                        }
                        i++;
                }
        }
}

static int on_wait_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s;
        (void) usec;
        lease_manager_run_queue(userdata);
        return 0;
}

/* While a hugepage request waits, look again every WAIT_RETRY_USEC; off when none waits. */
static void arm_wait_retry(struct lease_manager *m) {
        bool waiting = false;
        int r;

        if (!m->a->event)
                return;
        for (unsigned i = 0; i < m->requests.n_queue && !waiting; i++)
                waiting = !m->requests.queue[i]->lease && m->requests.queue[i]->pages > 0;
        r = agent_timer_arm(m->a, &m->timers.wait, waiting ? WAIT_RETRY_USEC : 0,
                            USEC_PER_MSEC * 100, on_wait_retry, m);
        if (r < 0)
                log_warning("leases: cannot arm the retry timer of waiting requests: %s",
                            strerror(-r));
}

static bool requests_waiting(const struct lease_manager *m) {
        for (unsigned i = 0; i < m->requests.n_queue; i++)
                if (!m->requests.queue[i]->lease)
                        return true;
        return false;
}

void lease_manager_run_queue(struct lease_manager *m) {
        if (m->requests.in_run) {
                m->requests.again = true;
                return;
        }
        m->requests.in_run = true;
        do {
                m->requests.again = false;
                run_queue_once(m);
        } while (m->requests.again);
        m->requests.in_run = false;
        if (m->requests.n_queue == 0)
                queue_drained(m);
        /* An apply may give the taps back or grow the pool: look again once it ended. */
        if (requests_waiting(m) && agent_apply_queued(m->a))
                lease_wake_after_work(m);
        arm_wait_retry(m);
        lease_maybe_refill(m);
}
