/* What each path key of a policy may name: one allow-list per kind of path, so a typo or a
 * hostile include cannot make the root agent mount over /etc, snapshot into /proc/sys or
 * overwrite /etc/shadow. The list is lexical (the same answer on every host, at validation);
 * docs/policy.md ("Paths") is its user-facing copy. */
#include <sys/stat.h>

#include "lib/util.h"
#include "policies/policy.h"

/* The path with repeated and trailing slashes dropped; false when it does not fit. */
static bool normalize(const char *path, char *buf, size_t size) {
        size_t n = 0;

        for (const char *s = path; *s; s++) {
                if (*s == '/' && n > 0 && buf[n - 1] == '/')
                        continue;
                if (n + 1 >= size)
                        return false;
                buf[n++] = *s;
        }
        while (n > 1 && buf[n - 1] == '/')
                n--;
        buf[n] = 0;
        return true;
}

/* The number of components of path below dir ("/run/a/b" below "/run" is 2), or 0 when path is
 * not below dir (dir itself included). */
static unsigned depth_below(const char *path, const char *dir) {
        const char *rest = startswith(path, dir);
        unsigned n = 0;

        if (!rest || rest[0] != '/' || !rest[1])
                return 0;
        for (const char *s = rest; *s; s++)
                if (*s == '/')
                        n++;
        return n;
}

/* A directory inside /tmp or /var/tmp that someone created first (mktemp -d): the agent never
 * makes an entry directly in a world-writable sticky directory, where any user could have put
 * a symlink of the same name first. For tests and throwaway hosts. */
static bool scratch(const char *path) {
        return depth_below(path, "/tmp") >= 2 || depth_below(path, "/var/tmp") >= 2;
}

/* Is path the agent's runtime directory itself, or one of its own files in it? The policy
 * must not point an output or a mount at them. */
static bool agent_own(const char *path) {
        static const char *const own[] = { "journal.",   "leases.",    "agent.state",
                                           "ready.json", "lease.sock", "policy-in-force." };
        const char *name;

        if (streq(path, POLICY_DEFAULT_RUNTIME_DIR))
                return true;
        if (depth_below(path, POLICY_DEFAULT_RUNTIME_DIR) != 1)
                return false;
        name = path + strlen(POLICY_DEFAULT_RUNTIME_DIR) + 1;
        for (size_t i = 0; i < ELEMENTSOF(own); i++)
                if (startswith(name, own[i]))
                        return true;
        return false;
}

/* /dev/hugepages, /dev/hugepages-vm, /dev/hugepages1G and directories below them: where
 * systemd and distributions mount hugetlbfs. */
static bool dev_hugepages(const char *path) {
        const char *rest = startswith(path, "/dev/hugepages");

        return rest && (!*rest || !strchr(rest, '/') || depth_below(path, "/dev") >= 2);
}

static const char *refused_mount(const char *p) {
        if (agent_own(p))
                return "is the agent's runtime directory, not a place for a hugetlbfs mount";
        if (dev_hugepages(p) || depth_below(p, "/run") >= 1 || depth_below(p, "/mnt") >= 1 ||
            depth_below(p, "/srv") >= 1 || scratch(p))
                return NULL;
        return "is not a place for a hugetlbfs mount (allowed: /dev/hugepages*, below /run/, "
               "/mnt/ or /srv/, or inside a directory below /tmp/ or /var/tmp/)";
}

static const char *refused_snapshot_root(const char *p) {
        if (depth_below(p, "/var/lib") >= 1 || depth_below(p, "/srv") >= 1 ||
            depth_below(p, "/mnt") >= 1 || scratch(p))
                return NULL;
        return "is not a place for the snapshot root (allowed: below /var/lib/, /srv/ or /mnt/, "
               "or inside a directory below /tmp/ or /var/tmp/)";
}

/* The writers replace an output by rename; an existing device, FIFO, socket, directory or
 * symlink there is not an earlier output but something the policy must not touch. */
static const char *refused_existing(const char *p) {
        struct stat st;

        if (lstat(p, &st) < 0 || S_ISREG(st.st_mode))
                return NULL;
        return S_ISLNK(st.st_mode)   ? "exists and is a symlink, not a regular file"
               : S_ISDIR(st.st_mode) ? "exists and is a directory, not a regular file"
                                     : "exists and is not a regular file";
}

static const char *refused_output(const char *p, bool metrics) {
        const char *e;

        if (agent_own(p))
                return "is the agent's runtime directory or one of its own files, not an output "
                       "file";
        if (streq(p, "/etc/nix/nix.conf"))
                return "is nix.conf itself, not a file for nix.conf to !include";
        if (metrics && (!(e = strrchr(p, '.')) || !streq(e, ".prom")))
                return "must end in .prom (node_exporter's textfile collector reads only those)";
        if (!(depth_below(p, "/run") >= 2 || depth_below(p, "/var/lib") >= 2 ||
              depth_below(p, "/etc/nix") >= 1 || scratch(p)))
                return "is not a place for an output file (allowed: inside a directory below "
                       "/run/ or /var/lib/, in /etc/nix/, or inside a directory below /tmp/ or "
                       "/var/tmp/)";
        return refused_existing(p);
}

/* node-feature-discovery reads its features.d; a test or a relocated NFD may use another
 * directory the agent owns. */
static const char *refused_nfd(const char *p) {
        if (agent_own(p))
                return "is the agent's runtime directory or one of its own files, not an output "
                       "file";
        if (!(depth_below(p, "/etc/kubernetes/node-feature-discovery/features.d") >= 1 ||
              depth_below(p, "/run") >= 2 || depth_below(p, "/var/lib") >= 2 || scratch(p)))
                return "is not a place for the node-feature-discovery file (allowed: in "
                       "/etc/kubernetes/node-feature-discovery/features.d/, inside a directory "
                       "below /run/ or /var/lib/, or inside a directory below /tmp/ or /var/tmp/)";
        return refused_existing(p);
}

static const char *refused_input(const char *p) {
        if (streq(p, "/dev") || streq(p, "/proc") || streq(p, "/sys") ||
            depth_below(p, "/dev") >= 1 || depth_below(p, "/proc") >= 1 ||
            depth_below(p, "/sys") >= 1)
                return "is a device or kernel file, not a configuration file";
        return NULL;
}

const char *policy_path_refused(enum policy_path_kind kind, const char *path) {
        char p[POLICY_PATH_MAX] = "";

        if (path[0] != '/' || !normalize(path, p, sizeof(p)))
                return "must be an absolute path of at most 255 characters";
        switch (kind) {
        case POLICY_PATH_MOUNT:
                return refused_mount(p);
        case POLICY_PATH_SNAPSHOT_ROOT:
                return refused_snapshot_root(p);
        case POLICY_PATH_METRICS:
                return refused_output(p, true);
        case POLICY_PATH_FEATURES:
                return refused_output(p, false);
        case POLICY_PATH_INPUT:
                return refused_input(p);
        case POLICY_PATH_NFD:
                return refused_nfd(p);
        }
        return "is not a path hosttune knows";
}
