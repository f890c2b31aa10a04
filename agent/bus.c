/* SPDX-License-Identifier: MIT */
/* The D-Bus object org.hosttune.Agent1 (docs/dbus-api.md): one vtable, its method handlers,
 * signals and the access check every state-changing method makes. */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/agent.h"
#include "agent/lease-bus.h"
#include "agent/log.h"
#include "lib/util.h"
#include "policies/readiness-json.h"

/* ---- access ---- */

int agent_bus_sender_creds(sd_bus_message *m, sd_bus_creds **ret) {
        /* The bus daemon vouches for the uid (SO_PEERCRED at connect time, which is the
         * effective uid), the pid and, with dbus-daemon >= 1.12, the groups. One query: each
         * costs a round trip to the bus daemon. */
        return sd_bus_query_sender_creds(
                m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS | SD_BUS_CREDS_PID, ret);
}

int agent_bus_check_privileged_creds(struct agent *a, sd_bus_message *m, sd_bus_creds *creds,
                                     sd_bus_error *error) {
        const gid_t *gids = NULL;
        uid_t uid;
        gid_t gid;
        int r, n;

        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (uid == 0)
                return 1;
        if (a->in_force.lease_group.set) {
                _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *more = NULL;

                n = sd_bus_creds_get_supplementary_gids(creds, &gids);
                for (int i = 0; i < n; i++)
                        if (gids[i] == a->in_force.lease_group.gid)
                                return 1;
                /* What the bus daemon did not say (the effective gid, and the groups when it
                 * is older than 1.12): AUGMENT reads /proc, only for callers that are neither
                 * root nor already known members. */
                if (sd_bus_query_sender_creds(m,
                                              SD_BUS_CREDS_EGID | SD_BUS_CREDS_SUPPLEMENTARY_GIDS |
                                                      SD_BUS_CREDS_AUGMENT,
                                              &more) >= 0) {
                        if (sd_bus_creds_get_egid(more, &gid) >= 0 &&
                            gid == a->in_force.lease_group.gid)
                                return 1;
                        n = sd_bus_creds_get_supplementary_gids(more, &gids);
                        for (int i = 0; i < n; i++)
                                if (gids[i] == a->in_force.lease_group.gid)
                                        return 1;
                }
        }
        sd_bus_error_setf(error, AGENT_ERROR_ACCESS_DENIED, "%s needs root%s%s%s (caller uid %u)",
                          sd_bus_message_get_member(m),
                          a->in_force.lease_group.set ? " or membership in group '" : "",
                          a->in_force.lease_group.set ? a->in_force.policy->lease_group : "",
                          a->in_force.lease_group.set ? "'" : "", (unsigned) uid);
        return 0;
}

int agent_bus_check_privileged(struct agent *a, sd_bus_message *m, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        int r = agent_bus_sender_creds(m, &creds);

        return r < 0 ? r : agent_bus_check_privileged_creds(a, m, creds, error);
}

int agent_bus_require_privileged(struct agent *a, sd_bus_message *m, sd_bus_error *error) {
        int r = agent_bus_check_privileged(a, m, error);

        if (r < 0)
                return r;
        return r == 0 ? -EACCES : 0;
}

/* ---- Check(a{sv}) ---- */

/* The a{sv} of Check: agent/bus-request.c reads it (the fuzzer calls it there). */
static int read_check_request(struct agent *a, sd_bus_message *m, struct requirements *ret,
                              bool *ret_use_policy, sd_bus_error *error) {
        return agent_bus_read_check(m, a->verdict.as.report->memory.mem_total_kib * 1024,
                                    &a->in_force.require, ret, ret_use_policy, error);
}

/* The caller of the message being handled as a viewer; one that cannot be identified sees
 * what an unprivileged user with no groups would (fail closed). */
static void current_viewer(struct agent *a, sd_bus_message *m, struct agent_viewer *ret) {
        if (!m || agent_viewer_get(a, m, ret) < 0)
                *ret = (struct agent_viewer){ .id = { .uid = (uid_t) 65534 } };
}

/* Fields every JSON document of the agent carries. */
static void add_agent_fields(struct agent *a, json_object *doc) {
        json_object *ag = json_object_new_object();

        json_object_object_add(ag, "generation", json_object_new_uint64(a->props.generation));
        json_object_object_add(ag, "policy_name", json_object_new_string(a->props.policy_name));
        json_object_object_add(ag, "policy_path", json_object_new_string(a->props.policy_path));
        json_object_object_add(ag, "last_error", json_object_new_string(a->props.last_error));
        json_object_object_add(ag, "hugepages_total",
                               json_object_new_uint64(a->props.hugepages_total));
        json_object_object_add(ag, "hugepages_leased",
                               json_object_new_uint64(a->props.hugepages_leased));
        agent_add_unleased(a, ag);
        json_object_object_add(doc, "agent", ag);
}

static int reply_json(sd_bus_message *m, json_object *doc, const char *prefix_sig, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
        int r;

        if (!text)
                return -ENOMEM;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        if (prefix_sig) {
                va_list ap;
                va_start(ap, prefix_sig);
                r = sd_bus_message_appendv(reply, prefix_sig, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_append(reply, "s", text);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_check(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct agent *a = userdata;
        struct requirements req = { 0 };
        /* As many results as requirements (each ~700 bytes; REQUIREMENTS_MAX of them on the
         * stack would deepen the stack every probe below runs on by 22 KiB). */
        _cleanup_free_ struct requirement_result *results = NULL;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        _cleanup_free_ struct host_report *report = NULL;
        struct assessment as;
        struct agent_viewer viewer;
        bool use_policy = true, ready;
        int r;

        r = read_check_request(a, m, &req, &use_policy, error);
        if (r < 0)
                return r;
        report = calloc(1, sizeof(*report)); /* zeroed, as agent_check() wants */
        results = calloc(req.n > 0 ? req.n : 1, sizeof(*results));
        if (!report || !results)
                return -ENOMEM; /* NOLINT(clang-analyzer-unix.Malloc): both are _cleanup_free_ */
        r = agent_check(a, &req, use_policy, report, results, &as);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "probing failed: %s", strerror(-r));
        doc = check_document_to_json(report, results, as.n_results, as.n_failed,
                                     use_policy ? a->in_force.policy : NULL,
                                     use_policy ? &as.plan : NULL, "agent", "/");
        ready = as.ready;
        assessment_done(&as);
        if (!doc)
                return -ENOMEM;
        add_agent_fields(a, doc);
        current_viewer(a, m, &viewer);
        agent_viewer_redact_report(&viewer, a, doc);
        return reply_json(m, doc, "b", ready);
}

static int method_get_report(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct agent *a = userdata;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        struct agent_viewer viewer;
        int r;

        (void) error;
        /* A report is only worth having when it is current: probing all costs about a
         * millisecond. This also refreshes readiness and the outputs. */
        r = agent_reprobe_full(a, "GetReport", true);
        if (r < 0)
                return r;
        doc = check_document_to_json(a->verdict.as.report, a->verdict.results,
                                     a->in_force.require.n, a->verdict.as.n_failed,
                                     a->in_force.policy, &a->verdict.as.plan, "agent", "/");
        if (!doc)
                return -ENOMEM;
        add_agent_fields(a, doc);
        json_object_object_add(doc, "reason", json_object_new_string(a->verdict.reason));
        json_object_object_add(doc, "last_apply", agent_apply_last_json(a));
        current_viewer(a, m, &viewer);
        agent_viewer_redact_report(&viewer, a, doc);
        return reply_json(m, doc, NULL);
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct agent *a = userdata;
        int r;

        r = agent_bus_require_privileged(a, m, error);
        if (r < 0)
                return r;
        if (a->stopping)
                return sd_bus_error_set(error, AGENT_ERROR_NOT_READY, "hosttuned is stopping");
        r = agent_reload(a, m);
        if (r < 0)
                return r;
        /* Answered by the reload: InvalidPolicy, or the generation once its apply ended. */
        return 1;
}

static int method_apply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct agent *a = userdata;
        _cleanup_(json_object_putp) json_object *doc = NULL;
        int dry_run, r;

        r = sd_bus_message_read(m, "b", &dry_run);
        if (r < 0)
                return r;
        r = agent_bus_require_privileged(a, m, error);
        if (r < 0)
                return r;
        if (dry_run) {
                r = agent_plan_json(a, &doc);
                if (r < 0)
                        return sd_bus_error_set_errnof(error, -r, "planning failed: %s",
                                                       strerror(-r));
                return reply_json(m, doc, NULL);
        }
        if (a->stopping)
                return sd_bus_error_set(error, AGENT_ERROR_NOT_READY, "hosttuned is stopping");
        r = agent_apply_submit(a, APPLY_CAUSE_METHOD, m);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "apply failed: %s", strerror(-r));
        return 1; /* answered when its job ended */
}

static int method_revert(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct agent *a = userdata;
        int r;

        r = agent_bus_require_privileged(a, m, error);
        if (r < 0)
                return r;
        if (a->stopping)
                return sd_bus_error_set(error, AGENT_ERROR_NOT_READY, "hosttuned is stopping");
        /* A revert gives the pool, the taps and the snapshot root back to what they were before
         * hosttune: leases hold parts of them. */
        if (agent_leases_count(a) > 0)
                return sd_bus_error_setf(error, AGENT_ERROR_NOT_READY,
                                         "%u lease%s hold%s hugepages, taps or snapshot "
                                         "directories; revert once they are released",
                                         agent_leases_count(a),
                                         agent_leases_count(a) == 1 ? "" : "s",
                                         agent_leases_count(a) == 1 ? "s" : "");
        r = agent_revert_submit(a, m);
        if (r < 0)
                return sd_bus_error_set_errnof(error, -r, "revert failed: %s", strerror(-r));
        return 1; /* answered when its job ended */
}

static int property_get_last_error(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        struct agent *a = userdata;
        struct agent_viewer v;
        char buf[1024];

        (void) path;
        (void) interface;
        (void) property;
        (void) error;
        current_viewer(a, sd_bus_get_current_message(bus), &v);
        agent_viewer_redact_text(&v, a->props.last_error ? a->props.last_error : "", true, true,
                                 buf, sizeof(buf));
        return sd_bus_message_append(reply, "s", buf);
}

static const sd_bus_vtable agent_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Ready", "b", NULL, offsetof(struct agent, props.ready),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PolicyName", "s", NULL, offsetof(struct agent, props.policy_name),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PolicyPath", "s", NULL, offsetof(struct agent, props.policy_path),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Generation", "t", NULL, offsetof(struct agent, props.generation),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* Its value depends on who asks: the change signal, which everyone may receive,
         * carries no value. */
        SD_BUS_PROPERTY("LastError", "s", property_get_last_error, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_PROPERTY("HugePagesTotal", "t", NULL, offsetof(struct agent, props.hugepages_total),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("HugePagesLeased", "t", NULL,
                        offsetof(struct agent, props.hugepages_leased),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* Every method is callable by anyone as far as sd-bus is concerned (its default
         * would demand CAP_SYS_ADMIN); the bus policy file and require_privileged() decide. */
        SD_BUS_METHOD_WITH_ARGS("Check", SD_BUS_ARGS("a{sv}", requirements),
                                SD_BUS_RESULT("b", ready, "s", report_json), method_check,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetReport", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", report_json),
                                method_get_report, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_RESULT("t", generation),
                                method_reload, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Apply", SD_BUS_ARGS("b", dry_run), SD_BUS_RESULT("s", plan_json),
                                method_apply, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Revert", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_revert,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        /* Leases: agent/lease-bus.c, docs/leases.md. */
        SD_BUS_METHOD_WITH_ARGS("AcquireLease", SD_BUS_ARGS("a{sv}", request),
                                SD_BUS_RESULT("s", id, "a{sv}", grant), agent_method_acquire_lease,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ReleaseLease", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT,
                                agent_method_release_lease, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListLeases", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssa{sv})", leases),
                                agent_method_list_leases, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("ReadinessChanged", SD_BUS_ARGS("b", ready, "s", reason), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PolicyReloaded", SD_BUS_ARGS("t", generation, "s", name), 0),
        SD_BUS_VTABLE_END,
};

int agent_bus_register(struct agent *a) {
        return sd_bus_add_object_vtable(a->bus, NULL, AGENT_OBJECT_PATH, AGENT_INTERFACE,
                                        agent_vtable, a);
}

void agent_bus_properties_changed_strv(struct agent *a, const char *const *names) {
        int r;

        if (!a->bus)
                return;
        r = sd_bus_emit_properties_changed_strv(a->bus, AGENT_OBJECT_PATH, AGENT_INTERFACE,
                                                (char **) names);
        if (r < 0)
                log_warning("cannot emit PropertiesChanged: %s", strerror(-r));
}

void agent_bus_emit_readiness_changed(struct agent *a) {
        int r;

        if (!a->bus)
                return;
        r = sd_bus_emit_signal(a->bus, AGENT_OBJECT_PATH, AGENT_INTERFACE, "ReadinessChanged", "bs",
                               a->props.ready, a->verdict.reason);
        if (r < 0)
                log_warning("cannot emit ReadinessChanged: %s", strerror(-r));
}

void agent_bus_emit_policy_reloaded(struct agent *a) {
        int r;

        if (!a->bus)
                return;
        r = sd_bus_emit_signal(a->bus, AGENT_OBJECT_PATH, AGENT_INTERFACE, "PolicyReloaded", "ts",
                               a->props.generation, a->props.policy_name);
        if (r < 0)
                log_warning("cannot emit PolicyReloaded: %s", strerror(-r));
}
