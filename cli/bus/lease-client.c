/* SPDX-License-Identifier: MIT */
/* The lease request on the command line, the AcquireLease and ReleaseLease calls, and grants
 * read into JSON: shared by `hosttune lease` and `hosttune run`. */
#include "cli/bus/lease-client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/bus/bus-client.h"
#include "lib/parse.h"
#include "lib/util.h"
#include "runtime/errors.h"

/* A reservation that grows the pool may take the policy's [hugepages] timeout (30 s by
 * default) on top of the wait the caller asked for. */
#define ACQUIRE_EXTRA_USEC (120 * USEC_PER_SEC)

int lease_args_parse(int c, const char *verb, struct lease_args *a) {
        uint64_t v;

        switch (c) {
        case LEASE_OPT_HUGEPAGES:
        case LEASE_OPT_HUGEPAGE_SIZE:
                /* Sizes as in a policy ("2G", "512M", bytes); no percentages, no signs. */
                if (parse_size(optarg, 0, &v) < 0 || v == 0) {
                        fprintf(stderr,
                                "hosttune %s: --%s: '%s' is not a size > 0 (2G, 512M, "
                                "bytes)\n",
                                verb, c == LEASE_OPT_HUGEPAGES ? "hugepages" : "hugepage-size",
                                optarg);
                        return -EINVAL;
                }
                if (c == LEASE_OPT_HUGEPAGES)
                        a->hugepages = v;
                else
                        a->hugepage_size = v;
                return 1;
        case LEASE_OPT_SNAPSHOT:
                a->snapshot = optarg;
                return 1;
        case LEASE_OPT_TAPS:
                if (parse_u64(optarg, &v) < 0 || v == 0 || v > UINT32_MAX) {
                        fprintf(stderr, "hosttune %s: --taps: '%s' is not a count > 0\n", verb,
                                optarg);
                        return -EINVAL;
                }
                a->taps = (uint32_t) v;
                a->taps_set = true;
                return 1;
        case LEASE_OPT_WAIT:
                /* Seconds, or a duration ("2min"); rounded up to whole seconds. */
                if (parse_duration(optarg, &v) < 0 || v / USEC_PER_SEC >= UINT32_MAX) {
                        fprintf(stderr,
                                "hosttune %s: --wait: '%s' is not a duration (60, 90s, "
                                "5min)\n",
                                verb, optarg);
                        return -EINVAL;
                }
                a->wait = (uint32_t) ((v + USEC_PER_SEC - 1) / USEC_PER_SEC);
                return 1;
        case LEASE_OPT_PERSIST:
                a->persist = true;
                return 1;
        case LEASE_OPT_LABEL:
                a->label = optarg;
                return 1;
        case LEASE_OPT_BUS:
                a->bus = optarg;
                return 1;
        case LEASE_OPT_JSON:
                a->json = true;
                return 1;
        default:
                return 0;
        }
}

int lease_args_parse_all(int argc, char **argv, const char *optstring, const struct option *options,
                         const char *verb, const char *usage, struct lease_args *a) {
        int c, r;

        optind = 1;
        while ((c = getopt_long(argc, argv, optstring, options, NULL)) >= 0) {
                if (c == 'h') {
                        fputs(usage, stdout);
                        return 1;
                }
                r = lease_args_parse(c, verb, a);
                if (r < 0)
                        return r;
                if (r == 0) {
                        fprintf(stderr, "Try 'hosttune %s --help'.\n", verb);
                        return -EINVAL;
                }
        }
        return 0;
}

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
                json_object *arr = json_object_new_array();
                r = sd_bus_message_enter_container(m, 'a', "s");
                while (r >= 0 && (r = sd_bus_message_read(m, "s", &s)) > 0)
                        json_object_array_add(arr, json_object_new_string(s));
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        json_object_put(arr);
                *ret = r < 0 ? NULL : arr;
        } else {
                *ret = NULL; /* a key of a newer agent, of a type this one does not show */
                r = sd_bus_message_skip(m, sig);
        }
        return r;
}

int lease_read_dict(sd_bus_message *m, json_object **ret) {
        json_object *o = json_object_new_object();
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
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        *ret = o;
        return 0;
}

void lease_json_taps(json_object *o, const char *sep, char *buf, size_t size) {
        json_object *taps;
        size_t n = 0;

        buf[0] = 0;
        if (!json_object_object_get_ex(o, "taps", &taps) ||
            !json_object_is_type(taps, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(taps) && n < size; i++)
                n += (size_t) snprintf(buf + n, size - n, "%s%s", i ? sep : "",
                                       json_object_get_string(json_object_array_get_idx(taps, i)));
}

int lease_acquire(sd_bus *bus, const char *verb, const struct lease_args *a, char **ret_id,
                  json_object **ret_grant) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        sd_bus_error error = SD_BUS_ERROR_NULL;
        json_object *grant = NULL;
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
                json_object_put(grant);
                fprintf(stderr, "hosttune %s: bad reply from the agent: %s\n", verb,
                        strerror(r < 0 ? -r : ENOMEM));
                return LEASE_EXIT_FAILED;
        }
        *ret_id = dup;
        *ret_grant = grant;
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
