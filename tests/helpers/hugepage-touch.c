/* SPDX-License-Identifier: MIT */
/* hugepage-touch: a guest-memory stand-in for the lease tests. Maps HOSTTUNE_HUGEPAGES bytes
 * of anonymous memory from the hugepage pool of HOSTTUNE_HUGEPAGE_SIZE the way Firecracker maps
 * guest memory with `huge_pages: "2M"` (MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB |
 * MAP_NORESERVE: nothing is reserved at mmap time, so a page the pool cannot give kills the
 * process with SIGBUS when it is touched), and writes to every page.
 *
 *   hugepage-touch [--ready FILE] [--hold FILE] [--hold-max SECONDS] [--hold-ms MS] [--reserve]
 *
 * With --reserve it maps without MAP_NORESERVE, as QEMU's and cloud-hypervisor's hugetlbfs and
 * memfd backends do: the pages are reserved at mmap time, and a mapping the pool (or a cgroup's
 * hugetlb.<size>.rsvd.max) cannot cover fails there with ENOMEM (exit 1) instead of a SIGBUS.
 *
 * After every page was touched it creates FILE (--ready), then, with --hold, keeps the pages
 * until FILE (--hold) no longer exists (checked every 10 ms, at most --hold-max seconds, default
 * 60); with --hold-ms it keeps them MS milliseconds. Exit 0 after unmapping; 2 for bad usage or
 * environment; a SIGBUS kills it (exit status 128+7 from a shell). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "lib/parse.h"
#include "lib/util.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

static int env_u64(const char *name, uint64_t *ret) {
        const char *v = getenv(name);

        if (isempty(v) || parse_u64(v, ret) < 0 || *ret == 0) {
                fprintf(stderr, "hugepage-touch: $%s is not set to a number of bytes\n", name);
                return -EINVAL;
        }
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "ready", required_argument, NULL, 'r' },
                { "hold", required_argument, NULL, 'H' },
                { "hold-max", required_argument, NULL, 'm' },
                { "hold-ms", required_argument, NULL, 's' },
                { "reserve", no_argument, NULL, 'R' },
                {},
        };
        const char *ready = NULL, *hold = NULL;
        uint64_t bytes, page, hold_max = 60, hold_ms = 0;
        unsigned shift = 0;
        int noreserve = MAP_NORESERVE;
        char *mem;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        ready = optarg;
                        break;
                case 'H':
                        hold = optarg;
                        break;
                case 'm':
                        if (parse_u64(optarg, &hold_max) < 0)
                                return 2;
                        break;
                case 's':
                        if (parse_u64(optarg, &hold_ms) < 0)
                                return 2;
                        break;
                case 'R':
                        noreserve = 0;
                        break;
                default:
                        return 2;
                }
        if (env_u64("HOSTTUNE_HUGEPAGES", &bytes) < 0 ||
            env_u64("HOSTTUNE_HUGEPAGE_SIZE", &page) < 0)
                return 2;
        if ((page & (page - 1)) != 0 || bytes % page != 0) {
                fprintf(stderr,
                        "hugepage-touch: %" PRIu64 " bytes is no whole number of %" PRIu64
                        "-byte pages\n",
                        bytes, page);
                return 2;
        }
        while ((UINT64_C(1) << shift) < page)
                shift++;
        /* The page size goes in the flags (MAP_HUGE_2MB is 21 << MAP_HUGE_SHIFT). */
        mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | noreserve |
                           (int) (shift << MAP_HUGE_SHIFT),
                   -1, 0);
        if (mem == MAP_FAILED) {
                fprintf(stderr, "hugepage-touch: mmap of %" PRIu64 " bytes: %m\n", bytes);
                return 1;
        }
        for (uint64_t off = 0; off < bytes; off += page)
                mem[off] = 1;
        printf("touched %" PRIu64 " pages of %" PRIu64 " bytes\n", bytes / page, page);
        fflush(stdout);
        if (ready) {
                int fd = open(ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                if (fd < 0) {
                        fprintf(stderr, "hugepage-touch: %s: %m\n", ready);
                        return 1;
                }
                close(fd);
        }
        for (uint64_t waited = 0; hold && access(hold, F_OK) == 0 && waited < hold_max * 100;
             waited++) {
                struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (hold_ms) {
                struct timespec ts = { .tv_sec = (time_t) (hold_ms / 1000),
                                       .tv_nsec = (long) (hold_ms % 1000) * 1000000 };
                nanosleep(&ts, NULL);
        }
        munmap(mem, bytes);
        return 0;
}
