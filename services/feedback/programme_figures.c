/*
 * programme_figures.c - GetProgrammeFigures (tandem.internal.v1, benchmark.proto):
 * one programme's figures for the template benchmarks that tandem-enrolment's
 * benchmark job computes (docs/benchmarks.md).
 *
 * The programme is read exactly as GetProgrammeReport reads it (fb_peer_report_inputs:
 * the caller's tenant, the owners' packed columns) and its report is computed by the
 * report's own store call (fb_store_report), of which only the headline counts and
 * the two anonymity-guarded figures are kept: mean rating and NPS pass into a
 * benchmark only when the programme's own report shows them. What the report does
 * not compute - which matches were accepted, and the check-ins and months of the
 * ACTIVE matches - is one small statement of this file over the same match columns
 * and feedback's check-ins, so the report's SQL stays the report's.
 *
 * The job calls with the programme's tenant and scope feedback:read only; the peers
 * get that context as it is.
 */
#include "feedback.h"

#include <stdlib.h>
#include <string.h>

#include "tandem/internal/v1/benchmark.pb-c.h"

static const tdm_store_owner FIGURES_OWNER = {.schema = FB_SCHEMA, .service = FB_SERVICE};

/* Match statuses (matching.proto Match.Status). */
#define STATUS_DECLINED 3
#define STATUS_ACTIVE   4
#define STATUS_ENDED    5

/* $1 programme, matches: $2 id uuid[], $3 status int4[], $4 start timestamptz[],
 * $5 a side declined bool[]. One row: decided, accepted, active, their months
 * active (30.4375 days each, at least one), their check-ins. */
static const char MATCH_FIGURES_SQL[] =
    "WITH m AS (SELECT * FROM unnest($2::uuid[], $3::int4[], $4::timestamptz[], $5::bool[])"
    "             AS m(id, status, start_time, declined)),"
    " c AS (SELECT match_id, count(*) AS n FROM " FB_SCHEMA ".check_ins"
    "        WHERE tenant_id = " TDM_SQL_TENANT " AND programme_id = $1::uuid"
    "        GROUP BY match_id)"
    " SELECT (count(*) FILTER (WHERE m.status IN (3, 4, 5)))::int4,"
    "        (count(*) FILTER (WHERE m.status IN (4, 5) AND NOT m.declined))::int4,"
    "        (count(*) FILTER (WHERE m.status = 4))::int4,"
    "        COALESCE(sum(greatest(1.0::float8, extract(epoch FROM now() - m.start_time)::float8"
    "                 / (30.4375 * 86400))) FILTER (WHERE m.status = 4), 0)::float8,"
    "        COALESCE(sum(c.n) FILTER (WHERE m.status = 4), 0)::int8"
    "   FROM m LEFT JOIN c ON c.match_id = m.id";
#define MATCH_FIGURES_NPARAMS 5

typedef struct figures_op {
    tdm_call *call;
    fb_req req;
    fb_service *svc;
    fb_programme_data *data;
    Tandem__Internal__V1__ProgrammeFigures *out;
} figures_op;

typedef struct match_op {
    tdm_store_op base; /* first */
    figures_op *f;
    const char *params[MATCH_FIGURES_NPARAMS];
    Oid types[MATCH_FIGURES_NPARAMS];
    int lengths[MATCH_FIGURES_NPARAMS];
    int formats[MATCH_FIGURES_NPARAMS];
} match_op;

static void match_figures_read(tdm_store_op *base, PGresult *res)
{
    match_op *op = (match_op *)base;
    Tandem__Internal__V1__ProgrammeFigures *out = op->f->out;
    if (!tdm_store_op_one_row(base, res, TDM_INTERNAL, "the match figures are missing"))
        return;
    out->matches_decided = atoi(PQgetvalue(res, 0, 0));
    out->matches_accepted = atoi(PQgetvalue(res, 0, 1));
    out->active_matches = atoi(PQgetvalue(res, 0, 2));
    out->active_match_months = strtod(PQgetvalue(res, 0, 3), NULL);
    out->active_match_check_ins = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
    op->base.response = &out->base;
    tdm_store_op_end(base, NULL);
}

/* The match columns as the statement's parameters: the owners' binary arrays as
 * they came, or (a matching without the column call) text literals of the Match
 * messages. -1 when out of memory. */
static int bind_matches(match_op *op, const fb_programme_data *d, tdm_arena *a)
{
    if (d->match_columns) {
        /* mcols: id, mentor, mentee, status, start, declined (feedback.h). */
        static const int COLUMN[] = {0, 3, 4, 5};
        static const Oid ARRAY_TYPE[] = {2951, 1007, 1185, 1000};
        for (int i = 0; i < 4; i++) {
            fb_pg_array c = d->mcols[COLUMN[i]];
            op->params[i + 1] = fb_pg_array_finish(&c, &op->lengths[i + 1], a);
            op->formats[i + 1] = 1;
            op->types[i + 1] = ARRAY_TYPE[i];
            if (op->params[i + 1] == NULL)
                return -1;
        }
        return 0;
    }
    size_t n = d->n_matches;
    const char **ids = tdm_arena_calloc(a, n + 1, sizeof(*ids));
    int32_t *status = tdm_arena_calloc(a, n + 1, sizeof(*status));
    int64_t *start = tdm_arena_calloc(a, n + 1, sizeof(*start));
    bool *declined = tdm_arena_calloc(a, n + 1, sizeof(*declined));
    if (ids == NULL || status == NULL || start == NULL || declined == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const Tandem__V1__Match *m = d->matches[i];
        ids[i] = m->id;
        status[i] = (int32_t)m->status;
        start[i] = fb_timestamp_us(m->start_time != NULL ? m->start_time : m->create_time);
        declined[i] =
            m->status == STATUS_DECLINED ||
            (m->mentor_response != NULL &&
             m->mentor_response->decision == TANDEM__V1__MATCH_RESPONSE__DECISION__DECLINED) ||
            (m->mentee_response != NULL &&
             m->mentee_response->decision == TANDEM__V1__MATCH_RESPONSE__DECISION__DECLINED);
    }
    op->params[1] = fb_pg_text_array(ids, n, a);
    op->params[2] = fb_pg_int_array(status, n, a);
    op->params[3] = fb_pg_us_array(start, n, a);
    op->params[4] = fb_pg_bool_array(declined, n, a);
    return op->params[1] == NULL || op->params[2] == NULL || op->params[3] == NULL ||
                   op->params[4] == NULL
               ? -1
               : 0;
}

static void select_match_figures(tdm_store_op *base, PGresult *res)
{
    match_op *op = (match_op *)base;
    (void)res;
    tdm_store_op_query_params(base, MATCH_FIGURES_SQL, MATCH_FIGURES_NPARAMS, op->types, op->params,
                              op->lengths, op->formats, match_figures_read);
}

static void start_match_figures(figures_op *f)
{
    match_op *op =
        tdm_store_op_new(sizeof(*op), &f->req, &FIGURES_OWNER, tdm_handler_reply, f->call);
    if (op == NULL)
        return;
    op->f = f;
    op->params[0] = f->data->programme->id;
    if (bind_matches(op, f->data, f->req.arena) != 0) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    tdm_store_op_start(&op->base, true, select_match_figures);
}

static bool named(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static Google__Protobuf__DoubleValue *double_value(tdm_arena *a, double v)
{
    Google__Protobuf__DoubleValue *d = tdm_arena_alloc(a, sizeof(*d));
    if (d != NULL) {
        google__protobuf__double_value__init(d);
        d->value = v;
    }
    return d;
}

/* The report of the programme: keep its headline counts, and mean rating and NPS
 * only as the report shows them. */
static void report_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    figures_op *f = arg;
    if (tdm_handler_fail(f->call, st))
        return;
    const Tandem__V1__ProgrammeReport *rep = (const void *)msg;
    tdm_arena *a = f->req.arena;
    Tandem__Internal__V1__ProgrammeFigures *out = f->out;
    out->participants = rep->enrolled_mentors + rep->enrolled_mentees;
    out->matched = rep->matched;
    bool ok = true;
    if (rep->check_ins > 0 && !named(rep->suppressed, rep->n_suppressed, "meanRating")) {
        out->mean_rating = double_value(a, rep->mean_rating);
        ok = out->mean_rating != NULL;
    }
    if (ok && rep->nps != NULL && !named(rep->suppressed, rep->n_suppressed, "nps")) {
        out->nps = double_value(a, rep->nps->value);
        ok = out->nps != NULL;
    }
    if (!ok) {
        tdm_call_fail(f->call, tdm_store_oom());
        return;
    }
    start_match_figures(f);
}

static void inputs_got(void *arg, tdm_status *st, fb_programme_data *d)
{
    figures_op *f = arg;
    if (tdm_handler_fail(f->call, st))
        return;
    f->data = d;
    /* No diversity: the benchmark uses no breakdown. */
    fb_store_report(&f->req, d, false, report_got, f);
}

static void handle_programme_figures(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__GetProgrammeFiguresRequest *q = (const void *)msg;
    fb_req r;
    tdm_status *st = fb_req_init(&r, data, call, TDM_SCOPE_FEEDBACK_READ);
    if (st == NULL)
        st = tdm_check_uuid(q->programme_id, "programme_id");
    figures_op *f = st == NULL ? tdm_arena_calloc(r.arena, 1, sizeof(*f)) : NULL;
    Tandem__Internal__V1__ProgrammeFigures *out =
        f != NULL ? tdm_arena_alloc(r.arena, sizeof(*out)) : NULL;
    if (st == NULL && out == NULL)
        st = tdm_store_oom();
    if (tdm_handler_fail(call, st))
        return;
    tandem__internal__v1__programme_figures__init(out);
    f->call = call;
    f->req = r;
    f->svc = data;
    f->out = out;
    fb_peer_report_inputs(data, call, q->programme_id, inputs_got, f);
}

static const tdm_rpc_method_def figures_methods[] = {
    {"GetProgrammeFigures", handle_programme_figures, 0},
};

tdm_status *fb_programme_figures_register(tdm_runtime *rt, fb_service *svc)
{
    return TDM_RUNTIME_SERVE(rt, &tandem__internal__v1__programme_figures_service__descriptor,
                             figures_methods, svc);
}
