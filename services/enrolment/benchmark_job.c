/*
 * benchmark_job.c - the scheduled job that computes the template benchmarks
 * (issue #18, docs/benchmarks.md).
 *
 * Every replica of tandem-enrolment polls; a run happens once per
 * TANDEM_BENCHMARK_INTERVAL_SECONDS across all of them, the way the survey
 * scheduler (survey_scheduler.c) opens each survey once:
 *   1. one statement takes enrolment.benchmark_job's claim (a new claim_id under a
 *      lease) when a run is due and no live lease holds it, and lists every
 *      programme made from a template, of every tenant;
 *   2. for each programme, tandem-feedback's GetProgrammeFigures (the programme's
 *      own report figures, under its anonymity rules) is called with that
 *      programme's tenant and scope feedback:read only, so every owner answers
 *      inside the tenant; the lease is renewed while the run works;
 *   3. one transaction, fenced by claim_id, replaces every programme's figures and
 *      every template's pooled benchmark, stamped as_of (when step 1 took the
 *      claim), and makes the next run due one interval later.
 * A replica that dies mid-run leaves the claim until its lease ends; another then
 * runs it from the start. A run that fails (a peer unavailable) gives the claim up
 * with a short back-off and changes nothing: the last figures stay, with their asOf.
 * A programme whose own figures cannot be computed (a lasting refusal, e.g. more
 * people than a report reads) is left out of the run and logged, so it cannot hold
 * every other benchmark back.
 * The timer, the runs (one at a time, each with its arena and request id) and the
 * renewal clock are the runtime's periodic job (tandem/job.h); the lease is the claim
 * (claim_id), which fences the write.
 */
#include "benchmarks.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/internal/v1/benchmark.pb-c.h"
#include "tandem/job.h"
#include "tandem/log.h"

#define BENCH_DEFAULT_INTERVAL_S 3600
#define BENCH_MIN_INTERVAL_S     1
#define BENCH_MAX_INTERVAL_S     (7 * 86400)
#define BENCH_POLL_MAX_MS        5000 /* each replica looks at least this often */
#define BENCH_LEASE_S            120
#define BENCH_RENEW_AFTER_MS     (BENCH_LEASE_S * 1000 / 3)
#define BENCH_RETRY_S            5 /* back-off after a failed run */
#define BENCH_MAX_PROGRAMMES     100000
#define BENCH_CALL_TIMEOUT_MS    30000
#define BENCH_ARENA_BYTES        (64 * 1024)

/* A programme of the run: its columns of programme_benchmark_figures as text for the
 * write's array literals (enrol_bench_rows' order: tenant, id, template, version,
 * then the figures; NULL is SQL NULL). */
enum { COL_TENANT, COL_ID, COL_TEMPLATE, COL_VERSION, COL_FIGURES };
typedef struct bench_programme {
    const char *col[ENROL_BENCH_ROW_COLUMNS];
    bool skipped; /* its figures cannot be computed (see figures_got): left out */
} bench_programme;

struct enrol_benchmark_job {
    tdm_runtime *rt;
    tdm_job_spec spec; /* the poll interval follows the setting */
    tdm_job *job;
    char interval_s[16], lease_s[16], retry_s[16], max_programmes[16], min_tenants[8];
    /* The run in progress. */
    tdm_arena *a;
    const char *claim_id, *as_of;
    bench_programme *programmes;
    size_t n_programmes, next;
    tdm_call_context ctx;
    enrol_req req;
};

static void next_programme(enrol_benchmark_job *j);

static void run_end(enrol_benchmark_job *j)
{
    j->a = NULL;
    j->programmes = NULL;
    j->n_programmes = j->next = 0;
    j->claim_id = j->as_of = NULL;
    tdm_job_pass_end(j->job, false);
}

static void released(void *arg, tdm_status *st, PGresult *res)
{
    enrol_benchmark_job *j = arg;
    (void)res;
    if (st != NULL) {
        tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(j->job),
                       "benchmark job: could not give the claim up", "error", st->message, NULL);
        tdm_status_free(st);
    }
    run_end(j);
}

/* The run fails: nothing is written; the claim is given up with a short back-off
 * (or, if even that fails, left to its lease). */
static void run_failed(enrol_benchmark_job *j, const char *what, tdm_status *st)
{
    tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(j->job), what, "error",
                   st != NULL ? st->message : "", "detail", st != NULL ? st->detail : NULL, NULL);
    tdm_status_free(st);
    const char *params[2] = {j->claim_id, j->retry_s};
    if (j->claim_id == NULL ||
        enrol_store_benchmark_release(tdm_runtime_pg(j->rt), tdm_job_request_id(j->job), params,
                                      released, j) != 0)
        run_end(j);
}

static void written(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    enrol_benchmark_job *j = arg;
    (void)msg;
    if (st != NULL) {
        /* ABORTED: another replica took the claim over (this one stalled past its
         * lease); its run stands. */
        tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(j->job),
                       "benchmark job: results not written", "error", st->message, "detail",
                       st->detail, NULL);
        tdm_status_free(st);
        run_end(j);
        return;
    }
    char n[24];
    snprintf(n, sizeof(n), "%zu", j->n_programmes);
    tdm_log_fields(TDM_LOG_INFO, tdm_job_request_id(j->job), "benchmarks computed", "programmes", n,
                   "as_of", j->as_of, NULL);
    run_end(j);
}

/* One column of the rows (those not left out) as a PostgreSQL array literal
 * ({a,b,NULL}); every value is a UUID or a number, so none needs quoting. NULL when
 * out of memory. */
static const char *column_literal(enrol_benchmark_job *j, int col)
{
    const char **values = tdm_arena_calloc(j->a, j->n_programmes + 1, sizeof(*values));
    if (values == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < j->n_programmes; i++)
        if (!j->programmes[i].skipped)
            values[n++] = j->programmes[i].col[col];
    return tdm_pg_array_literal(values, n, j->a);
}

static void write_results(enrol_benchmark_job *j)
{
    enrol_bench_rows rows;
    for (int c = 0; c < ENROL_BENCH_ROW_COLUMNS; c++) {
        rows.columns[c] = column_literal(j, c);
        if (rows.columns[c] == NULL) {
            run_failed(j, "benchmark job: out of memory", tdm_store_oom());
            return;
        }
    }
    /* Bound to no tenant: the write replaces every tenant's rows. */
    j->ctx = (tdm_call_context){.tenant_id = NULL,
                                .principal_id = "benchmark-job",
                                .principal_kind = TDM_PRINCIPAL_PLATFORM,
                                .request_id = tdm_job_request_id(j->job)};
    j->req = (enrol_req){.pool = tdm_runtime_pg(j->rt), .arena = j->a, .ctx = &j->ctx};
    enrol_store_benchmark_write(&j->req, j->claim_id, j->as_of, j->interval_s, &rows,
                                j->min_tenants, written, j);
}

static const char *fmt_double(enrol_benchmark_job *j, double v)
{
    return tdm_arena_printf(j->a, "%.17g", v);
}

static const char *fmt_int(enrol_benchmark_job *j, int64_t v)
{
    return tdm_arena_printf(j->a, "%" PRId64, v);
}

/* Whether a programme's failure would repeat on every run (its own data or the
 * request is at fault), rather than pass (a peer or the database unavailable, a
 * deadline, a conflict): the former leave the programme out, the latter fail the
 * run, which is tried again shortly. */
static bool programme_failure_is_lasting(tdm_code code)
{
    switch (code) {
    case TDM_INVALID_ARGUMENT:
    case TDM_NOT_FOUND:
    case TDM_PERMISSION_DENIED:
    case TDM_RESOURCE_EXHAUSTED:
    case TDM_FAILED_PRECONDITION:
    case TDM_OUT_OF_RANGE:
        return true;
    default:
        return false;
    }
}

static void figures_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    enrol_benchmark_job *j = arg;
    if (st == NULL && msg == NULL)
        st = tdm_status_new(TDM_UNAVAILABLE, "tandem-feedback answered without a message");
    bench_programme *p = &j->programmes[j->next - 1];
    if (st != NULL && !programme_failure_is_lasting(st->code)) {
        run_failed(j, "benchmark job: GetProgrammeFigures failed", st);
        return;
    }
    if (st != NULL) {
        /* A programme whose figures cannot be computed (larger than a report reads,
         * say) must not stop every template's benchmark: it is left out of this run,
         * and named in the log for the operator. */
        tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(j->job),
                       "benchmark job: a programme is left out of the benchmarks", "tenant_id",
                       p->col[COL_TENANT], "programme_id", p->col[COL_ID], "error", st->message,
                       "detail", st->detail, NULL);
        tdm_status_free(st);
        p->skipped = true;
        next_programme(j);
        return;
    }
    const Tandem__Internal__V1__ProgrammeFigures *f = (const void *)msg;
    const char **v = p->col + COL_FIGURES;
    v[0] = fmt_int(j, f->participants);
    v[1] = fmt_int(j, f->matched);
    v[2] = fmt_int(j, f->matches_decided);
    v[3] = fmt_int(j, f->matches_accepted);
    v[4] = fmt_int(j, f->active_matches);
    v[5] = fmt_double(j, f->active_match_months);
    v[6] = fmt_int(j, f->active_match_check_ins);
    v[7] = f->mean_rating != NULL ? fmt_double(j, f->mean_rating->value) : NULL;
    v[8] = f->nps != NULL ? fmt_double(j, f->nps->value) : NULL;
    for (int i = 0; i < 7; i++) {
        if (v[i] == NULL) {
            run_failed(j, "benchmark job: out of memory", tdm_store_oom());
            return;
        }
    }
    next_programme(j);
}

static void call_feedback(enrol_benchmark_job *j)
{
    const bench_programme *p = &j->programmes[j->next++];
    Tandem__Internal__V1__GetProgrammeFiguresRequest *q = tdm_arena_alloc(j->a, sizeof(*q));
    if (q == NULL) {
        run_failed(j, "benchmark job: out of memory", tdm_store_oom());
        return;
    }
    tandem__internal__v1__get_programme_figures_request__init(q);
    q->programme_id = (char *)p->col[COL_ID];
    /* The programme's tenant, and only what the figures need: feedback:read, which
     * feedback passes on to read the programme's columns at enrolment and matching. */
    j->ctx = (tdm_call_context){.tenant_id = p->col[COL_TENANT],
                                .principal_id = "benchmark-job",
                                .principal_kind = TDM_PRINCIPAL_PLATFORM,
                                .scopes = TDM_SCOPE_FEEDBACK_READ,
                                .request_id = tdm_job_request_id(j->job)};
    uint64_t deadline = uv_now(tdm_runtime_loop(j->rt)) + BENCH_CALL_TIMEOUT_MS;
    tdm_rpc_client *feedback = tdm_runtime_peer(j->rt, "feedback");
    if (feedback == NULL ||
        tdm_rpc_client_call(feedback, &tandem__internal__v1__programme_figures_service__descriptor,
                            "GetProgrammeFigures", &q->base, &j->ctx, deadline, j->a, figures_got,
                            j) != 0)
        run_failed(j, "benchmark job: could not call tandem-feedback",
                   tdm_status_new(TDM_UNAVAILABLE, "the call could not start"));
}

static void renewed(void *arg, tdm_status *st, PGresult *res)
{
    enrol_benchmark_job *j = arg;
    if (st == NULL && PQntuples(res) != 1) {
        /* Another replica holds the job now: this run stops without writing. */
        tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(j->job),
                       "benchmark job: the claim was lost", NULL);
        run_end(j);
        return;
    }
    if (st != NULL) {
        run_failed(j, "benchmark job: could not renew the lease", st);
        return;
    }
    tdm_job_lease_held(j->job);
    call_feedback(j);
}

static void next_programme(enrol_benchmark_job *j)
{
    if (tdm_job_stopped(j->job)) {
        run_end(j); /* the lease ends; another replica runs it */
        return;
    }
    if (j->next >= j->n_programmes) {
        write_results(j);
        return;
    }
    if (tdm_job_lease_due(j->job)) {
        const char *params[2] = {j->claim_id, j->lease_s};
        if (enrol_store_benchmark_renew(tdm_runtime_pg(j->rt), tdm_job_request_id(j->job), params,
                                        renewed, j) != 0)
            run_failed(j, "benchmark job: could not renew the lease",
                       tdm_status_new(TDM_INTERNAL, "the statement could not start"));
        return;
    }
    call_feedback(j);
}

static void claimed(void *arg, tdm_status *st, PGresult *res)
{
    enrol_benchmark_job *j = arg;
    if (st != NULL) {
        tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(j->job), "benchmark job: could not claim",
                       "error", st->message, "detail", st->detail, NULL);
        tdm_status_free(st);
        run_end(j);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        run_end(j); /* not due, or another replica is running it */
        return;
    }
    j->claim_id = tdm_arena_strdup(j->a, PQgetvalue(res, 0, 0));
    j->as_of = tdm_arena_strdup(j->a, PQgetvalue(res, 0, 1));
    j->programmes = tdm_arena_calloc(j->a, (size_t)n, sizeof(*j->programmes));
    if (j->claim_id == NULL || j->as_of == NULL || j->programmes == NULL) {
        run_failed(j, "benchmark job: out of memory", tdm_store_oom());
        return;
    }
    for (int i = 0; i < n && !PQgetisnull(res, i, 3); i++) {
        bench_programme *p = &j->programmes[j->n_programmes];
        for (int c = COL_TENANT; c < COL_FIGURES; c++) {
            p->col[c] = tdm_arena_strdup(j->a, PQgetvalue(res, i, 2 + c));
            if (p->col[c] == NULL) {
                run_failed(j, "benchmark job: out of memory", tdm_store_oom());
                return;
            }
        }
        j->n_programmes++;
    }
    if (j->n_programmes >= BENCH_MAX_PROGRAMMES)
        tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(j->job),
                       "benchmark job: more programmes from templates than a run reads; the "
                       "benchmarks cover the first ones only",
                       "max", j->max_programmes, NULL);
    tdm_job_lease_held(j->job);
    next_programme(j);
}

static void pass(tdm_job *job)
{
    enrol_benchmark_job *j = tdm_job_data(job);
    j->a = tdm_job_arena(job);
    const char *params[2] = {j->lease_s, j->max_programmes};
    if (enrol_store_benchmark_claim(tdm_runtime_pg(j->rt), tdm_job_request_id(job), params, claimed,
                                    j) != 0)
        run_end(j);
}

tdm_status *enrol_benchmark_job_start(tdm_runtime *rt, const enrol_benchmark_config *cfg,
                                      enrol_benchmark_job **out)
{
    enrol_benchmark_job *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return tdm_store_oom();
    j->rt = rt;
    snprintf(j->interval_s, sizeof(j->interval_s), "%d", cfg->interval_s);
    snprintf(j->lease_s, sizeof(j->lease_s), "%d", BENCH_LEASE_S);
    snprintf(j->retry_s, sizeof(j->retry_s), "%d",
             cfg->interval_s < BENCH_RETRY_S ? cfg->interval_s : BENCH_RETRY_S);
    snprintf(j->max_programmes, sizeof(j->max_programmes), "%d", BENCH_MAX_PROGRAMMES);
    snprintf(j->min_tenants, sizeof(j->min_tenants), "%d", ENROL_BENCH_MIN_TENANTS);
    uint64_t poll_ms = (uint64_t)cfg->interval_s * 1000;
    if (poll_ms > BENCH_POLL_MAX_MS)
        poll_ms = BENCH_POLL_MAX_MS;
    /* A replica stopping mid-run leaves the claim to its lease (a run is repeated
     * whole by the next holder), so the job hands nothing back. */
    j->spec = (tdm_job_spec){.name = "benchmark job",
                             .interval_ms = poll_ms,
                             .arena_bytes = BENCH_ARENA_BYTES,
                             .pass = pass,
                             .renew_after_ms = BENCH_RENEW_AFTER_MS};
    tdm_status *st = tdm_job_start(rt, &j->spec, j, &j->job);
    if (st != NULL) {
        free(j);
        return st;
    }
    *out = j;
    return NULL;
}

void enrol_benchmark_job_stop(enrol_benchmark_job *j)
{
    if (j != NULL)
        tdm_job_stop(j->job);
}

tdm_status *enrol_benchmark_config_load(enrol_benchmark_config *cfg)
{
    return tdm_config_int(NULL, "TANDEM_BENCHMARK_INTERVAL_SECONDS", BENCH_DEFAULT_INTERVAL_S,
                          BENCH_MIN_INTERVAL_S, BENCH_MAX_INTERVAL_S, &cfg->interval_s);
}
