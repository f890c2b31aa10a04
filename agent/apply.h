/* SPDX-License-Identifier: MIT */
/* The agent's applies, reloads and reverts: jobs on its work queue (agent/queue.h), answered
 * when they ended (agent/apply.c). */
#pragma once

#include <stdbool.h>

#include <json-c/json.h>
#include <systemd/sd-bus.h>

struct agent;

/* What asked for an apply; decides how its end is reported. */
enum apply_cause {
        APPLY_CAUSE_START,  /* first apply: READY=1 when it ends */
        APPLY_CAUSE_RELOAD, /* after a reload: READY=1 and the Reload replies */
        APPLY_CAUSE_METHOD, /* Apply(false): the method reply */
        APPLY_CAUSE_DRIFT,  /* reapply-on-drift */
};

/* Queue an apply of the policy in force. When its turn comes it re-probes and plans (the plan is
 * about the host as it is then), runs the plan with the journal, and reports by cause: START
 * sends READY=1 (or stops the agent when it could not apply), METHOD answers reply_to (the
 * Apply(false) call) with the hosttune.apply/1 document, DRIFT logs. A DRIFT apply is not
 * queued while another apply is under way or waiting. Returns 0, or -ENOMEM. */
int agent_apply_submit(struct agent *a, enum apply_cause cause, sd_bus_message *reply_to);

/* Reload the policy: when the turn of the reload job comes, load and validate the file the
 * options name and, when valid, switch to it and apply it (agent_policy_reload). On an invalid
 * policy nothing changes except LastError. reply_to (a Reload() call, or NULL for SIGHUP) is
 * answered by that reload: with the new generation once its apply ended, or with
 * org.hosttune.Error.InvalidPolicy and "file:line: key: message". A reload that waits for its
 * turn serves every Reload() that arrives meanwhile. Returns 0, or a negative errno when
 * reply_to could not be taken on (the caller answers it then). */
int agent_reload(struct agent *a, sd_bus_message *reply_to);

/* Queue a revert of everything the journal holds; reply_to (a Revert() call, or NULL for
 * revert-on-stop, which logs a failure) is answered when it ended, after a re-probe. Returns 0,
 * or -ENOMEM. */
int agent_revert_submit(struct agent *a, sd_bus_message *reply_to);

/* Is an apply job under way (its plan may change the taps leases would take)? */
bool agent_apply_running(const struct agent *a);

/* Is an apply job under way or waiting for its turn? */
bool agent_apply_queued(const struct agent *a);

/* The plan for the current policy against a fresh probe, as JSON (Apply(true)). */
int agent_plan_json(struct agent *a, json_object **ret);

/* The last apply's steps and outcomes as JSON (null before the first one). */
json_object *agent_apply_last_json(struct agent *a);

/* Free the last apply's record. */
void agent_apply_done(struct agent *a);
