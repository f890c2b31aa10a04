/* SPDX-License-Identifier: MIT */
/* Verbs of the hosttune command line; each parses its own options and returns an exit code. */
#pragma once

#define EXIT_READY 0
#define EXIT_NOT_READY 1
#define EXIT_USAGE 2
#define EXIT_PROBE_FAILED 3

int cmd_check(int argc, char **argv);
int cmd_probe(int argc, char **argv);
/* status, reload, lease, run: exec hosttune-bus with the same arguments. */
int cmd_bus_exec(int argc, char **argv);
/* `run` and `lease`: over the agent's lease socket when $HOSTTUNE_LEASE_SOCKET names it or the
 * system bus does not answer and <runtime dir>/lease.sock exists (cli/cmd-lease-sock.c), else
 * through hosttune-bus. */
int cmd_run_or_bus(int argc, char **argv);
int cmd_lease_or_bus(int argc, char **argv);
int cmd_apply(int argc, char **argv);
int cmd_revert(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_machines_line(int argc, char **argv);

struct policy_error;
/* Print a policy load error as "file:line: key: message" on stderr; returns the exit code
 * (EXIT_USAGE for a bad policy, EXIT_PROBE_FAILED when out of memory). */
int cli_policy_error(int r, const struct policy_error *err);

struct agent_state;
struct policy;
/* The policy `check` judges by: policy (--policy FILE|NAME) when given; else the running
 * agent's (agent, or NULL: what it loaded last, read again from its file or profile, or from
 * its copy of the policy in force when those files changed since, with why in warning when
 * not NULL: docs/agent-state.md); else the configured one. Cheap: a stat per policy file and
 * the parse of a small text. ret must be zeroed (static storage). Returns 0, or the exit code
 * after printing the error. */
int cli_load_policy(const char *policy, const struct agent_state *agent, struct policy *ret,
                    char *warning, size_t size);
