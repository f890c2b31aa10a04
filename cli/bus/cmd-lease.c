/* SPDX-License-Identifier: MIT */
/* `hosttune lease acquire|release|list`: leases of hugepages, snapshot directories and taps
 * from the agent (docs/leases.md). A lease without --persist lives as long as the command that
 * took it, so `lease acquire` holds it until it is stopped; `hosttune run` is the usual way. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/bus/bus-client.h"
#include "cli/bus/lease-client.h"
#include "cli/output.h"
#include "lib/json-util.h"
#include "lib/parse.h"
#include "lib/util.h"

static const char usage_text[] =
        "Usage: hosttune lease acquire [--hugepages SIZE] [--hugepage-size SIZE]\n"
        "                              [--snapshot TEMPLATE|\"\"] [--taps N] [--wait SECONDS]\n"
        "                              [--persist] [--label LABEL] [--json] [--bus BUS]\n"
        "       hosttune lease release ID [--json] [--bus BUS]\n"
        "       hosttune lease list [--json] [--bus BUS]\n"
        "Leases of hugepages, snapshot directories and taps from hosttuned. Without --persist a\n"
        "lease ends with this command: `lease acquire` prints the grant and holds the lease\n"
        "until it gets SIGINT, SIGTERM or SIGHUP. Exit status: 0 done, 1 not enough capacity\n"
        "(or no such lease), 2 bad usage or invalid request, 3 failed (agent unreachable,\n"
        "access denied).\n";

static void print_grant_human(const char *id, json_object *g) {
        char a[32], b[32], taps[1024];
        uint64_t hp = bus_json_u64(g, "hugepages");

        printf("lease %s%s%s%s\n", id, *bus_json_str(g, "label") ? " (" : "",
               bus_json_str(g, "label"), *bus_json_str(g, "label") ? ")" : "");
        if (hp)
                printf("  hugepages  %s (%" PRIu64 " pages of %s)\n", format_size(hp, a, sizeof(a)),
                       bus_json_u64(g, "hugepage-pages"),
                       format_size(bus_json_u64(g, "hugepage-size"), b, sizeof(b)));
        if (*bus_json_str(g, "snapshot"))
                printf("  snapshot   %s (%s%s%s)\n", bus_json_str(g, "snapshot"),
                       bus_json_str(g, "snapshot-source"),
                       *bus_json_str(g, "template") ? " of template " : ", empty",
                       bus_json_str(g, "template"));
        if (hp)
                printf("  enforced   %s%s\n", bus_json_bool(g, "enforced") ? "yes, cgroup " : "no",
                       bus_json_str(g, "cgroup"));
        lease_json_taps(g, " ", taps, sizeof(taps));
        if (taps[0])
                printf("  taps       %s\n", taps);
        printf("  expires    %s\n", bus_json_bool(g, "persist") ? "on `hosttune lease release`"
                                                                : "when this command ends");
}

static int lease_acquire_verb(int argc, char **argv) {
        static const struct option options[] = {
                LEASE_REQUEST_OPTIONS,
                { "persist", no_argument, NULL, LEASE_OPT_PERSIST },
                { "json", no_argument, NULL, LEASE_OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *id = NULL;
        struct lease_args a = { 0 };
        _cleanup_(json_object_putp) json_object *grant = NULL;
        int r;

        r = lease_args_parse_all(argc, argv, "h", options, "lease acquire", usage_text, &a);
        if (r != 0)
                return r > 0 ? LEASE_EXIT_OK : LEASE_EXIT_USAGE;
        if (optind < argc) {
                fprintf(stderr, "hosttune lease acquire: unexpected argument '%s'\n", argv[optind]);
                return LEASE_EXIT_USAGE;
        }
        if (bus_client_open(a.bus, &bus) < 0)
                return LEASE_EXIT_FAILED;
        r = lease_acquire(bus, "lease acquire", &a, &id, &grant);
        if (r != LEASE_EXIT_OK)
                return r;
        /* Signals end a wait for capacity at once; from here on they end the hold (why:
         * cli/lease-args.c). */
        if (!a.persist)
                lease_hold_begin();
        if (a.json) {
                _cleanup_(json_object_putp) json_object *doc = json_object_new_object();
                json_object_object_add(doc, "id", json_object_new_string(id));
                json_object_object_add(doc, "grant", TAKE_PTR(grant));
                r = output_json(stdout, doc);
        } else
                print_grant_human(id, grant);
        if (fflush(stdout) != 0 || r < 0)
                return LEASE_EXIT_FAILED;
        if (a.persist)
                return LEASE_EXIT_OK;
        lease_hold_wait();
        return lease_release_call(bus, "lease acquire", id);
}

static int lease_release_verb(int argc, char **argv) {
        static const struct option options[] = {
                { "bus", required_argument, NULL, LEASE_OPT_BUS },
                { "json", no_argument, NULL, LEASE_OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct lease_args a = { 0 };
        int r;

        r = lease_args_parse_all(argc, argv, "h", options, "lease release", usage_text, &a);
        if (r != 0)
                return r > 0 ? LEASE_EXIT_OK : LEASE_EXIT_USAGE;
        if (optind != argc - 1) {
                fprintf(stderr, "hosttune lease release: give one lease id (from `hosttune lease "
                                "list`)\n");
                return LEASE_EXIT_USAGE;
        }
        if (bus_client_open(a.bus, &bus) < 0)
                return LEASE_EXIT_FAILED;
        r = lease_release_call_error(bus, "lease release", argv[optind], &error);
        if (a.json) {
                /* {"id", "released", and when it was not: "error" {name, message}}: a script
                 * tells "no such lease" from "access denied" without parsing stderr. */
                _cleanup_(json_object_putp) json_object *doc = json_object_new_object();

                json_object_object_add(doc, "id", json_object_new_string(argv[optind]));
                json_object_object_add(doc, "released",
                                       json_object_new_boolean(r == LEASE_EXIT_OK));
                if (sd_bus_error_is_set(&error)) {
                        json_object *e = json_object_new_object();

                        json_object_object_add(e, "name", json_object_new_string(error.name));
                        json_object_object_add(e, "message",
                                               json_object_new_string(error.message ?: ""));
                        json_object_object_add(doc, "error", e);
                }
                if (output_json(stdout, doc) < 0 && r == LEASE_EXIT_OK)
                        r = LEASE_EXIT_FAILED;
        } else if (r == LEASE_EXIT_OK)
                printf("released %s\n", argv[optind]);
        return r;
}

static void print_list_human(json_object *leases) {
        char hp[32], taps[256];

        if (json_object_array_length(leases) == 0) {
                printf("no leases\n");
                return;
        }
        printf("%-16s  %-16s  %6s  %9s  %-8s  %-12s  %s\n", "ID", "LABEL", "UID", "HUGEPAGES",
               "EXPIRES", "TAPS", "SNAPSHOT");
        for (size_t i = 0; i < json_object_array_length(leases); i++) {
                json_object *l = json_object_array_get_idx(leases, i);
                uint64_t bytes = bus_json_u64(l, "hugepages");

                if (bus_json_bool(l, "redacted")) {
                        /* Another user's lease, as the agent shows it to an unprivileged
                         * caller: what it holds, not whose (docs/dbus-api.md). */
                        printf("%-16s  %-16s  %6s  %9s  %-8s  %-12" PRIu64 "  %s\n", "(other user)",
                               "", "-", bytes ? format_size(bytes, hp, sizeof(hp)) : "-", "-",
                               bus_json_u64(l, "taps-count"),
                               bus_json_u64(l, "snapshot-count") ? "(hidden)" : "-");
                        continue;
                }
                lease_json_taps(l, ",", taps, sizeof(taps));
                printf("%-16s  %-16.16s  %6" PRIu64 "  %9s  %-8s  %-12s  %s%s%s\n",
                       bus_json_str(l, "id"), bus_json_str(l, "label"), bus_json_u64(l, "uid"),
                       bytes ? format_size(bytes, hp, sizeof(hp)) : "-",
                       streq(bus_json_str(l, "expires"), "release") ? "release" : "client",
                       taps[0] ? taps : "-",
                       *bus_json_str(l, "snapshot") ? bus_json_str(l, "snapshot") : "-",
                       streq(bus_json_str(l, "state"), "active") ? "" : "  ",
                       streq(bus_json_str(l, "state"), "active") ? "" : bus_json_str(l, "state"));
        }
}

static int lease_list_verb(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct bus_client_options o;
        _cleanup_(json_object_putp) json_object *leases = NULL;
        int r;

        r = bus_client_parse_options(argc, argv, usage_text, true, &o);
        if (r != 0)
                return r > 0 ? LEASE_EXIT_OK : LEASE_EXIT_USAGE;
        if (bus_client_open(o.bus, &bus) < 0)
                return LEASE_EXIT_FAILED;
        r = bus_client_call(bus, "lease list", "ListLeases", 0, NULL, &reply, NULL);
        if (r < 0)
                return LEASE_EXIT_FAILED;
        leases = json_object_new_array();
        r = sd_bus_message_enter_container(reply, 'a', "(ssa{sv})");
        while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'r', "ssa{sv}")) > 0) {
                const char *id, *label;
                json_object *d = NULL;

                r = sd_bus_message_read(reply, "ss", &id, &label);
                if (r >= 0)
                        r = lease_read_dict(reply, &d);
                if (r >= 0) {
                        /* The details carry id and label too. */
                        json_object_array_add(leases, d);
                        r = sd_bus_message_exit_container(reply);
                }
        }
        if (r < 0) {
                fprintf(stderr, "hosttune lease list: bad reply: %s\n", strerror(-r));
                return LEASE_EXIT_FAILED;
        }
        if (o.json) {
                _cleanup_(json_object_putp) json_object *doc = json_object_new_object();
                json_object_object_add(doc, "leases", TAKE_PTR(leases));
                r = output_json(stdout, doc);
        } else
                print_list_human(leases);
        return r < 0 || fflush(stdout) != 0 ? LEASE_EXIT_FAILED : LEASE_EXIT_OK;
}

int cmd_bus_lease(int argc, char **argv) {
        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                fputs(usage_text, argc < 2 ? stderr : stdout);
                return argc < 2 ? LEASE_EXIT_USAGE : LEASE_EXIT_OK;
        }
        if (streq(argv[1], "acquire"))
                return lease_acquire_verb(argc - 1, argv + 1);
        if (streq(argv[1], "release"))
                return lease_release_verb(argc - 1, argv + 1);
        if (streq(argv[1], "list"))
                return lease_list_verb(argc - 1, argv + 1);
        fprintf(stderr, "hosttune lease: unknown verb '%s' (acquire, release, list)\n", argv[1]);
        return LEASE_EXIT_USAGE;
}
