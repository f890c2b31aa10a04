/* SPDX-License-Identifier: MIT */
/* CPU probe: vendor, virtualisation flags (vmx/svm), hypervisor flag, SMT state. */
#include <stdio.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"
#include "probes/probes.h"

/* The flags line of the first CPU is all that is needed; /proc/cpuinfo of a large machine is
 * hundreds of kilobytes that the kernel formats on every read, so stop after that line. */
#if defined(__aarch64__)
#define CPUINFO_FLAGS_MARKER "\nFeatures"
#else
#define CPUINFO_FLAGS_MARKER "\nflags"
#endif

int probe_cpu(struct probe_ctx *ctx, struct host_report *r) {
        struct cpu_facts *c = &r->cpu;
        struct probe_result *res = &r->results[PROBE_CPU];
        static const char *const smt_states[] = { "on", "off", "forceoff", "notsupported",
                                                  "notimplemented" };
        struct probe_bad bad = { 0 };
        struct cpuinfo_first ci;
        char buf[8192], line[64];
        ssize_t n;
        int k = 0;

        c->smt_active = -1;
        n = read_file_head_at(ctx->root_fd, "proc/cpuinfo", buf, sizeof(buf), CPUINFO_FLAGS_MARKER);
        if (n < 0) {
                probe_set_error(res, PROBE_FAIL, (int) n, "/proc/cpuinfo");
                return 0;
        }
        if (cpuinfo_parse_first(buf, &ci) < 0) {
                /* A full buffer without the flags line: the first block is larger than any
                 * real CPU's, so say so rather than "garbage". */
                probe_set_error(res, PROBE_FAIL, (size_t) n == sizeof(buf) - 1 ? -EFBIG : -EBADMSG,
                                "/proc/cpuinfo");
                return 0;
        }
        strscpy(c->vendor, sizeof(c->vendor), ci.vendor);
        strscpy(c->model_name, sizeof(c->model_name), ci.model_name);
        c->flag_vmx = ci.vmx;
        c->flag_svm = ci.svm;
        c->flag_hypervisor = ci.hypervisor;

        /* Kernels without CONFIG_HOTPLUG_SMT have no smt directory: SMT state unknown. */
        k = read_line_at(ctx->root_fd, "sys/devices/system/cpu/smt/control", line, sizeof(line));
        if (k == 0) {
                bool known = false;
                for (size_t i = 0; i < ELEMENTSOF(smt_states); i++)
                        known = known || streq(line, smt_states[i]);
                if (known)
                        strscpy(c->smt_control, sizeof(c->smt_control), line);
                else
                        k = -EINVAL;
        }
        probe_bad_note(&bad, k, "sys/devices/system/cpu/smt/control");
        if (ctx->detail) {
                if (read_line_at(ctx->root_fd, "sys/devices/system/cpu/smt/active", line,
                                 sizeof(line)) == 0) {
                        unsigned v;
                        if (parse_uint(line, &v) == 0 && v <= 1)
                                c->smt_active = (int) v;
                }
                k = read_line_at(ctx->root_fd, "sys/devices/system/cpu/online", line, sizeof(line));
                if (k == 0 && count_id_list(line, &c->cpus_online) < 0)
                        c->cpus_online = 0;
        }

        probe_set(res, PROBE_OK, "%s%sSMT %s", c->model_name[0] ? c->model_name : c->vendor,
                  c->model_name[0] || c->vendor[0] ? ", " : "",
                  c->smt_control[0] ? c->smt_control : "control unavailable");
        probe_bad_apply(&bad, res);
        return 0;
}
