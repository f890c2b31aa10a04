/* SPDX-License-Identifier: MIT */
/* hosttune-bus: the D-Bus client verbs of hosttune (status, reload, lease, run), linked with
 * libsystemd and exec'd by the static `hosttune` (cli/cmd-bus.c). Shared connection and error
 * helpers. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#define AGENT_BUS_NAME "org.hosttune.Agent1"
#define AGENT_OBJECT_PATH "/org/hosttune/Agent1"
#define AGENT_INTERFACE "org.hosttune.Agent1"

/* Exit codes shared with `hosttune check` (cli/cli.h) plus "agent unreachable". */
#define BUS_EXIT_OK 0
#define BUS_EXIT_NOT_READY 1
#define BUS_EXIT_USAGE 2
#define BUS_EXIT_FAILED 3

/* Connect to the bus named by spec: NULL or "system" (the system bus; $DBUS_SYSTEM_BUS_ADDRESS
 * is honoured), "session", or a D-Bus address. Prints why on failure. */
int bus_client_open(const char *spec, sd_bus **ret);

/* Call a method of the agent. On failure returns the negative errno and either moves the D-Bus
 * error into ret_error (when not NULL: the caller says what it means) or prints "hosttune VERB:
 * MESSAGE". That the agent does not run is always printed here. timeout_usec 0 = sd-bus default
 * (25 s). */
int bus_client_call(sd_bus *bus, const char *verb, const char *member, uint64_t timeout_usec,
                    sd_bus_error *ret_error, sd_bus_message **ret_reply, const char *types, ...);

/* The same for a message the caller built (bus_client_call builds it from types and
 * arguments). */
int bus_client_send(sd_bus *bus, const char *verb, sd_bus_message *m, uint64_t timeout_usec,
                    sd_bus_error *ret_error, sd_bus_message **ret_reply);

/* Fields of a JSON object from the agent: "" / 0 / false when missing. */
const char *bus_json_str(json_object *o, const char *key);
uint64_t bus_json_u64(json_object *o, const char *key);
bool bus_json_bool(json_object *o, const char *key);

/* Options every bus verb takes: --help, --bus, and --json where the verb has JSON output. */
struct bus_client_options {
        const char *bus; /* NULL = system */
        bool json;
};

/* Parse them (usage is printed for --help, with the verb's own text). Returns 0 to go on,
 * 1 when --help was printed (exit 0), or -EINVAL after printing what was wrong. */
int bus_client_parse_options(int argc, char **argv, const char *usage, bool json_allowed,
                             struct bus_client_options *ret);

int cmd_bus_status(int argc, char **argv);
int cmd_bus_reload(int argc, char **argv);
