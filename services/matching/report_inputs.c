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
#include "tandem/pg_columns.h"

/* A page holds at most this many matches: 85 bytes of columns each, so about
 * 2.6 MB, under TDM_MAX_MESSAGE_BYTES. */
#define REPORT_PAGE_ROWS 30000
#define N_ARRAYS         6
#define N_PARAMS         3
#define STR_(x)          #x
#define STR(x)           STR_(x)

#define T TDM_SQL_TENANT

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

/* Header: count (int4), next cursor (int8). */
static const int HEADER_BYTES[] = {4, 8};

static tdm_status *read_header(const PGresult *res, void *ctx)
{
    Tandem__Internal__V1__MatchColumns *out = ctx;
    out->count = (int32_t)tdm_pg_be32(PQgetvalue(res, 0, 0));
    out->next_after = tdm_pg_be64(PQgetvalue(res, 0, 1));
    return NULL;
}

static void handle_match_columns(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__ListMatchColumnsRequest *q = (const void *)msg;
    mt_req r;
    /* The report's own input: a feedback:read caller's report reads it with its own
     * scopes (nothing here names a person beyond the pair's ids). */
    static const uint32_t READERS[] = {TDM_SCOPE_MATCHING_READ, TDM_SCOPE_FEEDBACK_READ};
    const char **params = NULL;
    Tandem__Internal__V1__MatchColumns *out = (void *)tdm_pg_columns_begin(
        call, mt_req_init(&r, data, call, tdm_scope_pick(call, READERS, 2)),
        &tandem__internal__v1__match_columns__descriptor, q->programme_id, q->after, N_PARAMS,
        &params);
    if (out == NULL)
        return;
    params[2] = STR(REPORT_PAGE_ROWS);
    ProtobufCBinaryData *const arrays[N_ARRAYS] = {&out->id,     &out->mentor_id,  &out->mentee_id,
                                                   &out->status, &out->start_time, &out->declined};
    tdm_pg_columns_respond(&(tdm_pg_columns){
        .call = call,
        .pool = r.pool,
        .ctx = r.ctx,
        .sql = MATCH_COLUMNS_SQL,
        .nparams = N_PARAMS,
        .params = params,
        .what = "match columns",
        .n_header = 2,
        .header_bytes = HEADER_BYTES,
        .header = read_header,
        .header_ctx = out,
        .arrays = arrays,
        .n_arrays = N_ARRAYS,
        .response = &out->base,
    });
}

static const tdm_rpc_method_def columns_methods[] = {
    {"ListMatchColumns", handle_match_columns, 0},
};

tdm_status *mt_report_inputs_register(tdm_runtime *rt, mt_service *svc)
{
    return TDM_RUNTIME_SERVE(rt, &tandem__internal__v1__match_columns_service__descriptor,
                             columns_methods, svc);
}
