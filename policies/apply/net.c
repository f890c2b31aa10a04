/* SPDX-License-Identifier: MIT */
/* Taps and bridges: tun ioctls to create persistent taps, libnl-route-3 for the rest. */
#include "net.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include <netlink/route/link/bridge.h>

#include "lib/fileio.h"
#include "lib/liberrors.h"
#include "lib/nl-util.h"
#include "lib/parse.h"
#include "lib/util.h"

/* The tun_flags bits that describe how a tap was made (tun_flags() in drivers/net/tun.c also
 * shows IFF_PERSIST). */
#define TAP_FLAGS_MASK (IFF_TUN | IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)

static int nl_open(struct nl_sock **ret) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
        int r;

        if (!sk)
                return -ENOMEM;
        r = nl_connect(sk, NETLINK_ROUTE);
        if (r < 0)
                return nl_error_to_errno(r);
        *ret = TAKE_PTR(sk);
        return 0;
}

/* The link called name: 0 and *ret set, -ENODEV when there is none. */
static int link_get(struct nl_sock *sk, const char *name, struct rtnl_link **ret) {
        int r = rtnl_link_get_kernel(sk, 0, name, ret);

        return r < 0 ? nl_error_to_errno(r) : 0;
}

static bool link_is(struct rtnl_link *l, const char *type) {
        const char *t = rtnl_link_get_type(l);
        return t && streq(t, type);
}

static int link_set_up(struct nl_sock *sk, struct rtnl_link *l, bool up) {
        _cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();
        int r;

        if (!change)
                return -ENOMEM;
        if (up)
                rtnl_link_set_flags(change, IFF_UP);
        else
                rtnl_link_unset_flags(change, IFF_UP);
        r = rtnl_link_change(sk, l, change, 0);
        return r < 0 ? nl_error_to_errno(r) : 0;
}

static const char *step_link_name(const struct plan_step *s, const char *name) {
        return name[0] ? name : s->knob;
}

/* Validate name, open netlink, look the link up for an applier. 1 found, 0 absent, -1 when
 * the step FAILED (res set). */
static int step_lookup(const char *name, struct nl_sock **ret_sk, struct rtnl_link **ret_l,
                       struct step_result *res) {
        int r;

        if (!ifname_valid(name)) {
                step_set(res, STEP_FAILED, -EINVAL, "'%s' is not an interface name", name);
                return -1;
        }
        r = nl_open(ret_sk);
        if (r == 0)
                r = link_get(*ret_sk, name, ret_l);
        if (r == -ENODEV)
                return 0;
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "looking up %s failed: %s", name, strerror(-r));
                return -1;
        }
        return 1;
}

int bridge_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        const char *name = step_link_name(s, s->u.link.name);
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        bool created = false;
        int r;

        r = step_lookup(name, &sk, &l, res);
        if (r < 0)
                return 0;
        r = r > 0 ? 0 : -ENODEV;
        if (r == 0 && !link_is(l, "bridge")) {
                step_set(res, STEP_FAILED, -EEXIST, "%s exists and is a %s, not a bridge", name,
                         rtnl_link_get_type(l) ? rtnl_link_get_type(l) : "device");
                return 0;
        }
        if (r == 0 && (rtnl_link_get_flags(l) & IFF_UP)) {
                strscpy(res->achieved, sizeof(res->achieved), "bridge up");
                step_set(res, STEP_UNCHANGED, 0, "bridge %s exists and is up", name);
                return 0;
        }
        if (r == -ENODEV) {
                _cleanup_(rtnl_link_putp) struct rtnl_link *nb = rtnl_link_bridge_alloc();

                if (!nb) {
                        step_set(res, STEP_FAILED, -ENOMEM, "out of memory");
                        return 0;
                }
                rtnl_link_set_name(nb, name);
                r = apply_record_created(c, JOURNAL_LINK, name, name);
                if (r < 0)
                        return r;
                r = rtnl_link_add(sk, nb, NLM_F_CREATE | NLM_F_EXCL);
                if (r < 0) {
                        r = nl_error_to_errno(r);
                        if (r == -EEXIST)
                                (void) journal_forget(c->j, JOURNAL_LINK, name);
                        step_set(res, STEP_FAILED, r, "creating bridge %s failed: %s", name,
                                 strerror(-r));
                        return 0;
                }
                created = true;
                r = link_get(sk, name, &l);
        } else if (r == 0)
                r = apply_record_changed(c, JOURNAL_LINK, name, name, "down");
        if (r < 0) {
                if (c->journal_error < 0)
                        return r;
                step_set(res, STEP_FAILED, r, "bridge %s: %s", name, strerror(-r));
                return 0;
        }
        r = link_set_up(sk, l, true);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "setting bridge %s up failed: %s", name,
                         strerror(-r));
                return 0;
        }
        strscpy(res->achieved, sizeof(res->achieved), "bridge up");
        step_set(res, STEP_APPLIED, 0, "%s bridge %s", created ? "created" : "set up", name);
        return 0;
}

struct tap_seen {
        uint32_t flags;
        int64_t owner;
};

static int tap_read(int root_fd, const char *name, struct tap_seen *ret) {
        char path[96], v[32], *end;
        unsigned long f;
        int64_t o;
        int r;

        r = bufprintf(path, sizeof(path), "sys/class/net/%s/tun_flags", name);
        if (r < 0)
                return r;
        r = read_line_at(root_fd, path, v, sizeof(v));
        if (r < 0)
                return r;
        errno = 0;
        f = strtoul(v, &end, 16);
        if (errno || end == v || *end || f > UINT32_MAX)
                return -EINVAL;
        r = bufprintf(path, sizeof(path), "sys/class/net/%s/owner", name);
        if (r < 0)
                return r;
        r = read_line_at(root_fd, path, v, sizeof(v));
        if (r < 0)
                return r;
        r = parse_i64(v, &o);
        if (r < 0)
                return r;
        *ret = (struct tap_seen){ .flags = (uint32_t) f, .owner = o };
        return 0;
}

static uint32_t tap_wanted_flags(const struct plan_step *s) {
        return IFF_TAP | IFF_NO_PI | (s->u.tap.vnet_hdr ? IFF_VNET_HDR : 0) |
               (s->u.tap.multi_queue ? IFF_MULTI_QUEUE : 0);
}

static bool tap_matches(const struct tap_seen *t, const struct plan_step *s) {
        int64_t want_owner = s->u.tap.owner == (uid_t) -1 ? -1 : (int64_t) s->u.tap.owner;
        return (t->flags & TAP_FLAGS_MASK) == tap_wanted_flags(s) && (t->flags & IFF_PERSIST) &&
               t->owner == want_owner;
}

/* TUNSETIFF with flags (IFF_TUN_EXCL added when creating), TUNSETOWNER, TUNSETPERSIST.
 * Attaching to an existing persistent tap updates its feature flags (tun_set_iff); it is
 * EBUSY while a VM holds its only queue. */
static int tap_make(int root_fd, const char *name, uint32_t flags, uid_t owner, bool create) {
        /* A device node, opened for its ioctls: not through open_read_at (lib/fileio.c), which
         * accepts regular files only. The path is fixed, not configuration. */
        _cleanup_close_ int fd = open_in_root(root_fd, "dev/net/tun", O_RDWR, 0);
        struct ifreq ifr = { 0 };

        if (fd < 0)
                return fd;
        strscpy(ifr.ifr_name, sizeof(ifr.ifr_name), name);
        ifr.ifr_flags = (short) (flags | (create ? IFF_TUN_EXCL : 0));
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return negative_errno();
        /* (uid_t) -1 means no owner; the kernel rejects it as an argument, and has no way to
         * clear an owner once set. */
        if (owner != (uid_t) -1 && ioctl(fd, TUNSETOWNER, (unsigned long) owner) < 0)
                return negative_errno();
        if (ioctl(fd, TUNSETPERSIST, 1UL) < 0)
                return negative_errno();
        return 0;
}

static void tap_describe(const struct tap_seen *t, char *buf, size_t size) {
        bufprintf_trunc(buf, size, "tap%s%s%s owner %lld",
                        (t->flags & IFF_VNET_HDR) ? " vnet_hdr" : "",
                        (t->flags & IFF_MULTI_QUEUE) ? " multi_queue" : "",
                        (t->flags & IFF_PERSIST) ? " persist" : "", (long long) t->owner);
}

int tap_info(int root_fd, const char *name, uint32_t *ret_flags, int64_t *ret_owner) {
        struct tap_seen t;
        int r;

        if (!ifname_valid(name))
                return -EINVAL;
        r = tap_read(root_fd, name, &t);
        if (r < 0)
                return r;
        if (!(t.flags & IFF_TAP))
                return -EMEDIUMTYPE;
        *ret_flags = t.flags;
        *ret_owner = t.owner;
        return 0;
}

int tap_set_owner(int root_fd, const char *name, uid_t owner) {
        uint32_t flags;
        int64_t cur;
        int r;

        if (owner == (uid_t) -1)
                return -EINVAL;
        r = tap_info(root_fd, name, &flags, &cur);
        if (r < 0)
                return r;
        if (!(flags & IFF_PERSIST))
                return -EMEDIUMTYPE; /* a tap that lives only while its opener does */
        if (cur == (int64_t) owner)
                return 0;
        return tap_make(root_fd, name, flags & TAP_FLAGS_MASK, owner, false);
}

int tap_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        const char *name = s->u.tap.name;
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        struct tap_seen t = { 0 };
        bool exists;
        char now[128];
        int r;

        r = step_lookup(name, &sk, &l, res);
        if (r < 0)
                return 0;
        exists = r > 0;
        if (exists) {
                bool ours = journal_find(c->j, JOURNAL_LINK, name) != NULL;
                bool flags_ok;

                r = tap_read(c->o->root_fd, name, &t);
                if (r < 0 || !link_is(l, "tun") || !(t.flags & IFF_TAP)) {
                        step_set(res, STEP_FAILED, -EEXIST, "%s exists and is not a tap", name);
                        return 0;
                }
                if (tap_matches(&t, s) && (rtnl_link_get_flags(l) & IFF_UP)) {
                        tap_describe(&t, res->achieved, sizeof(res->achieved));
                        step_set(res, STEP_UNCHANGED, 0, "%s is already a %s", name, res->achieved);
                        return 0;
                }
                flags_ok = (t.flags & TAP_FLAGS_MASK) == tap_wanted_flags(s) &&
                           (t.flags & IFF_PERSIST);
                if (!flags_ok && !ours) {
                        tap_describe(&t, now, sizeof(now));
                        step_set(res, STEP_FAILED, -EEXIST,
                                 "%s exists as %s, which hosttune did not create; left alone", name,
                                 now);
                        return 0;
                }
                if (!tap_matches(&t, s) && !ours && t.owner == -1) {
                        step_set(res, STEP_FAILED, -EPERM,
                                 "%s has no owner, and one set now could not be undone (the kernel "
                                 "cannot clear a tap's owner): delete the tap so hosttune creates "
                                 "it, or give it an owner",
                                 name);
                        return 0;
                }
                if (!tap_matches(&t, s) && !ours) {
                        char orig[32];
                        xsprintf(orig, "%lld", (long long) t.owner);
                        r = apply_record_changed(c, JOURNAL_TAP_OWNER, name, name, orig);
                        if (r < 0)
                                return r;
                }
                if (!(rtnl_link_get_flags(l) & IFF_UP)) {
                        r = apply_record_changed(c, JOURNAL_LINK, name, name, "down");
                        if (r < 0)
                                return r;
                }
        } else {
                r = apply_record_created(c, JOURNAL_LINK, name, name);
                if (r < 0)
                        return r;
        }
        if (!exists || !tap_matches(&t, s)) {
                r = tap_make(c->o->root_fd, name, tap_wanted_flags(s), s->u.tap.owner, !exists);
                if (r < 0) {
                        if (r == -EBUSY && !exists)
                                (void) journal_forget(c->j, JOURNAL_LINK, name);
                        step_set(res, STEP_FAILED, r, "%s tap %s failed: %s%s",
                                 exists ? "reconfiguring" : "creating", name, strerror(-r),
                                 r == -EBUSY ? (exists ? " (a VM holds it)" : " (it exists)") : "");
                        return 0;
                }
                rtnl_link_put(TAKE_PTR(l));
                r = link_get(sk, name, &l);
                if (r < 0) {
                        step_set(res, STEP_FAILED, r, "%s vanished after creation: %s", name,
                                 strerror(-r));
                        return 0;
                }
        }
        r = link_set_up(sk, l, true);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "setting %s up failed: %s", name, strerror(-r));
                return 0;
        }
        r = tap_read(c->o->root_fd, name, &t);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "cannot read %s back: %s", name, strerror(-r));
                return 0;
        }
        tap_describe(&t, res->achieved, sizeof(res->achieved));
        if (!tap_matches(&t, s)) {
                step_set(res, STEP_FAILED, -EIO, "%s: made a tap but the kernel shows %s", name,
                         res->achieved);
                return 0;
        }
        step_set(res, STEP_APPLIED, 0, "%s %s: %s", exists ? "reconfigured" : "created", name,
                 res->achieved);
        return 0;
}

void tap_owner_revert(struct apply_ctx *c, const struct journal_entry *e,
                      struct revert_result *res) {
        struct tap_seen t = { 0 };
        int64_t owner;
        int r;

        if (parse_i64(e->original, &owner) < 0 || owner < 0 || owner >= UINT32_MAX) {
                revert_set(res, REVERT_FAILED, -EINVAL, "%s: bad owner '%s' in the journal",
                           e->object, e->original);
                return;
        }
        r = tap_read(c->o->root_fd, e->object, &t);
        if (r == -ENOENT) {
                revert_set(res, REVERT_GONE, 0, "%s is gone", e->object);
                return;
        }
        if (r == 0 && t.owner == owner) {
                revert_set(res, REVERT_GONE, 0, "%s already has owner %s", e->object, e->original);
                return;
        }
        if (r == 0)
                r = tap_make(c->o->root_fd, e->object, t.flags & TAP_FLAGS_MASK, (uid_t) owner,
                             false);
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "setting the owner of %s back to %s failed: %s%s",
                           e->object, e->original, strerror(-r),
                           r == -EBUSY ? " (a VM holds it)" : "");
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "%s owner back to %s", e->object, e->original);
}

/* The name of a link's master, "" when none. */
static void master_name(struct rtnl_link *l, char *buf) {
        int m = rtnl_link_get_master(l);

        buf[0] = 0;
        if (m > 0 && !if_indextoname((unsigned) m, buf))
                buf[0] = 0;
}

int tap_master_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        const char *name = step_link_name(s, s->u.link.name), *master = s->u.link.master;
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL, *m = NULL;
        char cur[IF_NAMESIZE], now[IF_NAMESIZE];
        int r;

        if (!ifname_valid(name) || !ifname_valid(master)) {
                step_set(res, STEP_FAILED, -EINVAL, "'%s' on '%s': not interface names", name,
                         master);
                return 0;
        }
        r = nl_open(&sk);
        if (r == 0)
                r = link_get(sk, name, &l);
        if (r == 0)
                r = link_get(sk, master, &m);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "enslaving %s to %s: %s", name, master,
                         r == -ENODEV ? "no such device" : strerror(-r));
                return 0;
        }
        master_name(l, cur);
        if (streq(cur, master)) {
                strscpy(res->achieved, sizeof(res->achieved), master);
                step_set(res, STEP_UNCHANGED, 0, "%s is already on %s", name, master);
                return 0;
        }
        r = apply_record_changed(c, JOURNAL_MASTER, name, name, cur);
        if (r < 0)
                return r;
        r = rtnl_link_enslave_ifindex(sk, rtnl_link_get_ifindex(m), rtnl_link_get_ifindex(l));
        if (r < 0) {
                r = nl_error_to_errno(r);
                step_set(res, STEP_FAILED, r, "enslaving %s to %s failed: %s", name, master,
                         strerror(-r));
                return 0;
        }
        rtnl_link_put(TAKE_PTR(l));
        r = link_get(sk, name, &l);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "cannot read %s back: %s", name, strerror(-r));
                return 0;
        }
        master_name(l, now);
        strscpy(res->achieved, sizeof(res->achieved), now);
        if (!streq(now, master)) {
                step_set(res, STEP_FAILED, -EIO, "%s: enslaved to %s but its master is '%s'", name,
                         master, now);
                return 0;
        }
        step_set(res, STEP_APPLIED, 0, "%s: master %s -> %s", name, cur[0] ? cur : "none", now);
        return 0;
}

/* The link a journal entry names, for a reverter: false (res set: GONE or FAILED) when it
 * cannot be had. */
static bool revert_lookup(const struct journal_entry *e, struct nl_sock **ret_sk,
                          struct rtnl_link **ret_l, struct revert_result *res) {
        int r = nl_open(ret_sk);

        if (r == 0)
                r = link_get(*ret_sk, e->object, ret_l);
        if (r == -ENODEV)
                revert_set(res, REVERT_GONE, 0, "%s is already gone", e->object);
        else if (r < 0)
                revert_set(res, REVERT_FAILED, r, "looking up %s failed: %s", e->object,
                           strerror(-r));
        return r == 0;
}

void link_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL;
        int r;

        (void) c;
        if (!revert_lookup(e, &sk, &l, res))
                return;
        if (e->action == JOURNAL_CHANGED) {
                r = link_set_up(sk, l, false);
                if (r < 0)
                        revert_set(res, REVERT_FAILED, r, "setting %s down failed: %s", e->object,
                                   strerror(-r));
                else
                        revert_set(res, REVERT_RESTORED, 0, "%s set down again", e->object);
                return;
        }
        if (!link_is(l, "bridge") && !link_is(l, "tun")) {
                revert_set(res, REVERT_KEPT, 0,
                           "%s is now a %s, not the bridge or tap hosttune created; left alone",
                           e->object, rtnl_link_get_type(l) ? rtnl_link_get_type(l) : "device");
                return;
        }
        r = rtnl_link_delete(sk, l);
        if (r < 0) {
                r = nl_error_to_errno(r);
                revert_set(res, REVERT_FAILED, r, "deleting %s failed: %s", e->object,
                           strerror(-r));
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "deleted %s", e->object);
}

void master_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res) {
        _cleanup_(nl_socket_freep) struct nl_sock *sk = NULL;
        _cleanup_(rtnl_link_putp) struct rtnl_link *l = NULL, *m = NULL;
        char cur[IF_NAMESIZE];
        int r;

        (void) c;
        if (!revert_lookup(e, &sk, &l, res))
                return;
        master_name(l, cur);
        if (streq(cur, e->original)) {
                revert_set(res, REVERT_GONE, 0, "%s is already on '%s'", e->object, e->original);
                return;
        }
        if (!e->original[0])
                r = rtnl_link_release_ifindex(sk, rtnl_link_get_ifindex(l));
        else {
                r = link_get(sk, e->original, &m);
                if (r < 0) {
                        revert_set(res, REVERT_FAILED, r, "original master %s of %s: %s",
                                   e->original, e->object, strerror(-r));
                        return;
                }
                r = rtnl_link_enslave_ifindex(sk, rtnl_link_get_ifindex(m),
                                              rtnl_link_get_ifindex(l));
        }
        if (r < 0) {
                r = nl_error_to_errno(r);
                revert_set(res, REVERT_FAILED, r, "putting %s back on '%s' failed: %s", e->object,
                           e->original, strerror(-r));
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "%s back on %s", e->object,
                   e->original[0] ? e->original : "no bridge");
}
