/* SPDX-License-Identifier: MIT */
/* Benchmark helper: where does `hosttune check` spend its time? Runs each probe once, cold,
 * in this fresh process (as `check` does: detail off, the live root) and prints the wall time
 * and the minor page faults of each, then of the JSON-free verdict. Run it many times (bench/
 * check.sh does) and take medians; a single run is noise. Usage: probe-timer [--detail] */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "policies/readiness.h"
#include "probes/probes.h"

static long minflt(void) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        return ru.ru_minflt;
}

static double now_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

int main(int argc, char **argv) {
        static struct host_report report;
        static struct requirement_result res[REQUIREMENTS_MAX];
        struct requirements req = { 0 };
        struct probe_ctx ctx;
        char err[128];
        double t0, t;
        long f0, f;

        t0 = now_us();
        f0 = minflt();
        if (probe_ctx_open(NULL, NULL, &ctx) < 0)
                return 3;
        ctx.detail = argc > 1 && strcmp(argv[1], "--detail") == 0;
        t = now_us();
        f = minflt();
        printf("open %.1f us %ld faults\n", t - t0, f - f0);
        for (unsigned i = 0; i < _PROBE_MAX; i++) {
                double a = now_us();
                long fa = minflt();
                /* Dependencies ran earlier in the loop (they have lower ids). */
                if (probe_run(&ctx, PROBE_MASK(i), &report) < 0)
                        return 3;
                printf("%s %.1f us %ld faults\n", probe_id_to_string(i), now_us() - a,
                       minflt() - fa);
                memset(report.probed, 0, sizeof(report.probed));
        }
        {
                double a = now_us();
                long fa = minflt();
                (void) requirements_parse("kvm,rng,tun,userfaultfd", 0, &req, err, sizeof(err));
                (void) requirements_evaluate(&req, &report, NULL, res);
                printf("verdict %.1f us %ld faults\n", now_us() - a, minflt() - fa);
        }
        probe_ctx_done(&ctx);
        printf("total %.1f us %ld faults\n", now_us() - t0, minflt() - f0);
        return 0;
}
