/*
 * report_inputs.c - ListParticipantColumns (tandem.internal.v1): the participants of
 * a programme as PostgreSQL binary arrays, one per column the report reads, for
 * tandem-feedback's GetProgrammeReport.
 *
 * Why it exists: a report over 10,000 people through ListParticipants cost 20
 * pages of full Participant messages (JSON rows decoded, protobuf encoded), about
 * 300 ms of this service's CPU. Here one read-only statement aggregates the few
 * columns the report needs with array_agg and answers in binary result format; the
 * bytes go out as they came, and feedback binds them as binary parameters.
 *
 * The same rules as ListParticipants: the caller's tenant (row-level security and
 * the WHERE), scope enrolment:read, erased rows left out, withdrawn ones kept, and
 * diversity data only for an admin caller (NULL elements otherwise). A programme the
 * tenant does not hold is NOT_FOUND. The statement is its own (this file holds the
 * SQL of this one internal call, next to its handler, so the service's store stays
 * the public API's).
 */
#include "report_inputs.h"

#include <string.h>

#include "tandem/internal/v1/report_inputs.pb-c.h"
#include "tandem/pg_columns.h"

/* A page holds at most this many rows and about this many bytes of columns, well
 * under TDM_MAX_MESSAGE_BYTES whatever the strings (a row is at most ~2.5 KB). */
#define REPORT_PAGE_ROWS  25000
#define REPORT_PAGE_BYTES 3000000
/* Column bytes of a row besides its office, practice area, gender and ethnicity:
 * uuid 4+16, three int4 4+4 each, four text length words, two "yes"/"no" 4+3. */
#define REPORT_ROW_FIXED_BYTES 74
#define N_ARRAYS               10
#define N_PARAMS               5
#define STR_(x)                #x
#define STR(x)                 STR_(x)

#define T TDM_SQL_TENANT

/* $1 programme, $2 after seq, $3 include diversity, $4 max rows, $5 max bytes.
 * One pass in enrolment order (the index's): `keep` marks the page's prefix within
 * both bounds; every array aggregates the same kept rows in one node, so the
 * columns stay aligned. One row: programme exists, count, next cursor (0: last
 * page), then the arrays (NULL: no rows). */
/* clang-format off */
static const char PARTICIPANT_COLUMNS_SQL[] =
    "WITH page AS ("
    "  SELECT p.seq, p.id, p.role::int4 AS role, p.status::int4 AS status, p.office,"
    "         p.practice_area, p.seniority_level::int4 AS seniority,"
    "         CASE WHEN $3::bool THEN d.gender END AS gender,"
    "         CASE WHEN $3::bool THEN d.ethnicity END AS ethnicity,"
    "         CASE WHEN $3::bool THEN CASE d.first_generation_professional"
    "              WHEN true THEN 'yes' WHEN false THEN 'no' END END AS first_gen,"
    "         CASE WHEN $3::bool THEN CASE d.disability"
    "              WHEN true THEN 'yes' WHEN false THEN 'no' END END AS disability,"
    "         row_number() OVER w <= $4::int"
    "           AND sum(" STR(REPORT_ROW_FIXED_BYTES) " + octet_length(p.office)"
    "                   + octet_length(p.practice_area)"
    "                   + CASE WHEN $3::bool THEN COALESCE(octet_length(d.gender), 0)"
    "                     + COALESCE(octet_length(d.ethnicity), 0) ELSE 0 END) OVER w"
    "               <= $5::bigint AS keep"
    "    FROM " ENROL_SCHEMA ".participants p LEFT JOIN " ENROL_SCHEMA ".participant_diversity d"
    "      ON d.tenant_id = p.tenant_id AND d.participant_id = p.id"
    "   WHERE p.tenant_id = " T " AND p.programme_id = $1::uuid AND p.seq > $2::bigint"
    "     AND p.erase_time IS NULL"
    "  WINDOW w AS (ORDER BY p.seq) ORDER BY p.seq LIMIT $4::int + 1)"
    " SELECT EXISTS (SELECT 1 FROM " ENROL_SCHEMA ".programmes g"
    "                 WHERE g.tenant_id = " T " AND g.id = $1::uuid),"
    "        (count(*) FILTER (WHERE keep))::int4,"
    "        (CASE WHEN COALESCE(bool_and(keep), true) THEN 0"
    "              ELSE max(seq) FILTER (WHERE keep) END)::int8,"
    "        array_agg(id) FILTER (WHERE keep), array_agg(role) FILTER (WHERE keep),"
    "        array_agg(status) FILTER (WHERE keep), array_agg(office) FILTER (WHERE keep),"
    "        array_agg(practice_area) FILTER (WHERE keep),"
    "        array_agg(seniority) FILTER (WHERE keep), array_agg(gender) FILTER (WHERE keep),"
    "        array_agg(ethnicity) FILTER (WHERE keep), array_agg(first_gen) FILTER (WHERE keep),"
    "        array_agg(disability) FILTER (WHERE keep)"
    "   FROM page";
/* clang-format on */

/* Header: programme exists (bool), count (int4), next cursor (int8). */
static const int HEADER_BYTES[] = {1, 4, 8};

static tdm_status *read_header(const PGresult *res, void *ctx)
{
    Tandem__Internal__V1__ParticipantColumns *out = ctx;
    if (PQgetvalue(res, 0, 0)[0] == 0)
        return tdm_status_new(TDM_NOT_FOUND, "programme not found");
    out->count = (int32_t)tdm_pg_be32(PQgetvalue(res, 0, 1));
    out->next_after = tdm_pg_be64(PQgetvalue(res, 0, 2));
    return NULL;
}

static void handle_participant_columns(tdm_call *call, const ProtobufCMessage *msg, void *data)
{
    const Tandem__Internal__V1__ListParticipantColumnsRequest *q = (const void *)msg;
    enrol_req r;
    /* The report's own input, read with a feedback:read caller's own scopes: office,
     * practice area, seniority and (for admins only) diversity, no names. */
    static const uint32_t READERS[] = {TDM_SCOPE_ENROLMENT_READ, TDM_SCOPE_FEEDBACK_READ};
    const char **params = NULL;
    Tandem__Internal__V1__ParticipantColumns *out = (void *)tdm_pg_columns_begin(
        call, enrol_req_init(&r, data, call, tdm_scope_pick(call, READERS, 2)),
        &tandem__internal__v1__participant_columns__descriptor, q->programme_id, q->after, N_PARAMS,
        &params);
    if (out == NULL)
        return;
    params[2] = r.include_diversity ? "true" : "false";
    params[3] = STR(REPORT_PAGE_ROWS);
    params[4] = STR(REPORT_PAGE_BYTES);
    ProtobufCBinaryData *const arrays[N_ARRAYS] = {
        &out->id,        &out->role,   &out->status,    &out->office,           &out->practice_area,
        &out->seniority, &out->gender, &out->ethnicity, &out->first_generation, &out->disability};
    tdm_pg_columns_respond(&(tdm_pg_columns){
        .call = call,
        .pool = r.pool,
        .ctx = r.ctx,
        .sql = PARTICIPANT_COLUMNS_SQL,
        .nparams = N_PARAMS,
        .params = params,
        .what = "participant columns",
        .n_header = 3,
        .header_bytes = HEADER_BYTES,
        .header = read_header,
        .header_ctx = out,
        .arrays = arrays,
        .n_arrays = N_ARRAYS,
        .response = &out->base,
    });
}

static const tdm_rpc_method_def columns_methods[] = {
    {"ListParticipantColumns", handle_participant_columns, 0},
};

tdm_status *enrol_report_inputs_register(tdm_runtime *rt, enrol_service *svc)
{
    return TDM_RUNTIME_SERVE(rt, &tandem__internal__v1__participant_columns_service__descriptor,
                             columns_methods, svc);
}
