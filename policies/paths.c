/* SPDX-License-Identifier: MIT */
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

/* DIR/hugepages, DIR/hugepages-vm, DIR/hugepages1G and directories below them: where systemd
 * and distributions mount hugetlbfs (DIR is /dev or /run). */
static bool hugepages_dir(const char *path, const char *dir) {
        const char *rest = startswith(path, dir), *name;

        if (!rest || rest[0] != '/')
                return false;
        name = startswith(rest + 1, "hugepages");
        return name && (!*name || !strchr(name, '/') || depth_below(path, dir) >= 2);
}

static const char *refused_mount(const char *p) {
        if (agent_own(p))
                return "is the agent's runtime directory, not a place for a hugetlbfs mount";
        /* Not anywhere below /run: a mount over /run/systemd or /run/user hides what the
         * system runs on. The agent's own runtime directory is the agent's to use. */
        if (hugepages_dir(p, "/dev") || hugepages_dir(p, "/run") ||
            depth_below(p, POLICY_DEFAULT_RUNTIME_DIR) >= 1 || depth_below(p, "/mnt") >= 1 ||
            depth_below(p, "/srv") >= 1 || scratch(p))
                return NULL;
        return "is not a place for a hugetlbfs mount (allowed: /dev/hugepages*, /run/hugepages*, "
               "below /run/hosttune/, /mnt/ or /srv/, or inside a directory below /tmp/ or "
               "/var/tmp/)";
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

/* Refusals every output file shares: the agent's own files, something not a regular file. */
static const char *refused_any_output(const char *p) {
        if (agent_own(p))
                return "is the agent's runtime directory or one of its own files, not an output "
                       "file";
        return refused_existing(p);
}

/* node_exporter's textfile collector reads only *.prom, so a metrics file cannot stand for a
 * system file; it goes where collectors look (below /var/lib/ or /run/). */
static const char *refused_metrics(const char *p) {
        const char *e = strrchr(p, '.');

        if (!e || !streq(e, ".prom"))
                return "must end in .prom (node_exporter's textfile collector reads only those)";
        if (!(depth_below(p, "/run") >= 2 || depth_below(p, "/var/lib") >= 2 || scratch(p)))
                return "is not a place for the metrics file (allowed: inside a directory below "
                       "/run/ or /var/lib/, or inside a directory below /tmp/ or /var/tmp/)";
        return refused_any_output(p);
}

/* The features file is any name nix.conf can !include: only in Nix's own directory or the
 * agent's, where no other program keeps its files. */
static const char *refused_features(const char *p) {
        if (streq(p, "/etc/nix/nix.conf"))
                return "is nix.conf itself, not a file for nix.conf to !include";
        if (!(depth_below(p, "/etc/nix") == 1 || depth_below(p, POLICY_DEFAULT_RUNTIME_DIR) == 1 ||
              scratch(p)))
                return "is not a place for the features file (allowed: in /etc/nix/ or "
                       "/run/hosttune/, or inside a directory below /tmp/ or /var/tmp/)";
        return refused_any_output(p);
}

/* node-feature-discovery reads the files of a features.d directory (wherever its local source
 * is configured to look): the file must be in one. */
static const char *refused_nfd(const char *p) {
        const char *slash = strrchr(p, '/');
        bool in_features_d = slash - p >= 11 && strncmp(slash - 11, "/features.d", 11) == 0 &&
                             (depth_below(p, "/etc") >= 2 || depth_below(p, "/run") >= 2 ||
                              depth_below(p, "/var/lib") >= 2);

        if (!in_features_d && !scratch(p))
                return "is not a place for the node-feature-discovery file (allowed: in a "
                       "features.d directory below /etc/, /run/ or /var/lib/, or inside a "
                       "directory below /tmp/ or /var/tmp/)";
        return refused_any_output(p);
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
                return refused_metrics(p);
        case POLICY_PATH_FEATURES:
                return refused_features(p);
        case POLICY_PATH_INPUT:
                return refused_input(p);
        case POLICY_PATH_NFD:
                return refused_nfd(p);
        }
        return "is not a path hosttune knows";
}
