/* SPDX-License-Identifier: MIT */
/* The taps of the policy's pool as leases use them: free ones found, busy ones passed over
 * for a while, each given back to its owner from before the lease. */
#include "agent/lease.h"

#include <linux/if_tun.h>

#include "lib/parse.h"
#include "policies/apply/net.h"

/* A tap that was busy when a lease wanted it is passed over for this long. */
#define TAP_BUSY_USEC (2 * USEC_PER_SEC)

static bool tap_busy(const struct lease_manager *m, const char *name) {
        uint64_t now = now_usec();

        for (size_t i = 0; i < ELEMENTSOF(m->taps.busy); i++)
                if (m->taps.busy[i].until > now && streq(m->taps.busy[i].name, name))
                        return true;
        return false;
}

/* Pass over a tap someone holds for a while (the oldest entry makes room). */
void lease_tap_mark_busy(struct lease_manager *m, const char *name) {
        size_t oldest = 0;

        for (size_t i = 1; i < ELEMENTSOF(m->taps.busy); i++)
                if (m->taps.busy[i].until < m->taps.busy[oldest].until)
                        oldest = i;
        strscpy(m->taps.busy[oldest].name, sizeof(m->taps.busy[oldest].name), name);
        m->taps.busy[oldest].until = now_usec() + TAP_BUSY_USEC;
}

static bool tap_leased(const struct agent *a, const char *name) {
        for (unsigned i = 0; i < a->lease.held.taps && i < TAPS_MAX; i++)
                if (streq(a->lease.held.tap_names[i], name))
                        return true;
        return false;
}

/* Up to want free taps of the pool (lowest numbers first) into ret; returns how many. */
unsigned lease_taps_free(struct lease_manager *m, struct lease_tap *ret, unsigned want) {
        const struct policy *p = m->a->in_force.policy;
        unsigned n = 0;

        for (unsigned i = 0; i < p->taps && n < want; i++) {
                char name[LEASE_TAP_NAME_MAX];
                uint32_t flags;
                int64_t owner;

                if (bufprintf(name, sizeof(name), "%s%u", p->tap_prefix, i) < 0)
                        break; /* no tap can have the name, nor those after it */
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
int lease_tap_give_back(struct lease_manager *m, const struct lease_tap *t, uid_t holder) {
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
