/* SPDX-License-Identifier: MIT */
/* `hosttune reload`: ask the agent to load its policy again; a rejected policy is printed with
 * its file:line and exits 2, and the agent keeps the policy it had. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/bus/bus-client.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "runtime/errors.h"

/* A reload ends after the new policy's apply, which may reserve hugepages for up to the
 * policy's [hugepages] timeout: wait longer than any sane timeout. */
#define RELOAD_TIMEOUT_USEC (600 * USEC_PER_SEC)

int cmd_bus_reload(int argc, char **argv) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *name = NULL;
        struct bus_client_options o;
        uint64_t generation;
        int r, ret;

        r = bus_client_parse_options(argc, argv,
                                     "Usage: hosttune reload [--bus system|session|ADDRESS]\n"
                                     "Reload the agent's policy. Exit status: 0 reloaded, 2 policy "
                                     "rejected (the agent keeps the old one), 3 failed.\n",
                                     false, &o);
        if (r != 0)
                return r > 0 ? BUS_EXIT_OK : BUS_EXIT_USAGE;
        if (bus_client_open(o.bus, &bus) < 0)
                return BUS_EXIT_FAILED;
        r = bus_client_call(bus, "reload", "Reload", RELOAD_TIMEOUT_USEC, &error, &reply, NULL);
        if (r < 0) {
                ret = BUS_EXIT_FAILED;
                if (sd_bus_error_has_name(&error, AGENT_ERROR_INVALID_POLICY)) {
                        fprintf(stderr,
                                "hosttune reload: policy rejected, the agent keeps the one it "
                                "had:\n  %s\n",
                                error.message);
                        ret = BUS_EXIT_USAGE;
                } else if (sd_bus_error_is_set(&error))
                        fprintf(stderr, "hosttune reload: %s\n", error.message);
                sd_bus_error_free(&error);
                return ret;
        }
        r = sd_bus_message_read(reply, "t", &generation);
        if (r < 0) {
                fprintf(stderr, "hosttune reload: bad reply: %s\n", strerror(-r));
                return BUS_EXIT_FAILED;
        }
        (void) sd_bus_get_property_string(bus, AGENT_BUS_NAME, AGENT_OBJECT_PATH, AGENT_INTERFACE,
                                          "PolicyName", NULL, &name);
        printf("reloaded: policy %s, generation %" PRIu64 "\n", isempty(name) ? "?" : name,
               generation);
        return BUS_EXIT_OK;
}
