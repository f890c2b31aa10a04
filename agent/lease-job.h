/* SPDX-License-Identifier: MIT */
/* The leases' jobs on the agent's work queue (agent/lease-job.c): pool resizes, refills of the
 * prepared snapshots, a lease's snapshot made or its copied tree removed. */
#pragma once

struct lease_job;
struct lease_manager;

/* Queue a job (takes it) on the agent's work queue; RESIZE and REFILL get the revert journal.
 * lease_job_finished() gets it when it ended. */
void lease_job_submit(struct lease_manager *m, struct lease_job *job);

/* Look at the request queue again once the work queued now (an apply that may change the taps
 * or the pool) ended. One at a time. */
void lease_wake_after_work(struct lease_manager *m);

/* Free a job that was not submitted (accepts NULL). */
void lease_job_free(struct lease_job *job);
