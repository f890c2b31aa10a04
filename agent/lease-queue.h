/* SPDX-License-Identifier: MIT */
/* The queue of lease requests (agent/lease-queue.c). */
#pragma once

#include <sys/types.h>

#include <systemd/sd-bus.h>

struct lease;
struct lease_client;
struct lease_manager;
struct lease_request;

/* May uid ask for one more lease? < 0 with error set (LimitExceeded, naming the policy key)
 * when it holds [agent] max-leases-per-uid leases or has max-waiting-per-uid requests waiting. */
int lease_manager_check_caps(struct lease_manager *m, uid_t uid, sd_bus_error *error);

/* Queue a request (takes it) and serve what can be served. */
int lease_manager_enqueue(struct lease_manager *m, struct lease_request *req);

/* Look at the queue again: capacity came back, a job ended, the policy changed. */
void lease_manager_run_queue(struct lease_manager *m);

/* Free a request that is not (or no longer) in the queue, with its timer and references. */
void lease_request_free(struct lease_request *req);

/* Answer a request with an error (D-Bus error name and message) and drop it from the queue. */
void lease_request_fail(struct lease_manager *m, struct lease_request *req, const char *name,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Take req out of the queue (not freed). */
void lease_queue_remove(struct lease_manager *m, struct lease_request *req);
