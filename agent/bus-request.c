/* SPDX-License-Identifier: MIT */
/* The request dictionaries of org.hosttune.Agent1: reading an a{sv} key by key with its types
 * checked, and turning Check's and AcquireLease's a{sv} into structs. Nothing here looks at the
 * agent's state, so the fuzzer (tests/fuzz/fuzz-bus-request.c) runs it on messages built from
 * its input. Keys: docs/dbus-api.md (Check) and docs/leases.md (AcquireLease). */
#include "agent/bus-request.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

#define METHOD "AcquireLease"

int agent_bus_invalid_args(sd_bus_error *error, const char *fmt, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, fmt);
        vbufprintf_trunc(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, buf);
}

int agent_bus_enter_variant(sd_bus_message *m, const char *method, const char *key, const char *sig,
                            sd_bus_error *error) {
        const char *contents = NULL;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (type != SD_BUS_TYPE_VARIANT || !contents || !streq(contents, sig))
                return agent_bus_invalid_args(error,
                                              "%s: key '%s' must hold a value of type '%s', not "
                                              "'%s'",
                                              method, key, sig, contents ? contents : "?");
        return sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, sig);
}

int agent_bus_read_dict(sd_bus_message *m,
                        int (*entry)(sd_bus_message *m, const char *key, void *userdata,
                                     sd_bus_error *error),
                        void *userdata, sd_bus_error *error) {
        int r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");

        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv")) > 0) {
                const char *key;

                r = sd_bus_message_read(m, "s", &key);
                if (r >= 0)
                        r = entry(m, key, userdata, error);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m); /* the variant */
                if (r >= 0)
                        r = sd_bus_message_exit_container(m); /* the dict entry */
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* ---- AcquireLease(a{sv}) ---- */

static const struct {
        const char *name, *sig;
} request_keys[_LEASE_KEY_MAX] = {
        [LEASE_KEY_HUGEPAGES] = { "hugepages", "t" },
        [LEASE_KEY_HUGEPAGE_SIZE] = { "hugepage-size", "t" },
        [LEASE_KEY_SNAPSHOT] = { "snapshot", "s" },
        [LEASE_KEY_TAPS] = { "taps", "u" },
        [LEASE_KEY_LABEL] = { "label", "s" },
        [LEASE_KEY_WAIT] = { "wait", "u" },
        [LEASE_KEY_PERSIST] = { "persist", "b" },
        [LEASE_KEY_ENFORCE] = { "enforce", "b" },
};

static int read_value(sd_bus_message *m, enum lease_request_key k, struct lease_request_values *v) {
        switch (k) {
        case LEASE_KEY_HUGEPAGES:
                return sd_bus_message_read(m, "t", &v->hugepages);
        case LEASE_KEY_HUGEPAGE_SIZE:
                return sd_bus_message_read(m, "t", &v->hugepage_size);
        case LEASE_KEY_SNAPSHOT:
                return sd_bus_message_read(m, "s", &v->snapshot);
        case LEASE_KEY_TAPS:
                return sd_bus_message_read(m, "u", &v->taps);
        case LEASE_KEY_LABEL:
                return sd_bus_message_read(m, "s", &v->label);
        case LEASE_KEY_WAIT:
                return sd_bus_message_read(m, "u", &v->wait);
        case LEASE_KEY_PERSIST:
                return sd_bus_message_read(m, "b", &v->persist);
        case LEASE_KEY_ENFORCE:
                return sd_bus_message_read(m, "b", &v->enforce);
        default:
                return -EINVAL;
        }
}

/* One key of the a{sv}: known, of its type, given once. */
static int request_entry(sd_bus_message *m, const char *key, void *userdata, sd_bus_error *error) {
        struct lease_request_values *v = userdata;
        int k, r;

        for (k = 0; k < _LEASE_KEY_MAX; k++)
                if (streq(key, request_keys[k].name))
                        break;
        if (k == _LEASE_KEY_MAX)
                return agent_bus_invalid_args(error,
                                              METHOD ": unknown key '%s' (known: hugepages, "
                                                     "hugepage-size, snapshot, taps, label, wait, "
                                                     "persist, enforce)",
                                              key);
        if (v->seen & (1U << k))
                return agent_bus_invalid_args(error, METHOD ": key '%s' given twice", key);
        v->seen |= 1U << k;
        r = agent_bus_enter_variant(m, METHOD, key, request_keys[k].sig, error);
        return r < 0 ? r : read_value(m, (enum lease_request_key) k, v);
}

int agent_bus_read_lease_request(sd_bus_message *m, struct lease_request_values *ret,
                                 sd_bus_error *error) {
        struct lease_request_values v = { 0 };
        int r = agent_bus_read_dict(m, request_entry, &v, error);

        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

/* ---- Check(a{sv}) ---- */

static int merge_tokens(uint64_t mem_total, const char *list, struct requirements *req,
                        sd_bus_error *error) {
        char err[256];

        if (requirements_parse(list, mem_total, req, err, sizeof(err)) < 0)
                return agent_bus_invalid_args(error, "Check: %s", err);
        return 0;
}

/* What Check was given, key by key. */
struct check_request {
        uint64_t mem_total;
        struct requirements given;
        bool use_policy;
        uint64_t hp_bytes, hp_size;
        bool hp_set, hp_size_set;
};

/* One key of Check's a{sv}: see docs/dbus-api.md for the keys. */
static int check_entry(sd_bus_message *m, const char *key, void *userdata, sd_bus_error *error) {
        struct check_request *c = userdata;
        const char *contents = NULL;
        char tok[96], type;
        int r;

        if (streq(key, "require")) {
                /* "s" (a list as on the command line) or "as" (one token each). */
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (contents && streq(contents, "as")) {
                        char **strv = NULL;

                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r >= 0)
                                r = sd_bus_message_read_strv(m, &strv);
                        for (char **s = strv; r >= 0 && s && *s; s++)
                                r = merge_tokens(c->mem_total, *s, &c->given, error);
                        for (char **s = strv; s && *s; s++)
                                free(*s);
                        free(strv);
                } else {
                        const char *list;

                        r = agent_bus_enter_variant(m, "Check", key, "s", error);
                        if (r >= 0)
                                r = sd_bus_message_read(m, "s", &list);
                        if (r >= 0)
                                r = merge_tokens(c->mem_total, list, &c->given, error);
                }
        } else if (streq(key, "hugepages")) {
                r = agent_bus_enter_variant(m, "Check", key, "t", error);
                if (r >= 0)
                        r = sd_bus_message_read(m, "t", &c->hp_bytes);
                if (r >= 0 && c->hp_bytes == 0)
                        r = agent_bus_invalid_args(error, "Check: 'hugepages' must be > 0 bytes");
                c->hp_set = true;
        } else if (streq(key, "hugepage-size")) {
                r = agent_bus_enter_variant(m, "Check", key, "t", error);
                if (r >= 0)
                        r = sd_bus_message_read(m, "t", &c->hp_size);
                if (r >= 0 && (c->hp_size == 0 || (c->hp_size & (c->hp_size - 1)) != 0))
                        r = agent_bus_invalid_args(error,
                                                   "Check: 'hugepage-size' must be a power of two");
                c->hp_size_set = true;
        } else if (streq(key, "snapshots") || streq(key, "taps")) {
                uint32_t n;

                r = agent_bus_enter_variant(m, "Check", key, "u", error);
                if (r >= 0)
                        r = sd_bus_message_read(m, "u", &n);
                if (r >= 0) {
                        xsprintf(tok, "%s=%" PRIu32, key, n);
                        r = merge_tokens(c->mem_total, tok, &c->given, error);
                }
        } else if (streq(key, "use-policy")) {
                int b = 1;

                r = agent_bus_enter_variant(m, "Check", key, "b", error);
                if (r >= 0)
                        r = sd_bus_message_read(m, "b", &b);
                c->use_policy = b;
        } else
                r = agent_bus_invalid_args(error,
                                           "Check: unknown key '%s' (known: require, hugepages, "
                                           "hugepage-size, snapshots, taps, use-policy)",
                                           key);
        return r;
}

int agent_bus_read_check(sd_bus_message *m, uint64_t mem_total, const struct requirements *policy,
                         struct requirements *ret, bool *ret_use_policy, sd_bus_error *error) {
        struct check_request c = { .mem_total = mem_total, .use_policy = true };
        struct requirements out = { 0 };
        char tok[96];
        int r;

        r = agent_bus_read_dict(m, check_entry, &c, error);
        if (r < 0)
                return r;
        if (c.hp_size_set && !c.hp_set)
                return agent_bus_invalid_args(error, "Check: 'hugepage-size' without 'hugepages'");
        if (c.hp_set) {
                if (c.hp_size_set)
                        xsprintf(tok, "hugepages=%" PRIu64 ":%" PRIu64, c.hp_bytes, c.hp_size);
                else
                        xsprintf(tok, "hugepages=%" PRIu64, c.hp_bytes);
                r = merge_tokens(mem_total, tok, &c.given, error);
                if (r < 0)
                        return r;
        }

        /* The policy's list first, then what the caller asked for: a caller's token replaces
         * the policy's one of the same kind (and page size). */
        if (c.use_policy)
                out = *policy;
        for (unsigned i = 0; i < c.given.n; i++) {
                const struct requirement *q = &c.given.items[i];
                unsigned j;
                for (j = 0; j < out.n; j++)
                        if (out.items[j].kind == q->kind && out.items[j].page_size == q->page_size)
                                break;
                if (j == out.n) {
                        if (out.n >= REQUIREMENTS_MAX)
                                return agent_bus_invalid_args(error,
                                                              "Check: more than %d requirements",
                                                              REQUIREMENTS_MAX);
                        out.n++;
                }
                out.items[j] = *q;
        }
        *ret = out;
        *ret_use_policy = c.use_policy;
        return 0;
}
