/* SPDX-License-Identifier: MIT */
/* The bus peers that hold leases or wait for them: watched (sd_bus_track), so that a
 * peer's leases end and its requests go when it leaves the bus. */
#include "agent/lease.h"

#include "agent/log.h"

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
        for (unsigned i = 0; name && i < m->peers.n_clients; i++)
                if (streq(m->peers.clients[i]->name, name) && !m->peers.clients[i]->gone)
                        return m->peers.clients[i];
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
        n = realloc(m->peers.clients, (m->peers.n_clients + 1) * sizeof(struct lease_client *));
        if (!n)
                return -ENOMEM;
        m->peers.clients = n;
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
        m->peers.clients[m->peers.n_clients++] = c;
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
        for (unsigned i = 0; i < m->peers.n_clients; i++)
                if (m->peers.clients[i] == c) {
                        memmove(&m->peers.clients[i], &m->peers.clients[i + 1],
                                (m->peers.n_clients - i - 1) * sizeof(struct lease_client *));
                        m->peers.n_clients--;
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
        for (unsigned i = m->requests.n_queue; i-- > 0;) {
                struct lease_request *req = m->requests.queue[i];
                if (req->client != c)
                        continue;
                if (req->lease) {
                        /* Being provisioned: given back when that ends. */
                        req->lease->release_wanted = true;
                        continue;
                }
                lease_stats_abandoned(m, req);
                lease_queue_remove(m, req);
                lease_request_free(req);
        }
        while (again) {
                again = false;
                for (unsigned i = 0; i < m->table.n_leases; i++) {
                        struct lease *l = m->table.leases[i];
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
