/* SPDX-License-Identifier: MIT */
/* The AcquireLease and ReleaseLease calls, and grants read into JSON: shared by `hosttune lease`
 * and `hosttune run` (the request's options: cli/lease-args.c). */
#include "cli/bus/lease-client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/bus/bus-client.h"
#include "cli/output.h"
#include "lib/json-util.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "runtime/errors.h"

/* A reservation that grows the pool may take the policy's [hugepages] timeout (30 s by
 * default) on top of the wait the caller asked for. */
#define ACQUIRE_EXTRA_USEC (120 * USEC_PER_SEC)

int lease_exit_for_error(const sd_bus_error *e) {
        if (sd_bus_error_has_names(e, AGENT_ERROR_INSUFFICIENT_HUGEPAGES,
                                   AGENT_ERROR_INSUFFICIENT_TAPS, AGENT_ERROR_NO_SUCH_LEASE,
                                   AGENT_ERROR_LIMIT_EXCEEDED))
                return LEASE_EXIT_UNAVAILABLE;
        /* Asking again will not help: more than the pool may ever hold. */
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_INVALID_ARGS, AGENT_ERROR_EXCEEDS_POOL))
                return LEASE_EXIT_USAGE;
        return LEASE_EXIT_FAILED;
}

static int append_request(sd_bus_message *m, const struct lease_args *a) {
        int r = sd_bus_message_open_container(m, 'a', "{sv}");

        if (r >= 0 && a->hugepages)
                r = sd_bus_message_append(m, "{sv}", "hugepages", "t", a->hugepages);
        if (r >= 0 && a->hugepage_size)
                r = sd_bus_message_append(m, "{sv}", "hugepage-size", "t", a->hugepage_size);
        if (r >= 0 && a->snapshot)
                r = sd_bus_message_append(m, "{sv}", "snapshot", "s", a->snapshot);
        if (r >= 0 && a->taps_set)
                r = sd_bus_message_append(m, "{sv}", "taps", "u", a->taps);
        if (r >= 0 && a->wait)
                r = sd_bus_message_append(m, "{sv}", "wait", "u", a->wait);
        if (r >= 0 && a->persist)
                r = sd_bus_message_append(m, "{sv}", "persist", "b", 1);
        if (r >= 0 && a->enforce)
                r = sd_bus_message_append(m, "{sv}", "enforce", "b", 1);
        if (r >= 0 && a->label)
                r = sd_bus_message_append(m, "{sv}", "label", "s", a->label);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int read_value(sd_bus_message *m, const char *sig, json_object **ret) {
        const char *s;
        uint64_t t;
        uint32_t u;
        int b, r;

        if (streq(sig, "s")) {
                r = sd_bus_message_read(m, "s", &s);
                *ret = r < 0 ? NULL : json_object_new_string(s);
        } else if (streq(sig, "t")) {
                r = sd_bus_message_read(m, "t", &t);
                *ret = r < 0 ? NULL : json_object_new_uint64(t);
        } else if (streq(sig, "u")) {
                r = sd_bus_message_read(m, "u", &u);
                *ret = r < 0 ? NULL : json_object_new_int64(u);
        } else if (streq(sig, "b")) {
                r = sd_bus_message_read(m, "b", &b);
                *ret = r < 0 ? NULL : json_object_new_boolean(b);
        } else if (streq(sig, "as")) {
                _cleanup_(json_object_putp) json_object *arr = json_object_new_array();
                r = sd_bus_message_enter_container(m, 'a', "s");
                while (r >= 0 && (r = sd_bus_message_read(m, "s", &s)) > 0)
                        json_object_array_add(arr, json_object_new_string(s));
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                *ret = r < 0 ? NULL : TAKE_PTR(arr);
        } else {
                *ret = NULL; /* a key of a newer agent, of a type this one does not show */
                r = sd_bus_message_skip(m, sig);
        }
        return r;
}

int lease_read_dict(sd_bus_message *m, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *sig = NULL;
                json_object *v = NULL;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r >= 0)
                        r = sd_bus_message_peek_type(m, &type, &sig);
                if (r >= 0)
                        r = sd_bus_message_enter_container(m, 'v', sig);
                if (r >= 0)
                        r = read_value(m, sig, &v);
                if (r >= 0 && v)
                        json_object_object_add(o, key, v);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

int lease_json_taps(json_object *o, const char *sep, char *buf, size_t size) {
        json_object *taps;

        buf[0] = 0;
        if (!json_object_object_get_ex(o, "taps", &taps) ||
            !json_object_is_type(taps, json_type_array))
                return 0;
        for (size_t i = 0; i < json_object_array_length(taps); i++) {
                size_t n = strlen(buf);

                if (bufappendf(buf, size, "%s%s", i ? sep : "",
                               json_object_get_string(json_object_array_get_idx(taps, i))) < 0) {
                        buf[n] = 0; /* whole names only */
                        return -ENAMETOOLONG;
                }
        }
        return 0;
}

int lease_acquire(sd_bus *bus, const char *verb, const struct lease_args *a, char **ret_id,
                  json_object **ret_grant) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(json_object_putp) json_object *grant = NULL;
        const char *id;
        char *dup;
        int r, ret;

        r = sd_bus_message_new_method_call(bus, &m, AGENT_BUS_NAME, AGENT_OBJECT_PATH,
                                           AGENT_INTERFACE, "AcquireLease");
        if (r >= 0)
                r = append_request(m, a);
        if (r < 0) {
                fprintf(stderr, "hosttune %s: cannot build the request: %s\n", verb, strerror(-r));
                return LEASE_EXIT_FAILED;
        }
        r = bus_client_send(bus, verb, m, (uint64_t) a->wait * USEC_PER_SEC + ACQUIRE_EXTRA_USEC,
                            &error, &reply);
        if (r < 0) {
                if (sd_bus_error_is_set(&error))
                        fprintf(stderr, "hosttune %s: %s\n", verb, error.message);
                ret = sd_bus_error_is_set(&error) ? lease_exit_for_error(&error)
                                                  : LEASE_EXIT_FAILED;
                sd_bus_error_free(&error);
                return ret;
        }
        r = sd_bus_message_read(reply, "s", &id);
        if (r >= 0)
                r = lease_read_dict(reply, &grant);
        dup = r >= 0 ? strdup(id) : NULL;
        if (!dup) {
                fprintf(stderr, "hosttune %s: bad reply from the agent: %s\n", verb,
                        strerror(r < 0 ? -r : ENOMEM));
                return LEASE_EXIT_FAILED;
        }
        *ret_id = dup;
        *ret_grant = TAKE_PTR(grant);
        return LEASE_EXIT_OK;
}

int lease_release_call_error(sd_bus *bus, const char *verb, const char *id,
                             sd_bus_error *ret_error) {
        sd_bus_error error = SD_BUS_ERROR_NULL;
        int r, ret;

        r = bus_client_call(bus, verb, "ReleaseLease", 0, &error, NULL, "s", id);
        if (r >= 0)
                return LEASE_EXIT_OK;
        if (sd_bus_error_is_set(&error))
                fprintf(stderr, "hosttune %s: %s\n", verb, error.message);
        ret = sd_bus_error_is_set(&error) ? lease_exit_for_error(&error) : LEASE_EXIT_FAILED;
        if (ret_error)
                sd_bus_error_move(ret_error, &error);
        sd_bus_error_free(&error);
        return ret;
}

int lease_release_call(sd_bus *bus, const char *verb, const char *id) {
        return lease_release_call_error(bus, verb, id, NULL);
}
