/* SPDX-License-Identifier: MIT */
/* `hosttune check` takes the running agent's probe facts and re-reads only what changes
 * without an event the agent sees (docs/check-facts.md). */
#include "cli/check-agent.h"

#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime/check-facts.h"

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
        static struct probe_stable stable;
        struct check_facts_header h;
        probe_mask_t mask;
        bool mounts_same;

        if (check_facts_read(runtime_dir_resolve(NULL), &h, report) < 0 ||
            !facts_current(&h, agent)) {
                memset(report, 0, sizeof(*report));
                return PROBE_MASK_ALL;
        }
        mask = check_facts_volatile_probes(&h, report, &mounts_same);
        /* What the agent read cleanly (no file noted as garbled: that WARN must come again). */
        stable.memory_ok = report->probed[PROBE_MEMORY] && report->results[PROBE_MEMORY].error == 0;
        stable.memory = report->memory;
        stable.hugetlb_ok = report->probed[PROBE_HUGETLB] &&
                            report->results[PROBE_HUGETLB].error == 0 && report->hugetlb.supported;
        stable.mounts_ok = stable.hugetlb_ok && mounts_same;
        stable.hugetlb = report->hugetlb;
        ctx->stable = &stable;
        for (unsigned i = 0; i < _PROBE_MAX; i++)
                if (mask & PROBE_MASK(i)) {
                        memset((char *) report + probe_facts[i].offset, 0, probe_facts[i].size);
                        memset(&report->results[i], 0, sizeof(report->results[i]));
                        report->probed[i] = false;
                }
        /* The knobs are the policy's: check reads them afresh (probe_knobs). */
        memset(&report->knobs, 0, sizeof(report->knobs));
        return mask;
}
