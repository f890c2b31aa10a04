/* SPDX-License-Identifier: MIT */
/* Provisioning a lease, the ends of the lease jobs, the refill of the prepared set
 * (agent/lease-provision.c). */
#pragma once

struct lease_job;
struct lease_manager;
struct lease_request;
struct lease_tap;

/* What looking at a request did. */
enum serve {
        SERVE_WAIT,    /* capacity is missing: it waits (or fails when it may not) */
        SERVE_GROWING, /* the pool grows for it */
        SERVE_STARTED, /* provisioning started (and maybe ended) */
        SERVE_FAILED,  /* answered with an error */
        SERVE_AGAIN,   /* a tap was busy: choose again */
};

/* Refill the prepared set in the background once leases took from it. */
void lease_maybe_refill(struct lease_manager *m);
/* Make a lease for req with taps (chosen already) and grant it, or start what it waits for. */
enum serve lease_provision(struct lease_manager *m, struct lease_request *req,
                           const struct lease_tap *taps);
/* Called on the event loop when a job ended: the grant, the release or the pool that waited for
 * it goes on. */
void lease_job_finished(struct lease_manager *m, struct lease_job *job);
