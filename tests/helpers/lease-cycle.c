/* SPDX-License-Identifier: MIT */
/* lease-cycle: many AcquireLease + ReleaseLease rounds over one bus connection, for the churn
 * test and bench/leases.sh, where a shell would measure its own fork and exec.
 *
 *   lease-cycle --address ADDR --count N [--snapshot TEMPLATE] [--hugepages BYTES]
 *               [--enforce] [--pause-ms MS] [--watch PID] [--every K] [--hold [--keep]]
 *   lease-cycle --address ADDR --waiters N --wait SEC --hugepages BYTES
 *   lease-cycle --socket PATH --count N --hugepages BYTES [--enforce] ...
 *
 * With --socket each round goes over the agent's lease.sock instead (docs/leases.md, "From a Nix
 * build"): connect, send the request line, read the grant (the acquire), close the connection
 * (the release: the agent ends the lease when it sees the connection close, after close(2)
 * returned here, so the release's own work is not in the cycle time).
 *
 * Each round acquires a lease (a snapshot of TEMPLATE, "" for an empty slot; or hugepages),
 * checks that its directory exists (outside the timed part), and releases it. --enforce asks for
 * an enforced hugepage lease: the agent makes its cgroup and moves this process into it (and
 * removes the one before once this process left it). --pause-ms waits
 * between rounds (outside the timed part): the agent refills its prepared snapshots in the
 * background, and the pause is what a test run between two leases gives it. With --watch, every K
 * rounds (default 1000) a line "sample ROUND FDS RSS_KIB" reports the open descriptors and VmRSS of
 * PID. At the end: "rounds N acquire_median_usec A acquire_p99_usec B cycle_median_usec C
 * cycle_p99_usec D slow_acquires S" (slow: above 5 ms, a snapshot made on demand).
 * With --hold, all N leases are acquired first and held, then all released: what a table of N
 * leases costs each change (the lease file lists them all); at the end "held N
 * acquire_median_usec A acquire_last_usec L acquire_total_usec T release_median_usec R
 * release_total_usec U". With --keep as well, the leases are not released: "acquired N" is
 * printed and the program sleeps until it is killed (its leases end with its connection).
 * With --waiters, N AcquireLease calls that may wait SEC seconds are sent without waiting for
 * their answers, WAITERS_PER_CONNECTION per bus connection (dbus-daemon caps the replies one
 * connection may have pending); "sent N" is printed, and the program sleeps until it is killed:
 * its connections close and the calls' callers leave the bus. Answers that come meanwhile
 * (grants, refusals) are not read. (A callback, though ignoring the reply: without one sd-bus
 * marks the call NO_REPLY_EXPECTED.)
 * Exit 0, or 1 at the first failed call (its error is printed). Nothing is asserted here. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "lib/bus-open.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/lease-line.h"

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static uint64_t percentile(uint64_t *v, size_t n, unsigned p) {
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(*v), cmp_u64);
        return v[(n - 1) * p / 100];
}

static long count_fds(pid_t pid) {
        char path[64];
        struct dirent *de;
        DIR *d;
        long n = 0;

        xsprintf(path, "/proc/%d/fd", (int) pid);
        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

/* VmRSS of pid in KiB, from /proc/PID/status. */
static long rss_kib(pid_t pid) {
        _cleanup_close_ int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        char path[64], buf[8192];
        const char *line;
        long v;

        xsprintf(path, "/proc/%d/status", (int) pid);
        if (root < 0 || read_virtual_file_at(root, path, buf, sizeof(buf)) < 0)
                return -1;
        line = strstr(buf, "\nVmRSS:");
        return line && sscanf(line + 1, "VmRSS: %ld kB", &v) == 1 ? v : -1;
}

static int acquire(sd_bus *bus, const char *snapshot, uint64_t hugepages, bool enforce, char *id,
                   size_t idsize, char *dir, size_t dirsize) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *s;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, "org.hosttune.Agent1", "/org/hosttune/Agent1",
                                           "org.hosttune.Agent1", "AcquireLease");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && snapshot)
                r = sd_bus_message_append(m, "{sv}", "snapshot", "s", snapshot);
        if (r >= 0 && hugepages)
                r = sd_bus_message_append(m, "{sv}", "hugepages", "t", hugepages);
        if (r >= 0 && enforce)
                r = sd_bus_message_append(m, "{sv}", "enforce", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0) {
                fprintf(stderr, "lease-cycle: AcquireLease: %s\n",
                        error.message ? error.message : strerror(-r));
                sd_bus_error_free(&error);
                return r;
        }
        r = sd_bus_message_read(reply, "s", &s);
        if (r < 0)
                return r;
        strscpy(id, idsize, s);
        dir[0] = 0;
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key;
                r = sd_bus_message_read(reply, "s", &key);
                if (r >= 0 && streq(key, "snapshot")) {
                        r = sd_bus_message_read(reply, "v", "s", &s);
                        if (r >= 0)
                                strscpy(dir, dirsize, s);
                } else if (r >= 0)
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        return r < 0 ? r : 0;
}

/* One acquire over lease.sock: the connection that holds the lease into *ret_fd. */
static int sock_acquire(const char *path, uint64_t hugepages, bool enforce, int *ret_fd) {
        struct lease_line_request req = { .hugepages = hugepages, .enforce = enforce };
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct lease_line_reply g;
        char line[LEASE_REPLY_MAX];
        _cleanup_close_ int fd = -1;
        size_t len = 0;

        req.seen = (1U << LEASE_LINE_HUGEPAGES) | (enforce ? 1U << LEASE_LINE_ENFORCE : 0);
        if (lease_line_format(&req, line, sizeof(line)) < 0 ||
            strscpy(sa.sun_path, sizeof(sa.sun_path), path) < 0)
                return -EINVAL;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
            write(fd, line, strlen(line)) != (ssize_t) strlen(line))
                return negative_errno();
        while (len < sizeof(line) - 1 && !memchr(line, '\n', len)) {
                ssize_t k = read(fd, line + len, sizeof(line) - 1 - len);
                if (k <= 0)
                        return -ECONNRESET;
                len += (size_t) k;
        }
        line[len] = 0;
        line[strcspn(line, "\n")] = 0;
        if (lease_line_parse_reply(line, &g) < 0 || !g.granted) {
                fprintf(stderr, "lease-cycle: %s\n", line);
                return -EPERM;
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static int release(sd_bus *bus, const char *id);

static uint64_t sum_u64(const uint64_t *v, size_t n) {
        uint64_t s = 0;
        for (size_t i = 0; i < n; i++)
                s += v[i];
        return s;
}

/* --hold: acquire count leases, keep them all, then release them all. */
static int hold(sd_bus *bus, const char *snapshot, uint64_t hugepages, uint64_t count, bool keep,
                uint64_t *acq, uint64_t *rel) {
        char(*ids)[64] = calloc(count, sizeof(*ids));
        uint64_t last, acq_total, rel_total;
        char dir[512];
        int r = ids ? 0 : -ENOMEM;

        for (uint64_t i = 0; r >= 0 && i < count; i++) {
                uint64_t t0 = now_usec();
                r = acquire(bus, snapshot, hugepages, false, ids[i], sizeof(ids[i]), dir,
                            sizeof(dir));
                acq[i] = now_usec() - t0;
        }
        if (r >= 0 && keep) {
                printf("acquired %" PRIu64 "\n", count);
                fflush(stdout);
                for (;;)
                        pause();
        }
        for (uint64_t i = 0; r >= 0 && i < count; i++) {
                uint64_t t0 = now_usec();
                r = release(bus, ids[i]);
                rel[i] = now_usec() - t0;
        }
        free(ids);
        if (r < 0)
                return r;
        last = acq[count - 1];
        acq_total = sum_u64(acq, count);
        rel_total = sum_u64(rel, count);
        printf("held %" PRIu64 " acquire_median_usec %" PRIu64 " acquire_last_usec %" PRIu64
               " acquire_total_usec %" PRIu64 " release_median_usec %" PRIu64
               " release_total_usec %" PRIu64 "\n",
               count, percentile(acq, count, 50), last, acq_total, percentile(rel, count, 50),
               rel_total);
        return 0;
}

#define WAITERS_PER_CONNECTION 50

static int ignore_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) m;
        (void) userdata;
        (void) error;
        return 0;
}

/* --waiters: n calls that wait, sent over fresh connections; then sleep until killed. */
static int waiters(const char *address, uint64_t n, uint32_t wait_sec, uint64_t hugepages) {
        uint64_t sent = 0;
        int r = 0;

        while (sent < n) {
                sd_bus *bus = NULL; /* kept open until the process ends */
                r = bus_open_spec(address, NULL, &bus);
                for (unsigned k = 0; r >= 0 && k < WAITERS_PER_CONNECTION && sent < n; k++) {
                        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                        r = sd_bus_message_new_method_call(bus, &m, "org.hosttune.Agent1",
                                                           "/org/hosttune/Agent1",
                                                           "org.hosttune.Agent1", "AcquireLease");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "a{sv}", 2, "hugepages", "t",
                                                          hugepages, "wait", "u", wait_sec);
                        if (r >= 0)
                                r = sd_bus_call_async(bus, NULL, m, ignore_reply, NULL, UINT64_MAX);
                        sent += r >= 0;
                }
                if (r >= 0)
                        r = sd_bus_flush(bus);
                if (r < 0) {
                        fprintf(stderr, "lease-cycle: sending waiting calls: %s\n", strerror(-r));
                        return r;
                }
        }
        printf("sent %" PRIu64 "\n", sent);
        fflush(stdout);
        for (;;)
                pause();
}

static int release(sd_bus *bus, const char *id) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(bus, "org.hosttune.Agent1", "/org/hosttune/Agent1",
                                   "org.hosttune.Agent1", "ReleaseLease", &error, NULL, "s", id);

        if (r < 0)
                fprintf(stderr, "lease-cycle: ReleaseLease %s: %s\n", id,
                        error.message ? error.message : strerror(-r));
        sd_bus_error_free(&error);
        return r;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "address", required_argument, NULL, 'a' },
                { "socket", required_argument, NULL, 'S' },
                { "count", required_argument, NULL, 'n' },
                { "snapshot", required_argument, NULL, 's' },
                { "hugepages", required_argument, NULL, 'H' },
                { "enforce", no_argument, NULL, 'E' },
                { "pause-ms", required_argument, NULL, 'p' },
                { "watch", required_argument, NULL, 'w' },
                { "every", required_argument, NULL, 'e' },
                { "hold", no_argument, NULL, 'h' },
                { "keep", no_argument, NULL, 'k' },
                { "waiters", required_argument, NULL, 'W' },
                { "wait", required_argument, NULL, 'T' },
                {},
        };
        const char *address = NULL, *snapshot = NULL, *socket_path = NULL;
        uint64_t n_waiters = 0, wait_sec = 60;
        uint64_t count = 1, hugepages = 0, pause_ms = 0, watch = 0, every = 1000, slow = 0;
        uint64_t *acq = NULL, *cyc = NULL;
        sd_bus *bus = NULL;
        int c, r, ret = 1;
        bool enforce = false, held = false, keep = false;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                r = 0;
                switch (c) {
                case 'a':
                        address = optarg;
                        break;
                case 'n':
                        r = parse_u64(optarg, &count);
                        break;
                case 'S':
                        socket_path = optarg;
                        break;
                case 's':
                        snapshot = optarg;
                        break;
                case 'H':
                        r = parse_size(optarg, 0, &hugepages);
                        break;
                case 'E':
                        enforce = true;
                        break;
                case 'h':
                        held = true;
                        break;
                case 'k':
                        keep = true;
                        break;
                case 'W':
                        r = parse_u64(optarg, &n_waiters);
                        break;
                case 'T':
                        r = parse_u64(optarg, &wait_sec);
                        if (r >= 0 && wait_sec > UINT32_MAX)
                                r = -ERANGE;
                        break;
                case 'p':
                        r = parse_u64(optarg, &pause_ms);
                        break;
                case 'w':
                        r = parse_u64(optarg, &watch);
                        break;
                case 'e':
                        r = parse_u64(optarg, &every);
                        break;
                default:
                        return 2;
                }
                if (r < 0) {
                        fprintf(stderr, "lease-cycle: bad value '%s'\n", optarg);
                        return 2;
                }
        }
        if (address && n_waiters > 0)
                return waiters(address, n_waiters, (uint32_t) wait_sec, hugepages) < 0;
        if ((!address == !socket_path) || count == 0 || every == 0 ||
            (socket_path && (snapshot || !hugepages))) {
                fprintf(stderr, "lease-cycle: --address or --socket (with --hugepages), and "
                                "--count are needed\n");
                return 2;
        }
        acq = calloc(count, sizeof(*acq));
        cyc = calloc(count, sizeof(*cyc));
        r = !acq || !cyc ? -ENOMEM : address ? bus_open_spec(address, NULL, &bus) : 0;
        if (r < 0) {
                fprintf(stderr, "lease-cycle: cannot connect to %s: %s\n", address, strerror(-r));
                goto out;
        }
        if (held) {
                ret = hold(bus, snapshot, hugepages, count, keep, acq, cyc) < 0;
                goto out;
        }
        for (uint64_t i = 0; i < count; i++) {
                char id[64], dir[512];
                struct stat st;
                uint64_t t0 = now_usec(), t1, t2;
                int fd = -1;

                if (socket_path) {
                        r = sock_acquire(socket_path, hugepages, enforce, &fd);
                        if (r < 0) {
                                fprintf(stderr, "lease-cycle: round %" PRIu64 ": %s: %s\n", i,
                                        socket_path, strerror(-r));
                                goto out;
                        }
                        t1 = now_usec();
                        safe_close(fd);
                        acq[i] = t1 - t0;
                        cyc[i] = now_usec() - t0;
                        continue;
                }
                r = acquire(bus, snapshot, hugepages, enforce, id, sizeof(id), dir, sizeof(dir));
                if (r < 0)
                        goto out;
                t1 = now_usec();
                /* The directory is there (not timed: the agent's work is what is measured). */
                if (dir[0] && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
                        fprintf(stderr, "lease-cycle: round %" PRIu64 ": %s is not there\n", i,
                                dir);
                        goto out;
                }
                t2 = now_usec();
                if (release(bus, id) < 0)
                        goto out;
                acq[i] = t1 - t0;
                cyc[i] = now_usec() - t2 + acq[i];
                slow += acq[i] > 5000;
                if (watch && (i + 1) % every == 0)
                        printf("sample %" PRIu64 " %ld %ld\n", i + 1, count_fds((pid_t) watch),
                               rss_kib((pid_t) watch));
                if (pause_ms) {
                        struct timespec ts = { .tv_sec = (time_t) (pause_ms / 1000),
                                               .tv_nsec = (long) (pause_ms % 1000) * 1000000 };
                        nanosleep(&ts, NULL);
                }
        }
        printf("rounds %" PRIu64 " acquire_median_usec %" PRIu64 " acquire_p99_usec %" PRIu64
               " cycle_median_usec %" PRIu64 " cycle_p99_usec %" PRIu64 " slow_acquires %" PRIu64
               "\n",
               count, percentile(acq, count, 50), percentile(acq, count, 99),
               percentile(cyc, count, 50), percentile(cyc, count, 99), slow);
        ret = 0;
out:
        /* Freed by hand: the static analyser does not follow cleanup attributes. */
        sd_bus_flush_close_unref(bus);
        free(acq);
        free(cyc);
        return ret;
}
