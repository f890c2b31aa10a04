/* SPDX-License-Identifier: MIT */
/* The agent's live state file: formatting, parsing and the lock-based liveness test. */
#include "runtime/agent-state.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "probes/context.h"

int agent_state_policy_source(const struct agent_state *s, char *buf, size_t size) {
        const char *name = startswith(s->policy_path, "<builtin:");
        size_t len;

        if (isempty(s->policy_path))
                return -ENOENT;
        if (!name)
                return strscpy(buf, size, s->policy_path);
        len = strcspn(name, ">");
        if (len == 0 || len >= size)
                return -ENOENT;
        memcpy(buf, name, len);
        buf[len] = 0;
        return 0;
}

/* A tap name as the state file lists it: 1..15 characters, none of them a space or control
 * character (the list is space separated, one line). */
static bool ifname_word_valid(const char *name) {
        size_t l = strnlen(name, LEASE_TAP_NAME_MAX);

        if (l == 0 || l >= LEASE_TAP_NAME_MAX)
                return false;
        for (size_t i = 0; i < l; i++)
                if ((unsigned char) name[i] <= ' ' || name[i] == 0x7f)
                        return false;
        return true;
}

int policy_file_stamp_read(const char *path, struct policy_file_stamp *ret) {
        struct policy_file_stamp st = { 0 };
        struct stat sb;

        if (stat(path, &sb) < 0)
                return negative_errno();
        if (strscpy(st.path, sizeof(st.path), path) < 0)
                return -ENAMETOOLONG;
        st.ino = sb.st_ino;
        st.size = (uint64_t) sb.st_size;
        st.mtime_nsec =
                (uint64_t) sb.st_mtim.tv_sec * 1000000000ULL + (uint64_t) sb.st_mtim.tv_nsec;
        *ret = st;
        return 0;
}

/* "INO:SIZE:MTIME_NSEC:PATH" (the path last: it may hold a colon), len bytes of v. */
static int stamp_parse(const char *v, size_t len, struct policy_file_stamp *ret) {
        struct policy_file_stamp st = { 0 };
        const char *end = v + len;
        char num[3][24];

        for (int i = 0; i < 3; i++) {
                const char *colon = memchr(v, ':', (size_t) (end - v));
                size_t l = colon ? (size_t) (colon - v) : 0;
                if (!colon || l == 0 || l >= sizeof(num[i]))
                        return -EBADMSG;
                memcpy(num[i], v, l);
                num[i][l] = 0;
                v = colon + 1;
        }
        if (parse_u64(num[0], &st.ino) < 0 || parse_u64(num[1], &st.size) < 0 ||
            parse_u64(num[2], &st.mtime_nsec) < 0 || v >= end || v[0] != '/' ||
            (size_t) (end - v) >= sizeof(st.path))
                return -EBADMSG;
        memcpy(st.path, v, (size_t) (end - v));
        st.path[end - v] = 0;
        *ret = st;
        return 0;
}

int agent_state_add_policy_file(struct agent_state *s, const struct policy_file_stamp *st) {
        size_t n = strlen(s->policy_files);

        if (strchr(st->path, '\n') || st->path[0] != '/')
                return -EINVAL;
        if (bufappendf(s->policy_files, sizeof(s->policy_files),
                       "%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%s\n", st->ino, st->size,
                       st->mtime_nsec, st->path) < 0) {
                s->policy_files[n] = 0;
                return -ENOBUFS;
        }
        return 0;
}

bool agent_state_policy_changed(const struct agent_state *s) {
        for (const char *line = s->policy_files; *line;) {
                const char *nl = strchr(line, '\n');
                size_t len = nl ? (size_t) (nl - line) : strlen(line);
                struct policy_file_stamp was, now = { 0 };

                if (stamp_parse(line, len, &was) < 0 ||
                    policy_file_stamp_read(was.path, &now) < 0 || now.ino != was.ino ||
                    now.size != was.size || now.mtime_nsec != was.mtime_nsec)
                        return true;
                line += len + (nl ? 1 : 0);
        }
        return false;
}

/* One policy-file= value, checked, appended to s->policy_files. */
static int parse_policy_file(const char *v, struct agent_state *s) {
        struct policy_file_stamp st;

        if (stamp_parse(v, strlen(v), &st) < 0 || agent_state_add_policy_file(s, &st) < 0)
                return -EBADMSG;
        return 0;
}

int agent_state_format(const struct agent_state *s, char *buf, size_t size) {
        const char *strings[] = { s->policy_name,   s->policy_path,    s->require,
                                  s->snapshot_root, s->tap_prefix,     s->bridge,
                                  s->nix_conf,      s->policy_refused, s->leases_unenforced,
                                  s->lease_cgroups };
        size_t n = 0;
        int k;

        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                if (strchr(strings[i], '\n'))
                        return -EINVAL;

#define APPEND(...)                                                                                \
        do {                                                                                       \
                if (bufprintf(buf + n, size - n, __VA_ARGS__) < 0)                                 \
                        return -ENOBUFS;                                                           \
                n += strlen(buf + n);                                                              \
        } while (0)

        APPEND("schema=%s\npid=%d\ngeneration=%" PRIu64 "\nready=%d\n", AGENT_STATE_SCHEMA,
               (int) s->pid, s->generation, s->ready ? 1 : 0);
        APPEND("policy-name=%s\npolicy-path=%s\nrequire=%s\n", s->policy_name, s->policy_path,
               s->require);
        APPEND("snapshot-root=%s\ntap-prefix=%s\nbridge=%s\nnix-conf=%s\n", s->snapshot_root,
               s->tap_prefix, s->bridge, s->nix_conf);
        APPEND("leased-hugepages=");
        for (unsigned i = 0; i < s->leases.n_sizes && i < HUGETLB_SIZES_MAX; i++)
                APPEND("%s%" PRIu64 ":%" PRIu64, i ? " " : "", s->leases.hugepages[i].page_size,
                       s->leases.hugepages[i].bytes);
        APPEND("\nleased-taps=%u\nleased-snapshots=%u\nleased-tap-names=", s->leases.taps,
               s->leases.snapshots);
        /* Names are optional (a count alone is what an older agent wrote), but all or none. */
        for (unsigned i = 0; s->leases.tap_names[0][0] && i < s->leases.taps && i < TAPS_MAX; i++) {
                if (!ifname_word_valid(s->leases.tap_names[i]))
                        return -EINVAL;
                APPEND("%s%s", i ? " " : "", s->leases.tap_names[i]);
        }
        APPEND("\nleases-unenforced=%s\nlease-cgroups=%s\n", s->leases_unenforced,
               s->lease_cgroups);
        for (const char *line = s->policy_files; *line;) {
                size_t len = strcspn(line, "\n");
                APPEND("policy-file=%.*s\n", (int) len, line);
                line += len + (line[len] ? 1 : 0);
        }
        if (s->policy_refused[0])
                APPEND("policy-refused=%s\n", s->policy_refused);
        if (s->kvm_smoke.root.tried) {
                char line[sizeof(s->kvm_smoke.root.reason) + 128];

                if (strchr(s->kvm_smoke.identity, '\n') || strchr(s->kvm_smoke.identity, ' '))
                        return -EINVAL;
                APPEND("kvm-smoke-identity=%s\n", s->kvm_smoke.identity);
                k = kvm_smoke_format(&s->kvm_smoke.root, line, sizeof(line));
                if (k < 0)
                        return k;
                APPEND("kvm-smoke-root=%s\n", line);
                if (s->kvm_smoke.build.tried) {
                        k = kvm_smoke_format(&s->kvm_smoke.build, line, sizeof(line));
                        if (k < 0)
                                return k;
                        APPEND("kvm-smoke-build=%s\n", line);
                }
        }
#undef APPEND
        return 0;
}

/* "htap0 htap3": the names of leased taps, at most as many as leased-taps says (read first or
 * later: the count is checked once the whole file is read). */
static int parse_leased_tap_names(const char *v, struct lease_usage *l, unsigned *ret_n) {
        unsigned n = 0;

        while (*v) {
                size_t len = strcspn(v, " ");

                if (len == 0) {
                        v++;
                        continue;
                }
                if (len >= LEASE_TAP_NAME_MAX || n >= TAPS_MAX)
                        return -EBADMSG;
                memcpy(l->tap_names[n], v, len);
                l->tap_names[n][len] = 0;
                if (!ifname_word_valid(l->tap_names[n]))
                        return -EBADMSG;
                n++;
                v += len;
        }
        *ret_n = n;
        return 0;
}

/* "PAGESIZE:BYTES PAGESIZE:BYTES" */
static int parse_leased_hugepages(const char *v, struct lease_usage *l) {
        l->n_sizes = 0;
        while (*v) {
                char word[64], *colon;
                size_t len = strcspn(v, " ");

                if (len == 0) {
                        v++;
                        continue;
                }
                if (len >= sizeof(word) || l->n_sizes >= HUGETLB_SIZES_MAX)
                        return -EBADMSG;
                memcpy(word, v, len);
                word[len] = 0;
                v += len;
                colon = strchr(word, ':');
                if (!colon)
                        return -EBADMSG;
                *colon = 0;
                if (parse_u64(word, &l->hugepages[l->n_sizes].page_size) < 0 ||
                    parse_u64(colon + 1, &l->hugepages[l->n_sizes].bytes) < 0)
                        return -EBADMSG;
                l->n_sizes++;
        }
        return 0;
}

static int parse_pair(char *key, const char *v, struct agent_state *s, bool *schema_ok,
                      unsigned *n_tap_names) {
        static const struct {
                const char *key;
                size_t offset, size;
        } strings[] = {
#define S(k, f) { k, offsetof(struct agent_state, f), sizeof(((struct agent_state *) 0)->f) }
                S("policy-name", policy_name),
                S("policy-path", policy_path),
                S("require", require),
                S("snapshot-root", snapshot_root),
                S("tap-prefix", tap_prefix),
                S("bridge", bridge),
                S("nix-conf", nix_conf),
                S("policy-refused", policy_refused),
                S("leases-unenforced", leases_unenforced),
                S("lease-cgroups", lease_cgroups),
#undef S
        };
        unsigned u;
        int64_t pid;

        if (streq(key, "schema")) {
                *schema_ok = streq(v, AGENT_STATE_SCHEMA);
                return *schema_ok ? 0 : -EBADMSG;
        }
        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                if (streq(key, strings[i].key))
                        return strscpy((char *) s + strings[i].offset, strings[i].size, v) < 0
                                       ? -EBADMSG
                                       : 0;
        if (streq(key, "pid")) {
                if (parse_i64(v, &pid) < 0 || pid <= 0 || pid > INT32_MAX)
                        return -EBADMSG;
                s->pid = (pid_t) pid;
        } else if (streq(key, "generation")) {
                if (parse_u64(v, &s->generation) < 0)
                        return -EBADMSG;
        } else if (streq(key, "ready")) {
                if (parse_uint(v, &u) < 0 || u > 1)
                        return -EBADMSG;
                s->ready = u;
        } else if (streq(key, "leased-hugepages"))
                return parse_leased_hugepages(v, &s->leases);
        else if (streq(key, "leased-taps")) {
                if (parse_uint(v, &s->leases.taps) < 0)
                        return -EBADMSG;
        } else if (streq(key, "leased-snapshots")) {
                if (parse_uint(v, &s->leases.snapshots) < 0)
                        return -EBADMSG;
        } else if (streq(key, "leased-tap-names"))
                return parse_leased_tap_names(v, &s->leases, n_tap_names);
        else if (streq(key, "policy-file"))
                return parse_policy_file(v, s);
        else if (streq(key, "kvm-smoke-identity"))
                return strscpy(s->kvm_smoke.identity, sizeof(s->kvm_smoke.identity), v) < 0
                               ? -EBADMSG
                               : 0;
        else if (streq(key, "kvm-smoke-root"))
                return kvm_smoke_parse(v, &s->kvm_smoke.root);
        else if (streq(key, "kvm-smoke-build"))
                return kvm_smoke_parse(v, &s->kvm_smoke.build);
        return 0;
}

/* agent_state_parse into zeroed storage s, in place (written even on failure). */
static int parse_zeroed(const char *text, struct agent_state *s) {
        bool schema_ok = false;
        unsigned n_tap_names = 0;

        for (const char *p = text; *p;) {
                const char *nl = strchr(p, '\n');
                size_t len = nl ? (size_t) (nl - p) : strlen(p);
                char line[LEASE_TAP_NAME_MAX * TAPS_MAX + 64], *eq;
                int r;

                if (len >= sizeof(line))
                        return -EBADMSG;
                memcpy(line, p, len);
                line[len] = 0;
                p += len + (nl ? 1 : 0);
                if (len == 0 || line[0] == '#')
                        continue;
                eq = strchr(line, '=');
                if (!eq)
                        return -EBADMSG;
                *eq = 0;
                r = parse_pair(line, eq + 1, s, &schema_ok, &n_tap_names);
                if (r < 0)
                        return r;
        }
        /* Names, when given, are those of the leased taps (an older agent lists none). */
        if (!schema_ok || s->pid == 0 || (n_tap_names > 0 && n_tap_names != s->leases.taps))
                return -EBADMSG;
        return 0;
}

int agent_state_parse(const char *text, struct agent_state *ret) {
        struct agent_state s = { 0 };
        int r;

        r = parse_zeroed(text, &s);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

/* Is an open file description lock held on fd's file by someone (the agent)? */
static int lock_held(int fd) {
        struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };

        if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
                return negative_errno();
        return fl.l_type != F_UNLCK;
}

int agent_state_read_live(const char *runtime_dir, struct agent_state *ret) {
        char buf[AGENT_STATE_TEXT_MAX], path[512];
        int r;

        r = bufprintf(path, sizeof(path), "%s/%s", runtime_dir, AGENT_STATE_FILE);
        if (r < 0)
                return r;

        /* The agent replaces the file by rename and then drops the lock on the old one, so a
         * reader that opened the old file in that window sees it unlocked: look once more at
         * whatever the name points to now before calling the agent dead. */
        for (int attempt = 0; attempt < 2; attempt++) {
                _cleanup_close_ int fd = -1;
                ssize_t n;
                int held;

                /* The runtime directory is the agent's: a link or FIFO at agent.state is a
                 * trap (a FIFO would hang every `hosttune check`), see lib/fileio.c. */
                fd = open_read_at(AT_FDCWD, path, READ_NOFOLLOW);
                if (fd < 0)
                        return fd;
                held = lock_held(fd);
                if (held < 0)
                        return held;
                if (!held)
                        continue;
                n = read_text_fd(fd, buf, sizeof(buf));
                if (n < 0)
                        return (int) n;
                /* In place: no 9 KiB to zero on the stack and copy (check's start-up). */
                return parse_zeroed(buf, ret);
        }
        return -ESRCH;
}

struct probe_targets agent_state_probe_targets(const struct agent_state *s) {
        return (struct probe_targets){
                .snapshot_root = isempty(s->snapshot_root) ? NULL : s->snapshot_root,
                .tap_prefix = isempty(s->tap_prefix) ? NULL : s->tap_prefix,
                .bridge = isempty(s->bridge) ? NULL : s->bridge,
                .nix_conf = isempty(s->nix_conf) ? NULL : s->nix_conf,
        };
}
