/* SPDX-License-Identifier: MIT */
/* hosttuned publishes check.facts: the probe report `hosttune check` would make, refreshed on
 * change (mount table, link events, /dev and nix.conf's directory) and after each of the
 * agent's own probes (the re-probe timer, reloads). Why and what check compares:
 * docs/check-facts.md. */
#include "agent/check-facts.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "lib/parse.h"
#include "runtime/check-facts.h"

/* Events come in bursts (udev makes several nodes, an apply mounts and makes taps): one
 * probe for the burst, at most this long after its first event. */
#define FACTS_SETTLE_USEC (50 * USEC_PER_SEC / 1000)
#define FACTS_SETTLE_ACCURACY_USEC (10 * USEC_PER_SEC / 1000)

struct check_facts_watch {
        int mounts_fd, swaps_fd, inotify_fd, netlink_fd;
        sd_event_source *mounts_source, *swaps_source, *inotify_source, *netlink_source;
        sd_event_source *settle_source, *idle_source;
        uint64_t reprobes_seen, generation_seen;
        bool made;
};

/* Probe as `hosttune check` does (the policy's targets, no detail, the agent's KVM verdict)
 * and write check.facts. The stamps and the mount table are taken first: a change while the
 * probes run then shows as a difference to check, never as current facts. */
static int facts_make(struct agent *a) {
        struct probe_targets t = policy_probe_targets(a->in_force.policy);
        struct probe_ctx ctx = { .root_fd = -1 };
        /* Zeroed (probe_run wants it) and untouched pages stay unbacked (see probe_host). */
        _cleanup_free_ struct check_facts *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return -ENOMEM;
        f->h.pid = getpid();
        f->h.euid = geteuid();
        f->h.generation = a->props.generation;
        f->h.made_realtime_usec = agent_now_usec(CLOCK_REALTIME);
        /* Past the next re-probe (which makes them again) with room for a busy event loop. */
        f->h.max_age_usec = (a->in_force.policy->reprobe_interval_usec ?: 60 * USEC_PER_SEC) +
                            10 * USEC_PER_SEC;
        if (check_facts_mounts_hash(&f->h.mounts_hash) < 0)
                f->h.mounts_hash = 0; /* check re-probes what rests on mounts */
        r = check_facts_stamps_take(&t, &f->h);
        if (r < 0)
                return r;
        r = probe_ctx_open("/", &t, &ctx);
        if (r < 0)
                return r;
        ctx.detail = false;
        ctx.kvm_smoke = a->smoke.valid ? &a->smoke.verdict : NULL;
        r = probe_run(&ctx, PROBE_MASK_ALL, &f->report);
        probe_ctx_done(&ctx);
        if (r < 0)
                return r;
        return check_facts_write(a->runtime_fd, f);
}

static void facts_refresh(struct agent *a, const char *why) {
        struct check_facts_watch *w = a->outputs.facts_watch;
        int r;

        if (!w || a->stopping || !a->in_force.policy || a->runtime_fd < 0)
                return;
        r = facts_make(a);
        if (r < 0) {
                /* The old file stays; its stamps, age or generation keep check from trusting
                 * it past what it rests on. */
                log_warning("cannot publish %s (%s): %s", CHECK_FACTS_FILE, why, strerror(-r));
                return;
        }
        w->made = true;
        w->reprobes_seen = a->stats.reprobes;
        w->generation_seen = a->props.generation;
        log_debug("published %s (%s)", CHECK_FACTS_FILE, why);
}

/* Is /dev/kvm or the KVM vendor module not the one the agent's smoke verdict is for (a chmod,
 * a new node, a reload)? */
static bool kvm_changed(struct agent *a) {
        char now[KVM_SMOKE_IDENTITY_MAX];
        _cleanup_close_ int root = -1;

        if (!a->smoke.valid || !a->verdict.as.report)
                return false;
        root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return false;
        return kvm_smoke_identity(root, a->verdict.as.report->kvm.vendor_module, now, sizeof(now)) <
                       0 ||
               !streq(now, a->smoke.verdict.identity);
}

static int on_settled(sd_event_source *s, uint64_t usec, void *userdata) {
        struct agent *a = userdata;

        (void) s;
        (void) usec;
        /* Drift of KVM itself: run the smoke guests now (issue 10: on drift, not only at the
         * re-probe timer), through the agent's own probe, which keeps the verdict, updates
         * readiness and nix.conf's features, and then has the facts made again. */
        if (kvm_changed(a)) {
                (void) agent_reprobe(a, "/dev/kvm or the KVM module changed");
                return 0;
        }
        facts_refresh(a, "a watched fact changed");
        return 0;
}

/* Something the facts rest on changed: probe once the burst settled. */
static void facts_changed(struct agent *a) {
        struct check_facts_watch *w = a->outputs.facts_watch;
        int enabled = SD_EVENT_OFF;

        /* Not re-armed while armed: a steady stream of events must not postpone it forever. */
        if (w->settle_source && sd_event_source_get_enabled(w->settle_source, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF)
                return;
        if (agent_timer_arm(a, &w->settle_source, FACTS_SETTLE_USEC, FACTS_SETTLE_ACCURACY_USEC,
                            on_settled, a) < 0)
                facts_refresh(a, "a watched fact changed");
}

/* The mount table or the swaps changed (mountinfo and /proc/swaps poll POLLPRI|POLLERR once
 * per change). */
static int on_table_changed(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) s;
        (void) fd;
        (void) revents;
        facts_changed(userdata);
        return 0;
}

/* Drain fd (inotify events, rtnetlink messages: only that something came matters). */
static int on_drain(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        char buf[8192];

        (void) s;
        (void) revents;
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        facts_changed(userdata);
        return 0;
}

static int on_idle(sd_event_source *s, void *userdata) {
        (void) s;
        facts_refresh(userdata, "the agent probed");
        return 0;
}

void agent_facts_outputs_written(struct agent *a) {
        struct check_facts_watch *w = a->outputs.facts_watch;
        int r;

        /* Not before READY=1 (start_finished asks again then): check falls back to probing
         * itself meanwhile, and the agent's start is not made longer by a second probe. */
        if (!w || a->stopping || !a->started ||
            (w->made && w->reprobes_seen == a->stats.reprobes &&
             w->generation_seen == a->props.generation))
                return;
        if (!w->idle_source) {
                r = sd_event_add_defer(a->event, &w->idle_source, on_idle, a);
                if (r >= 0)
                        r = sd_event_source_set_priority(w->idle_source, SD_EVENT_PRIORITY_IDLE);
                if (r < 0) {
                        w->idle_source = sd_event_source_disable_unref(w->idle_source);
                        facts_refresh(a, "the agent probed");
                        return;
                }
        }
        (void) sd_event_source_set_enabled(w->idle_source, SD_EVENT_ONESHOT);
}

/* fd onto the event loop as *ret_source with events and handler; logs and closes it when that
 * fails (the facts then refresh on the timer only). */
static void watch_add(struct agent *a, int *fd, sd_event_source **ret_source, uint32_t events,
                      sd_event_io_handler_t handler, const char *what) {
        int r;

        if (*fd < 0) {
                log_warning("cannot watch %s for %s: %s", what, CHECK_FACTS_FILE, strerror(errno));
                return;
        }
        r = sd_event_add_io(a->event, ret_source, *fd, events, handler, a);
        if (r < 0) {
                log_warning("cannot watch %s for %s: %s", what, CHECK_FACTS_FILE, strerror(-r));
                *fd = safe_close(*fd);
        }
}

/* Watch dir for entries made, removed, renamed, re-moded or written; or, when it does not
 * exist, its parent (so that it appearing counts). */
/* Watch dir for entries made, removed, renamed or re-moded, and with contents also for entries
 * written. Not for /dev: the probes themselves open device nodes for writing (/dev/kvm,
 * /dev/net/tun) and close them, and an IN_CLOSE_WRITE of each would have every probe trigger
 * the next one, 50 ms later, for ever. */
static void inotify_add_dir(int fd, const char *dir, bool contents) {
        const uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
                              (contents ? IN_CLOSE_WRITE : 0) | IN_DELETE_SELF | IN_MOVE_SELF |
                              IN_ONLYDIR;
        char parent[256];
        char *slash;

        if (inotify_add_watch(fd, dir, mask) >= 0 || strscpy(parent, sizeof(parent), dir) < 0)
                return;
        slash = strrchr(parent, '/');
        if (!slash)
                return;
        slash[slash == parent ? 1 : 0] = 0;
        if (inotify_add_watch(fd, parent, mask) < 0)
                log_warning("cannot watch %s for %s: %m", dir, CHECK_FACTS_FILE);
}

/* Watch the directory of the nix.conf the policy in force names (the default one without a
 * policy). Watching a directory twice is harmless: inotify gives the same watch back. */
static void watch_nix_conf_dir(struct agent *a) {
        struct check_facts_watch *w = a->outputs.facts_watch;
        struct probe_targets t = a->in_force.policy ? policy_probe_targets(a->in_force.policy)
                                                    : (struct probe_targets){ 0 };
        char nix_dir[256];
        char *slash;

        if (!w || w->inotify_fd < 0)
                return;
        if (strscpy(nix_dir, sizeof(nix_dir), t.nix_conf ?: DEFAULT_NIX_CONF) >= 0 &&
            (slash = strrchr(nix_dir, '/'))) {
                slash[slash == nix_dir ? 1 : 0] = 0;
                inotify_add_dir(w->inotify_fd, nix_dir, true);
        }
}

void agent_facts_policy_changed(struct agent *a) {
        watch_nix_conf_dir(a);
}

int agent_facts_start(struct agent *a) {
        struct check_facts_watch *w = calloc(1, sizeof(*w));
        struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };

        if (!w)
                return -ENOMEM;
        a->outputs.facts_watch = w;
        w->mounts_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        watch_add(a, &w->mounts_fd, &w->mounts_source, EPOLLPRI, on_table_changed,
                  "the mount table");
        w->swaps_fd = open("/proc/swaps", O_RDONLY | O_CLOEXEC);
        watch_add(a, &w->swaps_fd, &w->swaps_source, EPOLLPRI, on_table_changed, "the swaps");

        w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->inotify_fd >= 0) {
                inotify_add_dir(w->inotify_fd, "/dev", false);
                watch_nix_conf_dir(a);
        }
        watch_add(a, &w->inotify_fd, &w->inotify_source, EPOLLIN, on_drain, "/dev and /etc/nix");

        /* Link events: taps and bridges come and go with leases and applies. */
        w->netlink_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
        if (w->netlink_fd >= 0 && bind(w->netlink_fd, (struct sockaddr *) &nl, sizeof(nl)) < 0)
                w->netlink_fd = safe_close(w->netlink_fd);
        watch_add(a, &w->netlink_fd, &w->netlink_source, EPOLLIN, on_drain, "link events");
        return 0;
}

void agent_facts_stop(struct agent *a) {
        struct check_facts_watch *w = a->outputs.facts_watch;

        if (!w)
                return;
        w->mounts_source = sd_event_source_disable_unref(w->mounts_source);
        w->swaps_source = sd_event_source_disable_unref(w->swaps_source);
        w->inotify_source = sd_event_source_disable_unref(w->inotify_source);
        w->netlink_source = sd_event_source_disable_unref(w->netlink_source);
        w->settle_source = sd_event_source_disable_unref(w->settle_source);
        w->idle_source = sd_event_source_disable_unref(w->idle_source);
        safe_close(w->mounts_fd);
        safe_close(w->swaps_fd);
        safe_close(w->inotify_fd);
        safe_close(w->netlink_fd);
        if (w->made && a->runtime_fd >= 0)
                (void) unlinkat(a->runtime_fd, CHECK_FACTS_FILE, 0);
        free(w);
        a->outputs.facts_watch = NULL;
}
