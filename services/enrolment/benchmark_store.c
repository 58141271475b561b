/*
 * benchmark_store.c - every SQL statement of the template benchmarks
 * (docs/benchmarks.md, 030_template_benchmarks.sql): the job's claim, renewal,
 * release and its one fenced write of a run's results, and the two reads of the
 * API (GetTemplateBenchmark, GetProgrammeBenchmark).
 *
 * The pooling is here, in one statement (POOL_SQL) over the programme rows the run
 * has just written: each figure of a template is the mean, over its programmes
 * that have the figure, of the programme's figure, and is stored only when it may
 * be published (enough distinct tenants behind the benchmark and behind that
 * figure). A programme's own figures are derived by the same expressions
 * (PROGRAMME_FIGURES_SQL), so both sides of GetProgrammeBenchmark mean the same.
 */
#include "benchmarks.h"

#include <stdlib.h>
#include <string.h>

static const tdm_store_owner BENCH_STORE_OWNER = {.schema = ENROL_SCHEMA, .service = ENROL_SERVICE};

/* A programme row's figures from its counts (columns of programme_benchmark_figures
 * aliased f): participants, match rate, acceptance rate, check-ins per active match
 * per month, mean rating, NPS. */
#define PROGRAMME_FIGURES_SQL                                                                      \
    "f.participants::float8, f.matched::float8 / NULLIF(f.participants, 0),"                       \
    " f.matches_accepted::float8 / NULLIF(f.matches_decided, 0),"                                  \
    " CASE WHEN f.active_matches > 0"                                                              \
    "      THEN f.active_match_check_ins::float8 / NULLIF(f.active_match_months, 0) END,"          \
    " f.mean_rating, f.nps"

/* ---- the job ------------------------------------------------------------------------ */

int enrol_store_benchmark_claim(tdm_pg_pool *pool, const char *request_id,
                                const char *const params[2], tdm_pg_result_cb cb, void *arg)
{
    /* A transaction bound to no tenant: the benchmark_job_reader policy lets it see
     * every tenant's rows of template_programmes (ids and template reference only;
     * 030_template_benchmarks.sql). The claim is taken only when a run is due and no
     * live lease holds it; the programmes are listed in the same statement, so a
     * claim always comes with its work. No claim: no row. A claim and no programme:
     * one row of NULLs after the claim. */
    static const char sql[] =
        "WITH claim AS (UPDATE " ENROL_SCHEMA ".benchmark_job SET claim_id = gen_random_uuid(),"
        "   lease_until = now() + make_interval(secs => $1::int)"
        "  WHERE id = 1 AND next_run_time <= now()"
        "    AND (lease_until IS NULL OR lease_until < now())"
        "  RETURNING claim_id, now() AS as_of)"
        " SELECT c.claim_id::text, c.as_of::text, p.tenant_id::text, p.id::text,"
        "        p.template_id::text, p.template_version::text"
        "   FROM claim c LEFT JOIN LATERAL ("
        "     SELECT g.tenant_id, g.programme_id AS id, g.template_id, g.template_version"
        "       FROM " ENROL_SCHEMA ".template_programmes g"
        "      ORDER BY g.tenant_id, g.programme_id LIMIT $2::int) p ON true";
    tdm_pg_tx_options o = {.tenant_id = NULL, .request_id = request_id};
    return tdm_pg_exec(pool, &o, sql, 2, params, cb, arg);
}

int enrol_store_benchmark_renew(tdm_pg_pool *pool, const char *request_id,
                                const char *const params[2], tdm_pg_result_cb cb, void *arg)
{
    /* $1 claim id, $2 lease seconds: no row when the claim was lost. */
    static const char sql[] =
        "UPDATE " ENROL_SCHEMA ".benchmark_job SET lease_until = now() + make_interval(secs =>"
        " $2::int) WHERE id = 1 AND claim_id = $1::uuid RETURNING id";
    tdm_pg_tx_options o = {.tenant_id = NULL, .request_id = request_id};
    return tdm_pg_exec(pool, &o, sql, 2, params, cb, arg);
}

int enrol_store_benchmark_release(tdm_pg_pool *pool, const char *request_id,
                                  const char *const params[2], tdm_pg_result_cb cb, void *arg)
{
    /* $1 claim id, $2 seconds before any replica tries again (the lease becomes the
     * back-off); the stored results stay as they were. */
    static const char sql[] = "UPDATE " ENROL_SCHEMA ".benchmark_job SET claim_id = NULL,"
                              " lease_until = now() + make_interval(secs => $2::int)"
                              " WHERE id = 1 AND claim_id = $1::uuid";
    tdm_pg_tx_options o = {.tenant_id = NULL, .request_id = request_id};
    return tdm_pg_exec(pool, &o, sql, 2, params, cb, arg);
}

typedef struct write_op {
    tdm_store_op base; /* first */
    const char *fence[3];
    const char *rows[ENROL_BENCH_ROW_COLUMNS + 1];
    const char *pool[1];
} write_op;

static void pool_templates(tdm_store_op *base, PGresult *res)
{
    write_op *op = (write_op *)base;
    (void)res;
    /* $1 the least number of tenants. avg() and count() skip the programmes that
     * lack a figure; a tenant counts once however many programmes it runs. */
    static const char sql[] =
        "INSERT INTO " ENROL_SCHEMA ".template_benchmarks"
        " SELECT t.template_id, t.tenants, t.programmes, $1::int,"
        "   CASE WHEN t.tenants >= $1::int AND t.n1 >= $1::int THEN t.v1 END, t.n1,"
        "   CASE WHEN t.tenants >= $1::int AND t.n2 >= $1::int THEN t.v2 END, t.n2,"
        "   CASE WHEN t.tenants >= $1::int AND t.n3 >= $1::int THEN t.v3 END, t.n3,"
        "   CASE WHEN t.tenants >= $1::int AND t.n4 >= $1::int THEN t.v4 END, t.n4,"
        "   CASE WHEN t.tenants >= $1::int AND t.n5 >= $1::int THEN t.v5 END, t.n5,"
        "   CASE WHEN t.tenants >= $1::int AND t.n6 >= $1::int THEN t.v6 END, t.n6,"
        "   t.as_of"
        " FROM (SELECT x.template_id, count(DISTINCT x.tenant_id)::int AS tenants,"
        "         count(*)::int AS programmes, min(x.as_of) AS as_of,"
        "         avg(x.v1) AS v1,"
        "         (count(DISTINCT x.tenant_id) FILTER (WHERE x.v1 IS NOT NULL))::int AS n1,"
        "         avg(x.v2) AS v2,"
        "         (count(DISTINCT x.tenant_id) FILTER (WHERE x.v2 IS NOT NULL))::int AS n2,"
        "         avg(x.v3) AS v3,"
        "         (count(DISTINCT x.tenant_id) FILTER (WHERE x.v3 IS NOT NULL))::int AS n3,"
        "         avg(x.v4) AS v4,"
        "         (count(DISTINCT x.tenant_id) FILTER (WHERE x.v4 IS NOT NULL))::int AS n4,"
        "         avg(x.v5) AS v5,"
        "         (count(DISTINCT x.tenant_id) FILTER (WHERE x.v5 IS NOT NULL))::int AS n5,"
        "         avg(x.v6) AS v6,"
        "         (count(DISTINCT x.tenant_id) FILTER (WHERE x.v6 IS NOT NULL))::int AS n6"
        "    FROM (SELECT f.tenant_id, f.template_id, f.as_of, " PROGRAMME_FIGURES_SQL
        "            FROM " ENROL_SCHEMA ".programme_benchmark_figures f)"
        "         x(tenant_id, template_id, as_of, v1, v2, v3, v4, v5, v6)"
        "   GROUP BY x.template_id) t";
    tdm_store_op_query(base, sql, 1, op->pool, tdm_store_op_done);
}

static void clear_templates(tdm_store_op *base, PGresult *res)
{
    (void)res;
    tdm_store_op_query(base, "DELETE FROM " ENROL_SCHEMA ".template_benchmarks", 0, NULL,
                       pool_templates);
}

static void insert_programmes(tdm_store_op *base, PGresult *res)
{
    write_op *op = (write_op *)base;
    (void)res;
    /* $1..$13 the rows' columns as arrays (enrol_bench_rows), $14 as_of. */
    static const char sql[] =
        "INSERT INTO " ENROL_SCHEMA ".programme_benchmark_figures"
        " SELECT r.*, $14::timestamptz FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[],"
        "   $5::int[], $6::int[], $7::int[], $8::int[], $9::int[], $10::float8[], $11::int8[],"
        "   $12::float8[], $13::float8[]) AS r";
    tdm_store_op_query(base, sql, ENROL_BENCH_ROW_COLUMNS + 1, op->rows, clear_templates);
}

static void clear_programmes(tdm_store_op *base, PGresult *res)
{
    if (!tdm_store_op_one_row(base, res, TDM_ABORTED, "the benchmark claim was lost"))
        return;
    tdm_store_op_query(base, "DELETE FROM " ENROL_SCHEMA ".programme_benchmark_figures", 0, NULL,
                       insert_programmes);
}

void enrol_store_benchmark_write(const enrol_req *r, const char *claim_id, const char *as_of,
                                 const char *interval_s, const enrol_bench_rows *rows,
                                 const char *min_tenants, enrol_store_cb cb, void *arg)
{
    tdm_store_req sr = {.pool = r->pool, .arena = r->arena, .ctx = r->ctx};
    write_op *op = tdm_store_op_new(sizeof(*op), &sr, &BENCH_STORE_OWNER, cb, arg);
    if (op == NULL)
        return;
    op->fence[0] = claim_id;
    op->fence[1] = as_of;
    op->fence[2] = interval_s;
    for (int i = 0; i < ENROL_BENCH_ROW_COLUMNS; i++)
        op->rows[i] = rows->columns[i];
    op->rows[ENROL_BENCH_ROW_COLUMNS] = as_of;
    op->pool[0] = min_tenants;
    /* $1 claim id, $2 as_of, $3 interval seconds: the run is recorded only by the
     * holder of the claim, and the next one falls due an interval later. */
    static const char sql[] =
        "UPDATE " ENROL_SCHEMA ".benchmark_job SET claim_id = NULL, lease_until = NULL,"
        " as_of = $2::timestamptz, runs = runs + 1,"
        " next_run_time = now() + make_interval(secs => $3::int)"
        " WHERE id = 1 AND claim_id = $1::uuid RETURNING id";
    tdm_store_op_start_query(&op->base, false, sql, 3, op->fence, clear_programmes);
}

/* ---- the API's reads -------------------------------------------------------------- */

/* The benchmark columns of both reads, from template_benchmarks b (LEFT JOINed: a
 * template without programmes has no row) and the job's as_of j: as_of (Unix us),
 * contributing tenants, programmes, then each of the six figures and its tenants. */
#define BENCHMARK_COLUMNS_SQL                                                                      \
    "(extract(epoch FROM j.as_of) * 1000000)::int8, COALESCE(b.contributing_tenants, 0),"          \
    " COALESCE(b.programmes, 0), b.participants, COALESCE(b.participants_tenants, 0),"             \
    " b.match_rate, COALESCE(b.match_rate_tenants, 0), b.acceptance_rate,"                         \
    " COALESCE(b.acceptance_rate_tenants, 0), b.check_ins_per_active_match_per_month,"             \
    " COALESCE(b.check_ins_rate_tenants, 0), b.mean_rating, COALESCE(b.mean_rating_tenants, 0),"   \
    " b.nps, COALESCE(b.nps_tenants, 0)"
#define BENCHMARK_NCOLUMNS 15

typedef struct read_op {
    tdm_store_op base; /* first */
    const char *params[1];
} read_op;

static const char *value_or_null(const PGresult *res, int col)
{
    return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

static tdm_status *double_value(tdm_arena *a, const char *text, Google__Protobuf__DoubleValue **out)
{
    *out = NULL;
    if (text == NULL)
        return NULL;
    Google__Protobuf__DoubleValue *d = tdm_arena_alloc(a, sizeof(*d));
    if (d == NULL)
        return tdm_store_oom();
    google__protobuf__double_value__init(d);
    d->value = strtod(text, NULL);
    *out = d;
    return NULL;
}

static const char *const FIGURE_NAMES[6] = {"participants",   "matchRate",
                                            "acceptanceRate", "checkInsPerActiveMatchPerMonth",
                                            "meanRating",     "nps"};

static Google__Protobuf__DoubleValue **figure_slot(Tandem__V1__BenchmarkFigures *f, int i)
{
    Google__Protobuf__DoubleValue **slots[6] = {
        &f->participants,    &f->match_rate,
        &f->acceptance_rate, &f->check_ins_per_active_match_per_month,
        &f->mean_rating,     &f->nps};
    return slots[i];
}

/* The benchmark from BENCHMARK_COLUMNS_SQL starting at column `first`. */
static tdm_status *benchmark_from(const PGresult *res, int first, const char *template_id,
                                  tdm_arena *a, Tandem__V1__TemplateBenchmark **out)
{
    Tandem__V1__TemplateBenchmark *b = tdm_arena_alloc(a, sizeof(*b));
    if (b == NULL)
        return tdm_store_oom();
    tandem__v1__template_benchmark__init(b);
    b->template_id = tdm_arena_strdup(a, template_id);
    b->min_tenants = ENROL_BENCH_MIN_TENANTS;
    if (b->template_id == NULL)
        return tdm_store_oom();
    const char *as_of = value_or_null(res, first);
    if (as_of != NULL && (b->as_of = enrol_time_from_us(strtoll(as_of, NULL, 10), a)) == NULL)
        return tdm_store_oom();
    b->contributing_tenants = atoi(PQgetvalue(res, 0, first + 1));
    b->programmes = atoi(PQgetvalue(res, 0, first + 2));
    b->published = b->contributing_tenants >= ENROL_BENCH_MIN_TENANTS;
    *out = b;
    if (!b->published)
        return NULL; /* withheld: no figures at all */
    Tandem__V1__BenchmarkFigures *f = tdm_arena_alloc(a, sizeof(*f));
    if (f == NULL)
        return tdm_store_oom();
    tandem__v1__benchmark_figures__init(f);
    f->withheld = tdm_arena_calloc(a, 6, sizeof(*f->withheld));
    if (f->withheld == NULL)
        return tdm_store_oom();
    for (int i = 0; i < 6; i++) {
        const char *v = value_or_null(res, first + 3 + 2 * i);
        int tenants = atoi(PQgetvalue(res, 0, first + 4 + 2 * i));
        tdm_status *st = double_value(a, v, figure_slot(f, i));
        if (st != NULL)
            return st;
        if (v == NULL && tenants < ENROL_BENCH_MIN_TENANTS)
            f->withheld[f->n_withheld++] = (char *)FIGURE_NAMES[i];
    }
    b->figures = f;
    return NULL;
}

static void template_read(tdm_store_op *base, PGresult *res)
{
    read_op *op = (read_op *)base;
    if (!tdm_store_op_found(base, res, "template"))
        return;
    Tandem__V1__TemplateBenchmark *b = NULL;
    tdm_status *st = benchmark_from(res, 0, op->params[0], op->base.req.arena, &b);
    op->base.response = b != NULL ? &b->base : NULL;
    tdm_store_op_end(base, st);
}

void enrol_store_get_template_benchmark(const enrol_req *r, const char *template_id,
                                        enrol_store_cb cb, void *arg)
{
    tdm_store_req sr = {.pool = r->pool, .arena = r->arena, .ctx = r->ctx};
    read_op *op = tdm_store_op_new(sizeof(*op), &sr, &BENCH_STORE_OWNER, cb, arg);
    if (op == NULL)
        return;
    op->params[0] = template_id;
    static const char sql[] =
        "SELECT " BENCHMARK_COLUMNS_SQL " FROM " ENROL_SCHEMA ".programme_templates t"
        " CROSS JOIN " ENROL_SCHEMA ".benchmark_job j"
        " LEFT JOIN " ENROL_SCHEMA ".template_benchmarks b ON b.template_id = t.id"
        " WHERE t.id = $1::uuid AND j.id = 1";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, template_read);
}

/* Columns of the programme read: template id, version, whether the programme has a
 * figures row, its six figures, then BENCHMARK_COLUMNS_SQL. */
#define PROGRAMME_FIRST_BENCHMARK_COLUMN 9

static tdm_status *programme_figures_from(const PGresult *res, tdm_arena *a,
                                          Tandem__V1__BenchmarkFigures **out)
{
    *out = NULL;
    if (strcmp(PQgetvalue(res, 0, 2), "t") != 0)
        return NULL; /* the job has not run since the programme was made */
    Tandem__V1__BenchmarkFigures *f = tdm_arena_alloc(a, sizeof(*f));
    if (f == NULL)
        return tdm_store_oom();
    tandem__v1__benchmark_figures__init(f);
    for (int i = 0; i < 6; i++) {
        tdm_status *st = double_value(a, value_or_null(res, 3 + i), figure_slot(f, i));
        if (st != NULL)
            return st;
    }
    *out = f;
    return NULL;
}

static void programme_read(tdm_store_op *base, PGresult *res)
{
    read_op *op = (read_op *)base;
    tdm_arena *a = op->base.req.arena;
    if (!tdm_store_op_found(base, res, "programme"))
        return;
    if (PQgetisnull(res, 0, 0)) {
        tdm_store_op_end(base, tdm_status_new(TDM_FAILED_PRECONDITION,
                                              "the programme was not made from a template, so "
                                              "it has no benchmark"));
        return;
    }
    Tandem__V1__ProgrammeBenchmark *pb = tdm_arena_alloc(a, sizeof(*pb));
    Tandem__V1__TemplateRef *ref = tdm_arena_alloc(a, sizeof(*ref));
    tdm_status *st = pb == NULL || ref == NULL ? tdm_store_oom() : NULL;
    if (st == NULL) {
        tandem__v1__programme_benchmark__init(pb);
        tandem__v1__template_ref__init(ref);
        ref->id = tdm_arena_strdup(a, PQgetvalue(res, 0, 0));
        ref->version = atoi(PQgetvalue(res, 0, 1));
        pb->programme_id = (char *)op->params[0];
        pb->template_ = ref;
        st = ref->id == NULL ? tdm_store_oom() : NULL;
    }
    if (st == NULL)
        st = programme_figures_from(res, a, &pb->programme);
    if (st == NULL)
        st = benchmark_from(res, PROGRAMME_FIRST_BENCHMARK_COLUMN, ref->id, a, &pb->benchmark);
    op->base.response = st == NULL ? &pb->base : NULL;
    tdm_store_op_end(base, st);
}

void enrol_store_get_programme_benchmark(const enrol_req *r, const char *programme_id,
                                         enrol_store_cb cb, void *arg)
{
    tdm_store_req sr = {.pool = r->pool, .arena = r->arena, .ctx = r->ctx};
    read_op *op = tdm_store_op_new(sizeof(*op), &sr, &BENCH_STORE_OWNER, cb, arg);
    if (op == NULL)
        return;
    op->params[0] = programme_id;
    static const char sql[] =
        "SELECT g.template_id::text, g.template_version, f.programme_id IS NOT NULL,"
        "       " PROGRAMME_FIGURES_SQL ", " BENCHMARK_COLUMNS_SQL "  FROM " ENROL_SCHEMA
        ".programmes g CROSS JOIN " ENROL_SCHEMA ".benchmark_job j"
        "  LEFT JOIN " ENROL_SCHEMA ".programme_benchmark_figures f"
        "    ON f.tenant_id = g.tenant_id AND f.programme_id = g.id"
        "  LEFT JOIN " ENROL_SCHEMA ".template_benchmarks b ON b.template_id = g.template_id"
        " WHERE g.tenant_id = " TDM_SQL_TENANT " AND g.id = $1::uuid AND j.id = 1";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, programme_read);
}
