/* SPDX-License-Identifier: MIT */
/* cgroup v2 helpers for enforced hugepage leases: the mount, a process's cgroup, hugetlb limits,
 * a safe move by pidfd, removal. See lib/cgroup.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/cgroup.h"
#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/procfs.h"
#include "lib/util.h"

struct find_mount {
        char *buf;
        size_t size;
        int r;
};

static int on_mount(const struct mount_entry *e, void *userdata) {
        struct find_mount *f = userdata;

        if (!streq(e->fstype, "cgroup2"))
                return 0;
        f->r = strscpy(f->buf, f->size, e->target);
        return 1; /* the first one: stop */
}

int cgroup2_mount_find(const char *mountinfo, char *ret, size_t size) {
        struct find_mount f = { .buf = ret, .size = size, .r = -ENOENT };

        (void) mountinfo_parse_matching(mountinfo, " - cgroup2 ", on_mount, &f, NULL);
        return f.r;
}

int cgroup2_path_parse(const char *proc_cgroup, char *ret, size_t size) {
        const char *p = proc_cgroup;

        /* "0::/path\n"; v1 lines ("4:memory:/x") come before or after it on a hybrid host. */
        while (p && *p) {
                const char *rest = startswith(p, "0::"), *end = strchr(p, '\n');
                if (rest) {
                        size_t l = end ? (size_t) (end - rest) : strlen(rest);
                        if (l == 0 || rest[0] != '/')
                                return -EBADMSG;
                        if (l >= size)
                                return -ENAMETOOLONG;
                        memcpy(ret, rest, l);
                        ret[l] = 0;
                        return 0;
                }
                p = end ? end + 1 : NULL;
        }
        return -ENOENT;
}

int cgroup_hugetlb_size_name(uint64_t page_size, char *ret, size_t size) {
        static const char *const units[] = { "KB", "MB", "GB", "TB" };
        uint64_t v = page_size / 1024;
        unsigned u = 0;

        if (page_size < 4096 || (page_size & (page_size - 1)) != 0)
                return -EINVAL;
        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        return bufprintf(ret, size, "%" PRIu64 "%s", v, units[u]);
}

static int file_path(char *buf, size_t size, const char *dir, const char *name) {
        return bufprintf(buf, size, "%s/%s", dir, name);
}

/* Read the cgroup's file name into buf, trailing whitespace stripped. */
static int read_cgroup_file(int root_fd, const char *path, const char *name, char *buf,
                            size_t size) {
        char p[CGROUP_PATH_MAX + 64];
        ssize_t n;
        int r;

        r = file_path(p, sizeof(p), path, name);
        if (r < 0)
                return r;
        n = read_virtual_file_at(root_fd, p, buf, size);
        if (n < 0)
                return (int) n;
        strstrip_trailing(buf);
        return 0;
}

int cgroup_has_controller(int root_fd, const char *path, const char *controller) {
        char list[1024];
        int r = read_cgroup_file(root_fd, path, "cgroup.controllers", list, sizeof(list));

        return r < 0 ? r : word_list_contains(list, controller, false);
}

int cgroup_enable_controller(int root_fd, const char *path, const char *controller) {
        char p[CGROUP_PATH_MAX + 64], list[1024], value[64];
        int r;

        r = cgroup_has_controller(root_fd, path, controller);
        if (r <= 0)
                return r < 0 ? r : -EOPNOTSUPP;
        r = read_cgroup_file(root_fd, path, "cgroup.subtree_control", list, sizeof(list));
        if (r < 0)
                return r;
        if (word_list_contains(list, controller, false))
                return 0;
        r = file_path(p, sizeof(p), path, "cgroup.subtree_control");
        if (r < 0)
                return r;
        r = bufprintf(value, sizeof(value), "+%s", controller);
        if (r >= 0)
                r = write_virtual_file_at(root_fd, p, value);
        return r < 0 ? r : 1;
}

int cgroup_disable_controller(int root_fd, const char *path, const char *controller) {
        char p[CGROUP_PATH_MAX + 64], value[64];
        int r;

        r = file_path(p, sizeof(p), path, "cgroup.subtree_control");
        if (r >= 0)
                r = bufprintf(value, sizeof(value), "-%s", controller);
        return r < 0 ? r : write_virtual_file_at(root_fd, p, value);
}

int cgroup_make(int root_fd, const char *path) {
        while (*path == '/')
                path++;
        if (mkdirat(root_fd, path, 0755) < 0)
                return errno == EEXIST ? 1 : negative_errno();
        return 0;
}

static int hugetlb_file(char *buf, size_t size, const char *path, uint64_t page_size,
                        const char *suffix) {
        char name[16];
        int r = cgroup_hugetlb_size_name(page_size, name, sizeof(name));

        return r < 0 ? r : bufprintf(buf, size, "%s/hugetlb.%s.%s", path, name, suffix);
}

int cgroup_hugetlb_limit(int root_fd, const char *path, uint64_t page_size, uint64_t bytes) {
        char p[CGROUP_PATH_MAX + 64], value[32];
        int r;

        r = bufprintf(value, sizeof(value), "%" PRIu64, bytes);
        if (r >= 0)
                r = hugetlb_file(p, sizeof(p), path, page_size, "rsvd.max");
        if (r >= 0) {
                r = write_virtual_file_at(root_fd, p, value);
                if (r == -ENOENT) /* before 5.7: faults are limited, reservations are not */
                        r = 0;
        }
        if (r >= 0)
                r = hugetlb_file(p, sizeof(p), path, page_size, "max");
        if (r >= 0)
                r = write_virtual_file_at(root_fd, p, value);
        return r;
}

int cgroup_hugetlb_current(int root_fd, const char *path, uint64_t page_size, uint64_t *ret) {
        char p[CGROUP_PATH_MAX + 64];
        int r = hugetlb_file(p, sizeof(p), path, page_size, "current");

        return r < 0 ? r : read_u64_at(root_fd, p, ret);
}

int cgroup_attach_pidfd(int root_fd, const char *path, pid_t pid, int pidfd) {
        char p[CGROUP_PATH_MAX + 64], value[32];
        int r;

        if (pid <= 0 || pidfd < 0)
                return -EINVAL;
        r = file_path(p, sizeof(p), path, "cgroup.procs");
        if (r >= 0)
                r = bufprintf(value, sizeof(value), "%d", (int) pid);
        if (r >= 0)
                r = write_virtual_file_at(root_fd, p, value);
        if (r == -ESRCH)
                return r;
        if (r < 0)
                return r;
        /* Signal 0 through the pidfd: ESRCH once the process was reaped. Still there now means
         * it was there during the write, so the number named it. */
        if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
                return errno == ESRCH ? -ESRCH : negative_errno();
        return 0;
}

int cgroup_remove(int root_fd, const char *path) {
        while (*path == '/')
                path++;
        if (unlinkat(root_fd, path, AT_REMOVEDIR) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return 0;
}

int proc_uids(int root_fd, pid_t pid, uid_t *ret_ruid, uid_t *ret_euid) {
        char p[64], text[4096], word[16];
        const char *line;
        uint64_t v[2];
        ssize_t n;

        if (bufprintf(p, sizeof(p), "/proc/%d/status", (int) pid) < 0)
                return -EINVAL;
        n = read_virtual_file_at(root_fd, p, text, sizeof(text));
        if (n < 0)
                return (int) n == -ENOENT ? -ESRCH : (int) n;
        line = strstr(text, "\nUid:");
        if (!line)
                return -EBADMSG;
        line += strlen("\nUid:");
        /* "Uid:\treal\teffective\tsaved\tfs" */
        for (int i = 0; i < 2; i++) {
                size_t l;
                line += strspn(line, " \t");
                l = strcspn(line, " \t\n");
                if (l == 0 || l >= sizeof(word))
                        return -EBADMSG;
                memcpy(word, line, l);
                word[l] = 0;
                if (parse_u64(word, &v[i]) < 0 || v[i] >= UINT32_MAX)
                        return -EBADMSG;
                line += l;
        }
        *ret_ruid = (uid_t) v[0];
        *ret_euid = (uid_t) v[1];
        return 0;
}

int proc_start_ticks(int root_fd, pid_t pid, uint64_t *ret) {
        char p[64], text[1024];
        const char *s;
        ssize_t n;
        int field;

        if (bufprintf(p, sizeof(p), "/proc/%d/stat", (int) pid) < 0)
                return -EINVAL;
        n = read_virtual_file_at(root_fd, p, text, sizeof(text));
        if (n < 0)
                return (int) n == -ENOENT ? -ESRCH : (int) n;
        /* The command name (field 2) may hold spaces and ')': count from the last ')'. */
        s = strrchr(text, ')');
        if (!s)
                return -EBADMSG;
        /* After ')' come fields 3..; the start time is field 22. */
        for (field = 2; field < 22 && s; field++)
                s = strchr(s + 1, ' ');
        if (!s)
                return -EBADMSG;
        s++;
        {
                char num[32];
                size_t l = strcspn(s, " \n");
                if (l == 0 || l >= sizeof(num))
                        return -EBADMSG;
                memcpy(num, s, l);
                num[l] = 0;
                return parse_u64(num, ret);
        }
}
