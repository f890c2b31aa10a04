/* SPDX-License-Identifier: MIT */
/* The lease table and its file: leases added, found and removed, their changes written to the
 * lease file's log (at once for a grant, a moment later for a removal; runtime/lease-file.h) and
 * published to the rest of the agent.
 * Behaviour and guarantees of the leases: docs/leases.md. */
#include "agent/lease.h"

#include "lib/fileio.h"
#include "lib/parse.h"

/* A lease's removal is written this long after it (with every change until then): releases
 * one after the other, each answered before the next comes, write once. */
#define SAVE_DELAY_USEC (50 * USEC_PER_MSEC)

void lease_free(struct lease *l) {
        if (!l)
                return;
        if (l->client)
                lease_client_unref(l->client);
        free(l);
}

int lease_manager_add(struct lease_manager *m, struct lease *l) {
        struct lease **n =
                realloc(m->table.leases, (m->table.n_leases + 1) * sizeof(struct lease *));

        if (!n)
                return -ENOMEM;
        m->table.leases = n;
        n[m->table.n_leases++] = l;
        return 0;
}

/* l left the table: when it is on file, its "remove" line is due. */
static void removal_due(struct lease_manager *m, const struct lease *l) {
        if (!l->on_file)
                return;
        if (m->table.n_removed == m->table.removed_capacity) {
                unsigned c = m->table.removed_capacity ? 2 * m->table.removed_capacity : 16;
                char(*n)[LEASE_ID_LEN + 1] = reallocarray(m->table.removed, c, sizeof(*n));

                if (!n) {
                        /* The next write compacts: it leaves the lease out all the same. */
                        m->table.log.must_compact = true;
                        return;
                }
                m->table.removed = n;
                m->table.removed_capacity = c;
        }
        strscpy(m->table.removed[m->table.n_removed++], LEASE_ID_LEN + 1, l->rec.id);
}

void lease_manager_remove(struct lease_manager *m, struct lease *l) {
        for (unsigned i = 0; i < m->table.n_leases; i++)
                if (m->table.leases[i] == l) {
                        memmove(&m->table.leases[i], &m->table.leases[i + 1],
                                (m->table.n_leases - i - 1) * sizeof(struct lease *));
                        m->table.n_leases--;
                        removal_due(m, l);
                        return;
                }
}

struct lease *lease_manager_find(struct lease_manager *m, const char *id) {
        for (unsigned i = 0; i < m->table.n_leases; i++)
                if (streq(m->table.leases[i]->rec.id, id))
                        return m->table.leases[i];
        return NULL;
}

/* The records of the table, for the file and the usage. */
static const struct lease_record **records(struct lease_manager *m) {
        const struct lease_record **recs = calloc(m->table.n_leases ? m->table.n_leases : 1,
                                                  sizeof(const struct lease_record *));

        for (unsigned i = 0; recs && i < m->table.n_leases; i++)
                recs[i] = &m->table.leases[i]->rec;
        return recs;
}

/* The whole table as the file's only content. */
static int compact(struct lease_manager *m) {
        _cleanup_free_ const struct lease_record **recs = records(m);
        int r = recs ? lease_log_compact(&m->table.log, recs, m->table.n_leases) : -ENOMEM;

        if (r < 0)
                return r;
        for (unsigned i = 0; i < m->table.n_leases; i++) {
                m->table.leases[i]->on_file = true;
                m->table.leases[i]->unsaved = false;
        }
        m->table.n_removed = 0;
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
        for (unsigned i = 0; i < m->table.n_leases; i++)
                if (m->table.leases[i]->unsaved)
                        set[k++] = &m->table.leases[i]->rec;
        r = lease_log_append(&m->table.log, set, k, m->table.removed, m->table.n_removed);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < m->table.n_leases; i++)
                if (m->table.leases[i]->unsaved) {
                        m->table.leases[i]->on_file = true;
                        m->table.leases[i]->unsaved = false;
                }
        m->table.n_removed = 0;
        return 0;
}

int lease_manager_save(struct lease_manager *m, struct lease *l) {
        unsigned n_set = 0, n_live = 0;
        int r;

        if (l)
                l->unsaved = true;
        /* Everything due goes out: whatever waited for lease_manager_save_later() too. */
        m->table.save_pending = false;
        if (m->timers.save)
                (void) sd_event_source_set_enabled(m->timers.save, SD_EVENT_OFF);
        for (unsigned i = 0; i < m->table.n_leases; i++) {
                n_set += m->table.leases[i]->unsaved;
                n_live += m->table.leases[i]->unsaved || m->table.leases[i]->on_file;
        }
        if (n_set == 0 && m->table.n_removed == 0 && !m->table.log.must_compact)
                return 0;
        if (lease_log_wants_compaction(&m->table.log, n_set + m->table.n_removed, n_live))
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
        if (m->table.save_pending)
                (void) lease_manager_save(m, NULL);
        return 0;
}

void lease_manager_save_later(struct lease_manager *m, struct lease *l) {
        int r = -ESTALE;

        if (l)
                l->unsaved = true;
        if (m->table.save_pending)
                return; /* the timer runs: this change goes out with the others */
        m->table.save_pending = true;
        /* Armed by the first change, not pushed back by later ones: nothing waits longer than
         * SAVE_DELAY_USEC to be written. */
        if (m->a->event)
                r = agent_timer_arm(m->a, &m->timers.save, SAVE_DELAY_USEC, USEC_PER_MSEC,
                                    on_save_due, m);
        if (r < 0)
                (void) lease_manager_save(m, NULL); /* no loop to wait for: now */
}

void lease_manager_publish(struct lease_manager *m) {
        _cleanup_free_ const struct lease_record **recs = records(m);
        struct lease_usage u;

        if (!recs)
                return;
        lease_usage_compute(recs, m->table.n_leases, &u);
        /* Every output says what leases hold, so they are written when that changed. */
        if (m->table.published && lease_usage_equal(&u, &m->a->lease.held))
                return;
        m->a->lease.held = u;
        m->table.published = true;
        agent_leases_changed(m->a);
}
