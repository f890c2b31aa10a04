/* SPDX-License-Identifier: MIT */
/* Lease rules without a kernel or state: names, hugepage admission, the plan filter. */
#include "policies/lease-rules.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>

#include "lib/util.h"

static const char *const lease_snapshot_source_table[_LEASE_SNAPSHOT_SOURCE_MAX] = {
        [LEASE_SNAPSHOT_NONE] = "none",
        [LEASE_SNAPSHOT_PREPARED] = "prepared",
        [LEASE_SNAPSHOT_SLOT] = "slot",
        [LEASE_SNAPSHOT_SNAPSHOT] = "snapshot",
        [LEASE_SNAPSHOT_COPY] = "copy",
        [LEASE_SNAPSHOT_NEW_SUBVOLUME] = "new-subvolume",
        [LEASE_SNAPSHOT_NEW_DIRECTORY] = "new-directory",
};

DEFINE_STRING_TABLE_LOOKUP(lease_snapshot_source, enum lease_snapshot_source, "?")

bool lease_template_name_valid(const char *name) {
        size_t l = strnlen(name, LEASE_TEMPLATE_NAME_MAX + 1);

        if (l == 0 || l > LEASE_TEMPLATE_NAME_MAX || name[0] == '.' || strstr(name, ".."))
                return false;
        for (size_t i = 0; i < l; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return false;
        }
        return true;
}

bool lease_label_valid(const char *label) {
        size_t l = strnlen(label, LEASE_LABEL_MAX + 1);

        if (l > LEASE_LABEL_MAX)
                return false;
        for (size_t i = 0; i < l; i++)
                if ((unsigned char) label[i] < ' ' || label[i] == 0x7f)
                        return false;
        return true;
}

bool lease_id_valid(const char *id) {
        if (strnlen(id, LEASE_ID_LEN + 1) != LEASE_ID_LEN)
                return false;
        for (size_t i = 0; i < LEASE_ID_LEN; i++)
                if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
                        return false;
        return true;
}

int lease_id_new(char *buf, size_t size) {
        uint8_t raw[LEASE_ID_LEN / 2];
        ssize_t n;

        if (size < LEASE_ID_LEN + 1)
                return -ENOBUFS;
        n = getrandom(raw, sizeof(raw), 0);
        if (n < 0)
                return negative_errno();
        if ((size_t) n != sizeof(raw))
                return -EIO;
        for (size_t i = 0; i < sizeof(raw); i++)
                bufprintf_trunc(buf + 2 * i, 3, "%02x", raw[i]); /* two digits: never cut */
        return 0;
}

/* ---- hugepage admission ---- */

uint64_t lease_hugepages_available(const struct lease_pool *p) {
        uint64_t unreserved = p->free > p->resv ? p->free - p->resv : 0;
        uint64_t unpromised = p->nr > p->leased ? p->nr - p->leased : 0;

        return unreserved < unpromised ? unreserved : unpromised;
}

enum lease_fit lease_hugepages_fit(const struct lease_pool *p, uint64_t pages,
                                   uint64_t *ret_target) {
        uint64_t ceiling = p->max > p->nr ? p->max : p->nr;
        uint64_t unreserved = p->free > p->resv ? p->free - p->resv : 0;
        uint64_t grow = 0, target;

        if (pages <= lease_hugepages_available(p))
                return LEASE_FIT_NOW;
        if (pages > ceiling)
                return LEASE_FIT_NEVER;
        if (p->leased > ceiling - pages)
                return LEASE_FIT_WAIT; /* the promised pages alone leave no room */
        /* Grow by what is missing on either bound: room beyond the promised pages, and free
         * pages (every page added to the pool arrives free). */
        if (p->leased + pages > p->nr)
                grow = p->leased + pages - p->nr;
        if (pages > unreserved && pages - unreserved > grow)
                grow = pages - unreserved;
        target = p->nr + grow;
        if (target > ceiling)
                return LEASE_FIT_WAIT; /* someone else holds pages; they may give them back */
        *ret_target = target;
        return LEASE_FIT_GROW;
}

uint64_t lease_hugepages_shrink_target(const struct lease_pool *p, uint64_t floor) {
        uint64_t busy = (p->nr > p->free ? p->nr - p->free : 0) + p->resv;
        uint64_t need = p->leased + busy;

        if (need < floor)
                need = floor;
        return need < p->nr ? need : p->nr;
}

/* ---- plans and usage ---- */

static uint64_t usage_bytes(const struct lease_usage *u, uint64_t page_size) {
        for (unsigned i = 0; i < u->n_sizes && i < HUGETLB_SIZES_MAX; i++)
                if (u->hugepages[i].page_size == page_size)
                        return u->hugepages[i].bytes;
        return 0;
}

static bool usage_has_tap(const struct lease_usage *u, const char *name) {
        for (unsigned i = 0; i < u->taps && i < TAPS_MAX; i++)
                if (streq(u->tap_names[i], name))
                        return true;
        return false;
}

/* Should step s stay in the plan? A pool shrink is clamped in place. */
static bool step_keep(struct plan_step *s, const struct lease_usage *u) {
        uint64_t leased, cur;

        switch (s->kind) {
        case PLAN_TAP:
                /* current "" means the tap is missing: creating it takes nothing from a lease. */
                return s->manual || !s->current[0] || !usage_has_tap(u, s->u.tap.name);
        case PLAN_HUGEPAGES:
                if (s->manual || s->u.hugepages.node >= 0 || s->u.hugepages.page_size == 0)
                        return true;
                leased = usage_bytes(u, s->u.hugepages.page_size) / s->u.hugepages.page_size;
                cur = s->u.hugepages.current;
                if (s->u.hugepages.pages >= cur || s->u.hugepages.pages >= leased)
                        return true;
                if (leased >= cur)
                        return false;
                s->u.hugepages.pages = leased;
                xsprintf(s->wanted, "%" PRIu64 " pages (leased)", leased);
                bufprintf_trunc(s->note, sizeof(s->note),
                                "not below the %" PRIu64 " pages leases hold", leased);
                return true;
        default:
                return true;
        }
}

void lease_plan_filter(struct plan *plan, const struct lease_usage *u) {
        unsigned n = 0;

        if (!u)
                return;
        for (unsigned i = 0; i < plan->n; i++)
                if (step_keep(&plan->steps[i], u))
                        plan->steps[n++] = plan->steps[i];
        plan->n = n;
}

bool lease_usage_equal(const struct lease_usage *a, const struct lease_usage *b) {
        if (a->n_sizes != b->n_sizes || a->taps != b->taps || a->snapshots != b->snapshots)
                return false;
        for (unsigned i = 0; i < a->n_sizes && i < HUGETLB_SIZES_MAX; i++)
                if (a->hugepages[i].page_size != b->hugepages[i].page_size ||
                    a->hugepages[i].bytes != b->hugepages[i].bytes)
                        return false;
        for (unsigned i = 0; i < a->taps && i < TAPS_MAX; i++)
                if (!streq(a->tap_names[i], b->tap_names[i]))
                        return false;
        return true;
}
