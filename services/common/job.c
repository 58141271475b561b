/*
 * job.c - the periodic job under a lease (tandem/job.h): the timer, one pass at a time
 * with its arena and request id, the holder id and renewal clock of the lease, and
 * the lease handed back at stop.
 */
#include "tandem/job.h"

#include <stdio.h>
#include <stdlib.h>

#include "tandem/log.h"
#include "tandem/uuid.h"

struct tdm_job {
    tdm_runtime *rt;
    const tdm_job_spec *spec;
    void *data;
    uv_timer_t timer;
    bool busy, stopped;
    uint64_t not_before; /* tdm_job_defer */
    uint64_t lease_at;   /* the loop's ms when the lease was last taken or renewed */
    char holder[37];
    /* the pass in progress */
    tdm_arena *arena;
    char request_id[37];
};

static void pass_begin(tdm_job *job)
{
    if (job->busy || job->stopped || !tdm_runtime_migrated(job->rt) ||
        tdm_runtime_stopping(job->rt) || tdm_job_now(job) < job->not_before)
        return;
    job->arena = tdm_arena_new(job->spec->arena_bytes);
    if (job->arena == NULL)
        return; /* out of memory: the next tick tries again */
    job->busy = true;
    tdm_uuid_text(job->request_id);
    job->spec->pass(job);
}

static void on_tick(uv_timer_t *t)
{
    pass_begin(t->data);
}

tdm_status *tdm_job_start(tdm_runtime *rt, const tdm_job_spec *spec, void *data, tdm_job **out)
{
    tdm_job *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    job->rt = rt;
    job->spec = spec;
    job->data = data;
    tdm_uuid_text(job->holder);
    uv_timer_init(tdm_runtime_loop(rt), &job->timer);
    job->timer.data = job;
    uv_timer_start(&job->timer, on_tick, spec->interval_ms, spec->interval_ms);
    *out = job;
    return NULL;
}

void tdm_job_pass_end(tdm_job *job, bool again)
{
    tdm_arena_free(job->arena);
    job->arena = NULL;
    job->request_id[0] = '\0';
    job->busy = false;
    if (again && !job->stopped)
        pass_begin(job);
}

void tdm_job_pass_failed(tdm_job *job, const char *what, tdm_status *st)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s", job->spec->name, what);
    tdm_log_fields(TDM_LOG_WARN, job->request_id, msg, "error", st != NULL ? st->message : "",
                   "detail", st != NULL ? st->detail : NULL, NULL);
    tdm_status_free(st);
    tdm_job_pass_end(job, false);
}

void tdm_job_defer(tdm_job *job, uint64_t delay_ms)
{
    job->not_before = tdm_job_now(job) + delay_ms;
}

void *tdm_job_data(const tdm_job *job)
{
    return job->data;
}

tdm_runtime *tdm_job_runtime(const tdm_job *job)
{
    return job->rt;
}

tdm_arena *tdm_job_arena(const tdm_job *job)
{
    return job->arena;
}

const char *tdm_job_request_id(const tdm_job *job)
{
    return job->request_id;
}

bool tdm_job_stopped(const tdm_job *job)
{
    return job->stopped;
}

uint64_t tdm_job_now(const tdm_job *job)
{
    return uv_now(tdm_runtime_loop(job->rt));
}

const char *tdm_job_holder(const tdm_job *job)
{
    return job->holder;
}

void tdm_job_lease_held(tdm_job *job)
{
    job->lease_at = tdm_job_now(job);
}

bool tdm_job_lease_due(const tdm_job *job)
{
    return job->spec->renew_after_ms > 0 &&
           tdm_job_now(job) - job->lease_at >= job->spec->renew_after_ms;
}

/* ---- stop ------------------------------------------------------------------------- */

static void released(void *arg, tdm_status *st, PGresult *res)
{
    tdm_job *job = arg;
    (void)res;
    if (st != NULL) {
        char msg[256];
        snprintf(msg, sizeof(msg), "%s: could not hand the lease back", job->spec->name);
        tdm_log_fields(TDM_LOG_WARN, NULL, msg, "error", st->message, NULL);
        tdm_status_free(st);
    }
    tdm_runtime_unhold(job->rt);
}

void tdm_job_stop(tdm_job *job)
{
    if (job == NULL || job->stopped)
        return;
    /* A pass in flight finishes on its own (the pool and the peers complete or fail
     * it) and begins nothing new; the timer handle is closed with the loop's others.
     * Its lease-fenced writes change nothing once the lease is handed back. */
    job->stopped = true;
    uv_timer_stop(&job->timer);
    if (job->spec->release_sql == NULL)
        return;
    tdm_runtime_hold(job->rt);
    tdm_pg_tx_options o = {.tenant_id = NULL};
    const char *values[] = {job->holder};
    if (tdm_pg_exec(tdm_runtime_pg(job->rt), &o, job->spec->release_sql, 1, values, released,
                    job) != 0)
        tdm_runtime_unhold(job->rt);
}
