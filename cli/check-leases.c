/* SPDX-License-Identifier: MIT */
/* `hosttune check`'s lease lines: leases not enforced here, and enforced leases that the pool can
 * no longer serve because of hugepages in use outside any lease. See cli/check-leases.h. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/check-leases.h"
#include "lib/cgroup.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/lease-rules.h"

struct untouched {
        int root_fd;
        const char *base;
        uint64_t page_size;
        uint64_t bytes; /* promised to enforced leases, not faulted in yet */
};

/* One lease cgroup: its limit (the lease) minus what it is charged. */
static int on_lease_cgroup(const char *name, void *userdata) {
        struct untouched *u = userdata;
        char path[CGROUP_PATH_MAX], file[CGROUP_PATH_MAX + 32], size[16];
        uint64_t max, current;

        if (!lease_id_valid(name) || bufprintf(path, sizeof(path), "%s/%s", u->base, name) < 0 ||
            cgroup_hugetlb_size_name(u->page_size, size, sizeof(size)) < 0 ||
            bufprintf(file, sizeof(file), "%s/hugetlb.%s.max", path, size) < 0)
                return 0;
        /* "max" (no limit: not this size's lease) does not parse, and counts nothing. */
        if (read_u64_at(u->root_fd, file, &max) < 0 ||
            cgroup_hugetlb_current(u->root_fd, path, u->page_size, &current) < 0)
                return 0;
        u->bytes += max > current ? max - current : 0;
        return 0;
}

/* Bytes of page_size the agent has leased (agent.state), 0 for none. */
static uint64_t leased(const struct agent_state *agent, uint64_t page_size) {
        for (unsigned i = 0; i < agent->leases.n_sizes && i < HUGETLB_SIZES_MAX; i++)
                if (agent->leases.hugepages[i].page_size == page_size)
                        return agent->leases.hugepages[i].bytes;
        return 0;
}

void check_leases_print(FILE *f, const struct agent_state *agent, const struct host_report *r) {
        char line[512], a[32], b[32], c[32];
        _cleanup_close_ int root_fd = -1;

        if (!agent)
                return;
        if (agent->leases_unenforced[0]) {
                output_line(f, LINE_WARN, "leases",
                            "hugepage leases are bookkeeping only: a holder can take more than "
                            "its lease",
                            agent->leases_unenforced);
                return;
        }
        if (!agent->lease_cgroups[0])
                return;
        for (unsigned i = 0; i < r->hugetlb.n_sizes; i++) {
                const struct hugetlb_pool *p = &r->hugetlb.sizes[i];
                struct untouched u = { -1, agent->lease_cgroups, p->page_size, 0 };
                uint64_t usable = (p->free > p->resv ? p->free - p->resv : 0) * p->page_size;

                /* Nothing leased of this size (the usual case): not a single read. */
                if (leased(agent, p->page_size) <= usable)
                        continue;
                /* The cgroups are the host's (check with --root never reads the agent). */
                if (root_fd < 0 && (root_fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
                        return;
                u.root_fd = root_fd;
                (void) read_dir_names_at(root_fd, agent->lease_cgroups, on_lease_cgroup, &u);
                if (u.bytes <= usable)
                        continue;
                bufprintf_trunc(
                        line, sizeof(line),
                        "%s pages: enforced leases have %s not faulted in yet, but only %s are "
                        "free: hugepages in use outside any lease took them, and a holder "
                        "touching its pages will get SIGBUS",
                        format_size(p->page_size, a, sizeof(a)), format_size(u.bytes, b, sizeof(b)),
                        format_size(usable, c, sizeof(c)));
                output_line(f, LINE_WARN, "leases", line,
                            "see hosttune status (Unleased) and the processes with HugetlbPages "
                            "in /proc/*/status; run them under hosttune run");
        }
}
