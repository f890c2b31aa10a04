/* SPDX-License-Identifier: MIT */
/* Connecting to a D-Bus bus named on a command line: one way for hosttuned, hosttune-bus and the
 * test helpers. Header-only on purpose: lib/ objects are also linked without libsystemd (the
 * static `hosttune`, the fuzz targets), so sd-bus calls stay in the programs that include this. */
#pragma once

#include <stddef.h>
#include <systemd/sd-bus.h>

#include "lib/util.h"

/* Connect as a bus client to spec: "system", "session", or a D-Bus address such as
 * unix:path=/run/x. description (NULL for none) names the connection in busctl and the journal.
 * Returns 0 and the started connection in ret, or a negative errno. */
static inline int bus_open_spec(const char *spec, const char *description, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        if (streq(spec, "system"))
                return description ? sd_bus_open_system_with_description(ret, description)
                                   : sd_bus_open_system(ret);
        if (streq(spec, "session"))
                return description ? sd_bus_open_user_with_description(ret, description)
                                   : sd_bus_open_user(ret);
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, spec);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0 && description)
                r = sd_bus_set_description(bus, description);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}
