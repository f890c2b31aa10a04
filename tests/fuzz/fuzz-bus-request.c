/* SPDX-License-Identifier: MIT */
/* Fuzz target: the request dictionaries of the D-Bus methods, Check(a{sv}) and
 * AcquireLease(a{sv}) (agent/bus-request.c). The input is a recipe for a real sd-bus message:
 * how many entries, each entry's key (one the methods know, or any text), the variant's type
 * (the right one, a wrong one, a container) and its value; the message is built with
 * sd_bus_message_new_method_call and sd_bus_message_append, sealed as the bus would deliver it,
 * and both readers run over it. What they must satisfy: an error always comes with an
 * InvalidArgs message or a negative errno, never a crash; a success never yields more than
 * REQUIREMENTS_MAX requirements, and a lease key marked given has its value. */
#include <sys/socket.h>

#include <systemd/sd-bus.h>

#include "agent/bus-request.h"
#include "lib/util.h"
#include "policies/readiness.h"
#include "tests/fuzz/fuzz-util.h"

struct recipe {
        const uint8_t *p;
        size_t n;
};

static uint8_t take(struct recipe *in) {
        if (in->n == 0)
                return 0;
        in->n--;
        return *in->p++;
}

static uint64_t take_u64(struct recipe *in) {
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | take(in);
        return v;
}

/* A string value: often a token the parsers know, else up to 63 bytes of the input made 7-bit
 * (sd-bus refuses invalid UTF-8 and NUL at append, before any reader sees it). */
static const char *take_str(struct recipe *in, char *buf, size_t size) {
        static const char *const pool[] = {
                "kvm",
                "hugepages=2G",
                "hugepages=50%",
                "hugepages=1G:1G",
                "snapshots=4",
                "taps=8",
                "rng",
                "nix",
                "hugepages=",
                "base",
                "..",
                ".hidden",
                "kvm,tun,taps=2",
                "hugepages=0",
                "",
        };
        uint8_t c = take(in);
        size_t l;

        if (c < 2 * ELEMENTSOF(pool))
                return pool[c % ELEMENTSOF(pool)];
        l = take(in) % size;
        for (size_t i = 0; i < l; i++) {
                uint8_t b = take(in) & 0x7f;
                buf[i] = (char) (b ? b : '0');
        }
        buf[l] = 0;
        return buf;
}

static const char *const known_keys[] = {
        "require",  "hugepages", "hugepage-size", "snapshots", "taps",    "use-policy",
        "snapshot", "label",     "wait",          "persist",   "unknown",
};

/* Append one variant of a type the recipe picks. Returns the sd-bus result. */
static int append_value(sd_bus_message *m, struct recipe *in, unsigned depth) {
        char buf[64];

        switch (take(in) % 9) {
        case 0:
                return sd_bus_message_append(m, "v", "s", take_str(in, buf, sizeof(buf)));
        case 1:
                return sd_bus_message_append(m, "v", "t", take_u64(in));
        case 2:
                return sd_bus_message_append(m, "v", "u", (uint32_t) take_u64(in));
        case 3:
                return sd_bus_message_append(m, "v", "b", take(in) & 1);
        case 4: {
                char b1[64], b2[64];
                const char *s1 = take_str(in, b1, sizeof(b1)), *s2 = take_str(in, b2, sizeof(b2));
                return sd_bus_message_append(m, "v", "as", 2, s1, s2);
        }
        case 5:
                return sd_bus_message_append(m, "v", "i", (int32_t) take_u64(in));
        case 6:
                return sd_bus_message_append(m, "v", "as", 0);
        case 7: {
                /* A nested a{sv}: a container where a plain value is expected. */
                int r = sd_bus_message_open_container(m, 'v', "a{sv}");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{sv}");
                if (r >= 0 && depth < 2 && (take(in) & 1)) {
                        r = sd_bus_message_open_container(m, 'e', "sv");
                        if (r >= 0)
                                r = sd_bus_message_append(m, "s", "hugepages");
                        if (r >= 0)
                                r = append_value(m, in, depth + 1);
                        if (r >= 0)
                                r = sd_bus_message_close_container(m);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                return r;
        }
        default:
                return sd_bus_message_append(m, "v", "(st)", take_str(in, buf, sizeof(buf)),
                                             take_u64(in));
        }
}

/* A bus object that can make messages: sd-bus wants one that was started, not a connected
 * one, so its end of a socket pair (the other end just stays open) does. */
static sd_bus *fuzz_bus(void) {
        static sd_bus *bus;
        static int fds[2];

        if (bus)
                return bus;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0 || sd_bus_new(&bus) < 0 ||
            sd_bus_set_fd(bus, fds[0], fds[0]) < 0 || sd_bus_start(bus) < 0)
                abort();
        return bus;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct requirements policy;
        static bool policy_set;
        struct recipe in = { data, size };
        sd_bus_message *m = NULL;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        struct lease_request_values v;
        struct requirements req;
        bool use_policy;
        char key[64];
        unsigned n;
        int r;

        if (!policy_set) {
                char e[128];
                if (requirements_parse("kvm,hugepages=2G,taps=4", UINT64_C(16) << 30, &policy, e,
                                       sizeof(e)) < 0)
                        abort();
                policy_set = true;
        }
        if (sd_bus_message_new_method_call(fuzz_bus(), &m, "org.hosttune.Agent1",
                                           "/org/hosttune/Agent1", "org.hosttune.Agent1",
                                           "Check") < 0)
                abort();
        r = sd_bus_message_open_container(m, 'a', "{sv}");
        n = take(&in) % 12;
        for (unsigned i = 0; r >= 0 && i < n; i++) {
                uint8_t k = take(&in);
                const char *name = k < 4 * ELEMENTSOF(known_keys)
                                           ? known_keys[k % ELEMENTSOF(known_keys)]
                                           : take_str(&in, key, sizeof(key));
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", name);
                if (r >= 0)
                        r = append_value(m, &in, 0);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_seal(m, 1, 0);
        if (r < 0)
                goto out; /* a recipe sd-bus itself refuses to build */

        /* Check, with and without a policy list and with a machine size that makes percentages
         * of nothing. */
        for (int pass = 0; pass < 2; pass++) {
                if (sd_bus_message_rewind(m, true) < 0)
                        abort();
                r = agent_bus_read_check(m, pass ? 0 : UINT64_C(64) << 30, &policy, &req,
                                         &use_policy, &err);
                if (r >= 0 && req.n > REQUIREMENTS_MAX)
                        abort();
                if (r < 0 && sd_bus_error_is_set(&err) && !err.message)
                        abort();
                sd_bus_error_free(&err);
        }

        if (sd_bus_message_rewind(m, true) < 0)
                abort();
        r = agent_bus_read_lease_request(m, &v, &err);
        if (r >= 0) {
                if (v.seen >= 1U << _LEASE_KEY_MAX)
                        abort();
                if ((lease_request_given(&v, LEASE_KEY_SNAPSHOT) && !v.snapshot) ||
                    (lease_request_given(&v, LEASE_KEY_LABEL) && !v.label))
                        abort();
        } else if (sd_bus_error_is_set(&err) && !err.message)
                abort();
        sd_bus_error_free(&err);
out:
        sd_bus_message_unref(m);
        return 0;
}
