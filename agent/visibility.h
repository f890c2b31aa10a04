/* SPDX-License-Identifier: MIT */
/* What one bus caller may see of the agent's reports and texts (agent/visibility.c,
 * docs/dbus-api.md "Who sees what"). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

#include "lib/fsutil.h"

struct agent;

/* What one bus caller may see. */
struct agent_viewer {
        bool privileged; /* uid 0 or the lease group: sees everything */
        struct access_identity id;
};

/* The caller of m as a viewer. */
int agent_viewer_get(struct agent *a, sd_bus_message *m, struct agent_viewer *ret);

/* text with every absolute path the viewer could not reach itself (with contents: not read)
 * replaced by "(hidden)", or with cut, the text cut before the first such path and a note
 * appended. For a privileged viewer a copy. */
void agent_viewer_redact_text(const struct agent_viewer *v, const char *text, bool contents,
                              bool cut, char *buf, size_t size);

/* A report document (GetReport, Check) as the viewer may see it: hidden paths replaced, the nix
 * probe's facts dropped when nix.conf is not readable to it, last_error cut. */
void agent_viewer_redact_report(const struct agent_viewer *v, const struct agent *a,
                                json_object *doc);
