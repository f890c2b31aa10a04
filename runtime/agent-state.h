/* SPDX-License-Identifier: MIT */
/* The agent's published live state (<runtime dir>/agent.state): the policy in force, its
 * readiness requirements, probe targets and what leases hold. hosttuned writes it; `hosttune
 * check` reads it instead of asking over D-Bus, which keeps check near the cost of /bin/true.
 * Format and liveness rule: docs/agent-state.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "policies/readiness.h"
#include "probes/kvm-smoke.h"

#define AGENT_STATE_SCHEMA "hosttune.agent-state/1"
#define AGENT_STATE_FILE "agent.state"
#define AGENT_STATE_TEXT_MAX 16384
/* The policy in force as one INI file (no includes), in the runtime directory: what `check`
 * judges by when the policy's files changed on disk since the agent loaded them. */
#define AGENT_POLICY_COPY_FILE "policy-in-force.ini"
#define AGENT_STATE_POLICY_FILES_MAX 16

/* A policy file as the agent found it when it loaded the policy in force. */
struct policy_file_stamp {
        uint64_t ino, size, mtime_nsec;
        char path[256];
};

struct agent_state {
        pid_t pid;
        uint64_t generation;
        bool ready;
        char policy_name[64];
        char policy_path[256];
        char require[1024]; /* canonical requirement list, "kvm,rng,hugepages=2G" */
        char snapshot_root[256];
        char tap_prefix[16];
        char bridge[16];
        char nix_conf[256];
        struct lease_usage leases;
        /* The files the policy in force was read from (main file and includes; none for a
         * built-in profile), and why the agent refused those files since ("" = it did not). */
        char policy_files[1024]; /* "INO:SIZE:MTIME_NSEC:PATH\n" per file: compact, since
                                  * `check` pays a page fault for every page it touches */
        char policy_refused[400];
        /* The agent's last KVM smoke verdicts; kvm_smoke.root.tried is false when it has none
         * (no /dev/kvm, or an agent that predates them). */
        struct kvm_smoke_verdict kvm_smoke;
        /* Why hugepage leases are bookkeeping only (no cgroup v2 hugetlb); "" when the agent
         * enforces them, or predates the key. */
        char leases_unenforced[256];
        /* Where the lease cgroups are when it enforces them ("" otherwise). */
        char lease_cgroups[256];
};

/* Append a file's stamp to s->policy_files; -ENOBUFS when it does not fit (nothing added). */
int agent_state_add_policy_file(struct agent_state *s, const struct policy_file_stamp *st);

/* Stamp of the file at path now (stat, following symlinks as the loader does). */
int policy_file_stamp_read(const char *path, struct policy_file_stamp *ret);

/* Is any of the files the agent loaded its policy from different now (changed, replaced,
 * gone)? One stat per file, nothing parsed: `check` stays near-free when nothing changed. */
bool agent_state_policy_changed(const struct agent_state *s);

/* Format s as the state file's text into buf. -EINVAL when a value holds a newline (it could
 * forge a line), -ENOBUFS when buf is too small. */
int agent_state_format(const struct agent_state *s, char *buf, size_t size);

/* Parse state file text. Unknown keys are ignored (a newer agent may add some); a wrong schema
 * line or a malformed known value is -EBADMSG. */
int agent_state_parse(const char *text, struct agent_state *ret);

/* Read the state of a live agent from <runtime_dir>/agent.state. The agent holds an open file
 * description lock (F_OFD_SETLK, write) on the file it wrote last and replaces the file by
 * rename, so the file is current exactly while that lock is held: one open, one fcntl, one read.
 * ret is zeroed storage (static, or = { 0 }), parsed into in place: written even when the
 * result is -EBADMSG, so used only on success and read into once.
 * Returns 0, -ENOENT when there is no state file, -ESRCH when no agent holds it (stopped or
 * crashed), -EBADMSG when it cannot be parsed, or another negative errno. */
int agent_state_read_live(const char *runtime_dir, struct agent_state *ret);

/* What to hand policy_load() to load the agent's policy again: its main file, or the profile
 * name of "<builtin:NAME>". -ENOENT when the state names none. */
int agent_state_policy_source(const struct agent_state *s, char *buf, size_t size);

/* Convert the published probe targets into probe_targets (pointers into s; "" = default). */
struct probe_targets agent_state_probe_targets(const struct agent_state *s);
