/* SPDX-License-Identifier: MIT */
/* What the lease verbs share between the D-Bus client (hosttune-bus) and the lease.sock client
 * (the static hosttune): exit codes, and starting CMD once the lease is held. */
#pragma once

#include <signal.h>
#include <sys/types.h>

/* Exit codes of the lease verbs (hosttune(1), docs/leases.md). */
#define LEASE_EXIT_OK 0
#define LEASE_EXIT_UNAVAILABLE 1 /* not enough capacity (within --wait), or no such lease */
#define LEASE_EXIT_USAGE 2       /* bad options, or the agent found the request invalid */
#define LEASE_EXIT_FAILED 3      /* agent unreachable, access denied, anything else */

/* `hosttune run` exits with its command's status; its own failures use these. */
#define RUN_EXIT_UNAVAILABLE 75 /* EX_TEMPFAIL: the capacity was not there within --wait */
#define RUN_EXIT_FAILED 125     /* bad usage, agent unreachable or request refused */
#define RUN_EXIT_CANNOT_EXEC 126
#define RUN_EXIT_NOT_FOUND 127

/* Block SIGINT, SIGTERM, SIGHUP and SIGCHLD (the old mask into *old) and fork CMD with the old
 * mask, killed when this process dies (PR_SET_PDEATHSIG). Returns CMD's wait status as an exit
 * status: its own, 128+N when signal N killed it; RUN_EXIT_* after printing "hosttune run: ..."
 * when it could not be started. The signals this process gets meanwhile are passed on to CMD. */
int run_child(char **cmd);
