/* SPDX-License-Identifier: MIT */
/* `hosttune check` takes the running agent's probe facts and re-reads only what changes
 * without an event the agent sees (docs/check-facts.md). */
#include "cli/check-agent.h"

#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/check-facts.h"
#include "runtime/dir.h"

/* Where each probe's facts are in the report, to clear them before the probe runs again. */
static const struct {
        size_t offset, size;
} probe_facts[_PROBE_MAX] = {
#define F(id, m) [id] = { offsetof(struct host_report, m), sizeof(((struct host_report *) 0)->m) }
        F(PROBE_CPU, cpu),         F(PROBE_KVM, kvm),   F(PROBE_MEMORY, memory),
        F(PROBE_HUGETLB, hugetlb), F(PROBE_ZRAM, zram), F(PROBE_BTRFS, btrfs),
        F(PROBE_RNG, rng),         F(PROBE_NET, net),   F(PROBE_USERFAULTFD, userfaultfd),
        F(PROBE_USERNS, userns),   F(PROBE_NIX, nix),
#undef F
};

static uint64_t now_realtime_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts); /* vDSO: no system call */
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Facts of this agent, this policy generation, this user, young enough, resting on files and
 * nodes that are as they were. */
static bool facts_current(const struct check_facts_header *h, const struct agent_state *agent) {
        uint64_t now = now_realtime_usec();

        return h->pid == agent->pid && h->generation == agent->generation &&
               h->euid == (uint32_t) geteuid() && h->made_realtime_usec <= now + 1000000 &&
               now - h->made_realtime_usec <= h->max_age_usec && check_facts_stamps_match(h);
}

probe_mask_t check_agent_facts_use(const struct agent_state *agent, struct probe_ctx *ctx,
                                   struct host_report *report) {
        /* The agent's memory and hugetlb facts (adjacent in the report), read here rather than
         * into the report: those probes run again over a zeroed part and take the rest from
         * these (ctx->stable). */
        enum {
                STABLE_FROM = offsetof(struct host_report, memory),
                STABLE_TO = offsetof(struct host_report, zram),
        };
        _Alignas(struct host_report) static char stable_facts[STABLE_TO - STABLE_FROM];
        static struct probe_stable stable;
        const struct check_facts_divert divert = { STABLE_FROM, STABLE_TO, stable_facts };
        struct check_facts_header h;
        probe_mask_t mask;
        bool mounts_same;

        if (check_facts_read(runtime_dir_resolve(NULL), &h, report, &divert) < 0 ||
            !facts_current(&h, agent)) {
                memset(report, 0, sizeof(*report));
                return PROBE_MASK_ALL;
        }
        mask = check_facts_volatile_probes(&h, report, &mounts_same);
        /* What the agent read cleanly (a file it noted as garbled must be read and warned about
         * again). */
        if (report->probed[PROBE_MEMORY] && report->results[PROBE_MEMORY].error == 0)
                stable.memory = (const struct memory_facts *) stable_facts;
        if (report->probed[PROBE_HUGETLB] && report->results[PROBE_HUGETLB].error == 0)
                stable.hugetlb =
                        (const struct hugetlb_facts *) (stable_facts +
                                                        offsetof(struct host_report, hugetlb) -
                                                        STABLE_FROM);
        stable.mounts_ok = mounts_same;
        ctx->stable = &stable;
        for (unsigned i = 0; i < _PROBE_MAX; i++)
                if (mask & PROBE_MASK(i)) {
                        /* memory and hugetlb are in stable_facts: their part is still zero. */
                        if (i != PROBE_MEMORY && i != PROBE_HUGETLB)
                                check_facts_clear(&h, report, probe_facts[i].offset,
                                                  probe_facts[i].size);
                        memset(&report->results[i], 0, sizeof(report->results[i]));
                        report->probed[i] = false;
                }
        /* The knobs are the policy's: check reads them afresh (probe_knobs). */
        check_facts_clear(&h, report, offsetof(struct host_report, knobs), sizeof(report->knobs));
        return mask;
}
