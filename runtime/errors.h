/* SPDX-License-Identifier: MIT */
/* Every D-Bus error name hosttuned answers with besides sd-bus's own (SD_BUS_ERROR_*), in one
 * place: the contract between the agent and its clients (docs/dbus-api.md, "Errors";
 * docs/leases.md for the lease.sock refusals, which carry the same names), spelled once for
 * both: hosttuned (agent/) answers with them, hosttune and hosttune-bus (cli/) match them. Here
 * in runtime/, the layer below both, as a header without sd-bus. */
#pragma once

#include <string.h>

/* Reload of a policy that does not validate; the message is "FILE:LINE: KEY: MESSAGE". */
#define AGENT_ERROR_INVALID_POLICY "org.hosttune.Error.InvalidPolicy"
/* The agent cannot do it now: it stops, leases are out (Revert), no snapshot root, ... */
#define AGENT_ERROR_NOT_READY "org.hosttune.Error.NotReady"
#define AGENT_ERROR_INSUFFICIENT_HUGEPAGES "org.hosttune.Error.InsufficientHugePages"
#define AGENT_ERROR_INSUFFICIENT_TAPS "org.hosttune.Error.InsufficientTaps"
#define AGENT_ERROR_NO_SUCH_LEASE "org.hosttune.Error.NoSuchLease"
/* A changing call from a caller that is neither root nor in the policy's lease group. */
#define AGENT_ERROR_ACCESS_DENIED "org.hosttune.Error.AccessDenied"
/* A per-uid cap of the policy ([agent] max-leases-per-uid, max-waiting-per-uid), named in the
 * message. */
#define AGENT_ERROR_LIMIT_EXCEEDED "org.hosttune.Error.LimitExceeded"
/* More hugepages than the pool may ever hold: asking again will not help. */
#define AGENT_ERROR_EXCEEDS_POOL "org.hosttune.Error.ExceedsPool"
/* lease.sock: no complete request line within the connection's time limit. */
#define AGENT_ERROR_TIMEOUT "org.hosttune.Error.Timeout"

/* The reason a lease.sock refusal carries for the error name: its last component ("refused
 * ExceedsPool ..." for AGENT_ERROR_EXCEEDS_POOL, "InvalidArgs" for SD_BUS_ERROR_INVALID_ARGS).
 * The agent writes it and the CLI compares with it through this one function. */
static inline const char *agent_error_reason(const char *name) {
        const char *dot = strrchr(name, '.');

        return dot ? dot + 1 : name;
}
