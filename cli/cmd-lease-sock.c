/* SPDX-License-Identifier: MIT */
/* `hosttune run` and `hosttune lease acquire` over the agent's lease socket (docs/leases.md,
 * "From a Nix build"): in the static binary, so that a Nix build sandbox with nothing but the
 * store closure, the socket and /dev can take a lease. Without the socket these verbs exec the
 * D-Bus helper as before. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-bus-protocol.h>

#include "cli/cli.h"
#include "cli/lease-args.h"
#include "cli/output.h"
#include "cli/run-child.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/lease-line.h"
#include "runtime/dir.h"
#include "runtime/errors.h"

#define DEFAULT_SYSTEM_BUS "/run/dbus/system_bus_socket"

/* Can a Unix stream socket at path be connected to? */
static bool socket_answers(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;

        if (strscpy(sa.sun_path, sizeof(sa.sun_path), path) < 0)
                return false;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        return fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
}

/* The lease socket to use, or false for the bus: $HOSTTUNE_LEASE_SOCKET; else, when no --bus
 * was given and the system bus does not answer, <runtime dir>/lease.sock if it is there. */
static bool lease_socket_path(bool bus_given, char *buf, size_t size) {
        const char *env = getenv("HOSTTUNE_LEASE_SOCKET");
        const char *bus = getenv("DBUS_SYSTEM_BUS_ADDRESS");
        struct stat st;

        if (!isempty(env))
                return strscpy(buf, size, env) >= 0;
        if (bus_given)
                return false;
        if (bufprintf(buf, size, "%s/%s", runtime_dir_resolve(NULL), LEASE_SOCK_NAME) < 0 ||
            stat(buf, &st) < 0 || !S_ISSOCK(st.st_mode))
                return false;
        /* Only the plain "unix:path=" form is looked at; any other address is left to sd-bus. */
        bus = bus ? startswith(bus, "unix:path=") : DEFAULT_SYSTEM_BUS;
        return bus && !strchr(bus, ',') && !socket_answers(bus);
}

/* Was --bus given among the options before CMD? */
static bool bus_option_given(int argc, char **argv) {
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--"))
                        break;
                if (streq(argv[i], "--bus") || startswith(argv[i], "--bus="))
                        return true;
        }
        return false;
}

static const char usage_text[] =
        "Usage: hosttune run --hugepages SIZE [--hugepage-size SIZE] [--wait SECONDS]\n"
        "                    [--label LABEL] -- CMD [ARG...]\n"
        "       hosttune lease acquire --hugepages SIZE [--hugepage-size SIZE] [--wait SECONDS]\n"
        "                    [--label LABEL] [--json]\n"
        "Over the agent's lease socket ($HOSTTUNE_LEASE_SOCKET, or <runtime dir>/lease.sock when\n"
        "the system bus does not answer): hugepages only; the lease ends with this command.\n";

/* Parse the options as the D-Bus client does (cli/lease-args.h), then keep what the socket
 * offers. 1: --help was printed; -EINVAL: bad usage, said on stderr. */
static int parse_args(int argc, char **argv, const char *verb, const char *optstring,
                      struct lease_line_request *ret, bool *ret_json) {
        static const struct option options[] = {
                LEASE_REQUEST_OPTIONS,
                { "persist", no_argument, NULL, LEASE_OPT_PERSIST },
                { "json", no_argument, NULL, LEASE_OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        struct lease_line_request req = { 0 };
        struct lease_args a = { 0 };
        const char *not_offered;
        int r;

        r = lease_args_parse_all(argc, argv, optstring, options, verb, usage_text, &a);
        if (r != 0)
                return r;
        not_offered = a.snapshot   ? "--snapshot"
                      : a.taps_set ? "--taps"
                      : a.persist  ? "--persist"
                                   : NULL;
        if (not_offered)
                return cli_error_errno(-EINVAL,
                                       "hosttune %s: %s is not offered over the lease socket "
                                       "(hugepages only: docs/leases.md, \"From a Nix build\")",
                                       verb, not_offered);
        if (a.hugepages == 0)
                return cli_error_errno(
                        -EINVAL, "hosttune %s: over the lease socket a lease needs --hugepages",
                        verb);
        if (a.wait > LEASE_WAIT_MAX_SEC)
                return cli_error_errno(-EINVAL, "hosttune %s: --wait: 0 .. %d seconds", verb,
                                       LEASE_WAIT_MAX_SEC);
        if (a.label && (!lease_line_label_valid(a.label) ||
                        strscpy(req.label, sizeof(req.label), a.label) < 0))
                return cli_error_errno(-EINVAL,
                                       "hosttune %s: --label: over the lease socket at most %d "
                                       "letters, digits and '._-:/@+,='",
                                       verb, LEASE_LABEL_MAX);
        req.hugepages = a.hugepages;
        req.hugepage_size = a.hugepage_size;
        req.wait = a.wait;
        req.seen = 1U << LEASE_LINE_HUGEPAGES |
                   (a.hugepage_size ? 1U << LEASE_LINE_HUGEPAGE_SIZE : 0) |
                   (a.wait ? 1U << LEASE_LINE_WAIT : 0) | (a.label ? 1U << LEASE_LINE_LABEL : 0);
        *ret = req;
        *ret_json = a.json;
        return 0;
}

/* Send the request, read the reply line. The connection is the lease: *ret_fd stays open as
 * long as it is held. Returns a LEASE_EXIT_* code after printing why when not granted. */
static int sock_acquire(const char *path, const char *verb, const struct lease_line_request *req,
                        int *ret_fd, struct lease_line_reply *ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char line[LEASE_REPLY_MAX], *nl;
        _cleanup_close_ int fd = -1;
        size_t len = 0;
        int r;

        r = lease_line_format(req, line, sizeof(line));
        if (r >= 0)
                r = strscpy(sa.sun_path, sizeof(sa.sun_path), path);
        if (r < 0) {
                fprintf(stderr, "hosttune %s: %s\n", verb, strerror(-r));
                return LEASE_EXIT_USAGE;
        }
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                fprintf(stderr, "hosttune %s: cannot connect to %s: %m\n", verb, path);
                return LEASE_EXIT_FAILED;
        }
        if (send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t) strlen(line)) {
                fprintf(stderr, "hosttune %s: cannot send the request to %s: %m\n", verb, path);
                return LEASE_EXIT_FAILED;
        }
        /* The reply is one line; the agent answers once the request is decided (after its
         * wait, at most). */
        while (len < sizeof(line) - 1) {
                ssize_t k = read(fd, line + len, sizeof(line) - 1 - len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                len += (size_t) k;
                if (memchr(line, '\n', len))
                        break;
        }
        line[len] = 0;
        nl = strchr(line, '\n');
        if (nl)
                *nl = 0;
        if (!nl || lease_line_parse_reply(line, ret) < 0) {
                fprintf(stderr, "hosttune %s: no valid answer from %s\n", verb, path);
                return LEASE_EXIT_FAILED;
        }
        if (!ret->granted) {
                fprintf(stderr, "hosttune %s: refused (%s): %s\n", verb, ret->reason, ret->message);
                if (streq(ret->reason, agent_error_reason(AGENT_ERROR_INSUFFICIENT_HUGEPAGES)))
                        return LEASE_EXIT_UNAVAILABLE;
                if (streq(ret->reason, agent_error_reason(SD_BUS_ERROR_INVALID_ARGS)) ||
                    streq(ret->reason, agent_error_reason(AGENT_ERROR_EXCEEDS_POOL)))
                        return LEASE_EXIT_USAGE;
                return LEASE_EXIT_FAILED;
        }
        *ret_fd = TAKE_FD(fd);
        return LEASE_EXIT_OK;
}

static int export_grant(const struct lease_line_reply *g) {
        char v[64];
        int r = setenv("HOSTTUNE_LEASE", g->id, 1);

        if (r == 0 && lease_line_reply_value(g, "hugepages", v, sizeof(v)) >= 0)
                r = setenv("HOSTTUNE_HUGEPAGES", v, 1);
        if (r == 0 && lease_line_reply_value(g, "hugepage-size", v, sizeof(v)) >= 0)
                r = setenv("HOSTTUNE_HUGEPAGE_SIZE", v, 1);
        /* Never offered here: an outer run's must not be taken for this lease's. */
        (void) unsetenv("HOSTTUNE_SNAPSHOT_DIR");
        (void) unsetenv("HOSTTUNE_TAPS");
        return r < 0 ? negative_errno() : 0;
}

static int sock_run(const char *path, int argc, char **argv) {
        struct lease_line_request req;
        struct lease_line_reply g;
        _cleanup_close_ int fd = -1;
        bool json;
        int r;

        r = parse_args(argc, argv, "run", "+h", &req, &json);
        if (r != 0)
                return r > 0 ? 0 : RUN_EXIT_FAILED;
        if (optind >= argc) {
                fprintf(stderr, "hosttune run: no command given (hosttune run [OPTIONS] -- CMD)\n");
                return RUN_EXIT_FAILED;
        }
        /* This process goes into the lease's cgroup: CMD, forked after the grant, starts there. */
        req.enforce = true;
        req.seen |= 1U << LEASE_LINE_ENFORCE;
        r = sock_acquire(path, "run", &req, &fd, &g);
        if (r != LEASE_EXIT_OK)
                return r == LEASE_EXIT_UNAVAILABLE ? RUN_EXIT_UNAVAILABLE : RUN_EXIT_FAILED;
        r = export_grant(&g);
        if (r < 0) {
                fprintf(stderr, "hosttune run: cannot set the environment: %s\n", strerror(-r));
                return RUN_EXIT_FAILED;
        }
        /* The socket is close-on-exec: the lease ends when this process closes it, after CMD. */
        return run_child(argv + optind);
}

/* The grant's keys as the D-Bus grant has them in JSON: numbers, booleans, strings. */
static void print_grant_json(const struct lease_line_reply *g) {
        printf("{\"id\":\"%s\"", g->id);
        for (const char *p = g->message; *p;) {
                size_t n = strcspn(p, " "), k;
                const char *eq = memchr(p, '=', n);
                if (eq) {
                        const char *val = eq + 1;
                        size_t vn = n - (size_t) (val - p);
                        printf(",\"%.*s\":", (int) (eq - p), p);
                        for (k = 0; k < vn && val[k] >= '0' && val[k] <= '9'; k++)
                                ;
                        if (vn > 0 && k == vn)
                                printf("%.*s", (int) vn, val);
                        else if (vn == 3 && strncmp(val, "yes", 3) == 0)
                                printf("true");
                        else if (vn == 2 && strncmp(val, "no", 2) == 0)
                                printf("false");
                        else {
                                putchar('"');
                                for (k = 0; k < vn && !(vn == 1 && val[0] == '-'); k++)
                                        printf(val[k] == '"' || val[k] == '\\' ? "\\%c" : "%c",
                                               val[k]);
                                putchar('"');
                        }
                }
                p += n + (p[n] == ' ');
        }
        printf("}\n");
}

static int sock_acquire_verb(const char *path, int argc, char **argv) {
        struct lease_line_request req;
        struct lease_line_reply g;
        _cleanup_close_ int fd = -1;
        char v[LEASE_PATH_MAX];
        bool json;
        int r;

        r = parse_args(argc, argv, "lease acquire", "h", &req, &json);
        if (r != 0)
                return r > 0 ? 0 : LEASE_EXIT_USAGE;
        if (optind < argc) {
                fprintf(stderr, "hosttune lease acquire: unexpected argument '%s'\n", argv[optind]);
                return LEASE_EXIT_USAGE;
        }
        r = sock_acquire(path, "lease acquire", &req, &fd, &g);
        if (r != LEASE_EXIT_OK)
                return r;
        /* Signals end a wait for capacity at once; from here on they end the hold (why:
         * cli/lease-args.c). */
        lease_hold_begin();
        if (json)
                print_grant_json(&g);
        else {
                printf("lease %s\n", g.id);
                if (lease_line_reply_value(&g, "hugepages", v, sizeof(v)) >= 0)
                        printf("  hugepages  %s bytes\n", v);
                if (lease_line_reply_value(&g, "cgroup", v, sizeof(v)) >= 0)
                        printf("  enforced   %s\n", streq(v, "-") ? "no" : v);
                printf("  expires    when this command ends\n");
        }
        fflush(stdout);
        lease_hold_wait();
        return LEASE_EXIT_OK;
}

int cmd_run_or_bus(int argc, char **argv) {
        char path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];

        if (!lease_socket_path(bus_option_given(argc, argv), path, sizeof(path)))
                return cmd_bus_exec(argc, argv);
        return sock_run(path, argc, argv);
}

int cmd_lease_or_bus(int argc, char **argv) {
        char path[sizeof(((struct sockaddr_un *) NULL)->sun_path)];

        if (argc < 2 || !streq(argv[1], "acquire") ||
            !lease_socket_path(bus_option_given(argc, argv), path, sizeof(path)))
                return cmd_bus_exec(argc, argv);
        return sock_acquire_verb(path, argc - 1, argv + 1);
}
