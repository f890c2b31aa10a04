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
int cmd_apply(int argc, char **argv);
int cmd_revert(int argc, char **argv);
int cmd_policy(int argc, char **argv);

struct policy_error;
/* Print a policy load error as "file:line: key: message" on stderr; returns the exit code
 * (EXIT_USAGE for a bad policy, EXIT_PROBE_FAILED when out of memory). */
int cli_policy_error(int r, const struct policy_error *err);
