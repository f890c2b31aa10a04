/* SPDX-License-Identifier: MIT */
/* Test helper: run hand-built plan steps through the executor (apply_plan), as `hosttune apply`
 * does with a planned policy. Integration tests use it to drive each applier with exact inputs.
 *
 * Usage: apply-steps [--root DIR] [--dry-run] [--fault-after-step N] [--fault-after-record N]
 *                    FILE|-
 * --fault-after-step N: SIGKILL once step N finished; --fault-after-record N: SIGKILL right after
 * the N-th journal entry reached the disk (the executor's and the journal's test seams).
 * FILE has one step per line: KIND key=value ... ('#' comments; key="a b" for spaces).
 *   sysctl knob=vm.swappiness wanted=10          sysfs path=/sys/... wanted=never
 *   hugepages page_size=2M pages=64 node=-1 reclaim=compact timeout=5s
 *   hugetlbfs-mount path=/mnt/x page_size=2M mode=01770 gid=0
 *   zram knob=zram3 disksize=64M algorithm=lz4 priority=7
 *   snapshot-root path=/r   snapshot-slot path=/r/slots   nocow path=/r
 *   snapshot-prepared path=/r/prepared/base template=base
 *   bridge name=br0   tap name=t0 owner=1000 vnet_hdr=1 multi_queue=0
 *   tap-master name=t0 master=br0   device-mode path=/dev/kvm mode=0666
 *   any step with manual=yes note="what to do": counted as fell short, never executed
 * (the kinds are plan_kind_to_string's names).
 * Prints one line per step: OUTCOME<TAB>knob<TAB>achieved<TAB>message<TAB>warning<TAB>usec
 * (usec: the time the applier took, in-process).
 * Exit: 0 all as planned, 1 a step fell short, 2 bad input, 3 journal error. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>

#include "lib/parse.h"
#include "lib/util.h"
#include "policies/apply/apply.h"
#include "runtime/dir.h"

static int set_key(struct plan_step *s, const char *k, const char *v) {
        uint64_t u;
        int64_t i;
        mode_t m;
        bool b;

#define STR(field) return strscpy(field, sizeof(field), v)
        if (streq(k, "knob"))
                STR(s->knob);
        if (streq(k, "path"))
                STR(s->path);
        if (streq(k, "current"))
                STR(s->current);
        if (streq(k, "wanted"))
                STR(s->wanted);
        if (streq(k, "why"))
                STR(s->why);
        if (streq(k, "note"))
                STR(s->note);
        if (streq(k, "manual"))
                return parse_bool(v, &s->manual);
        if (streq(k, "algorithm"))
                STR(s->u.zram.algorithm);
        if (streq(k, "template"))
                STR(s->u.snapshot.template_name);
        if (streq(k, "name")) {
                if (s->kind == PLAN_TAP)
                        STR(s->u.tap.name);
                STR(s->u.link.name);
        }
        if (streq(k, "master"))
                STR(s->u.link.master);
#undef STR
        if (streq(k, "page_size") || streq(k, "disksize")) {
                if (parse_size(v, 0, &u) < 0)
                        return -EINVAL;
                if (s->kind == PLAN_HUGEPAGES)
                        s->u.hugepages.page_size = u;
                else if (s->kind == PLAN_HUGETLBFS_MOUNT)
                        s->u.mount.page_size = u;
                else
                        s->u.zram.disksize = u;
                return 0;
        }
        if (streq(k, "pages"))
                return parse_u64(v, &s->u.hugepages.pages);
        if (streq(k, "timeout"))
                return parse_duration(v, &s->u.hugepages.timeout_usec);
        if (streq(k, "reclaim")) {
                s->u.hugepages.reclaim = streq(v, "none")      ? RECLAIM_NONE
                                         : streq(v, "compact") ? RECLAIM_COMPACT
                                                               : RECLAIM_DROP_CACHES;
                return streq(v, "none") || streq(v, "compact") || streq(v, "drop-caches") ? 0
                                                                                          : -EINVAL;
        }
        if (streq(k, "node") || streq(k, "priority") || streq(k, "owner") || streq(k, "gid")) {
                if (parse_i64(v, &i) < 0)
                        return -EINVAL;
                if (streq(k, "node"))
                        s->u.hugepages.node = (int) i;
                else if (streq(k, "priority"))
                        s->u.zram.priority = (int) i;
                else if (streq(k, "owner"))
                        s->u.tap.owner = (uid_t) i;
                else
                        s->u.mount.gid = (gid_t) i;
                return 0;
        }
        if (streq(k, "mode")) {
                if (parse_mode(v, &m) < 0)
                        return -EINVAL;
                if (s->kind == PLAN_HUGETLBFS_MOUNT)
                        s->u.mount.mode = m;
                else
                        s->u.device.mode = m;
                return 0;
        }
        if (streq(k, "vnet_hdr") || streq(k, "multi_queue")) {
                if (parse_bool(v, &b) < 0)
                        return -EINVAL;
                if (streq(k, "vnet_hdr"))
                        s->u.tap.vnet_hdr = b;
                else
                        s->u.tap.multi_queue = b;
                return 0;
        }
        return -EINVAL;
}

/* Next whitespace-separated token of *p into buf; key="a b" keeps its spaces. */
static bool next_token(char **p, char *buf, size_t size) {
        char *s = *p;
        size_t n = 0;
        bool quoted = false;

        while (*s == ' ' || *s == '\t')
                s++;
        if (!*s || *s == '\n' || *s == '#')
                return false;
        for (; *s && *s != '\n' && (quoted || (*s != ' ' && *s != '\t')); s++) {
                if (*s == '"') {
                        quoted = !quoted;
                        continue;
                }
                if (n + 1 < size)
                        buf[n++] = *s;
        }
        buf[n] = 0;
        *p = s;
        return true;
}

static int parse_line(char *line, unsigned lineno, struct plan_step *s) {
        char tok[512];
        char *p = line;
        bool found = false;

        if (!next_token(&p, tok, sizeof(tok)))
                return 0;
        memset(s, 0, sizeof(*s));
        for (unsigned k = 0; k < _PLAN_KIND_MAX; k++)
                if (streq(plan_kind_to_string((enum plan_kind) k), tok)) {
                        s->kind = (enum plan_kind) k;
                        found = true;
                }
        if (!found) {
                fprintf(stderr, "line %u: unknown step kind '%s'\n", lineno, tok);
                return -EINVAL;
        }
        /* Defaults of the kind's own union member (setting another kind's would overwrite
         * this one's fields: the union is shared). */
        if (s->kind == PLAN_HUGEPAGES)
                s->u.hugepages.node = -1;
        if (s->kind == PLAN_TAP)
                s->u.tap.owner = (uid_t) -1;
        if (s->kind == PLAN_ZRAM)
                s->u.zram.priority = -1;
        while (next_token(&p, tok, sizeof(tok))) {
                char *eq = strchr(tok, '=');
                if (!eq) {
                        fprintf(stderr, "line %u: '%s' is not key=value\n", lineno, tok);
                        return -EINVAL;
                }
                *eq = 0;
                if (set_key(s, tok, eq + 1) < 0) {
                        fprintf(stderr, "line %u: bad %s '%s'\n", lineno, tok, eq + 1);
                        return -EINVAL;
                }
        }
        if (!s->knob[0])
                strscpy(s->knob, sizeof(s->knob),
                        s->kind == PLAN_TAP                                    ? s->u.tap.name
                        : s->kind == PLAN_BRIDGE || s->kind == PLAN_TAP_MASTER ? s->u.link.name
                                                                               : s->path);
        return 1;
}

static void progress(unsigned index, const struct plan_step *s, const char *status, void *u) {
        (void) u;
        (void) s;
        fprintf(stderr, "progress %u: %s\n", index + 1, status);
}

int main(int argc, char **argv) {
        struct apply_options o = { .progress = progress };
        struct plan plan = { 0 };
        const char *root = "/", *file = NULL;
        /* Hand-written step files are short. */
        static struct step_result results[256];
        static struct plan_step steps[256];
        _cleanup_fclose_ FILE *f = NULL;
        struct journal *j = NULL;
        char line[2048];
        unsigned lineno = 0, n;
        int r;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--root") && i + 1 < argc)
                        root = argv[++i];
                else if (streq(argv[i], "--dry-run"))
                        o.dry_run = true;
                else if ((streq(argv[i], "--fault-after-step") ||
                          streq(argv[i], "--fault-after-record")) &&
                         i + 1 < argc) {
                        if (parse_uint(argv[i + 1], &n) < 0) {
                                fprintf(stderr, "%s: bad number '%s'\n", argv[i], argv[i + 1]);
                                return 2;
                        }
                        if (streq(argv[i], "--fault-after-step"))
                                apply_set_fault_after_step(n);
                        else
                                journal_set_fault_after_record(n);
                        i++;
                } else
                        file = argv[i];
        }
        if (!file) {
                fprintf(stderr,
                        "usage: apply-steps [--root DIR] [--dry-run] [--fault-after-step N] "
                        "[--fault-after-record N] FILE|-\n");
                return 2;
        }
        f = streq(file, "-") ? fdopen(dup(0), "r") : fopen(file, "re");
        if (!f) {
                perror(file);
                return 2;
        }
        while (fgets(line, sizeof(line), f)) {
                struct plan_step s;
                lineno++;
                r = parse_line(line, lineno, &s);
                if (r < 0)
                        return 2;
                if (r == 0)
                        continue;
                if (plan.n == ELEMENTSOF(steps)) {
                        fprintf(stderr, "line %u: more than %zu steps\n", lineno,
                                ELEMENTSOF(steps));
                        return 2;
                }
                steps[plan.n++] = s;
        }
        plan.steps = steps;
        o.root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (o.root_fd < 0) {
                perror(root);
                return 2;
        }
        if (!o.dry_run) {
                r = journal_open(runtime_dir_resolve(NULL), &j);
                if (r < 0) {
                        fprintf(stderr, "journal: %s\n", strerror(-r));
                        return 3;
                }
        }
        r = apply_plan(&plan, j, &o, results);
        for (unsigned i = 0; i < plan.n; i++)
                printf("%s\t%s\t%s\t%s\t%s\t%" PRIu64 "\n",
                       step_outcome_to_string(results[i].outcome), steps[i].knob,
                       results[i].achieved, results[i].message, results[i].warning,
                       results[i].usec);
        journal_close(j);
        close(o.root_fd);
        if (r < 0)
                return 3;
        return r > 0 ? 1 : 0;
}
