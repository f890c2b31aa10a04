/* SPDX-License-Identifier: MIT */
/* Who sees what over D-Bus (docs/dbus-api.md, "Who sees what"): root and the lease group see
 * everything; any other caller sees its own leases in full, others' only as sizes, and no path
 * or file content it could not reach itself (a path inside a 0700 directory, the keys of a 0600
 * include, the features of a 0600 nix.conf). The agent runs as root, so without this anyone on
 * the system bus could read through it what the file permissions keep from them. */
#include <string.h>

#include "agent/agent.h"
#include "lib/fsutil.h"
#include "lib/util.h"

#define HIDDEN "(hidden)"

/* Asking the bus daemon for a sender's credentials is a round trip; Check and GetReport come
 * in bursts from the same few clients. A unique name is never given to another connection by
 * the same bus, so what it was is what it is, for one policy generation (the lease group may
 * change with the policy). Touched only from the event loop. */
static struct {
        char sender[64];
        uint64_t generation;
        struct agent_viewer viewer;
} cache[16];
static unsigned cache_next;

static int viewer_query(struct agent *a, sd_bus_message *m, struct agent_viewer *ret);

int agent_viewer_get(struct agent *a, sd_bus_message *m, struct agent_viewer *ret) {
        const char *sender = sd_bus_message_get_sender(m);
        int r;

        for (size_t i = 0; sender && i < ELEMENTSOF(cache); i++)
                if (cache[i].generation == a->props.generation && streq(cache[i].sender, sender)) {
                        *ret = cache[i].viewer;
                        return 0;
                }
        r = viewer_query(a, m, ret);
        if (r >= 0 && sender && strlen(sender) < sizeof(cache[0].sender)) {
                strscpy(cache[cache_next].sender, sizeof(cache[0].sender), sender);
                cache[cache_next].generation = a->props.generation;
                cache[cache_next].viewer = *ret;
                cache_next = (cache_next + 1) % ELEMENTSOF(cache);
        }
        return r;
}

static int viewer_query(struct agent *a, sd_bus_message *m, struct agent_viewer *ret) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL, *more = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        struct agent_viewer v = { 0 };
        const gid_t *gids = NULL;
        gid_t gid;
        int r, n;

        r = agent_bus_sender_creds(m, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &v.id.uid);
        if (r < 0)
                return r;
        r = agent_bus_check_privileged_creds(a, m, creds, &error);
        sd_bus_error_free(&error);
        if (r < 0)
                return r;
        v.privileged = r > 0;
        if (!v.privileged) {
                /* The groups decide what a path's group bits grant: the effective gid and the
                 * supplementary ones (AUGMENT reads /proc where the bus daemon did not say). */
                if (sd_bus_query_sender_creds(m,
                                              SD_BUS_CREDS_EGID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                                                      SD_BUS_CREDS_AUGMENT,
                                              &more) >= 0) {
                        if (sd_bus_creds_get_egid(more, &gid) >= 0)
                                v.id.gids[v.id.n_gids++] = gid;
                        n = sd_bus_creds_get_supplementary_gids(more, &gids);
                        for (int i = 0; i < n && v.id.n_gids < ELEMENTSOF(v.id.gids); i++)
                                v.id.gids[v.id.n_gids++] = gids[i];
                }
        }
        *ret = v;
        return 0;
}

/* Where an absolute path starts in text: at the beginning or after a separator that messages
 * put before one. */
static bool path_start(const char *text, const char *s) {
        return *s == '/' && (s == text || strchr(" '\"(=[,", s[-1]));
}

static size_t path_len(const char *s) {
        return strcspn(s, " '\":,;)]\n");
}

void agent_viewer_redact_text(const struct agent_viewer *v, const char *text, bool contents,
                              bool cut, char *buf, size_t size) {
        size_t n = 0;

        if (size == 0)
                return;
        for (const char *s = text; *s && n + 1 < size;) {
                if (!v->privileged && path_start(text, s)) {
                        char path[4096];
                        size_t l = path_len(s);

                        if (l < sizeof(path)) {
                                memcpy(path, s, l);
                                path[l] = 0;
                                if (!path_reachable_as(path, &v->id, contents)) {
                                        if (cut) {
                                                bufprintf_trunc(
                                                        buf + n, size - n,
                                                        "(details hidden: they name a file "
                                                        "you cannot read; root and the lease "
                                                        "group see them)");
                                                return;
                                        }
                                        bufprintf_trunc(buf + n, size - n, "%s", HIDDEN);
                                        n += strlen(buf + n);
                                        s += l;
                                        continue;
                                }
                        }
                }
                buf[n++] = *s++;
        }
        buf[n] = 0;
}

/* Replace hidden paths in every string of o, recursively. */
static void redact_json(const struct agent_viewer *v, json_object *o) {
        char buf[4096];

        switch (json_object_get_type(o)) {
        case json_type_object: {
                json_object_object_foreach(o, key, val) {
                        (void) key;
                        redact_json(v, val);
                }
                break;
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        redact_json(v, json_object_array_get_idx(o, i));
                break;
        case json_type_string: {
                const char *s = json_object_get_string(o);
                if (!strchr(s, '/'))
                        break;
                agent_viewer_redact_text(v, s, false, false, buf, sizeof(buf));
                if (!streq(buf, s))
                        json_object_set_string(o, buf);
                break;
        }
        default:
                break;
        }
}

/* The nix probe's facts come from nix.conf and what it includes: a caller who cannot read
 * that file does not get its features, sandbox paths or build directory through the agent. */
static void redact_nix(const struct agent_viewer *v, const char *conf, json_object *doc) {
        json_object *probes, *facts;

        if (path_reachable_as(conf, &v->id, true) ||
            !json_object_object_get_ex(doc, "probes", &probes) ||
            !json_object_is_type(probes, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(probes); i++) {
                json_object *p = json_object_array_get_idx(probes, i), *id;
                if (!json_object_object_get_ex(p, "id", &id) ||
                    !streq(json_object_get_string(id), "nix"))
                        continue;
                json_object_object_add(p, "reason",
                                       json_object_new_string("details hidden: nix.conf is not "
                                                              "readable by the caller"));
                if (json_object_object_get_ex(p, "facts", &facts) &&
                    json_object_is_type(facts, json_type_object)) {
                        json_object_object_add(facts, "system_features", json_object_new_array());
                        json_object_object_add(facts, "sandbox_paths", json_object_new_array());
                        json_object_object_add(facts, "build_dir", json_object_new_string(""));
                }
        }
}

void agent_viewer_redact_report(const struct agent_viewer *v, const struct agent *a,
                                json_object *doc) {
        json_object *ag;
        char buf[1024];

        if (v->privileged)
                return;
        redact_nix(v,
                   isempty(a->in_force.policy->nix_conf) ? "/etc/nix/nix.conf"
                                                         : a->in_force.policy->nix_conf,
                   doc);
        /* last_error quotes policy files: cut at the first one the caller cannot read. */
        if (json_object_object_get_ex(doc, "agent", &ag) && a->props.last_error) {
                agent_viewer_redact_text(v, a->props.last_error, true, true, buf, sizeof(buf));
                json_object_object_add(ag, "last_error", json_object_new_string(buf));
        }
        redact_json(v, doc);
}
