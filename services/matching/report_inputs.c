/*
 * report_inputs.c - ListMatchColumns (tandem.internal.v1): every match of a
 * programme as PostgreSQL binary arrays, one per column the report reads, for
 * tandem-feedback's GetProgrammeReport.
 *
 * Why it exists: ListMatches pages of 500 full Match messages (explanations
 * included) each asked enrolment whether the programme exists; the report needs six
 * small columns. One read-only statement aggregates them with array_agg in binary
 * result format, and the bytes go out as they came (feedback binds them as binary
 * parameters).
 *
 * The caller's tenant (row-level security and the WHERE) and scope matching:read,
 * as ListMatches. The programme's existence is not asked of enrolment here: the
 * report's caller asks GetProgramme itself, and a programme the tenant does not hold
 * has no matches in its rows.
 */
#include "report_inputs.h"

#include "tandem/internal/v1/report_inputs.pb-c.h"

/* A page holds at most this many matches: 85 bytes of columns each, so about
 * 2.6 MB, under TDM_MAX_MESSAGE_BYTES. */
#define REPORT_PAGE_ROWS 30000
#define N_ARRAYS         6
#define STR_(x)          #x
#define STR(x)           STR_(x)

#define T "NULLIF(current_setting('app.tenant_id', true), '')::uuid"

/* $1 programme, $2 after seq, $3 max rows. One pass in creation order (the
 * index's): `keep` marks the page; every array aggregates the same kept rows in one
 * node, so the columns stay aligned. One row: count, next cursor (0: last page),
 * then the arrays (NULL: no rows). */
/* clang-format off */
static const char MATCH_COLUMNS_SQL[] =
    "WITH page AS ("
    "  SELECT m.seq, m.id, m.mentor_id, m.mentee_id, m.status::int4 AS status,"
    "         COALESCE(m.start_time, m.create_time) AS start_time,"
    "         (m.status = 3 OR m.mentor_response = 2 OR m.mentee_response = 2) AS declined,"
    "         row_number() OVER (ORDER BY m.seq) <= $3::int AS keep"
    "    FROM " MT_SCHEMA ".matches m"
    "   WHERE m.tenant_id = " T " AND m.programme_id = $1::uuid AND m.seq > $2::bigint"
    "   ORDER BY m.seq LIMIT $3::int + 1)"
    " SELECT (count(*) FILTER (WHERE keep))::int4,"
    "        (CASE WHEN COALESCE(bool_and(keep), true) THEN 0"
    "              ELSE max(seq) FILTER (WHERE keep) END)::int8,"
    "        array_agg(id) FILTER (WHERE keep), array_agg(mentor_id) FILTER (WHERE keep),"
    "        array_agg(mentee_id) FILTER (WHERE keep), array_agg(status) FILTER (WHERE keep),"
    "        array_agg(start_time) FILTER (WHERE keep), array_agg(declined) FILTER (WHERE keep)"
    "   FROM page";
/* clang-format on */

typedef struct columns_op {
    tdm_call *call;
    mt_req req;
    tdm_pg_tx *tx;
    const char *params[3];
    tdm_status *err;
    Tandem__Internal__V1__MatchColumns *out;
} columns_op;

static uint32_t be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void columns_ended(void *arg, tdm_status *st)
{
    columns_op *op = arg;
    if (st != NULL && op->err == NULL)
        op->err = st;
    else if (st != NULL)
        tdm_status_free(st);
    if (op->err != NULL)
        tdm_call_fail(op->call, op->err);
    else
        tdm_call_respond(op->call, &op->out->base);
}

/* Read only: the transaction is rolled back either way, then the call completes. */
static void columns_end(columns_op *op, tdm_status *st)
{
    op->err = st;
    if (op->tx == NULL || tdm_pg_tx_end(op->tx, false, columns_ended, op) != 0)
        columns_ended(op, st == NULL ? tdm_status_new(TDM_INTERNAL, "could not end the "
                                                                    "transaction")
                                     : NULL);
}

static void columns_selected(void *arg, tdm_status *st, PGresult *res)
{
    columns_op *op = arg;
    if (st != NULL) {
        columns_end(op, st);
        return;
    }
    if (PQntuples(res) != 1 || PQnfields(res) != 2 + N_ARRAYS || PQgetlength(res, 0, 0) != 4 ||
        PQgetlength(res, 0, 1) != 8) {
        columns_end(op, tdm_status_new(TDM_INTERNAL, "the match columns were not read"));
        return;
    }
    Tandem__Internal__V1__MatchColumns *out = op->out;
    const char *next = PQgetvalue(res, 0, 1);
    out->count = (int32_t)be32(PQgetvalue(res, 0, 0));
    out->next_after = (int64_t)((uint64_t)be32(next) << 32 | be32(next + 4));
    ProtobufCBinaryData *cols[N_ARRAYS] = {&out->id,     &out->mentor_id,  &out->mentee_id,
                                           &out->status, &out->start_time, &out->declined};
    for (int i = 0; i < N_ARRAYS; i++) {
        if (PQgetisnull(res, 0, 2 + i))
            continue; /* no rows: empty */
        cols[i]->len = (size_t)PQgetlength(res, 0, 2 + i);
        cols[i]->data = tdm_arena_memdup(op->req.arena, PQgetvalue(res, 0, 2 + i), cols[i]->len);
        if (cols[i]->data == NULL) {
            columns_end(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
            return;
        }
    }
    columns_end(op, NULL);
}

static void columns_begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    columns_op *op = arg;
    if (st != NULL) {
        columns_end(op, st);
        return;
    }
    op->tx = tx;
    if (tdm_pg_tx_query_params(tx, MATCH_COLUMNS_SQL, 3, NULL, op->params, NULL, NULL, 1,
                               columns_selected, op) != 0)
        columns_end(op, tdm_status_new(TDM_INTERNAL, "could not send a query"));
}

static void handle_match_columns(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__ListMatchColumnsRequest *q = (const void *)msg;
    mt_req r;
    tdm_status *st = mt_req_init(&r, data, call, TDM_SCOPE_MATCHING_READ);
    if (st == NULL && !mt_uuid_valid(q->programme_id))
        st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid programme_id"),
                                      "programme_id", "must be a UUID");
    if (st == NULL && q->after < 0)
        st = tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid after"),
                                      "after", "must not be negative");
    if (st != NULL) {
        tdm_call_fail(call, st);
        return;
    }
    tdm_arena *a = r.arena;
    columns_op *op = tdm_arena_calloc(a, 1, sizeof(*op));
    Tandem__Internal__V1__MatchColumns *out = tdm_arena_alloc(a, sizeof(*out));
    if (op == NULL || out == NULL) {
        tdm_call_fail(call, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    tandem__internal__v1__match_columns__init(out);
    op->call = call;
    op->req = r;
    op->out = out;
    op->params[0] = q->programme_id;
    op->params[1] = tdm_arena_printf(a, "%lld", (long long)q->after);
    op->params[2] = STR(REPORT_PAGE_ROWS);
    tdm_pg_tx_options opts = {
        .tenant_id = r.ctx->tenant_id,
        .deadline_ms = r.ctx->deadline_ms,
        .read_only = true,
        .request_id = r.ctx->request_id,
    };
    if (op->params[1] == NULL || tdm_pg_tx_begin(r.pool, &opts, columns_begun, op) != 0)
        tdm_call_fail(call, tdm_status_new(TDM_UNAVAILABLE, "the database is unavailable"));
}

static const tdm_rpc_method_def columns_methods[] = {
    {"ListMatchColumns", handle_match_columns, 0},
};

tdm_status *mt_report_inputs_register(tdm_runtime *rt, mt_service *svc)
{
    static tdm_rpc_service_def def = {
        .descriptor = &tandem__internal__v1__match_columns_service__descriptor,
        .methods = columns_methods,
        .n_methods = sizeof(columns_methods) / sizeof(columns_methods[0]),
        .require_context = true,
    };
    def.service_data = svc;
    return tdm_server_add_service(tdm_runtime_server(rt), &def);
}
