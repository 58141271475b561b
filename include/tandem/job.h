/*
 * job.h - a periodic job of a process, under a lease its replicas share: written once
 * for the background workers (matching's withdrawal follower, feedback's at-risk
 * sweep, enrolment's survey scheduler and benchmark job).
 *
 *   a libuv timer ticks every interval_ms
 *     -> unless a pass is in flight, the job has stopped, the runtime is stopping or
 *        not migrated yet, or the job deferred itself (tdm_job_defer):
 *        a pass begins with a new arena and a new request id -> spec->pass(job)
 *     -> the pass works (its statements name tdm_job_holder on the lease row, so
 *        the job's writes are fenced: a replica that lost the lease changes nothing)
 *     -> tdm_job_pass_end(job, again): the arena is freed; again (a full batch:
 *        more is waiting) begins the next pass at once
 *   SIGTERM -> tdm_job_stop: no pass begins any more; a pass in flight sees
 *     tdm_job_stopped, ends at its next step, and changes nothing once its lease is
 *     released; when the spec has a release statement, the lease is handed back
 *     with the runtime held (tdm_runtime_hold), so another replica takes over at
 *     once instead of after the lease has run out.
 *
 * The lease row and its statements are the job's own (tables differ, and so does
 * what a pass reads while it takes the lease); the runtime keeps the holder id (a
 * UUID of this process), when the lease was last taken or renewed, and the rule of
 * when to renew it (tdm_job_lease_due).
 *
 * Contract: spec->pass is called from the timer, or from inside tdm_job_pass_end
 * with `again`; never from inside tdm_job_start. Every pass ends with exactly one
 * tdm_job_pass_end (or _pass_failed). The job lives as long as the process (a pass in
 * flight may complete after tdm_job_stop); its timer is closed with the loop's other
 * handles. spec and data must outlive it.
 */
#ifndef TANDEM_JOB_H
#define TANDEM_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include "tandem/arena.h"
#include "tandem/runtime.h"
#include "tandem/status.h"

typedef struct tdm_job tdm_job;

typedef struct tdm_job_spec {
    const char *name;     /* "withdrawals": the log's prefix */
    uint64_t interval_ms; /* how often a tick looks (every replica) */
    size_t arena_bytes;   /* the first block of each pass's arena */
    void (*pass)(tdm_job *job);
    /* When the lease is renewed during a pass: tdm_job_lease_due is true once this
     * long has passed since tdm_job_lease_held. 0: the job renews only per pass. */
    uint64_t renew_after_ms;
    /* Hands the lease back at stop: one statement with the holder as $1 (no tenant).
     * NULL: the lease runs out on its own. */
    const char *release_sql;
} tdm_job_spec;

/* Start the job's timer; *out is the job. RESOURCE_EXHAUSTED when out of memory. */
tdm_status *tdm_job_start(tdm_runtime *rt, const tdm_job_spec *spec, void *data, tdm_job **out);
/* No pass begins any more; hand the lease back (spec->release_sql). NULL is a no-op. */
void tdm_job_stop(tdm_job *job);

/* The end of the pass in progress: its arena is freed. again: begin the next pass at
 * once (unless stopped), for work that filled a batch. */
void tdm_job_pass_end(tdm_job *job, bool again);
/* The same after a failure: logs "<name>: <what>" with the status (WARN), frees st. */
void tdm_job_pass_failed(tdm_job *job, const char *what, tdm_status *st);
/* No pass begins before delay_ms from now (e.g. a peer's schema is not there yet). */
void tdm_job_defer(tdm_job *job, uint64_t delay_ms);

/* What a pass works with. */
void *tdm_job_data(const tdm_job *job);
tdm_runtime *tdm_job_runtime(const tdm_job *job);
tdm_arena *tdm_job_arena(const tdm_job *job);       /* the pass's; freed at its end */
const char *tdm_job_request_id(const tdm_job *job); /* the pass's, for logs and calls */
bool tdm_job_stopped(const tdm_job *job);           /* a pass ends at its next step */
uint64_t tdm_job_now(const tdm_job *job);           /* the loop's clock, ms */

/* The lease: this process's holder id (36 characters), the moment the lease was
 * last taken or renewed (tdm_job_lease_held), and whether a pass should renew it
 * now (spec->renew_after_ms since then). */
const char *tdm_job_holder(const tdm_job *job);
void tdm_job_lease_held(tdm_job *job);
bool tdm_job_lease_due(const tdm_job *job);

#endif
