/* SPDX-License-Identifier: MIT */
/* The agent's leases: the table and its file, the queue of requests waiting for capacity,
 * provisioning and giving back (hugepage accounting, snapshot directories, taps), growing the
 * hugepage pool on demand and shrinking it when idle, and the bus peers whose leases die with
 * them. Behaviour and guarantees: docs/leases.md. */
#include "agent/lease.h"

#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/log.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/hugepages.h"
#include "policies/apply/net.h"

/* A growth that fell short is not tried again for this long (unless a lease ends). */
#define GROW_RETRY_USEC (5 * USEC_PER_SEC)
/* Hugepage requests that wait are tried again this often: the memory they wait for may come
 * free without any lease event (a VM or a build ended). */
#define WAIT_RETRY_USEC (2 * USEC_PER_SEC)
/* Taps a VM still held when their lease ended are tried again this often. */
#define TAP_RETRY_USEC (USEC_PER_SEC)
/* A lease's removal is written this long after it (with every change until then): releases
 * one after the other, each answered before the next comes, write the file once. */
#define SAVE_DELAY_USEC (50 * USEC_PER_MSEC)
/* A queue this long, once drained, has its memory trimmed (queue_drained). */
#define QUEUE_TRIM_MIN 64
/* A tap that was busy when a lease wanted it is passed over for this long. */
#define TAP_BUSY_USEC (2 * USEC_PER_SEC)

static uint64_t div_up(uint64_t a, uint64_t b) {
        return a / b + (a % b != 0);
}

static uint64_t now_usec(void) {
        return agent_now_usec(CLOCK_MONOTONIC);
}

/* ---- table and file ---- */

static void lease_free(struct lease *l) {
        if (!l)
                return;
        if (l->client)
                lease_client_unref(l->client);
        free(l);
}

int lease_manager_add(struct lease_manager *m, struct lease *l) {
        struct lease **n = realloc(m->leases, (m->n_leases + 1) * sizeof(struct lease *));

        if (!n)
                return -ENOMEM;
        m->leases = n;
        n[m->n_leases++] = l;
        return 0;
}

static void table_remove(struct lease_manager *m, struct lease *l) {
        for (unsigned i = 0; i < m->n_leases; i++)
                if (m->leases[i] == l) {
                        memmove(&m->leases[i], &m->leases[i + 1],
                                (m->n_leases - i - 1) * sizeof(struct lease *));
                        m->n_leases--;
                        return;
                }
}

struct lease *lease_manager_find(struct lease_manager *m, const char *id) {
        for (unsigned i = 0; i < m->n_leases; i++)
                if (streq(m->leases[i]->rec.id, id))
                        return m->leases[i];
        return NULL;
}

/* The records of the table, for the file and the usage. */
static const struct lease_record **records(struct lease_manager *m) {
        const struct lease_record **recs =
                calloc(m->n_leases ? m->n_leases : 1, sizeof(const struct lease_record *));

        for (unsigned i = 0; recs && i < m->n_leases; i++)
                recs[i] = &m->leases[i]->rec;
        return recs;
}

/* A lease on file leaves the table: its "remove" line is due. */
static int removal_due(struct lease_manager *m, const struct lease *l) {
        if (!l->on_file)
                return 0;
        if (m->n_removed == m->removed_capacity) {
                unsigned c = m->removed_capacity ? 2 * m->removed_capacity : 16;
                char(*n)[LEASE_ID_LEN + 1] = reallocarray(m->removed, c, sizeof(*n));

                if (!n)
                        return -ENOMEM;
                m->removed = n;
                m->removed_capacity = c;
        }
        strscpy(m->removed[m->n_removed++], LEASE_ID_LEN + 1, l->rec.id);
        return 0;
}

/* The whole table as the file's only content. */
static int compact(struct lease_manager *m) {
        _cleanup_free_ const struct lease_record **recs = records(m);
        int r = recs ? lease_log_compact(&m->log, recs, m->n_leases) : -ENOMEM;

        if (r < 0)
                return r;
        for (unsigned i = 0; i < m->n_leases; i++) {
                m->leases[i]->on_file = true;
                m->leases[i]->unsaved = false;
        }
        m->n_removed = 0;
        return 0;
}

/* Append what changed: the records of the leases marked unsaved, the removals due. */
static int append(struct lease_manager *m, unsigned n_set) {
        _cleanup_free_ const struct lease_record **set =
                calloc(n_set ? n_set : 1, sizeof(const struct lease_record *));
        unsigned k = 0;
        int r;

        if (!set)
                return -ENOMEM;
        for (unsigned i = 0; i < m->n_leases; i++)
                if (m->leases[i]->unsaved)
                        set[k++] = &m->leases[i]->rec;
        r = lease_log_append(&m->log, set, k, m->removed, m->n_removed);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < m->n_leases; i++)
                if (m->leases[i]->unsaved) {
                        m->leases[i]->on_file = true;
                        m->leases[i]->unsaved = false;
                }
        m->n_removed = 0;
        return 0;
}

int lease_manager_save(struct lease_manager *m, struct lease *l) {
        unsigned n_set = 0, n_live = 0;
        int r;

        if (l)
                l->unsaved = true;
        /* Everything due goes out: whatever waited for lease_manager_save_later() too. */
        m->save_pending = false;
        if (m->save_source)
                (void) sd_event_source_set_enabled(m->save_source, SD_EVENT_OFF);
        for (unsigned i = 0; i < m->n_leases; i++) {
                n_set += m->leases[i]->unsaved;
                n_live += m->leases[i]->unsaved || m->leases[i]->on_file;
        }
        if (n_set == 0 && m->n_removed == 0 && !m->log.must_compact)
                return 0;
        if (lease_log_wants_compaction(&m->log, n_set + m->n_removed, n_live))
                r = compact(m);
        else {
                r = append(m, n_set);
                if (r == -EBADF) /* the file went away under the agent: write it anew */
                        r = compact(m);
        }
        if (r < 0)
                agent_set_last_error(m->a, "leases: cannot write %s/%s: %s", m->a->runtime_dir,
                                     LEASES_FILE, strerror(-r));
        return r;
}

static int on_save_due(sd_event_source *s, uint64_t usec, void *userdata) {
        struct lease_manager *m = userdata;

        (void) s;
        (void) usec;
        if (m->save_pending)
                (void) lease_manager_save(m, NULL);
        return 0;
}

void lease_manager_save_later(struct lease_manager *m, struct lease *l) {
        int r = -ESTALE;

        if (l)
                l->unsaved = true;
        if (m->save_pending)
                return; /* the timer runs: this change goes out with the others */
        m->save_pending = true;
        /* Armed by the first change, not pushed back by later ones: nothing waits longer than
         * SAVE_DELAY_USEC to be written. */
        if (m->a->event)
                r = agent_timer_arm(m->a, &m->save_source, SAVE_DELAY_USEC, USEC_PER_MSEC,
                                    on_save_due, m);
        if (r < 0)
                (void) lease_manager_save(m, NULL); /* no loop to wait for: now */
}

void lease_manager_publish(struct lease_manager *m) {
        _cleanup_free_ const struct lease_record **recs = records(m);
        struct lease_usage u;

        if (!recs)
                return;
        lease_usage_compute(recs, m->n_leases, &u);
        /* Every output says what leases hold, so they are written when that changed. */
        if (m->published && lease_usage_equal(&u, &m->a->leases))
                return;
        m->a->leases = u;
        m->published = true;
        agent_leases_changed(m->a);
}

/* ---- bus peers ---- */

static int on_client_gone(sd_bus_track *t, void *userdata) {
        (void) t;
        lease_client_gone(userdata);
        return 0;
}

/* The answer to NameHasOwner sent right after the match was added: a peer that left before
 * the bus daemon saw our match is caught here. */
static int on_name_has_owner(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        struct lease_client *c = userdata;
        int has = 1;

        (void) error;
        c->check_slot = sd_bus_slot_unref(c->check_slot);
        if (sd_bus_message_is_method_error(reply, NULL) ||
            sd_bus_message_read(reply, "b", &has) < 0)
                return 0; /* cannot tell: the track still watches */
        if (!has)
                lease_client_gone(c);
        return 0;
}

struct lease_client *lease_client_find(struct lease_manager *m, const char *name) {
        for (unsigned i = 0; name && i < m->n_clients; i++)
                if (streq(m->clients[i]->name, name) && !m->clients[i]->gone)
                        return m->clients[i];
        return NULL;
}

int lease_client_get(struct lease_manager *m, const char *name, struct lease_client **ret) {
        struct lease_client *c = lease_client_find(m, name), **n;
        int r;

        if (c) {
                c->n_refs++;
                *ret = c;
                return 0;
        }
        n = realloc(m->clients, (m->n_clients + 1) * sizeof(struct lease_client *));
        if (!n)
                return -ENOMEM;
        m->clients = n;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->m = m;
        c->n_refs = 1;
        c->name = strdup(name);
        r = c->name ? 0 : -ENOMEM;
        if (r >= 0 && name[0] == ':')
                r = sd_bus_track_new(m->a->bus, &c->track, on_client_gone, c);
        if (r >= 0 && name[0] == ':')
                r = sd_bus_track_add_name(c->track, name);
        if (r >= 0 && name[0] == ':')
                r = sd_bus_call_method_async(m->a->bus, &c->check_slot, "org.freedesktop.DBus",
                                             "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                             "NameHasOwner", on_name_has_owner, c, "s", name);
        if (r < 0) {
                sd_bus_track_unref(c->track);
                free(c->name);
                free(c);
                return r;
        }
        m->clients[m->n_clients++] = c;
        *ret = c;
        return 0;
}

/* A client stays (with its track) while it is on the bus, also without leases: a holder that
 * takes one lease after another pays for watching it once. */
void lease_client_unref(struct lease_client *c) {
        struct lease_manager *m;

        if (!c || --c->n_refs > 0 || !c->gone)
                return;
        m = c->m;
        for (unsigned i = 0; i < m->n_clients; i++)
                if (m->clients[i] == c) {
                        memmove(&m->clients[i], &m->clients[i + 1],
                                (m->n_clients - i - 1) * sizeof(struct lease_client *));
                        m->n_clients--;
                        break;
                }
        if (c->track)
                sd_bus_track_set_userdata(c->track, NULL);
        sd_bus_track_unref(c->track);
        sd_bus_slot_unref(c->check_slot);
        sd_bus_creds_unref(c->creds);
        free(c->name);
        free(c);
}

static void queue_remove(struct lease_manager *m, struct lease_request *req);

void lease_client_gone(struct lease_client *c) {
        struct lease_manager *m;
        bool again = true;

        if (!c)
                return;
        m = c->m;
        if (c->gone)
                return;
        c->gone = true;
        c->n_refs++; /* keep it while its leases and requests go */
        log_debug("leases: %s left the bus", c->name);
        for (unsigned i = m->n_queue; i-- > 0;) {
                struct lease_request *req = m->queue[i];
                if (req->client != c)
                        continue;
                if (req->lease) {
                        /* Being provisioned: given back when that ends. */
                        req->lease->release_wanted = true;
                        continue;
                }
                lease_stats_abandoned(m, req);
                queue_remove(m, req);
                lease_request_free(req);
        }
        while (again) {
                again = false;
                for (unsigned i = 0; i < m->n_leases; i++) {
                        struct lease *l = m->leases[i];
                        if (l->client != c || l->req || l->release_wanted)
                                continue;
                        lease_release(m, l,
                                      c->name[0] == ':' ? "its holder left the bus"
                                                        : "its connection to lease.sock closed");
                        again = true;
                        break;
                }
        }
        lease_client_unref(c);
        lease_manager_run_queue(m);
}

/* ---- requests ---- */

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
        if (m->queue_peak < QUEUE_TRIM_MIN)
                return;
        m->queue_peak = 0;
        free(m->queue);
        m->queue = NULL;
        (void) malloc_trim(0);
}

static void queue_remove(struct lease_manager *m, struct lease_request *req) {
        for (unsigned i = 0; i < m->n_queue; i++)
                if (m->queue[i] == req) {
                        memmove(&m->queue[i], &m->queue[i + 1],
                                (m->n_queue - i - 1) * sizeof(struct lease_request *));
                        m->n_queue--;
                        return;
                }
}

void lease_request_fail(struct lease_manager *m, struct lease_request *req, const char *name,
                        const char *fmt, ...) {
        char buf[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        log_info("leases: request of %s (uid %u%s%s) refused: %s", req->want.client,
                 (unsigned) req->want.uid, req->want.label[0] ? ", " : "", req->want.label, buf);
        if (req->sock)
                lease_sock_reply_error(req->sock, name, buf);
        else if (req->msg)
                (void) sd_bus_reply_method_errorf(req->msg, name, "%s", buf);
        lease_stats_answered(m, req, name);
        queue_remove(m, req);
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
        const struct policy *p = m->a->policy;
        unsigned held = 0, waiting = 0;

        for (unsigned i = 0; i < m->n_leases; i++)
                held += m->leases[i]->rec.uid == uid && m->leases[i]->rec.state != LEASE_RELEASING;
        for (unsigned i = 0; i < m->n_queue; i++)
                waiting += m->queue[i]->want.uid == uid && !m->queue[i]->lease;
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
        struct lease_request **n =
                realloc(m->queue, (m->n_queue + 1) * sizeof(struct lease_request *));
        int r;

        if (!n)
                return -ENOMEM;
        m->queue = n;
        if (req->wait_sec > 0) {
                r = sd_event_add_time_relative(m->a->event, &req->timer, CLOCK_MONOTONIC,
                                               (uint64_t) req->wait_sec * USEC_PER_SEC, 0,
                                               on_request_timeout, req);
                if (r < 0)
                        return r;
        }
        req->m = m;
        n[m->n_queue++] = req;
        if (m->n_queue > m->queue_peak)
                m->queue_peak = m->n_queue;
        lease_manager_run_queue(m);
        return 0;
}

/* ---- hugepages ---- */

static struct lease_pool_state *pool_state(struct lease_manager *m, uint64_t page_size) {
        for (unsigned i = 0; i < m->n_pools; i++)
                if (m->pools[i].page_size == page_size)
                        return &m->pools[i];
        if (m->n_pools >= HUGETLB_SIZES_MAX)
                return NULL;
        m->pools[m->n_pools] = (struct lease_pool_state){ .page_size = page_size };
        return &m->pools[m->n_pools++];
}

static const struct policy_hugepool *policy_pool(const struct policy *p, uint64_t page_size) {
        for (unsigned i = 0; i < p->n_pools; i++)
                if (p->pools[i].page_size == page_size)
                        return &p->pools[i];
        return NULL;
}

static uint64_t mem_total(const struct agent *a) {
        return a->report->memory.mem_total_kib * 1024;
}

/* Pages leases may grow the pool of page_size to: the policy's max (or pool); 0 when the policy
 * has no pool of that size (leases then use what is there). */
static uint64_t pool_max_pages(const struct agent *a, uint64_t page_size) {
        const struct policy_hugepool *h = policy_pool(a->policy, page_size);
        uint64_t pool, max;

        if (!h)
                return 0;
        pool = div_up(policy_size_resolve(&h->pool, mem_total(a)), page_size);
        max = h->max.set ? div_up(policy_size_resolve(&h->max, mem_total(a)), page_size) : pool;
        return max > pool ? max : pool;
}

static uint64_t leased_pages(const struct agent *a, uint64_t page_size) {
        for (unsigned i = 0; i < a->leases.n_sizes && i < HUGETLB_SIZES_MAX; i++)
                if (a->leases.hugepages[i].page_size == page_size)
                        return a->leases.hugepages[i].bytes / page_size;
        return 0;
}

static int pool_read(struct lease_manager *m, uint64_t page_size, struct lease_pool *ret) {
        struct hugepages_counts c;
        int r = hugepages_counts_read(m->root_fd, page_size, &c);

        if (r < 0)
                return r;
        *ret = (struct lease_pool){
                .nr = c.nr,
                .free = c.free,
                .resv = c.resv,
                .leased = leased_pages(m->a, page_size),
                .max = pool_max_pages(m->a, page_size),
        };
        return 0;
}

/* The numbers behind a hugepage answer, for people. */
static void describe_pool(const struct lease_pool *p, uint64_t page_size, uint64_t pages, char *buf,
                          size_t size) {
        char ps[32], want[32];

        snprintf(buf, size,
                 "%s of hugepages (%" PRIu64 " page%s of %s) requested; the pool has %" PRIu64
                 " pages, %" PRIu64 " free, %" PRIu64 " reserved, %" PRIu64
                 " promised to leases, %" PRIu64 " available; leases may grow it to %" PRIu64
                 " pages",
                 format_size(pages * page_size, want, sizeof(want)), pages, pages == 1 ? "" : "s",
                 format_size(page_size, ps, sizeof(ps)), p->nr, p->free, p->resv, p->leased,
                 lease_hugepages_available(p), p->max > p->nr ? p->max : p->nr);
}

static void refresh_total(struct lease_manager *m) {
        struct agent *a = m->a;
        uint64_t total = 0;

        for (unsigned i = 0; i < a->report->hugetlb.n_sizes; i++) {
                struct hugepages_counts c;
                uint64_t ps = a->report->hugetlb.sizes[i].page_size;
                if (hugepages_counts_read(m->root_fd, ps, &c) >= 0)
                        total += c.nr * ps;
        }
        if (total != a->hugepages_total) {
                a->hugepages_total = total;
                agent_bus_properties_changed(a, "HugePagesTotal");
        }
}

static void submit_resize(struct lease_manager *m, struct lease_pool_state *st, uint64_t cur,
                          uint64_t pages, const char *why) {
        struct lease_job *job = calloc(1, sizeof(*job));
        const struct policy *p = m->a->policy;

        if (!job)
                return;
        job->kind = LEASE_JOB_RESIZE;
        strscpy(job->runtime_dir, sizeof(job->runtime_dir), m->a->runtime_dir);
        hugepages_step_init(&job->step, st->page_size, cur, pages, p->reclaim,
                            p->reclaim_timeout_usec, why);
        st->growing = true;
        if (pages > cur && st->base == 0)
                st->base = cur;
        log_info("leases: %s hugepages-%" PRIu64 "kB from %" PRIu64 " to %" PRIu64 " pages (%s)",
                 pages > cur ? "growing" : "shrinking", st->page_size >> 10, cur, pages, why);
        lease_job_submit(m, job);
}

static void arm_shrink(struct lease_manager *m);

static int on_shrink(sd_event_source *s, uint64_t usec, void *userdata) {
        struct lease_manager *m = userdata;
        struct agent *a = m->a;

        (void) s;
        (void) usec;
        for (unsigned i = 0; i < m->n_pools; i++) {
                struct lease_pool_state *st = &m->pools[i];
                const struct policy_hugepool *h = policy_pool(a->policy, st->page_size);
                struct lease_pool p;
                uint64_t floor, target;
                bool wanted = false;

                if (st->growing || pool_read(m, st->page_size, &p) < 0)
                        continue;
                for (unsigned k = 0; k < m->n_queue; k++)
                        wanted = wanted || (m->queue[k]->pages > 0 &&
                                            m->queue[k]->want.hugepage_size == st->page_size);
                if (wanted)
                        continue;
                /* Back toward the policy's pool; without one, toward what the pool held before
                 * leases grew it. */
                if (h && h->pool.set)
                        floor = div_up(policy_size_resolve(&h->pool, mem_total(a)), st->page_size);
                else if (st->base > 0)
                        floor = st->base;
                else
                        continue;
                target = lease_hugepages_shrink_target(&p, floor);
                if (target < p.nr) {
                        submit_resize(m, st, p.nr, target, "leases ended and the pool was idle");
                        if (target <= floor)
                                st->base = 0;
                }
        }
        return 0;
}

/* Shrink an idle pool after [hugepages] shrink-after; every lease change starts the wait anew. */
static void arm_shrink(struct lease_manager *m) {
        int r = agent_timer_arm(m->a, &m->shrink_timer, m->a->policy->shrink_after_usec,
                                USEC_PER_MSEC * 100, on_shrink, m);

        if (r < 0)
                log_warning("leases: cannot arm the pool shrink timer: %s", strerror(-r));
}

/* ---- taps ---- */

static bool tap_busy(const struct lease_manager *m, const char *name) {
        uint64_t now = now_usec();

        for (size_t i = 0; i < ELEMENTSOF(m->busy_taps); i++)
                if (m->busy_taps[i].until > now && streq(m->busy_taps[i].name, name))
                        return true;
        return false;
}

/* Pass over a tap someone holds for a while (the oldest entry makes room). */
static void tap_mark_busy(struct lease_manager *m, const char *name) {
        size_t oldest = 0;

        for (size_t i = 1; i < ELEMENTSOF(m->busy_taps); i++)
                if (m->busy_taps[i].until < m->busy_taps[oldest].until)
                        oldest = i;
        strscpy(m->busy_taps[oldest].name, sizeof(m->busy_taps[oldest].name), name);
        m->busy_taps[oldest].until = now_usec() + TAP_BUSY_USEC;
}

static bool tap_leased(const struct agent *a, const char *name) {
        for (unsigned i = 0; i < a->leases.taps && i < TAPS_MAX; i++)
                if (streq(a->leases.tap_names[i], name))
                        return true;
        return false;
}

/* Up to want free taps of the pool (lowest numbers first) into ret; returns how many. */
static unsigned free_taps(struct lease_manager *m, struct lease_tap *ret, unsigned want) {
        const struct policy *p = m->a->policy;
        unsigned n = 0;

        for (unsigned i = 0; i < p->taps && n < want; i++) {
                char name[LEASE_TAP_NAME_MAX];
                uint32_t flags;
                int64_t owner;

                snprintf(name, sizeof(name), "%s%u", p->tap_prefix, i);
                if (tap_leased(m->a, name) || tap_busy(m, name) ||
                    tap_info(m->root_fd, name, &flags, &owner) < 0 || !(flags & IFF_PERSIST))
                        continue;
                strscpy(ret[n].name, sizeof(ret[n].name), name);
                ret[n].original_owner = owner;
                n++;
        }
        return n;
}

/* Give a tap back to its owner from before the lease (root when it had none: the kernel cannot
 * unset an owner, and the planner takes root for none). */
static int tap_give_back(struct lease_manager *m, const struct lease_tap *t, uid_t holder) {
        uint32_t flags;
        int64_t cur;
        int r = tap_info(m->root_fd, t->name, &flags, &cur);

        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (cur == t->original_owner || (t->original_owner < 0 && cur != (int64_t) holder))
                return 0;
        return tap_set_owner(m->root_fd, t->name,
                             t->original_owner < 0 ? 0 : (uid_t) t->original_owner);
}

/* ---- snapshots ---- */

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

static bool root_on_btrfs(struct lease_manager *m) {
        const struct path_facts *sr = &m->a->report->btrfs.snapshot_root;

        return sr->exists && sr->on_btrfs;
}

static bool refill_job_active(const struct lease_manager *m) {
        if (m->current && m->current->kind == LEASE_JOB_REFILL)
                return true;
        for (const struct lease_job *j = m->pending; j; j = j->next)
                if (j->kind == LEASE_JOB_REFILL)
                        return true;
        return false;
}

/* Refill the prepared set in the background once leases took from it. */
static void maybe_refill(struct lease_manager *m) {
        struct lease_job *job;

        if (!m->refill_wanted || !m->a->policy->snapshots_managed || refill_job_active(m))
                return;
        job = calloc(1, sizeof(*job));
        if (job)
                job->policy = malloc(sizeof(*job->policy));
        if (!job || !job->policy) {
                lease_job_free(job);
                return;
        }
        m->refill_wanted = false;
        job->kind = LEASE_JOB_REFILL;
        memcpy(job->policy, m->a->policy, sizeof(*job->policy));
        strscpy(job->runtime_dir, sizeof(job->runtime_dir), m->a->runtime_dir);
        lease_job_submit(m, job);
}

/* ---- release ---- */

static void arm_retry(struct lease_manager *m);

static void release_continue(struct lease_manager *m, struct lease *l) {
        char root[LEASE_PATH_MAX];
        unsigned kept = 0;
        int r;

        if (l->rec.snapshot_path[0]) {
                /* Deleted by the worker: a subvolume deletion waits for a btrfs transaction
                 * commit that a refill may have under way (milliseconds), a plain tree can be
                 * large; the event loop goes on answering meanwhile. */
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
                r = tap_give_back(m, &l->rec.taps[i], l->rec.uid);
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
        table_remove(m, l);
        /* Not written ahead of the reply: what a crash could bring back (the write-ahead in
         * lease_release() aside) is a lease whose holder is still on the bus, kept until it
         * leaves: capacity held too long, never promised twice. A burst of releases (a holder
         * of many leases left) writes once, a line per lease. Out of memory for the line: the
         * next compaction leaves the lease out all the same. */
        if (removal_due(m, l) < 0)
                m->log.must_compact = true;
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
                        struct lease_pool_state *st = pool_state(m, l->rec.hugepage_size);
                        if (st)
                                st->no_grow_before = 0;
                        arm_shrink(m);
                }
        }
        release_continue(m, l);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        struct lease_manager *m = userdata;
        bool again = true;

        (void) s;
        (void) usec;
        while (again) {
                again = false;
                for (unsigned i = 0; i < m->n_leases; i++) {
                        struct lease *l = m->leases[i];
                        if (l->rec.state != LEASE_RELEASING || l->job_running ||
                            l->next_tap_retry_usec == 0 || l->next_tap_retry_usec > now_usec())
                                continue;
                        l->next_tap_retry_usec = 0;
                        release_continue(m, l);
                        again = true;
                        break;
                }
        }
        return 0;
}

static void arm_retry(struct lease_manager *m) {
        int r = agent_timer_arm(m->a, &m->retry_timer, TAP_RETRY_USEC, USEC_PER_MSEC * 100,
                                on_retry, m);

        if (r < 0)
                log_warning("leases: cannot arm the tap retry timer: %s", strerror(-r));
}

/* ---- provisioning ---- */

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
        vsnprintf(msg, sizeof(msg), fmt, ap);
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
                        queue_remove(m, req);
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
        queue_remove(m, req);
        lease_request_free(req);
        if (l->rec.hugepage_bytes > 0)
                arm_shrink(m);
        maybe_refill(m);
}

static void snapshot_done(struct lease_manager *m, struct lease *l,
                          const struct snapshot_lease_dir *d) {
        strscpy(l->rec.snapshot_path, sizeof(l->rec.snapshot_path), d->path);
        l->rec.snapshot_subvolume = d->subvolume;
        l->rec.snapshot_source = d->source;
        if (d->source == LEASE_SNAPSHOT_PREPARED || d->source == LEASE_SNAPSHOT_SLOT)
                m->refill_wanted = true;
}

enum serve {
        SERVE_WAIT,    /* capacity is missing: it waits (or fails when it may not) */
        SERVE_GROWING, /* the pool grows for it */
        SERVE_STARTED, /* provisioning started (and maybe ended) */
        SERVE_FAILED,  /* answered with an error */
        SERVE_AGAIN,   /* a tap was busy: choose again */
};

static enum serve provision(struct lease_manager *m, struct lease_request *req,
                            const struct lease_tap *taps) {
        struct agent *a = m->a;
        struct lease *l = calloc(1, sizeof(*l));
        struct snapshot_lease_dir d;
        const char *root = a->policy->snapshot_root;
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
                        tap_mark_busy(m, l->rec.taps[i].name);
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
                        m->refill_wanted = true; /* the prepared set was empty */
                        maybe_refill(m);
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

/* Can req be served now? Start it when it can; say why not when it cannot. */
static enum serve try_serve(struct lease_manager *m, struct lease_request *req) {
        struct agent *a = m->a;
        struct lease_tap taps[LEASE_TAPS_MAX];
        uint64_t target = 0;

        if (req->pages > 0) {
                uint64_t ps = req->want.hugepage_size;
                struct lease_pool_state *st = pool_state(m, ps);
                struct lease_pool p;
                enum lease_fit fit;
                int r;

                if (!st) {
                        lease_request_fail(m, req, SD_BUS_ERROR_FAILED, "too many page sizes");
                        return SERVE_FAILED;
                }
                if (st->growing)
                        return SERVE_GROWING;
                r = pool_read(m, ps, &p);
                if (r < 0) {
                        lease_request_fail(m, req, SD_BUS_ERROR_FAILED,
                                           "cannot read the hugepage pool: %s", strerror(-r));
                        return SERVE_FAILED;
                }
                fit = lease_hugepages_fit(&p, req->pages, &target);
                describe_pool(&p, ps, req->pages, req->why, sizeof(req->why));
                req->why_error = AGENT_ERROR_INSUFFICIENT_HUGEPAGES;
                if (fit == LEASE_FIT_NEVER) {
                        lease_request_fail(m, req, AGENT_ERROR_EXCEEDS_POOL,
                                           "%s: more than the pool may ever hold", req->why);
                        return SERVE_FAILED;
                }
                if (fit == LEASE_FIT_GROW && now_usec() < st->no_grow_before) {
                        size_t n = strlen(req->why);
                        snprintf(req->why + n, sizeof(req->why) - n, "; growing it fell short: %s",
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
                                size_t n = strlen(req->why);
                                snprintf(req->why + n, sizeof(req->why) - n,
                                         "; the memory cannot hold the growth: %s", why);
                                return SERVE_WAIT;
                        }
                        snprintf(why, sizeof(why), "a lease for %" PRIu64 " pages needs room",
                                 req->pages);
                        submit_resize(m, st, p.nr, target, why);
                        return SERVE_GROWING;
                }
        }
        if (req->taps > 0) {
                unsigned have;

                if (a->apply) {
                        snprintf(req->why, sizeof(req->why),
                                 "an apply is running (it may change the taps); the request waits "
                                 "for its end");
                        req->why_error = AGENT_ERROR_NOT_READY;
                        return SERVE_WAIT;
                }
                have = free_taps(m, taps, req->taps);
                if (have < req->taps) {
                        snprintf(req->why, sizeof(req->why),
                                 "%u tap%s requested; %u of the pool's %u free (%u leased)",
                                 req->taps, req->taps == 1 ? "" : "s", have, a->policy->taps,
                                 a->leases.taps);
                        req->why_error = AGENT_ERROR_INSUFFICIENT_TAPS;
                        return SERVE_WAIT;
                }
        }
        return provision(m, req, taps);
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

        for (unsigned i = 0; i < m->n_queue;) {
                struct lease_request *req = m->queue[i];
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
                if (i < m->n_queue && m->queue[i] == req) {
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
        for (unsigned i = 0; i < m->n_queue && !waiting; i++)
                waiting = !m->queue[i]->lease && m->queue[i]->pages > 0;
        r = agent_timer_arm(m->a, &m->wait_timer, waiting ? WAIT_RETRY_USEC : 0,
                            USEC_PER_MSEC * 100, on_wait_retry, m);
        if (r < 0)
                log_warning("leases: cannot arm the retry timer of waiting requests: %s",
                            strerror(-r));
}

void lease_manager_run_queue(struct lease_manager *m) {
        if (m->in_queue_run) {
                m->queue_again = true;
                return;
        }
        m->in_queue_run = true;
        do {
                m->queue_again = false;
                run_queue_once(m);
        } while (m->queue_again);
        m->in_queue_run = false;
        if (m->n_queue == 0)
                queue_drained(m);
        arm_wait_retry(m);
        maybe_refill(m);
}

/* ---- worker results ---- */

void lease_job_finished(struct lease_manager *m, struct lease_job *job) {
        struct agent *a = m->a;
        struct lease *l = job->lease;

        switch (job->kind) {
        case LEASE_JOB_RESIZE: {
                struct lease_pool_state *st = pool_state(m, job->step.u.hugepages.page_size);
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
                refresh_total(m);
                agent_notify_status(a, "%s; %u lease%s", a->ready ? "Ready" : "Not ready",
                                    m->n_leases, m->n_leases == 1 ? "" : "s");
                agent_apply_run_deferred(a);
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
                agent_apply_run_deferred(a);
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
                        release_continue(m, l);
                break;
        }
}

/* ---- the agent's side ---- */

/* Every pool the policy sizes is watched for shrinking, also one a crashed agent's leases
 * grew. */
static void track_policy_pools(struct lease_manager *m) {
        for (unsigned i = 0; i < m->a->policy->n_pools; i++)
                if (m->a->policy->pools[i].pool.set)
                        (void) pool_state(m, m->a->policy->pools[i].page_size);
}

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
        m->event_fd = -1;
        /* Its first write, at the latest once the leases of the last run are restored, compacts:
         * the file the last run left may end in a torn line, never to be appended to. */
        lease_log_init(&m->log, a->runtime_fd);
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->cond, NULL);
        a->lease_mgr = m;
        m->root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->root_fd < 0)
                return negative_errno();
        r = lease_worker_start(m);
        if (r < 0) {
                log_error("leases: cannot start the worker: %s", strerror(-r));
                return r;
        }
        r = lease_cgroups_new(m->root_fd, a->runtime_fd, a->event, &m->cgroups);
        if (r < 0)
                return r;
        r = lease_manager_restore(m);
        if (r < 0)
                return r;
        cgroups_restored(m);
        track_policy_pools(m);
        arm_shrink(m);
        return 0;
}

void agent_leases_done(struct agent *a) {
        struct lease_manager *m = a->lease_mgr;

        if (!m)
                return;
        lease_worker_stop(m);
        /* The table as it is now goes to the file before it is freed. */
        if (m->save_pending)
                (void) lease_manager_save(m, NULL);
        lease_log_close(&m->log);
        free(m->removed);
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
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->cond);
        free(m);
        a->lease_mgr = NULL;
}

bool agent_leases_journal_busy(const struct agent *a) {
        return lease_worker_journal_busy(a->lease_mgr);
}

void agent_leases_apply_ended(struct agent *a) {
        if (!a->lease_mgr)
                return;
        lease_worker_kick(a->lease_mgr);
        lease_manager_run_queue(a->lease_mgr);
}

void agent_leases_policy_changed(struct agent *a) {
        if (!a->lease_mgr)
                return;
        track_policy_pools(a->lease_mgr);
        arm_shrink(a->lease_mgr);
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
