/* SPDX-License-Identifier: MIT */
/* The cgroups of enforced hugepage leases: the subtree, one cgroup per lease, removal once its
 * processes are gone. See agent/lease-cgroup.h and docs/leases.md, "Enforcement". */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/lease-cgroup.h"
#include "agent/log.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "policies/lease-rules.h"
#include "policies/policy.h"

#define HUGETLB "hugetlb"
#define SIZES_MAX 8
#define ENABLED_MAX 16

/* A cgroup of an ended lease that still had processes: removed when cgroup.events says the last
 * one left. */
struct pending_removal {
        struct lease_cgroups *c;
        char path[CGROUP_PATH_MAX];
        sd_event_source *watch;
};

struct lease_cgroups {
        int root_fd, runtime_fd;
        sd_event *event;
        bool available;
        char why[400];
        char base[CGROUP_PATH_MAX]; /* holds one cgroup per lease, named by its id */
        /* Where the agent turned hugetlb on for the children (the cgroups from the mount down to
         * base's parent), this run or an earlier one that did not stop cleanly: turned off
         * again, deepest first, when the agent stops and no lease cgroup is left. */
        char enabled[ENABLED_MAX][CGROUP_PATH_MAX];
        unsigned n_enabled;
        uint64_t sizes[SIZES_MAX]; /* the host's hugepage sizes */
        unsigned n_sizes;
        struct pending_removal **pending;
        unsigned n_pending;
};

uint64_t lease_cgroups_now_ticks(void) {
        struct timespec ts;
        long hz = sysconf(_SC_CLK_TCK);

        if (hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * (uint64_t) hz +
               (uint64_t) ts.tv_nsec / (UINT64_C(1000000000) / (uint64_t) hz);
}

static int on_size(const char *name, void *userdata) {
        struct lease_cgroups *c = userdata;
        const char *kb = startswith(name, "hugepages-");
        char num[32];
        uint64_t v;
        size_t l;

        if (!kb || c->n_sizes >= SIZES_MAX)
                return 0;
        l = strcspn(kb, "k");
        if (l == 0 || l >= sizeof(num) || !streq(kb + l, "kB"))
                return 0;
        memcpy(num, kb, l);
        num[l] = 0;
        if (parse_u64(num, &v) >= 0 && v > 0 && v < UINT64_MAX / 1024)
                c->sizes[c->n_sizes++] = v * 1024;
        return 0;
}

/* Note in CGROUP_ENABLED_FILE where the agent turned hugetlb on (one path a line). */
static void enabled_save(struct lease_cgroups *c) {
        char text[ENABLED_MAX * (CGROUP_PATH_MAX + 1)] = "";
        int r = 0;

        /* Sized for ENABLED_MAX paths: bufappendf fails only on a programming error. */
        for (unsigned i = 0; i < c->n_enabled && r >= 0; i++)
                r = bufappendf(text, sizeof(text), "%s\n", c->enabled[i]);
        if (r < 0 ||
            write_file_replace_at(c->runtime_fd, CGROUP_ENABLED_FILE, text, strlen(text), 0644) < 0)
                log_warning("leases: cannot note in %s where hugetlb was turned on",
                            CGROUP_ENABLED_FILE);
}

/* Read back what an earlier run noted (it did not stop cleanly, so did not turn it off). */
static void enabled_load(struct lease_cgroups *c) {
        char text[ENABLED_MAX * (CGROUP_PATH_MAX + 1)];

        if (read_virtual_file_at(c->runtime_fd, CGROUP_ENABLED_FILE, text, sizeof(text)) < 0)
                return;
        for (char *line = text, *nl; *line && c->n_enabled < ENABLED_MAX; line = nl + 1) {
                nl = strchr(line, '\n');
                if (!nl)
                        break;
                *nl = 0;
                if (line[0] == '/')
                        (void) strscpy(c->enabled[c->n_enabled++], CGROUP_PATH_MAX, line);
        }
}

/* Enable hugetlb for the children of every cgroup from the mount mnt down to path (systemd
 * does not manage hugetlb, so on a systemd host it is off in the root and the slices too). */
static int enable_down_to(struct lease_cgroups *c, const char *mnt, const char *path) {
        char step[CGROUP_PATH_MAX];
        size_t l = strlen(mnt);
        bool noted = false;
        int r;

        enabled_load(c);
        for (;;) {
                const char *slash;

                r = bufprintf(step, sizeof(step), "%.*s", (int) l, path);
                if (r >= 0)
                        r = cgroup_enable_controller(c->root_fd, step, HUGETLB);
                if (r < 0) {
                        bufprintf_trunc(c->why, sizeof(c->why), "cannot enable hugetlb in %s: %s",
                                        step, strerror(-r));
                        break;
                }
                if (r > 0 && c->n_enabled < ENABLED_MAX) {
                        (void) strscpy(c->enabled[c->n_enabled++], CGROUP_PATH_MAX, step);
                        noted = true;
                }
                if (!path[l])
                        break;
                slash = strchr(path + l + 1, '/');
                l = slash ? (size_t) (slash - path) : strlen(path);
        }
        if (noted)
                enabled_save(c);
        return r < 0 ? r : 0;
}

/* The name of the lease cgroups' directory in the root cgroup: "hosttune.leases" for the
 * default runtime directory, "hosttune.leases.<hash>" for any other, the hash being the 64-bit
 * FNV-1a of the runtime directory's path (trailing slashes left out), folded to 32 bits and
 * written as 8 hex digits. Two agents with different runtime directories (a test agent on a
 * private bus beside the host's) then never share it, so neither sweeps the other's lease
 * cgroups at start; one restarted with the same runtime directory finds its own again. */
static int root_base_name(const char *runtime_dir, char *buf, size_t size) {
        size_t l = strlen(runtime_dir);
        uint64_t h = UINT64_C(14695981039346656037);

        while (l > 1 && runtime_dir[l - 1] == '/')
                l--;
        if (l == strlen(POLICY_DEFAULT_RUNTIME_DIR) &&
            strncmp(runtime_dir, POLICY_DEFAULT_RUNTIME_DIR, l) == 0)
                return strscpy(buf, size, "hosttune.leases");
        for (size_t i = 0; i < l; i++) {
                h ^= (unsigned char) runtime_dir[i];
                h *= UINT64_C(1099511628211);
        }
        return bufprintf(buf, size, "hosttune.leases.%08" PRIx32, (uint32_t) (h ^ (h >> 32)));
}

/* Where lease cgroups go, from the agent's own cgroup own below the mount mnt. */
static int choose_base(struct lease_cgroups *c, const char *mnt, const char *own,
                       const char *runtime_dir) {
        char parent[CGROUP_PATH_MAX], self[CGROUP_PATH_MAX], pid[32];
        int r;

        if (streq(own, "/")) {
                /* The root cgroup (no systemd on the unified hierarchy, as on a hybrid host with
                 * another init): it may hold processes and enable controllers at once. Other
                 * agents may run there too: the directory is this one's by its runtime dir. */
                char name[32];

                r = strscpy(parent, sizeof(parent), mnt);
                if (r >= 0)
                        r = root_base_name(runtime_dir, name, sizeof(name));
                if (r >= 0)
                        r = bufprintf(c->base, sizeof(c->base), "%s/%s", mnt, name);
        } else {
                /* A cgroup of its own (a unit with Delegate=yes): the no-internal-processes rule
                 * wants the agent out of the cgroup that enables hugetlb for its children, so it
                 * moves itself to <own>/agent, next to <own>/leases. After a restart within the
                 * same cgroup it finds itself in <own>/agent already. */
                size_t l = strlen(own);
                const char *leaf = strrchr(own, '/');
                if (streq(leaf, "/agent"))
                        l -= strlen("/agent");
                r = bufprintf(parent, sizeof(parent), "%s%.*s", mnt, (int) l, own);
                if (r >= 0)
                        r = bufprintf(c->base, sizeof(c->base), "%s/leases", parent);
        }
        if (r < 0)
                return bufprintf_trunc(c->why, sizeof(c->why), "the cgroup path is too long"), r;

        r = cgroup_has_controller(c->root_fd, mnt, HUGETLB);
        if (r <= 0) {
                bufprintf_trunc(
                        c->why, sizeof(c->why),
                        "cgroup v2 at %s has no hugetlb controller (bound to a v1 hierarchy, or "
                        "not built)",
                        mnt);
                return -EOPNOTSUPP;
        }
        if (!streq(own, "/")) {
                r = bufprintf(self, sizeof(self), "%s/agent", parent);
                if (r >= 0 && !streq(strrchr(own, '/'), "/agent")) {
                        r = cgroup_make(c->root_fd, self);
                        if (r >= 0)
                                r = bufprintf(pid, sizeof(pid), "%d", (int) getpid());
                        if (r >= 0) {
                                char procs[CGROUP_PATH_MAX + 16];
                                r = bufprintf(procs, sizeof(procs), "%s/cgroup.procs", self);
                                if (r >= 0)
                                        r = write_virtual_file_at(c->root_fd, procs, pid);
                        }
                }
                if (r < 0) {
                        bufprintf_trunc(c->why, sizeof(c->why), "cannot move the agent to %s: %s",
                                        self, strerror(-r));
                        return r;
                }
        }
        r = enable_down_to(c, mnt, parent);
        if (r < 0)
                return r;
        r = cgroup_make(c->root_fd, c->base);
        if (r >= 0)
                r = cgroup_enable_controller(c->root_fd, c->base, HUGETLB);
        if (r < 0) {
                bufprintf_trunc(c->why, sizeof(c->why), "cannot enable hugetlb down to %s: %s",
                                c->base, strerror(-r));
                return r;
        }
        return 0;
}

int lease_cgroups_new(int root_fd, const char *runtime_dir, int runtime_fd, sd_event *event,
                      struct lease_cgroups **ret) {
        struct lease_cgroups *c = calloc(1, sizeof(*c));
        _cleanup_free_ char *mountinfo = NULL;
        char mnt[CGROUP_PATH_MAX], own[CGROUP_PATH_MAX], text[4096];
        int r;

        if (!c)
                return -ENOMEM;
        c->root_fd = root_fd;
        c->runtime_fd = runtime_fd;
        c->event = event;
        *ret = c;
        (void) read_dir_names_at(root_fd, "/sys/kernel/mm/hugepages", on_size, c);

        r = read_virtual_file_alloc_at(root_fd, "/proc/self/mountinfo", VIRTUAL_FILE_MAX,
                                       &mountinfo, NULL);
        if (r >= 0)
                r = cgroup2_mount_find(mountinfo, mnt, sizeof(mnt));
        if (r < 0) {
                bufprintf_trunc(c->why, sizeof(c->why), "no cgroup v2 hierarchy is mounted");
                return 0;
        }
        r = (int) read_virtual_file_at(root_fd, "/proc/self/cgroup", text, sizeof(text));
        if (r >= 0)
                r = cgroup2_path_parse(text, own, sizeof(own));
        if (r < 0) {
                bufprintf_trunc(c->why, sizeof(c->why), "cannot tell the agent's cgroup: %s",
                                strerror(-r));
                return 0;
        }
        if (choose_base(c, mnt, own, runtime_dir) < 0)
                return 0;
        c->available = true;
        log_info("leases: hugepage leases are enforced by the cgroups under %s", c->base);
        return 0;
}

void lease_cgroups_free(struct lease_cgroups *c) {
        if (!c)
                return;
        for (unsigned i = 0; i < c->n_pending; i++) {
                /* A last try: what still has processes is swept at the next start. */
                (void) cgroup_remove(c->root_fd, c->pending[i]->path);
                sd_event_source_disable_unref(c->pending[i]->watch);
                free(c->pending[i]);
        }
        free(c->pending);
        /* Leave the hierarchy as found when no lease cgroup stays (-EBUSY while one does). */
        if ((!c->available || cgroup_remove(c->root_fd, c->base) >= 0) && c->n_enabled > 0) {
                /* Deepest first. One that another user of hugetlb holds on (-EBUSY: another
                 * agent's lease directory beside this one's) stays on, and so do those above
                 * it; the note keeps them, so this agent's next stop tries again. */
                while (c->n_enabled > 0) {
                        int r = cgroup_disable_controller(c->root_fd, c->enabled[c->n_enabled - 1],
                                                          HUGETLB);
                        if (r < 0 && r != -ENOENT) /* a cgroup gone meanwhile: nothing to do */
                                break;
                        c->n_enabled--;
                }
                if (c->n_enabled == 0)
                        (void) unlinkat(c->runtime_fd, CGROUP_ENABLED_FILE, 0);
                else
                        enabled_save(c);
        }
        free(c);
}

bool lease_cgroups_available(const struct lease_cgroups *c, const char **ret_why) {
        if (ret_why)
                *ret_why = c ? c->why : "no cgroups";
        return c && c->available;
}

int lease_cgroups_charged(const struct lease_cgroups *c, uint64_t page_size, uint64_t *ret) {
        if (!c || !c->available)
                return -EOPNOTSUPP;
        return cgroup_hugetlb_current(c->root_fd, c->base, page_size, ret);
}

int lease_cgroups_base(const struct lease_cgroups *c, char *buf, size_t size) {
        if (!c || !c->available)
                return -EOPNOTSUPP;
        return strscpy(buf, size, c->base);
}

int lease_cgroups_path(const struct lease_cgroups *c, const char *id, char *buf, size_t size) {
        if (!c->available || !lease_id_valid(id))
                return -EINVAL;
        return bufprintf(buf, size, "%s/%s", c->base, id);
}

/* Set the limits: bytes of page_size, none of every other size. */
static int set_limits(struct lease_cgroups *c, const char *path, uint64_t page_size,
                      uint64_t bytes) {
        int r = 0;

        for (unsigned i = 0; r >= 0 && i < c->n_sizes; i++)
                if (c->sizes[i] != page_size)
                        r = cgroup_hugetlb_limit(c->root_fd, path, c->sizes[i], 0);
        return r < 0 ? r : cgroup_hugetlb_limit(c->root_fd, path, page_size, bytes);
}

int lease_cgroups_enter(struct lease_cgroups *c, const char *id, uint64_t page_size, uint64_t bytes,
                        pid_t pid, uid_t owner, uint64_t not_after_ticks) {
        _cleanup_close_ int pidfd = -1;
        char path[CGROUP_PATH_MAX];
        uint64_t started;
        uid_t ruid, euid;
        int r;

        r = lease_cgroups_path(c, id, path, sizeof(path));
        if (r < 0)
                return r;
        if (pid <= 1 || pid == getpid())
                return -EPERM;
        /* Pin the process first; then its start time says whether it is the one that asked
         * (a number reused by a later process would show a later start). */
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0)
                return negative_errno();
        r = proc_start_ticks(c->root_fd, pid, &started);
        if (r < 0)
                return r;
        if (not_after_ticks > 0 && started > not_after_ticks)
                return -ESRCH;
        /* The bus daemon's pid is from connect time; a connection handed to another process
         * after its first owner exited could name a recycled pid of someone else's process. */
        r = proc_uids(c->root_fd, pid, &ruid, &euid);
        if (r < 0)
                return r;
        if (owner != 0 && ruid != owner && euid != owner)
                return -EPERM;
        r = cgroup_make(c->root_fd, path);
        if (r < 0)
                return r;
        r = set_limits(c, path, page_size, bytes);
        if (r >= 0)
                r = cgroup_attach_pidfd(c->root_fd, path, pid, pidfd);
        if (r < 0) {
                /* Whatever may be in it can fault no page; it goes once it is empty. */
                lease_cgroups_end(c, id);
                return r;
        }
        return 0;
}

static void pending_drop(struct lease_cgroups *c, struct pending_removal *p) {
        for (unsigned i = 0; i < c->n_pending; i++)
                if (c->pending[i] == p) {
                        c->pending[i] = c->pending[--c->n_pending];
                        break;
                }
        sd_event_source_disable_unref(p->watch);
        free(p);
}

static int on_events(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        struct pending_removal *p = userdata;
        int r;

        (void) s;
        (void) ev;
        r = cgroup_remove(p->c->root_fd, p->path);
        if (r == -EBUSY)
                return 0;
        if (r < 0)
                log_warning("leases: cannot remove the cgroup %s: %s", p->path, strerror(-r));
        else
                log_debug("leases: cgroup %s removed after its last process left", p->path);
        pending_drop(p->c, p);
        return 0;
}

/* Remove path now, or watch it and remove it when it is empty. */
static void remove_or_watch(struct lease_cgroups *c, const char *path) {
        char events[CGROUP_PATH_MAX + 16];
        struct pending_removal *p, **n;
        int r;

        for (unsigned i = 0; i < c->n_pending; i++)
                if (streq(c->pending[i]->path, path))
                        return;
        p = calloc(1, sizeof(*p));
        n = p ? realloc(c->pending, (c->n_pending + 1) * sizeof(struct pending_removal *)) : NULL;
        if (!n) {
                free(p);
                (void) cgroup_remove(c->root_fd, path);
                return;
        }
        c->pending = n;
        p->c = c;
        (void) strscpy(p->path, sizeof(p->path), path);
        /* The watch first, then the try: a last process that leaves in between is not
         * missed (populated changes modify cgroup.events). */
        r = bufprintf(events, sizeof(events), "%s/cgroup.events", path);
        if (r >= 0)
                r = sd_event_add_inotify(c->event, &p->watch, events, IN_MODIFY, on_events, p);
        c->pending[c->n_pending++] = p;
        r = r < 0 ? r : cgroup_remove(c->root_fd, path);
        if (r == -EBUSY && p->watch) {
                log_info("leases: cgroup %s still has processes; removed when they are gone", path);
                return;
        }
        if (r < 0 && r != -EBUSY)
                log_warning("leases: cannot remove the cgroup %s: %s", path, strerror(-r));
        pending_drop(c, p);
}

void lease_cgroups_end(struct lease_cgroups *c, const char *id) {
        char path[CGROUP_PATH_MAX];
        struct stat st;

        if (!c || lease_cgroups_path(c, id, path, sizeof(path)) < 0 ||
            stat_in_root(c->root_fd, path, &st) < 0)
                return;
        for (unsigned i = 0; i < c->n_sizes; i++)
                (void) cgroup_hugetlb_limit(c->root_fd, path, c->sizes[i], 0);
        remove_or_watch(c, path);
}

struct sweep {
        struct lease_cgroups *c;
        bool (*keep)(const char *id, void *userdata);
        void *userdata;
};

static int on_sweep(const char *name, void *userdata) {
        struct sweep *s = userdata;

        if (lease_id_valid(name) && !s->keep(name, s->userdata)) {
                log_info("leases: removing the cgroup of lease %s, which no lease names", name);
                lease_cgroups_end(s->c, name);
        }
        return 0;
}

void lease_cgroups_sweep(struct lease_cgroups *c, bool (*keep)(const char *id, void *userdata),
                         void *userdata) {
        struct sweep s = { c, keep, userdata };

        if (c && c->available)
                (void) read_dir_names_at(c->root_fd, c->base, on_sweep, &s);
}
