/* SPDX-License-Identifier: MIT */
/* The lease socket <runtime dir>/lease.sock (docs/leases.md, "From a Nix build"): leases for
 * processes that cannot reach the system bus, Nix builds above all. One request line per
 * connection, checked like AcquireLease and queued in the same lease manager; the lease is held
 * until the connection closes. Who may ask is decided by the kernel's peer credentials. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/lease-bus.h"
#include "agent/lease-sock.h"
#include "agent/lease.h"
#include "agent/log.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/lease-line.h"
#include "runtime/errors.h"

/* A connection costs a few hundred bytes and one fd: a build that opens thousands gets refused
 * past this many, at once. */
#define LEASE_SOCK_CONNS_MAX 256
/* The request line must be complete this long after the connect. */
#define LEASE_SOCK_HANDSHAKE_USEC (5 * USEC_PER_SEC)

enum conn_state {
        CONN_READING, /* the request line is not complete yet */
        CONN_WAITING, /* queued in the lease manager */
        CONN_HOLDING, /* granted: the lease lives as long as the connection */
        CONN_CLOSING, /* refused: closed once the event loop comes back */
};

struct lease_sock_conn {
        struct lease_sock *s;
        int fd;
        unsigned serial;
        sd_event_source *io, *timer, *close_source;
        enum conn_state state;
        struct ucred peer;
        bool build;          /* allowed as a member of [agent] build-users-group only */
        uint64_t hold_bytes; /* hugepage bytes asked for or held: counted against the cap */
        struct lease_client *client;
        struct lease_request *req;
        size_t len;
        char buf[LEASE_LINE_MAX];
};

struct lease_sock {
        struct agent *a;
        int fd;
        dev_t dev;
        ino_t ino; /* the socket file we bound: removed at stop only if it is still ours */
        sd_event_source *io;
        struct lease_sock_conn **conns;
        unsigned n_conns;
        unsigned next_serial;
};

static void conn_free(struct lease_sock_conn *c) {
        struct lease_sock *s;

        if (!c)
                return;
        s = c->s;
        for (unsigned i = 0; i < s->n_conns; i++)
                if (s->conns[i] == c) {
                        s->conns[i] = s->conns[--s->n_conns];
                        break;
                }
        if (c->req) {
                /* Being provisioned: the lease manager still holds it; it must not answer us. */
                c->req->sock = NULL;
                c->req = NULL;
        }
        if (c->client) {
                lease_client_gone(c->client);
                lease_client_unref(c->client);
        }
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->timer);
        sd_event_source_disable_unref(c->close_source);
        safe_close(c->fd);
        free(c);
}

/* One line to the peer. The reply is the first thing written on a fresh socket, far below its
 * buffer: a short write means the peer is gone or hostile, and the connection ends. */
static int conn_send(struct lease_sock_conn *c, const char *line) {
        size_t n = strlen(line);
        ssize_t k = send(c->fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (k < 0)
                return negative_errno();
        return (size_t) k == n ? 0 : -EAGAIN;
}

static int on_close_defer(sd_event_source *es, void *userdata) {
        (void) es;
        conn_free(userdata);
        return 0;
}

/* End c once the event loop comes back (callers may be deep in the lease manager). */
static void conn_close_later(struct lease_sock_conn *c) {
        c->state = CONN_CLOSING;
        if (c->io)
                (void) sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
        if (!c->close_source &&
            sd_event_add_defer(c->s->a->event, &c->close_source, on_close_defer, c) < 0)
                log_warning("lease.sock: cannot schedule closing connection %u", c->serial);
}

/* "refused <class> <message>": the class is the last part of the D-Bus error name. */
static void conn_refuse(struct lease_sock_conn *c, const char *name, const char *message) {
        char line[LEASE_REPLY_MAX];

        /* The message may be cut short, the newline that ends the line may not. */
        bufprintf_trunc(line, sizeof(line) - 1, "refused %s %s", agent_error_reason(name), message);
        /* Messages carry no newline; the line must stay one line whatever the message says. */
        for (char *p = line; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        strcat(line, "\n");
        (void) conn_send(c, line);
        log_debug("lease.sock: connection %u (pid %d uid %u) refused: %s", c->serial,
                  (int) c->peer.pid, (unsigned) c->peer.uid, message);
        conn_close_later(c);
}

int lease_sock_reply_grant(struct lease_sock_conn *c, const struct lease *l) {
        char line[LEASE_REPLY_MAX];
        int r;

        r = bufprintf(line, sizeof(line),
                      "granted %s hugepages=%" PRIu64 " hugepage-size=%" PRIu64
                      " hugepage-pages=%" PRIu64 " uid=%u pid=%u enforced=%s cgroup=%s\n",
                      l->rec.id, l->rec.hugepage_bytes, l->rec.hugepage_size,
                      l->rec.hugepage_size ? l->rec.hugepage_bytes / l->rec.hugepage_size : 0,
                      (unsigned) l->rec.uid, (unsigned) l->rec.pid, l->rec.enforced ? "yes" : "no",
                      l->rec.enforced && l->cgroup[0] ? l->cgroup : "-");
        c->state = CONN_HOLDING;
        c->hold_bytes = l->rec.hugepage_bytes;
        if (r >= 0)
                r = conn_send(c, line);
        if (r < 0)
                conn_close_later(c); /* its close releases the lease */
        return r;
}

void lease_sock_reply_error(struct lease_sock_conn *c, const char *name, const char *message) {
        conn_refuse(c, name, message);
}

void lease_sock_request_freed(struct lease_sock_conn *c) {
        c->req = NULL;
}

/* Is uid (primary gid gid as the kernel says) in group g: the same gid, the passwd entry's
 * primary group, or the group's member list. A build user in its sandbox has lost its
 * supplementary groups, so the databases decide, not the process. */
static bool in_group(uid_t uid, gid_t gid, gid_t g) {
        struct passwd pw, *pwr = NULL;
        struct group gr, *grr = NULL;
        char pbuf[4096], gbuf[16384];

        if (gid == g)
                return true;
        if (getpwuid_r(uid, &pw, pbuf, sizeof(pbuf), &pwr) != 0 || !pwr)
                return false;
        if (pwr->pw_gid == g)
                return true;
        if (getgrgid_r(g, &gr, gbuf, sizeof(gbuf), &grr) != 0 || !grr)
                return false;
        for (char **m = grr->gr_mem; m && *m; m++)
                if (streq(*m, pwr->pw_name))
                        return true;
        return false;
}

/* The gid of a group named in the policy (a name or a number), or -ENOENT. */
static int group_gid(const char *name, gid_t *ret) {
        struct group gr, *grr = NULL;
        char buf[16384];
        uint64_t id;

        if (isempty(name))
                return -ENOENT;
        if (parse_u64(name, &id) >= 0 && id < UINT32_MAX) {
                *ret = (gid_t) id;
                return 0;
        }
        if (getgrnam_r(name, &gr, buf, sizeof(buf), &grr) != 0 || !grr)
                return -ENOENT;
        *ret = grr->gr_gid;
        return 0;
}

/* Is g among the peer's supplementary groups (SO_PEERGROUPS, as they were at connect)? */
static bool peer_has_group(int fd, gid_t g) {
        gid_t gids[256];
        socklen_t len = sizeof(gids);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gids, &len) < 0)
                return false; /* more than 256, or an old kernel: the databases decide */
        for (size_t i = 0; i < len / sizeof(gid_t); i++)
                if (gids[i] == g)
                        return true;
        return false;
}

/* May the peer take leases here? 1 root or lease group, 2 build users group, 0 neither. */
static int peer_allowed(struct lease_sock *s, int fd, const struct ucred *cr) {
        struct agent *a = s->a;
        gid_t g;

        if (cr->uid == 0)
                return 1;
        if (a->in_force.lease_group.set &&
            (in_group(cr->uid, cr->gid, a->in_force.lease_group.gid) ||
             peer_has_group(fd, a->in_force.lease_group.gid)))
                return 1;
        if (group_gid(a->in_force.policy->build_users_group, &g) >= 0 &&
            (in_group(cr->uid, cr->gid, g) || peer_has_group(fd, g)))
                return 2;
        return 0;
}

/* What the build users' connections hold or ask for together. */
static uint64_t build_bytes(const struct lease_sock *s) {
        uint64_t sum = 0;

        for (unsigned i = 0; i < s->n_conns; i++)
                if (s->conns[i]->build && s->conns[i]->state != CONN_CLOSING)
                        sum += s->conns[i]->hold_bytes;
        return sum;
}

static void conn_values(const struct lease_line_request *lr, struct lease_request_values *v) {
        static const enum lease_request_key map[_LEASE_LINE_KEY_MAX] = {
                [LEASE_LINE_HUGEPAGES] = LEASE_KEY_HUGEPAGES,
                [LEASE_LINE_HUGEPAGE_SIZE] = LEASE_KEY_HUGEPAGE_SIZE,
                [LEASE_LINE_WAIT] = LEASE_KEY_WAIT,
                [LEASE_LINE_LABEL] = LEASE_KEY_LABEL,
                [LEASE_LINE_ENFORCE] = LEASE_KEY_ENFORCE,
        };

        for (int k = 0; k < _LEASE_LINE_KEY_MAX; k++)
                if (lr->seen & (1U << k))
                        v->seen |= 1U << map[k];
        v->hugepages = lr->hugepages;
        v->hugepage_size = lr->hugepage_size;
        v->wait = lr->wait;
        v->label = lr->label;
        v->enforce = lr->enforce;
}

/* The request line is complete: check it like AcquireLease and queue it. */
static void conn_request(struct lease_sock_conn *c, const char *line) {
        struct lease_sock *s = c->s;
        struct agent *a = s->a;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct lease_line_request lr;
        struct lease_request_values v = { 0 };
        struct lease_request *req;
        char msg[256], name[LEASE_CLIENT_MAX];
        int allowed, r;

        c->timer = sd_event_source_disable_unref(c->timer);
        allowed = peer_allowed(s, c->fd, &c->peer);
        if (allowed == 0) {
                bufprintf_trunc(msg, sizeof(msg), "%s needs root%s%s%s%s%s%s (peer uid %u)",
                                LEASE_SOCK_NAME, a->in_force.lease_group.set ? ", group '" : "",
                                a->in_force.lease_group.set ? a->in_force.policy->lease_group : "",
                                a->in_force.lease_group.set ? "' ([agent] lease-group)" : "",
                                isempty(a->in_force.policy->build_users_group) ? "" : " or group '",
                                a->in_force.policy->build_users_group,
                                isempty(a->in_force.policy->build_users_group)
                                        ? ""
                                        : "' ([agent] build-users-group)",
                                (unsigned) c->peer.uid);
                conn_refuse(c, AGENT_ERROR_ACCESS_DENIED, msg);
                return;
        }
        c->build = allowed == 2;
        if (lease_line_parse(line, &lr, msg, sizeof(msg)) < 0) {
                conn_refuse(c, SD_BUS_ERROR_INVALID_ARGS, msg);
                return;
        }
        if (a->stopping || !a->lease.mgr) {
                conn_refuse(c, AGENT_ERROR_NOT_READY, "hosttuned is stopping");
                return;
        }
        conn_values(&lr, &v);
        req = calloc(1, sizeof(*req));
        if (!req) {
                conn_refuse(c, SD_BUS_ERROR_NO_MEMORY, "out of memory");
                return;
        }
        req->arrived_ticks = lease_cgroups_now_ticks();
        r = lease_check_request(a, &v, req, &error);
        if (r >= 0 && c->build) {
                uint64_t want = req->pages * req->want.hugepage_size, held = build_bytes(s);
                if (want > a->in_force.policy->build_hugepages_max ||
                    held > a->in_force.policy->build_hugepages_max - want) {
                        char w[32], h[32], m[32];
                        r = sd_bus_error_setf(
                                &error, AGENT_ERROR_LIMIT_EXCEEDED,
                                "builds hold %s of hugepages together and ask for %s more: "
                                "[agent] build-hugepages-max = %s",
                                format_size(held, h, sizeof(h)), format_size(want, w, sizeof(w)),
                                format_size(a->in_force.policy->build_hugepages_max, m, sizeof(m)));
                }
        }
        if (r >= 0)
                r = lease_manager_check_caps(a->lease.mgr, c->peer.uid, &error);
        if (r < 0) {
                lease_request_free(req);
                conn_refuse(c, error.name ?: SD_BUS_ERROR_FAILED, error.message ?: strerror(-r));
                return;
        }
        /* The holder as the kernel saw it at connect: through a build's user namespace, the
         * build user's uid and the pid in the agent's own pid namespace. */
        xsprintf(name, "lease.sock#%u", c->serial);
        strscpy(req->want.client, sizeof(req->want.client), name);
        req->want.uid = c->peer.uid;
        req->want.gid = c->peer.gid;
        req->want.pid = c->peer.pid > 0 ? (uint32_t) c->peer.pid : 0;
        r = lease_client_get(a->lease.mgr, name, &c->client);
        if (r >= 0)
                r = lease_client_get(a->lease.mgr, name, &req->client);
        if (r < 0) {
                lease_request_free(req);
                conn_refuse(c, SD_BUS_ERROR_FAILED, strerror(-r));
                return;
        }
        req->sock = c;
        c->req = req;
        c->hold_bytes = req->pages * req->want.hugepage_size;
        c->state = CONN_WAITING;
        r = lease_manager_enqueue(a->lease.mgr, req);
        if (r < 0) {
                /* Not queued: nothing else answers it. */
                c->req = NULL;
                lease_request_free(req);
                conn_refuse(c, SD_BUS_ERROR_FAILED, strerror(-r));
        }
}

static int on_conn_io(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        struct lease_sock_conn *c = userdata;
        char scratch[256];
        ssize_t k;

        (void) es;
        if (c->state != CONN_READING) {
                /* Nothing more is expected: end of file, an error or more bytes all end the
                 * connection, and with it the lease. */
                k = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
                if (k < 0 && (errno == EAGAIN || errno == EINTR) &&
                    !(revents & (EPOLLHUP | EPOLLERR)))
                        return 0;
                if (k > 0 && c->state == CONN_HOLDING)
                        log_info("lease.sock: connection %u sent bytes after its grant; closing it",
                                 c->serial);
                conn_free(c);
                return 0;
        }
        k = recv(fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (k <= 0) {
                conn_free(c);
                return 0;
        }
        char *nl = memchr(c->buf + c->len, '\n', (size_t) k);
        c->len += (size_t) k;
        if (!nl) {
                if (c->len >= sizeof(c->buf))
                        conn_refuse(c, SD_BUS_ERROR_INVALID_ARGS,
                                    "the request line is longer than 512 bytes");
                return 0;
        }
        if ((size_t) (nl - c->buf) + 1 != c->len) {
                conn_refuse(c, SD_BUS_ERROR_INVALID_ARGS,
                            "one request line per connection, nothing after it");
                return 0;
        }
        *nl = 0;
        if (nl > c->buf && nl[-1] == '\r')
                nl[-1] = 0;
        if (memchr(c->buf, 0, (size_t) (nl - c->buf))) {
                conn_refuse(c, SD_BUS_ERROR_INVALID_ARGS, "a request is printable ASCII");
                return 0;
        }
        conn_request(c, c->buf);
        return 0;
}

static int on_conn_timeout(sd_event_source *es, uint64_t usec, void *userdata) {
        struct lease_sock_conn *c = userdata;

        (void) es;
        (void) usec;
        conn_refuse(c, AGENT_ERROR_TIMEOUT, "no complete request line within 5 s of the connect");
        return 0;
}

static int on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        struct lease_sock *s = userdata;
        struct lease_sock_conn *c = NULL, **n;
        socklen_t len = sizeof(struct ucred);
        _cleanup_close_ int cfd = -1;
        int r;

        (void) es;
        (void) revents;
        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
                return 0; /* EAGAIN, a peer that left, EMFILE: the next one is tried */
        if (s->n_conns >= LEASE_SOCK_CONNS_MAX) {
                static const char busy[] = "refused Busy too many connections to lease.sock\n";
                (void) send(cfd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
                return 0;
        }
        c = calloc(1, sizeof(*c));
        n = c ? realloc(s->conns, (s->n_conns + 1) * sizeof(struct lease_sock_conn *)) : NULL;
        if (!n) {
                free(c);
                return 0;
        }
        s->conns = n;
        c->s = s;
        c->serial = ++s->next_serial;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0) {
                free(c);
                return 0;
        }
        c->fd = TAKE_FD(cfd);
        s->conns[s->n_conns++] = c;
        r = sd_event_add_io(s->a->event, &c->io, c->fd, EPOLLIN | EPOLLRDHUP, on_conn_io, c);
        if (r >= 0)
                r = agent_timer_arm(s->a, &c->timer, LEASE_SOCK_HANDSHAKE_USEC, USEC_PER_MSEC * 100,
                                    on_conn_timeout, c);
        if (r < 0)
                conn_free(c);
        return 0;
}

/* Bind path safely: a socket an earlier agent left (nobody answers on it) is replaced; anything
 * else there (a file, a symlink, a live socket) is left alone and the endpoint is not offered. */
static int bind_socket(struct lease_sock *s, const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strscpy(sa.sun_path, sizeof(sa.sun_path), path);
        if (lstat(path, &st) >= 0) {
                _cleanup_close_ int probe = -1;
                if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
                        return -EEXIST;
                probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (probe < 0)
                        return negative_errno();
                if (connect(probe, (struct sockaddr *) &sa, sizeof(sa)) >= 0)
                        return -EADDRINUSE; /* another agent answers there */
                if (errno != ECONNREFUSED)
                        return negative_errno();
                if (unlink(path) < 0)
                        return negative_errno();
        } else if (errno != ENOENT)
                return negative_errno();
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0)
                return negative_errno();
        if (bind(s->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return negative_errno();
        /* Everyone may connect: the peer's credentials decide, not the file's mode. */
        if (chmod(path, 0666) < 0 || lstat(path, &st) < 0)
                return negative_errno();
        s->dev = st.st_dev;
        s->ino = st.st_ino;
        if (listen(s->fd, 64) < 0)
                return negative_errno();
        r = sd_event_add_io(s->a->event, &s->io, s->fd, EPOLLIN, on_accept, s);
        return r < 0 ? r : 0;
}

static char *sock_path(const struct agent *a) {
        char *p = NULL;

        return asprintf(&p, "%s/%s", a->runtime_dir, LEASE_SOCK_NAME) < 0 ? NULL : p;
}

int agent_lease_sock_start(struct agent *a) {
        _cleanup_free_ char *path = sock_path(a);
        struct lease_sock *s;
        int r;

        if (!path)
                return -ENOMEM;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->a = a;
        s->fd = -1;
        a->lease.sock = s;
        r = bind_socket(s, path);
        if (r < 0) {
                log_warning("lease.sock: not offered: %s: %s", path,
                            r == -EEXIST ? "something else is there (not our socket)"
                                         : strerror(-r));
                agent_lease_sock_stop(a);
                return r;
        }
        log_debug("lease.sock: listening on %s", path);
        return 0;
}

void agent_lease_sock_stop(struct agent *a) {
        struct lease_sock *s = a->lease.sock;
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (!s)
                return;
        /* The lease manager is gone or going: connections end without releasing (its leases
         * stay on record, and the next start finds their holders gone). */
        while (s->n_conns > 0) {
                struct lease_sock_conn *c = s->conns[--s->n_conns];
                if (c->req)
                        c->req->sock = NULL;
                c->req = NULL;
                c->client = NULL;
                conn_free(c);
        }
        path = sock_path(a);
        if (s->ino && path && lstat(path, &st) >= 0 && st.st_dev == s->dev && st.st_ino == s->ino)
                (void) unlink(path);
        sd_event_source_disable_unref(s->io);
        safe_close(s->fd);
        free(s->conns);
        free(s);
        a->lease.sock = NULL;
}
