/* SPDX-License-Identifier: MIT */
/* Unit tests for probes/report-json.c: the keys and types docs/json-schema.md promises, over
 * fixture reports, after a round trip through JSON text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "lib/util.h"
#include "probes/report-json.h"
#include "tests/unit/fixture-util.h"

/* Serialise and parse again: what a consumer sees. */
static json_object *round_trip(json_object *o) {
        json_object *back = json_tokener_parse(json_object_to_json_string(o));
        assert_non_null(back);
        json_object_put(o);
        return back;
}

static json_object *get(json_object *o, const char *key) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v))
                fail_msg("missing key '%s' in %s", key, json_object_to_json_string(o));
        return v;
}

static json_object *probe_of(json_object *probes, const char *id) {
        for (size_t i = 0; i < json_object_array_length(probes); i++) {
                json_object *p = json_object_array_get_idx(probes, i);
                if (streq(json_object_get_string(get(p, "id")), id))
                        return p;
        }
        fail_msg("no probe '%s'", id);
        return NULL;
}

static void assert_type(json_object *o, const char *key, json_type t) {
        json_object *v = get(o, key);
        if (!json_object_is_type(v, t))
                fail_msg("'%s' is %s, expected %s", key, json_type_to_name(json_object_get_type(v)),
                         json_type_to_name(t));
}

static void test_result_envelope(void **state) {
        struct host_report *r = run_fixture("fc-vm-amd", true);
        json_object *a = round_trip(report_probes_to_json(r));
        static const char *const order[] = { "cpu",         "kvm",    "memory", "hugetlb",
                                             "zram",        "btrfs",  "rng",    "net",
                                             "userfaultfd", "userns", "nix" };
        (void) state;

        /* Every probe in enum order, each with exactly these keys. */
        assert_int_equal(json_object_array_length(a), _PROBE_MAX);
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                json_object *p = json_object_array_get_idx(a, i);
                assert_string_equal(json_object_get_string(get(p, "id")), order[i]);
                assert_type(p, "status", json_type_string);
                assert_type(p, "reason", json_type_string);
                assert_type(p, "remedy", json_type_string);
                assert_type(p, "facts", json_type_object);
                assert_int_equal(json_object_object_length(p), 6);
        }
        /* error is null unless the probe could not read something. */
        assert_true(json_object_is_type(get(probe_of(a, "kvm"), "error"), json_type_null));
        assert_string_equal(json_object_get_string(get(probe_of(a, "kvm"), "status")), "absent");
        json_object_put(a);
        free(r);
}

static void test_facts_values(void **state) {
        struct host_report *r = run_fixture("kvm-intel-usable", true);
        json_object *a = round_trip(report_probes_to_json(r)), *f, *dev;
        (void) state;

        /* kvm: /dev/kvm c 10 232 0666 gid 993; mode as a 4-digit octal string. */
        f = get(probe_of(a, "kvm"), "facts");
        dev = get(f, "device");
        assert_true(json_object_get_boolean(get(dev, "exists")));
        assert_string_equal(json_object_get_string(get(dev, "type")), "char");
        assert_int_equal(json_object_get_int(get(dev, "major")), 10);
        assert_int_equal(json_object_get_int(get(dev, "minor")), 232);
        assert_string_equal(json_object_get_string(get(dev, "mode")), "0666");
        assert_int_equal(json_object_get_int(get(dev, "gid")), 993);
        assert_false(json_object_get_boolean(get(dev, "acl")));
        assert_int_equal(json_object_get_int(get(f, "api_version")), 12);
        assert_true(json_object_get_boolean(get(f, "nested")));
        assert_int_equal(json_object_get_int(get(get(f, "capabilities"), "NR_MEMSLOTS")), 32764);
        assert_int_equal(json_object_array_length(get(f, "missing_for_firecracker")), 0);
        assert_true(json_object_is_type(get(f, "open_error"), json_type_null));
        /* memory: bytes, not kB (MemTotal 24683620 kB). */
        f = get(probe_of(a, "memory"), "facts");
        assert_true(json_object_get_uint64(get(f, "mem_total_bytes")) == 24683620ULL * 1024);
        /* rng available is an array of words ("virtio_rng.0 none"). */
        f = get(probe_of(a, "rng"), "facts");
        assert_int_equal(json_object_array_length(get(f, "available")), 2);
        assert_true(json_object_get_boolean(get(f, "crng_ready")));
        json_object_put(a);
        free(r);

        /* Missing capabilities are listed by name (IRQCHIP, XSAVE). */
        r = run_fixture("kvm-missing-caps", true);
        a = round_trip(report_probes_to_json(r));
        f = get(probe_of(a, "kvm"), "facts");
        assert_int_equal(json_object_array_length(get(f, "missing_for_firecracker")), 2);
        assert_string_equal(json_object_get_string(json_object_array_get_idx(
                                    get(f, "missing_for_firecracker"), 0)),
                            "IRQCHIP");
        json_object_put(a);
        free(r);
}

static void test_unknown_is_null(void **state) {
        struct host_report *r = run_fixture("missing", true);
        json_object *a = round_trip(report_probes_to_json(r)), *f;
        (void) state;

        /* Unknown values are null, never -1. */
        f = get(probe_of(a, "rng"), "facts");
        assert_true(json_object_is_type(get(f, "crng_ready"), json_type_null));
        assert_false(json_object_get_boolean(get(get(f, "hwrng"), "exists")));
        /* A device that does not exist has only "exists". */
        assert_int_equal(json_object_object_length(get(f, "hwrng")), 1);
        f = get(probe_of(a, "userns"), "facts");
        assert_true(json_object_is_type(get(f, "max_user_namespaces"), json_type_null));
        f = get(probe_of(a, "cpu"), "facts");
        assert_true(json_object_is_type(get(f, "smt_active"), json_type_null));
        /* error names the errno when a probe could not read. */
        assert_string_equal(json_object_get_string(get(probe_of(a, "memory"), "error")),
                            "No such file or directory");
        json_object_put(a);
        free(r);

        /* Gigantic pages: obtainable_now null (unknown), the 2M pool a number. */
        r = run_fixture("hugepages-1g", true);
        a = round_trip(report_probes_to_json(r));
        f = get(get(probe_of(a, "hugetlb"), "facts"), "pools");
        assert_int_equal(json_object_array_length(f), 2);
        assert_true(json_object_is_type(get(json_object_array_get_idx(f, 0), "obtainable_now"),
                                        json_type_int));
        assert_true(json_object_is_type(get(json_object_array_get_idx(f, 1), "obtainable_now"),
                                        json_type_null));
        assert_int_equal(json_object_get_int(get(json_object_array_get_idx(f, 1), "available")), 2);
        f = json_object_array_get_idx(get(get(probe_of(a, "hugetlb"), "facts"), "mounts"), 0);
        assert_string_equal(json_object_get_string(get(f, "mode")), "1770");
        assert_int_equal(json_object_get_int(get(f, "gid")), 3000);
        json_object_put(a);
        free(r);
}

static void test_only_probed(void **state) {
        struct host_report *r = calloc(1, sizeof(*r));
        json_object *a;
        (void) state;

        assert_non_null(r);
        r->probed[PROBE_RNG] = r->probed[PROBE_NIX] = true;
        r->rng.crng_ready = -1;
        a = round_trip(report_probes_to_json(r));
        assert_int_equal(json_object_array_length(a), 2);
        assert_string_equal(json_object_get_string(get(json_object_array_get_idx(a, 0), "id")),
                            "rng");
        json_object_put(a);
        /* Strings with quotes and control characters stay valid JSON. */
        strscpy(r->results[PROBE_RNG].reason, REASON_MAX, "a \"quoted\"\ttab\\");
        a = round_trip(probe_result_to_json(r, PROBE_RNG));
        assert_string_equal(json_object_get_string(get(a, "reason")), "a \"quoted\"\ttab\\");
        json_object_put(a);
        free(r);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_result_envelope),
                cmocka_unit_test(test_facts_values),
                cmocka_unit_test(test_unknown_is_null),
                cmocka_unit_test(test_only_probed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
