/* SPDX-License-Identifier: MIT */
/* Connecting to the agent's bus and calling it, with errors said once. */
#include "cli/bus/bus-client.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/output.h"
#include "lib/bus-open.h"
#include "lib/util.h"

int bus_client_open(const char *spec, sd_bus **ret) {
        int r = bus_open_spec(spec ?: "system", NULL, ret);

        if (r < 0)
                return cli_error_errno(r, "hosttune: cannot connect to the %s bus: %m",
                                       spec ? spec : "system");
        return r;
}

int bus_client_send(sd_bus *bus, const char *verb, sd_bus_message *m, uint64_t timeout_usec,
                    sd_bus_error *ret_error, sd_bus_message **ret_reply) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r = sd_bus_call(bus, m, timeout_usec, &error, ret_reply);

        if (r < 0 && ret_error &&
            !sd_bus_error_has_names(&error, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                    SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                sd_bus_error_move(ret_error, &error);
                if (!sd_bus_error_is_set(ret_error))
                        sd_bus_error_set_errno(ret_error, r);
        } else if (r < 0) {
                if (sd_bus_error_has_names(&error, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                           SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        fprintf(stderr,
                                "hosttune %s: hosttuned is not running (%s not on the bus)\n", verb,
                                AGENT_BUS_NAME);
                else
                        fprintf(stderr, "hosttune %s: %s\n", verb,
                                error.message ? error.message : strerror(-r));
        }
        sd_bus_error_free(&error);
        return r;
}

int bus_client_call(sd_bus *bus, const char *verb, const char *member, uint64_t timeout_usec,
                    sd_bus_error *ret_error, sd_bus_message **ret_reply, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH,
                                           AGENT_INTERFACE, member);
        if (r >= 0 && types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r < 0)
                return cli_error_errno(r, "hosttune %s: cannot build the call: %m", verb);
        return bus_client_send(bus, verb, m, timeout_usec, ret_error, ret_reply);
}

const char *bus_json_str(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

uint64_t bus_json_u64(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

bool bus_json_bool(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

int bus_client_parse_options(int argc, char **argv, const char *usage, bool json_allowed,
                             struct bus_client_options *ret) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                { "bus", required_argument, NULL, 'b' },
                {},
        };
        struct bus_client_options o = { 0 };
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "hj", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        fputs(usage, stdout);
                        return 1;
                case 'j':
                        if (!json_allowed)
                                goto bad;
                        o.json = true;
                        break;
                case 'b':
                        o.bus = optarg;
                        break;
                default:
                bad:
                        return cli_error_errno(-EINVAL, "Try 'hosttune %s --help'.", argv[0]);
                }
        if (optind < argc)
                return cli_error_errno(-EINVAL, "hosttune %s: unexpected argument '%s'", argv[0],
                                       argv[optind]);
        *ret = o;
        return 0;
}
