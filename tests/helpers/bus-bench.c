/* SPDX-License-Identifier: MIT */
/* bus-bench: measurements for bench/agent.sh that a shell cannot take precisely.
 *
 *   bus-bench start (--ready | --name NAME --address ADDR) -- CMD ARGS...
 *       Start CMD and print "usec rss_kib pid": microseconds until it sent READY=1 on a
 *       NOTIFY_SOCKET this program provides (--ready), or until NAME got an owner on the bus at
 *       ADDR (--name); and the daemon's VmRSS at that moment. The daemon keeps running; the
 *       caller stops it by pid.
 *   bus-bench call --address ADDR [--clients N] [--calls M] [--empty-dict]
 *                  [--swap PATH A B] DEST PATH IFACE METHOD
 *       N processes, each with its own connection, each making M calls one after the other
 *       (an empty a{sv} as the argument with --empty-dict, else none). Prints
 *       "calls seconds calls_per_second median_usec p99_usec". With --swap, before every call
 *       PATH is replaced (by rename, outside the timed part) by a copy of A and B in turn, so
 *       every Reload sees a changed file.
 *   bus-bench rss PID
 *       Print VmRSS of PID in KiB.
 *
 * Timing uses CLOCK_MONOTONIC; nothing here asserts anything. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "lib/bus-open.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static long rss_kib(pid_t pid) {
        char path[64], buf[4096], *p;
        uint64_t v;

        _cleanup_close_ int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        xsprintf(path, "/proc/%d/status", (int) pid);
        if (root < 0 || read_virtual_file_at(root, path, buf, sizeof(buf)) < 0)
                return -1;
        p = strstr(buf, "VmRSS:");
        if (!p)
                return -1;
        p += strlen("VmRSS:");
        p += strspn(p, " \t");
        p[strcspn(p, " ")] = 0;
        return parse_u64(p, &v) < 0 ? -1 : (long) v;
}

static pid_t spawn(char **argv, const char *notify_socket) {
        pid_t pid = fork();

        if (pid == 0) {
                if (notify_socket)
                        setenv("NOTIFY_SOCKET", notify_socket, 1);
                else
                        unsetenv("NOTIFY_SOCKET");
                execvp(argv[0], argv);
                _exit(127);
        }
        return pid;
}

/* Did the daemon exit before it was ready? */
static bool child_gone(pid_t pid) {
        int status;

        if (waitpid(pid, &status, WNOHANG) != pid)
                return false;
        fprintf(stderr, "bus-bench: %d exited before it was ready (status %d)\n", (int) pid,
                status);
        return true;
}

static int start_ready(char **argv) {
        char dir[] = "/tmp/bus-bench.XXXXXX", path[128], buf[4096];
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        uint64_t t0;
        pid_t pid;
        int fd;

        if (!mkdtemp(dir))
                return 1;
        xsprintf(path, "%s/notify", dir);
        strscpy(sa.sun_path, sizeof(sa.sun_path), path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("bus-bench: notify socket");
                return 1;
        }
        t0 = now_usec();
        pid = spawn(argv, path);
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&pfd, 1, 1000) == 0) {
                        if (child_gone(pid))
                                return 1;
                        continue;
                }
                n = recv(fd, buf, sizeof(buf) - 1, 0);
                if (n < 0) {
                        perror("bus-bench: recv");
                        return 1;
                }
                buf[n] = 0;
                if (strstr(buf, "READY=1"))
                        break;
        }
        printf("%" PRIu64 " %ld %d\n", now_usec() - t0, rss_kib(pid), (int) pid);
        close(fd);
        unlink(path);
        rmdir(dir);
        return 0;
}

static int open_bus(const char *address, sd_bus **ret) {
        int r = bus_open_spec(address, NULL, ret);

        if (r < 0)
                fprintf(stderr, "bus-bench: cannot connect to %s: %s\n", address, strerror(-r));
        return r;
}

static int start_name(const char *address, const char *name, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char match[256];
        uint64_t t0;
        pid_t pid;
        int r;

        if (open_bus(address, &bus) < 0)
                return 1;
        xsprintf(match,
                 "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='%s'",
                 name);
        r = sd_bus_add_match(bus, NULL, match, NULL, NULL);
        if (r < 0)
                return 1;
        t0 = now_usec();
        pid = spawn(argv, NULL);
        for (;;) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
                const char *n, *old, *new;

                r = sd_bus_process(bus, &m);
                if (r < 0)
                        return 1;
                if (r == 0) {
                        r = sd_bus_wait(bus, USEC_PER_SEC);
                        if (r < 0 || child_gone(pid))
                                return 1;
                        continue;
                }
                if (!m || !sd_bus_message_is_signal(m, "org.freedesktop.DBus", "NameOwnerChanged"))
                        continue;
                if (sd_bus_message_read(m, "sss", &n, &old, &new) >= 0 && streq(n, name) &&
                    !isempty(new))
                        break;
        }
        printf("%" PRIu64 " %ld %d\n", now_usec() - t0, rss_kib(pid), (int) pid);
        return 0;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

struct call_args {
        const char *address, *dest, *path, *iface, *method;
        bool empty_dict;
        const char *swap_path, *swap_a, *swap_b;
        unsigned calls;
};

/* One client: calls one after the other, latencies written to out (calls entries). */
static int client(const struct call_args *c, uint64_t *out) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char tmp[4200];

        if (open_bus(c->address, &bus) < 0)
                return 1;
        for (unsigned i = 0; i < c->calls; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
                sd_bus_error error = SD_BUS_ERROR_NULL;
                uint64_t t0;
                int r;

                if (c->swap_path) {
                        /* A fresh copy of A or B renamed over PATH: the policy changed. */
                        _cleanup_close_ int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        char *text = NULL;
                        size_t len;
                        if (root < 0 ||
                            read_virtual_file_alloc_at(root, i % 2 ? c->swap_b : c->swap_a, 1 << 20,
                                                       &text, &len) < 0)
                                return 1;
                        xsprintf(tmp, "%s", c->swap_path);
                        r = write_file_atomic_at(AT_FDCWD, tmp, text, len, 0644);
                        free(text);
                        if (r < 0)
                                return 1;
                }
                r = sd_bus_message_new_method_call(bus, &m, c->dest, c->path, c->iface, c->method);
                if (r >= 0 && c->empty_dict)
                        r = sd_bus_message_append(m, "a{sv}", 0);
                if (r < 0)
                        return 1;
                t0 = now_usec();
                r = sd_bus_call(bus, m, 120 * USEC_PER_SEC, &error, &reply);
                out[i] = now_usec() - t0;
                if (r < 0) {
                        fprintf(stderr, "bus-bench: %s failed: %s\n", c->method,
                                error.message ? error.message : strerror(-r));
                        sd_bus_error_free(&error);
                        return 1;
                }
        }
        return 0;
}

static int call(const struct call_args *c, unsigned clients) {
        size_t n = (size_t) clients * c->calls;
        uint64_t *lat, t0, elapsed;
        int pipes[2];
        int failed = 0;

        lat = calloc(n, sizeof(*lat));
        if (!lat || pipe(pipes) < 0) {
                free(lat);
                return 1;
        }
        t0 = now_usec();
        for (unsigned k = 0; k < clients; k++) {
                pid_t pid = fork();
                if (pid == 0) {
                        uint64_t *mine = calloc(c->calls, sizeof(*mine));
                        int r = mine ? client(c, mine) : 1;
                        /* Writes of at most PIPE_BUF bytes are atomic: clients' values never
                         * interleave inside a value. */
                        for (unsigned off = 0; r == 0 && off < c->calls; off += 512) {
                                size_t len = (c->calls - off < 512 ? c->calls - off : 512) *
                                             sizeof(*mine);
                                if (write(pipes[1], mine + off, len) != (ssize_t) len)
                                        r = 1;
                        }
                        _exit(r);
                }
        }
        close(pipes[1]);
        size_t got = 0;
        for (;;) {
                ssize_t k =
                        read(pipes[0], (char *) lat + got * sizeof(*lat), (n - got) * sizeof(*lat));
                if (k <= 0)
                        break;
                got += (size_t) k / sizeof(*lat);
        }
        for (unsigned k = 0; k < clients; k++) {
                int status;
                if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        failed = 1;
        }
        elapsed = now_usec() - t0;
        if (failed || got != n) {
                fprintf(stderr, "bus-bench: a client failed\n");
                free(lat);
                return 1;
        }
        qsort(lat, n, sizeof(*lat), cmp_u64);
        printf("%zu %.3f %.0f %" PRIu64 " %" PRIu64 "\n", n, (double) elapsed / 1e6,
               (double) n / ((double) elapsed / 1e6), lat[n / 2], lat[(n * 99) / 100]);
        free(lat);
        return 0;
}

int main(int argc, char **argv) {
        if (argc >= 2 && streq(argv[1], "rss") && argc == 3) {
                int64_t pid;
                if (parse_i64(argv[2], &pid) < 0)
                        return 2;
                printf("%ld\n", rss_kib((pid_t) pid));
                return 0;
        }
        if (argc >= 2 && streq(argv[1], "start")) {
                const char *name = NULL, *address = NULL;
                bool ready = false;
                int i;
                for (i = 2; i < argc && !streq(argv[i], "--"); i++)
                        if (streq(argv[i], "--ready"))
                                ready = true;
                        else if (streq(argv[i], "--name") && i + 1 < argc)
                                name = argv[++i];
                        else if (streq(argv[i], "--address") && i + 1 < argc)
                                address = argv[++i];
                        else
                                return 2;
                if (i + 1 >= argc)
                        return 2;
                if (ready)
                        return start_ready(argv + i + 1);
                if (!name || !address)
                        return 2;
                return start_name(address, name, argv + i + 1);
        }
        if (argc >= 2 && streq(argv[1], "call")) {
                struct call_args c = { .calls = 1000 };
                unsigned clients = 1;
                int i;
                for (i = 2; i < argc && startswith(argv[i], "--"); i++) {
                        if (streq(argv[i], "--address") && i + 1 < argc)
                                c.address = argv[++i];
                        else if (streq(argv[i], "--clients") && i + 1 < argc) {
                                if (parse_uint(argv[++i], &clients) < 0 || clients == 0)
                                        return 2;
                        } else if (streq(argv[i], "--calls") && i + 1 < argc) {
                                if (parse_uint(argv[++i], &c.calls) < 0 || c.calls == 0)
                                        return 2;
                        } else if (streq(argv[i], "--empty-dict"))
                                c.empty_dict = true;
                        else if (streq(argv[i], "--swap") && i + 3 < argc) {
                                c.swap_path = argv[++i];
                                c.swap_a = argv[++i];
                                c.swap_b = argv[++i];
                        } else
                                return 2;
                }
                if (!c.address || argc - i != 4)
                        return 2;
                c.dest = argv[i];
                c.path = argv[i + 1];
                c.iface = argv[i + 2];
                c.method = argv[i + 3];
                return call(&c, clients);
        }
        fprintf(stderr, "usage: see the comment at the top of tests/helpers/bus-bench.c\n");
        return 2;
}
