/* SPDX-License-Identifier: MIT */
/* Starting with the leases of an earlier run (docs/leases.md, "Lifetimes"): hosttuned may have
 * been restarted, or killed with leases out. The lease file says what each lease held and how
 * far an acquire or release had come; the bus says whose holders are still there. What nobody
 * holds any more goes back, so a crashed agent leaks nothing, and nothing is given twice. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "agent/lease-restore.h"
#include "agent/lease.h"
#include "agent/log.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/hugepages.h"
#include "policies/apply/net.h"

#define LEASES_FILE_MAX (64U * 1024U * 1024U)

/* 1 when the unique name is on the bus, 0 when it is not, negative errno when the bus could not
 * say. Unique names are never given out twice by one bus daemon, so a holder that is gone
 * cannot come back under its name. */
static int name_has_owner(sd_bus *bus, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int has = 0, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "NameHasOwner", &error, &reply, "s", name);
        sd_bus_error_free(&error);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &has);
        return r < 0 ? r : has != 0;
}

static bool kept(const struct lease_manager *m, const char *id) {
        for (unsigned i = 0; i < m->table.n_leases; i++)
                if (streq(m->table.leases[i]->rec.id, id))
                        return m->table.leases[i]->rec.state == LEASE_ACTIVE;
        return false;
}

struct sweep {
        struct lease_manager *m;
        const char *root;
        unsigned removed;
};

/* A directory under <root>/leases that no kept lease names: left by a crash between taking it
 * and recording the lease, or between recording a release and deleting it. */
static int sweep_cb(const char *name, void *userdata) {
        struct sweep *s = userdata;
        int r;

        if (kept(s->m, name))
                return 0;
        if (!lease_id_valid(name)) {
                log_warning("leases: %s/%s/%s is not a lease's directory; left alone", s->root,
                            LEASES_SNAPSHOT_DIR, name);
                return 0;
        }
        r = snapshot_lease_delete(s->m->root_fd, s->root, name);
        if (r < 0)
                log_warning("leases: cannot delete the leftover %s/%s/%s: %s", s->root,
                            LEASES_SNAPSHOT_DIR, name, strerror(-r));
        else
                s->removed++;
        return 0;
}

static int load(struct lease_manager *m, struct lease_record **ret, unsigned *ret_n) {
        struct agent *a = m->a;
        struct lease_file_info info;
        _cleanup_free_ char *text = NULL;
        char path[POLICY_PATH_MAX + 32], aside[POLICY_PATH_MAX + 48];
        int r;

        /* For messages and the rename aside; a runtime directory too long for it is quoted cut
         * short, and the bad file then stays where it is. */
        bool have_path = bufprintf(path, sizeof(path), "%s/%s", a->runtime_dir, LEASES_FILE) >= 0;

        /* The agent's own directory: a symbolic link there is never followed. */
        r = read_file_alloc_at(a->runtime_fd, LEASES_FILE, READ_NOFOLLOW, LEASES_FILE_MAX, &text,
                               NULL);
        if (r == -ENOENT) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r >= 0)
                r = lease_file_parse(text, ret, ret_n, &info);
        if (r >= 0 && info.torn_bytes > 0)
                log_warning("leases: the last line of %s is incomplete (%zu bytes: a write cut "
                            "short when hosttuned stopped); ignored: a grant is answered only "
                            "once its line is whole",
                            path, info.torn_bytes);
        if (r < 0) {
                /* Kept for a person to look at; without it nothing is known to be leftover. */
                if (have_path && bufprintf(aside, sizeof(aside), "%s.bad", path) >= 0)
                        (void) rename(path, aside);
                agent_set_last_error(a,
                                     "leases: cannot read %s (%s); moved to %s, starting without "
                                     "leases and without removing leftovers",
                                     path, file_strerror(r), aside);
        }
        return r;
}

/* Pages of page_size that leases restored so far hold (kept ones only). */
static uint64_t restored_pages(const struct lease_manager *m, const struct lease *upto,
                               uint64_t page_size) {
        uint64_t pages = 0;

        for (unsigned i = 0; i < m->table.n_leases && m->table.leases[i] != upto; i++) {
                const struct lease_record *r = &m->table.leases[i]->rec;
                if (r->state == LEASE_ACTIVE && r->hugepage_size == page_size)
                        pages += r->hugepage_bytes / page_size;
        }
        return pages;
}

/* Does a lease the file says is held still have what it holds? Its pages must fit the pool as
 * the kernel has it now, next to the leases restored before it (a reboot or someone else
 * emptied it, or the file was edited); its directory must be <snapshot root>/leases/<id> and
 * be there; its taps must exist. Parts that are not there are dropped from the record, so
 * giving the lease back touches nothing it does not own. 0, or -ESTALE with why filled. */
static int restored_lease_check(struct lease_manager *m, struct lease *l, char *why, size_t size) {
        struct lease_record *r = &l->rec;
        const char *root = m->a->in_force.policy->snapshot_root;
        char want[LEASE_PATH_MAX + 32], sz[32], ps[32];
        unsigned kept = 0;
        int ret = 0;

        if (r->hugepage_bytes > 0) {
                struct hugepages_counts c;
                uint64_t pages = r->hugepage_bytes / r->hugepage_size,
                         before = restored_pages(m, l, r->hugepage_size);

                if (hugepages_counts_read(m->root_fd, r->hugepage_size, &c) < 0)
                        c.nr = 0;
                if (pages > c.nr || before > c.nr - pages) {
                        bufprintf_trunc(why, size,
                                        "%s of %s hugepages do not fit the pool (%" PRIu64
                                        " pages, %" PRIu64 " held by leases restored before it)",
                                        format_size(r->hugepage_bytes, sz, sizeof(sz)),
                                        format_size(r->hugepage_size, ps, sizeof(ps)), c.nr,
                                        before);
                        ret = -ESTALE;
                }
        }
        if (r->snapshot_path[0]) {
                struct stat st;

                xsprintf(want, "%s/%s/%s", root, LEASES_SNAPSHOT_DIR, r->id);
                if (!streq(r->snapshot_path, want)) {
                        if (!ret)
                                bufprintf_trunc(why, size, "its directory %s is not %s",
                                                r->snapshot_path, want);
                        r->snapshot_path[0] = 0; /* not ours to delete */
                        ret = -ESTALE;
                } else if (stat_in_root(m->root_fd, r->snapshot_path, &st) < 0 ||
                           !S_ISDIR(st.st_mode)) {
                        if (!ret)
                                bufprintf_trunc(why, size, "its directory %s is gone",
                                                r->snapshot_path);
                        r->snapshot_path[0] = 0;
                        ret = -ESTALE;
                }
        } else if (r->snapshot) {
                if (!ret)
                        bufprintf_trunc(why, size,
                                        "it was to hold a snapshot directory and has none");
                ret = -ESTALE;
        }
        for (unsigned i = 0; i < r->n_taps; i++) {
                uint32_t flags;
                int64_t owner;

                int k = tap_info(m->root_fd, r->taps[i].name, &flags, &owner);

                /* Gone, or a name now held by something that is not a tap. */
                if (k == -ENOENT || k == -EMEDIUMTYPE || k == -EINVAL) {
                        if (!ret)
                                bufprintf_trunc(why, size, "its tap %s is gone", r->taps[i].name);
                        ret = -ESTALE;
                        continue;
                }
                r->taps[kept++] = r->taps[i];
        }
        r->n_taps = kept;
        return ret;
}

int lease_manager_restore(struct lease_manager *m) {
        struct agent *a = m->a;
        _cleanup_free_ struct lease_record *recs = NULL;
        struct sweep sweep = { .m = m, .root = a->in_force.policy->snapshot_root };
        unsigned n = 0, kept_n = 0, released = 0;
        int r;

        r = load(m, &recs, &n);
        if (r < 0) {
                lease_manager_publish(m);
                return 0;
        }
        for (unsigned i = 0; i < n; i++) {
                struct lease *l = calloc(1, sizeof(*l));

                if (!l)
                        return -ENOMEM;
                l->rec = recs[i];
                r = lease_manager_add(m, l);
                if (r < 0) {
                        free(l);
                        return r;
                }
                /* A lease that was being taken or given back is given back (below). */
                if (l->rec.state == LEASE_ACTIVE && !l->rec.persist) {
                        /* A lease.sock connection (client not a bus name) did not outlive
                         * the agent that accepted it. */
                        int has =
                                l->rec.client[0] == ':' ? name_has_owner(a->bus, l->rec.client) : 0;
                        if (has < 0)
                                log_warning("leases: cannot ask the bus about %s (%s); lease %s "
                                            "kept",
                                            l->rec.client, strerror(-has), l->rec.id);
                        if (has == 0)
                                /* Not kept: given back like one cut short while taken. */
                                l->rec.state = LEASE_PROVISIONING;
                        else if (lease_client_get(m, l->rec.client, &l->client) < 0)
                                log_warning("leases: cannot watch %s; lease %s is kept until "
                                            "released",
                                            l->rec.client, l->rec.id);
                }
                /* Every record is checked, so a release a crash cut short also deletes and
                 * gives back only what is there and ours; a lease still held that lost what it
                 * holds is given back. */
                char why[256];
                if (restored_lease_check(m, l, why, sizeof(why)) < 0 &&
                    l->rec.state == LEASE_ACTIVE) {
                        log_warning("leases: lease %s%s%s%s of uid %u is not restored: %s",
                                    l->rec.id, l->rec.label[0] ? " (" : "", l->rec.label,
                                    l->rec.label[0] ? ")" : "", (unsigned) l->rec.uid, why);
                        lease_client_unref(l->client);
                        l->client = NULL;
                        l->rec.state = LEASE_PROVISIONING; /* given back below */
                        strscpy(l->release_reason, sizeof(l->release_reason),
                                "not restored: what it held is not there");
                }
                kept_n += l->rec.state == LEASE_ACTIVE;
        }
        /* Publish what stays, then remove what nothing names, then give the rest back. */
        lease_manager_publish(m);
        if (!isempty(sweep.root)) {
                char dir[POLICY_PATH_MAX + 16];
                xsprintf(dir, "%s/%s", sweep.root, LEASES_SNAPSHOT_DIR);
                r = read_dir_names_at(m->root_fd, dir, sweep_cb, &sweep);
                if (r < 0 && r != -ENOENT)
                        log_warning("leases: cannot look through %s: %s", dir, strerror(-r));
        }
        for (bool again = true; again;) {
                again = false;
                for (unsigned i = 0; i < m->table.n_leases; i++) {
                        struct lease *l = m->table.leases[i];
                        if (l->rec.state == LEASE_ACTIVE || l->rec.state == LEASE_RELEASING ||
                            l->release_wanted)
                                continue;
                        char why[sizeof(l->release_reason)];
                        strscpy(why, sizeof(why),
                                l->release_reason[0] ? l->release_reason
                                                     : "its holder is gone, or hosttuned stopped "
                                                       "while it was being taken or given back");
                        lease_release(m, l, why);
                        released++;
                        again = true;
                        break;
                }
        }
        /* Releases a crash cut short go on from where they were. */
        for (bool again = true; again;) {
                again = false;
                for (unsigned i = 0; i < m->table.n_leases; i++) {
                        struct lease *l = m->table.leases[i];
                        if (l->rec.state != LEASE_RELEASING || l->job_running ||
                            l->next_tap_retry_usec)
                                continue;
                        l->next_tap_retry_usec = 1; /* once here; the retry timer does the rest */
                        lease_release(m, l, "a release was cut short");
                        released++;
                        again = true;
                        break;
                }
        }
        (void) lease_manager_save(m, NULL); /* the first write: a compaction */
        lease_manager_publish(m);
        if (n > 0 || sweep.removed > 0)
                log_info("leases: %u of %u lease%s kept from the last run, %u given back, %u "
                         "leftover director%s removed",
                         kept_n, n, n == 1 ? "" : "s", released, sweep.removed,
                         sweep.removed == 1 ? "y" : "ies");
        return 0;
}
