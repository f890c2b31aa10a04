/* SPDX-License-Identifier: MIT */
/* sysctl and sysfs knobs: read, journal, write once, read back. */
#include "sysctl.h"

#include <ctype.h>

#include "lib/fileio.h"
#include "lib/util.h"

static const char *const sysctl_roots[] = { "/proc/sys/vm/", "/proc/sys/kernel/",
                                            "/proc/sys/net/" };

static const char *const sysfs_allowed[] = {
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/sys/kernel/mm/transparent_hugepage/defrag",
        "/sys/kernel/mm/ksm/run",
};

int sysctl_knob_to_path(const char *knob, char *buf, size_t size) {
        bool slashes = strchr(knob, '/') != NULL;
        int r;

        r = bufprintf(buf, size, "/proc/sys/%s", knob);
        if (r < 0)
                return r;
        if (!slashes)
                for (char *p = buf + strlen("/proc/sys/"); *p; p++)
                        if (*p == '.')
                                *p = '/';
        return 0;
}

/* No "", "." or ".." component after the prefix: RESOLVE_IN_ROOT keeps ".." inside the root,
 * but not inside /proc/sys/vm. */
static bool components_clean(const char *rest) {
        while (*rest) {
                size_t l = strcspn(rest, "/");
                if (l == 0 || (l == 1 && rest[0] == '.') || (l == 2 && !strncmp(rest, "..", 2)))
                        return false;
                rest += l;
                if (*rest == '/' && !*++rest)
                        return false;
        }
        return true;
}

bool sysctl_path_allowed(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(sysctl_roots); i++) {
                const char *rest = startswith(path, sysctl_roots[i]);
                if (rest && *rest && components_clean(rest))
                        return true;
        }
        return false;
}

bool sysfs_path_allowed(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(sysfs_allowed); i++)
                if (streq(path, sysfs_allowed[i]))
                        return true;
        return false;
}

void knob_value_normalize(const char *raw, char *buf, size_t size) {
        size_t n = 0;

        if (size == 0)
                return;
        if (strchr(raw, '[') && word_list_selected(raw, buf, size) == 0)
                return;
        for (const char *p = raw; *p && n + 1 < size;) {
                size_t l;

                while (isspace((unsigned char) *p))
                        p++;
                if (!*p)
                        break;
                for (l = 0; p[l] && !isspace((unsigned char) p[l]); l++)
                        ;
                if (n)
                        buf[n++] = ' ';
                /* Cut short when it does not fit (the buffer keeps its terminator). */
                if (n + l >= size)
                        l = size - 1 - n;
                memcpy(buf + n, p, l);
                n += l;
                p += l;
        }
        buf[n] = 0;
}

/* The file's current value in normal form. Knob files hold one line or a short list. */
static int read_knob(int root_fd, const char *path, char *buf, size_t size) {
        char raw[1024];
        ssize_t n = read_virtual_file_at(root_fd, path, raw, sizeof(raw));

        if (n < 0)
                return (int) n;
        knob_value_normalize(raw, buf, size);
        return 0;
}

/* Read, journal, write, read back: shared by sysctl and sysfs knobs. */
static int apply_file(struct apply_ctx *c, const struct plan_step *s, const char *path,
                      struct step_result *res) {
        const char *label = s->knob[0] ? s->knob : path;
        char cur[256], want[256], after[256];
        int r;

        knob_value_normalize(s->wanted, want, sizeof(want));
        if (!want[0]) {
                step_set(res, STEP_FAILED, -EINVAL, "%s: no value to write", label);
                return 0;
        }
        r = read_knob(c->o->root_fd, path, cur, sizeof(cur));
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "%s: cannot read %s: %s", label, path, strerror(-r));
                return 0;
        }
        if (streq(cur, want)) {
                strscpy(res->achieved, sizeof(res->achieved), cur);
                step_set(res, STEP_UNCHANGED, 0, "%s is already %s", label, cur);
                return 0;
        }
        r = apply_record_changed(c, JOURNAL_FILE, path, label, cur);
        if (r < 0)
                return r;
        r = write_virtual_file_at(c->o->root_fd, path, want);
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "%s: the kernel refused '%s' (%s); it stays %s",
                         label, want, strerror(-r), cur);
                return 0;
        }
        r = read_knob(c->o->root_fd, path, after, sizeof(after));
        if (r < 0) {
                step_set(res, STEP_FAILED, r, "%s: wrote '%s' but cannot read it back: %s", label,
                         want, strerror(-r));
                return 0;
        }
        strscpy(res->achieved, sizeof(res->achieved), after);
        if (!streq(after, want)) {
                step_set(res, STEP_FAILED, -EIO, "%s: wrote '%s' but the kernel shows '%s'", label,
                         want, after);
                return 0;
        }
        step_set(res, STEP_APPLIED, 0, "%s: %s -> %s", label, cur, after);
        return 0;
}

int sysctl_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        char path[256];

        if (s->path[0])
                strscpy(path, sizeof(path), s->path);
        else if (sysctl_knob_to_path(s->knob, path, sizeof(path)) < 0) {
                step_set(res, STEP_FAILED, -ENAMETOOLONG, "sysctl name too long: %s", s->knob);
                return 0;
        }
        if (!sysctl_path_allowed(path)) {
                step_set(res, STEP_FAILED, -EPERM,
                         "%s: hosttune writes sysctls under vm., kernel. and net. only", path);
                return 0;
        }
        return apply_file(c, s, path, res);
}

int sysfs_apply(struct apply_ctx *c, const struct plan_step *s, struct step_result *res) {
        if (!sysfs_path_allowed(s->path)) {
                step_set(res, STEP_FAILED, -EPERM,
                         "%s: not a sysfs knob hosttune manages (THP enabled/defrag, KSM run)",
                         s->path);
                return 0;
        }
        return apply_file(c, s, s->path, res);
}

void file_revert(struct apply_ctx *c, const struct journal_entry *e, struct revert_result *res) {
        char cur[256];
        int r;

        if (!sysctl_path_allowed(e->object) && !sysfs_path_allowed(e->object)) {
                revert_set(res, REVERT_FAILED, -EPERM, "%s: not a knob hosttune manages",
                           e->object);
                return;
        }
        r = read_knob(c->o->root_fd, e->object, cur, sizeof(cur));
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "cannot read %s: %s", e->object, strerror(-r));
                return;
        }
        if (streq(cur, e->original)) {
                revert_set(res, REVERT_GONE, 0, "%s is already %s", e->label, cur);
                return;
        }
        r = write_virtual_file_at(c->o->root_fd, e->object, e->original);
        if (r == 0)
                r = read_knob(c->o->root_fd, e->object, cur, sizeof(cur));
        if (r < 0) {
                revert_set(res, REVERT_FAILED, r, "%s: writing %s back failed: %s", e->label,
                           e->original, strerror(-r));
                return;
        }
        if (!streq(cur, e->original)) {
                revert_set(res, REVERT_FAILED, -EIO, "%s: wrote %s back but the kernel shows %s",
                           e->label, e->original, cur);
                return;
        }
        revert_set(res, REVERT_RESTORED, 0, "%s restored to %s", e->label, cur);
}
