/* SPDX-License-Identifier: MIT */
/* The lease table and its file: leases added, found and removed, the table written
 * (at once for a grant, a moment later for a removal) and published to the rest of the agent.
 * Behaviour and guarantees of the leases: docs/leases.md. */
#include "agent/lease.h"

#include "lib/fileio.h"
#include "lib/parse.h"

/* A lease's removal is written this long after it (with every change until then): releases
 * one after the other, each answered before the next comes, write the file once. */
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

void lease_manager_remove(struct lease_manager *m, struct lease *l) {
        for (unsigned i = 0; i < m->table.n_leases; i++)
                if (m->table.leases[i] == l) {
                        memmove(&m->table.leases[i], &m->table.leases[i + 1],
                                (m->table.n_leases - i - 1) * sizeof(struct lease *));
                        m->table.n_leases--;
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

int lease_manager_save(struct lease_manager *m) {
        _cleanup_free_ const struct lease_record **recs = records(m);
        _cleanup_free_ char *text = recs ? lease_file_format(recs, m->table.n_leases) : NULL;
        int r;

        /* The whole table goes out: whatever waited for lease_manager_save_later() too. */
        m->table.save_pending = false;
        if (m->timers.save)
                (void) sd_event_source_set_enabled(m->timers.save, SD_EVENT_OFF);
        if (!text)
                r = -ENOMEM;
        else
                r = write_file_replace_at(m->a->runtime_fd, LEASES_FILE, text, strlen(text), 0644);
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
                (void) lease_manager_save(m);
        return 0;
}

void lease_manager_save_later(struct lease_manager *m) {
        int r = -ESTALE;

        if (m->table.save_pending)
                return; /* the timer runs: this change goes out with the others */
        m->table.save_pending = true;
        /* Armed by the first change, not pushed back by later ones: nothing waits longer than
         * SAVE_DELAY_USEC to be written. */
        if (m->a->event)
                r = agent_timer_arm(m->a, &m->timers.save, SAVE_DELAY_USEC, USEC_PER_MSEC,
                                    on_save_due, m);
        if (r < 0)
                (void) lease_manager_save(m); /* no loop to wait for: now */
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
