/*
 * benchmarks.h - the template benchmarks of tandem-enrolment (docs/benchmarks.md):
 *
 *   benchmark_job.c    the scheduled job: once per interval across replicas, gathers
 *                      every programme made from a template (feedback's
 *                      GetProgrammeFigures, with the programme's tenant) and writes
 *                      the programmes' figures and the templates' benchmarks
 *   benchmark_store.c  its SQL and the API's reads
 *   benchmarks.c       GetTemplateBenchmark and GetProgrammeBenchmark
 */
#ifndef TANDEM_ENROLMENT_BENCHMARKS_H
#define TANDEM_ENROLMENT_BENCHMARKS_H

#include "enrolment.h"

/* A benchmark is published only when at least this many distinct tenants contribute
 * (API.md), and each of its figures only when this many tenants have a value. */
#define ENROL_BENCH_MIN_TENANTS 5

/* The programme rows of a run, one PostgreSQL array literal per column, in the
 * order of programme_benchmark_figures: tenant_id, programme_id, template_id,
 * template_version, participants, matched, matches_decided, matches_accepted,
 * active_matches, active_match_months, active_match_check_ins, mean_rating, nps. */
#define ENROL_BENCH_ROW_COLUMNS 13
typedef struct enrol_bench_rows {
    const char *columns[ENROL_BENCH_ROW_COLUMNS];
} enrol_bench_rows;

/* ---- benchmark_store.c ---------------------------------------------------------- */

/* Take the job's claim when a run is due: params $1 lease seconds, $2 the most
 * programmes read. cb gets no row (not due, or another replica holds it), or rows
 * (claim_id, as_of, tenant_id, programme_id, template_id, template_version), the
 * last four NULL in a single row when no programme is made from a template.
 * Non-zero when it could not start (cb is not called). */
int enrol_store_benchmark_claim(tdm_pg_pool *pool, const char *request_id,
                                const char *const params[2], tdm_pg_result_cb cb, void *arg);
/* Extend the lease of claim $1 by $2 seconds; no row when the claim was lost. */
int enrol_store_benchmark_renew(tdm_pg_pool *pool, const char *request_id,
                                const char *const params[2], tdm_pg_result_cb cb, void *arg);
/* Give claim $1 up; the next attempt waits $2 seconds. */
int enrol_store_benchmark_release(tdm_pg_pool *pool, const char *request_id,
                                  const char *const params[2], tdm_pg_result_cb cb, void *arg);
/* In a transaction bound to no tenant (r->ctx->tenant_id NULL): when claim_id still
 * holds the job, replace every programme's figures by rows and every template's
 * benchmark by their pooling (min_tenants), stamped as_of, and make the next run
 * due interval_s seconds from now. ABORTED when the claim was lost. Response NULL. */
void enrol_store_benchmark_write(const enrol_req *r, const char *claim_id, const char *as_of,
                                 const char *interval_s, const enrol_bench_rows *rows,
                                 const char *min_tenants, enrol_store_cb cb, void *arg);
/* Response: TemplateBenchmark; NOT_FOUND when there is no such template. */
void enrol_store_get_template_benchmark(const enrol_req *r, const char *template_id,
                                        enrol_store_cb cb, void *arg);
/* In the call's tenant. Response: ProgrammeBenchmark; NOT_FOUND when the tenant does
 * not hold the programme, FAILED_PRECONDITION when it was not made from a template. */
void enrol_store_get_programme_benchmark(const enrol_req *r, const char *programme_id,
                                         enrol_store_cb cb, void *arg);

/* ---- benchmark_job.c ------------------------------------------------------------ */

typedef struct enrol_benchmark_job enrol_benchmark_job;
/* TANDEM_BENCHMARK_INTERVAL_SECONDS: how often the benchmarks are computed (default
 * 3600, 1 to 604800). */
typedef struct enrol_benchmark_config {
    int interval_s;
} enrol_benchmark_config;
tdm_status *enrol_benchmark_config_load(enrol_benchmark_config *cfg);
tdm_status *enrol_benchmark_job_start(tdm_runtime *rt, const enrol_benchmark_config *cfg,
                                      enrol_benchmark_job **out);
/* Take no new work; a run in flight is abandoned at its next step (its lease ends). */
void enrol_benchmark_job_stop(enrol_benchmark_job *job);

/* ---- benchmarks.c --------------------------------------------------------------- */

void enrol_handle_get_template_benchmark(tdm_call *call, const ProtobufCMessage *req, void *data);
void enrol_handle_get_programme_benchmark(tdm_call *call, const ProtobufCMessage *req, void *data);

#endif
