/* SPDX-License-Identifier: MIT */
/* Starting and supervising the command of `hosttune run` (cli/run-child.h), for the D-Bus and
 * the lease.sock client alike. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/run-child.h"
#include "lib/util.h"

static void child_exec(char **cmd, const sigset_t *old, pid_t parent) {
        (void) sigprocmask(SIG_SETMASK, old, NULL);
        /* CMD must not outlive the holder of its lease. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                _exit(RUN_EXIT_FAILED);
        execvp(cmd[0], cmd);
        fprintf(stderr, "hosttune run: cannot run %s: %s\n", cmd[0], strerror(errno));
        _exit(errno == ENOENT ? RUN_EXIT_NOT_FOUND : RUN_EXIT_CANNOT_EXEC);
}

/* Wait for the child, passing on the signals meant for it. Returns its wait status. */
static int supervise(pid_t pid, int sfd) {
        struct signalfd_siginfo si;
        int status;

        for (;;) {
                ssize_t n = read(sfd, &si, sizeof(si));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n != (ssize_t) sizeof(si)) {
                        /* Cannot happen short of a kernel bug; do not leave CMD behind. */
                        (void) waitpid(pid, &status, 0);
                        return status;
                }
                if (si.ssi_signo == SIGCHLD) {
                        if (waitpid(pid, &status, WNOHANG) == pid)
                                return status;
                        continue;
                }
                /* A terminal's ^C (SI_KERNEL) reached CMD's process group already; what
                 * kill(2) sent to this process alone is passed on. */
                if (si.ssi_code != SI_KERNEL)
                        (void) kill(pid, (int) si.ssi_signo);
        }
}

int run_child(char **cmd) {
        _cleanup_close_ int sfd = -1;
        pid_t pid, self = getpid();
        sigset_t mask, old;
        int status;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, &old) < 0 ||
            (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
                fprintf(stderr, "hosttune run: cannot set up signals: %m\n");
                return RUN_EXIT_FAILED;
        }
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0) {
                fprintf(stderr, "hosttune run: fork: %m\n");
                return RUN_EXIT_FAILED;
        }
        if (pid == 0)
                child_exec(cmd, &old, self);
        status = supervise(pid, sfd);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}
