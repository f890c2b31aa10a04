/* SPDX-License-Identifier: MIT */
/* userfaultfd probe: hugepage-backed snapshot restore (Firecracker UFFD handlers) needs either
 * /dev/userfaultfd (Linux 6.1+) or the userfaultfd(2) syscall with vm.unprivileged_userfaultfd. */
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <sys/syscall.h>

#include "lib/fileio.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "probes/probes.h"

/* Read everything and decide the status; probe_userfaultfd applies the garbage note. */
static void userfaultfd_decide(struct probe_ctx *ctx, struct host_report *r,
                               struct probe_bad *bad) {
        struct userfaultfd_facts *u = &r->userfaultfd;
        struct probe_result *res = &r->results[PROBE_USERFAULTFD];
        char v[16];
        unsigned x;
        int e;

        u->unprivileged = -1;
        e = read_line_at(ctx->root_fd, "proc/sys/vm/unprivileged_userfaultfd", v, sizeof(v));
        if (e == 0)
                e = parse_uint(v, &x);
        if (e == 0 && x > 1)
                e = -ERANGE;
        if (e == 0)
                u->unprivileged = (int) x;
        probe_bad_note(bad, e, "proc/sys/vm/unprivileged_userfaultfd");
        e = probe_ctx_device_acl(ctx, "dev/userfaultfd", &u->dev);
        if (e < 0) {
                probe_set_error(res, PROBE_FAIL, e, "/dev/userfaultfd");
                return;
        }
#ifdef SYS_userfaultfd
        /* Creating a userfaultfd only tells more when there is no device node to judge by. */
        if (ctx->live && (ctx->detail || !u->dev.exists)) {
                int fd = (int) syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
                if (fd >= 0) {
                        u->syscall_available = true;
                        close(fd);
                } else
                        u->syscall_error = negative_errno();
        }
#endif
        if (!u->dev.exists && !u->syscall_available && u->unprivileged < 0) {
                probe_set(res, PROBE_ABSENT,
                          "no userfaultfd: kernel built without CONFIG_USERFAULTFD");
                probe_set_remedy(res, "use a kernel with CONFIG_USERFAULTFD (hugepage-backed "
                                      "snapshots restore only through it)");
                return;
        }
        if (u->dev.exists && (u->dev.mode & 0006) != 0006 && !u->dev.has_acl &&
            u->unprivileged != 1) {
                probe_set(res, PROBE_WARN,
                          "/dev/userfaultfd is mode %04o and vm.unprivileged_userfaultfd is %d: "
                          "only root VMMs can restore hugepage-backed snapshots",
                          (unsigned) u->dev.mode, u->unprivileged);
                probe_set_remedy(res, "give the VMM's group access to /dev/userfaultfd (udev "
                                      "rule) or set vm.unprivileged_userfaultfd = 1");
                return;
        }
        if (!u->dev.exists && u->unprivileged != 1) {
                probe_set(res, PROBE_WARN,
                          "userfaultfd(2) only for privileged processes (no /dev/userfaultfd, "
                          "vm.unprivileged_userfaultfd = 0)");
                probe_set_remedy(res, "set vm.unprivileged_userfaultfd = 1, or use Linux 6.1+ "
                                      "with /dev/userfaultfd");
                return;
        }
        probe_set(res, PROBE_OK, "%s%s%s", u->dev.exists ? "/dev/userfaultfd present" : "",
                  u->dev.exists && u->unprivileged == 1 ? ", " : "",
                  u->unprivileged == 1 ? "unprivileged userfaultfd allowed" : "");
}

int probe_userfaultfd(struct probe_ctx *ctx, struct host_report *r) {
        struct probe_bad bad = { 0 };

        userfaultfd_decide(ctx, r, &bad);
        probe_bad_apply(&bad, &r->results[PROBE_USERFAULTFD]);
        return 0;
}
