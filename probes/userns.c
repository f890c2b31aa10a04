/* SPDX-License-Identifier: MIT */
/* User namespace probe: test drivers create taps inside user+net namespaces. */
#include <stdio.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "probes/probes.h"

static int read_int(struct probe_ctx *ctx, const char *path, int64_t *ret) {
        char v[32];
        int e = read_line_at(ctx->root_fd, path, v, sizeof(v));
        if (e < 0)
                return e;
        return parse_i64(v, ret);
}

int probe_userns(struct probe_ctx *ctx, struct host_report *r) {
        struct userns_facts *u = &r->userns;
        struct probe_result *res = &r->results[PROBE_USERNS];
        struct probe_bad bad = { 0 };
        int64_t v;
        int e;

        u->max_user_namespaces = -1;
        u->unprivileged_userns_clone = -1;
        u->apparmor_restrict_unprivileged = -1;
        e = read_int(ctx, "proc/sys/user/max_user_namespaces", &v);
        if (e == -ENOENT) {
                probe_set(res, PROBE_ABSENT, "kernel without user namespaces (CONFIG_USER_NS)");
                probe_set_remedy(res, "use a kernel with CONFIG_USER_NS");
                return 0;
        }
        if (e < 0) {
                probe_set_error(res, PROBE_FAIL, e, "/proc/sys/user/max_user_namespaces");
                return 0;
        }
        u->max_user_namespaces = v;
        e = read_int(ctx, "proc/sys/kernel/unprivileged_userns_clone", &v);
        if (e == 0)
                u->unprivileged_userns_clone = (int) (v != 0);
        probe_bad_note(&bad, e, "proc/sys/kernel/unprivileged_userns_clone");
        e = read_int(ctx, "proc/sys/kernel/apparmor_restrict_unprivileged_userns", &v);
        if (e == 0)
                u->apparmor_restrict_unprivileged = (int) (v != 0);
        probe_bad_note(&bad, e, "proc/sys/kernel/apparmor_restrict_unprivileged_userns");

        if (u->max_user_namespaces == 0) {
                probe_set(res, PROBE_FAIL,
                          "user.max_user_namespaces = 0: no user namespaces can be created");
                probe_set_remedy(res, "sysctl user.max_user_namespaces=65536");
                probe_bad_apply(&bad, res);
                return 0;
        }
        if (u->unprivileged_userns_clone == 0) {
                probe_set(res, PROBE_FAIL,
                          "kernel.unprivileged_userns_clone = 0: unprivileged test drivers cannot "
                          "create user namespaces");
                probe_set_remedy(res, "sysctl kernel.unprivileged_userns_clone=1");
                probe_bad_apply(&bad, res);
                return 0;
        }
        if (u->apparmor_restrict_unprivileged == 1) {
                probe_set(res, PROBE_WARN,
                          "AppArmor restricts unprivileged user namespaces "
                          "(kernel.apparmor_restrict_unprivileged_userns = 1)");
                probe_set_remedy(res,
                                 "sysctl kernel.apparmor_restrict_unprivileged_userns=0, or an "
                                 "AppArmor profile for the test driver");
                probe_bad_apply(&bad, res);
                return 0;
        }
        probe_set(res, PROBE_OK, "user namespaces available (max %lld)",
                  (long long) u->max_user_namespaces);
        probe_bad_apply(&bad, res);
        return 0;
}
