/* SPDX-License-Identifier: MIT */
/* hosttuned's side of check.facts (runtime/check-facts.h): probing as `hosttune check` probes,
 * publishing the facts, and refreshing them when what they rest on changes (mount table, link
 * events, /dev, nix.conf's directory) besides the re-probe timer. docs/check-facts.md. */
#pragma once

struct agent;

/* Open the watches (each one that cannot be opened is logged and left out: check then finds
 * the facts stale or falls back, never wrong). 0 or a negative errno (out of memory). */
int agent_facts_start(struct agent *a);

/* Close the watches and remove check.facts (a stopped agent's facts are no one's). */
void agent_facts_stop(struct agent *a);

/* The agent wrote its outputs: when it probed again or the policy changed since the facts
 * were made, make them again once the event loop is idle. */
void agent_facts_outputs_written(struct agent *a);

/* A reload switched the policy: watch the directory of the nix.conf it names too (the file's
 * stamp in check.facts catches a change there meanwhile). */
void agent_facts_policy_changed(struct agent *a);
