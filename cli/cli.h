/* Verbs of the hosttune command line; each parses its own options and returns an exit code. */
#pragma once

#define EXIT_READY 0
#define EXIT_NOT_READY 1
#define EXIT_USAGE 2
#define EXIT_PROBE_FAILED 3

int cmd_check(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_revert(int argc, char **argv);
