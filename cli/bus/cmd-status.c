/* SPDX-License-Identifier: MIT */
/* `hosttune status`: what the agent says about this host (GetReport), for people or as JSON. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/bus/bus-client.h"
#include "cli/output.h"
#include "lib/json-util.h"
#include "lib/parse.h"
#include "lib/util.h"

static void print_human(json_object *doc) {
        json_object *agent = NULL, *reqs = NULL;
        char a[32], b[32];
        bool ready = bus_json_bool(doc, "ready");

        json_object_object_get_ex(doc, "agent", &agent);
        printf("hosttuned: policy %s (%s), generation %" PRIu64 "\n",
               bus_json_str(agent, "policy_name"), bus_json_str(agent, "policy_path"),
               bus_json_u64(agent, "generation"));
        printf("Ready:     %s\n", ready ? "yes" : "no");
        printf("Reason:    %s\n", bus_json_str(doc, "reason"));
        printf("Hugepages: %s in the pools, %s leased\n",
               format_size(bus_json_u64(agent, "hugepages_total"), a, sizeof(a)),
               format_size(bus_json_u64(agent, "hugepages_leased"), b, sizeof(b)));
        /* Only where leases are enforced: the agent can tell their pages from others' there. */
        if (json_object_object_get_ex(agent, "hugepages_unleased", NULL))
                printf("Unleased:  %s of hugepages in use by no lease\n",
                       format_size(bus_json_u64(agent, "hugepages_unleased"), a, sizeof(a)));
        if (!isempty(bus_json_str(agent, "last_error")))
                printf("Last error: %s\n", bus_json_str(agent, "last_error"));
        if (!json_object_object_get_ex(doc, "requirements", &reqs) ||
            json_object_array_length(reqs) == 0)
                return;
        printf("\n");
        output_init(stdout);
        for (size_t i = 0; i < json_object_array_length(reqs); i++) {
                json_object *q = json_object_array_get_idx(reqs, i);
                enum line_level lvl = !bus_json_bool(q, "satisfied") ? LINE_FAIL
                                      : bus_json_bool(q, "caveat")   ? LINE_WARN
                                                                     : LINE_PASS;
                output_line(stdout, lvl, bus_json_str(q, "name"), bus_json_str(q, "reason"),
                            bus_json_str(q, "remedy"));
        }
}

int cmd_bus_status(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct bus_client_options o;
        const char *text;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        bool ready;
        int r;

        r = bus_client_parse_options(
                argc, argv,
                "Usage: hosttune status [--json] [--bus system|session|ADDRESS]\n"
                "What the running agent reports. Exit status: 0 ready, 1 not "
                "ready, 3 agent not reachable.\n",
                true, &o);
        if (r != 0)
                return r > 0 ? BUS_EXIT_OK : BUS_EXIT_USAGE;
        if (bus_client_open(o.bus, &bus) < 0)
                return BUS_EXIT_FAILED;
        r = bus_client_call(bus, "status", "GetReport", 0, NULL, &reply, NULL);
        if (r < 0)
                return BUS_EXIT_FAILED;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0) {
                fprintf(stderr, "hosttune status: bad reply: %s\n", strerror(-r));
                return BUS_EXIT_FAILED;
        }
        doc = json_tokener_parse(text);
        if (!doc) {
                fprintf(stderr, "hosttune status: the agent's report is not JSON\n");
                return BUS_EXIT_FAILED;
        }
        ready = bus_json_bool(doc, "ready");
        if (o.json)
                r = output_json(stdout, doc);
        else
                print_human(doc);
        if (r < 0 || fflush(stdout) != 0)
                return BUS_EXIT_FAILED;
        return ready ? BUS_EXIT_OK : BUS_EXIT_NOT_READY;
}
