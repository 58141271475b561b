/*
 * store_templates.c - the SQL of programme templates (a file of its own beside
 * store.c, which holds the programmes and participants).
 *
 * A template is a head row (enrolment.programme_templates: id, latest_version) and
 * one immutable row per version (programme_template_versions: the template's JSON
 * without its id, version and times). Templates belong to the platform, not to a
 * tenant, so these tables have no tenant column and no row-level security; every
 * call here comes from a platform key (the handlers check) or, for the read of
 * CreateProgrammeFromTemplate, from the tenant instantiating it. An update locks the
 * head row, reads the latest version, and writes latest + 1 in the same
 * transaction, so concurrent updates make consecutive versions, never the same one.
 */
#include "enrolment.h"

#include <stdlib.h>
#include <string.h>

#include "tandem/json.h"
#include "tandem/outbox.h"
#include "tandem/store.h"

#define US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

/* The row document of a template version: h the head, v the version. */
#define TEMPLATE_JSON                                                                              \
    "json_build_object('id', h.id, 'version', v.version, 'body', v.body,"                          \
    " 'create_us', " US("h.create_time") ", 'update_us', " US("v.create_time") ")::text"

typedef struct template_op {
    tdm_store_op base; /* first */
    const char *params[3];
    int page_size;
    enrol_template_apply_fn apply;
    void *apply_arg;
} template_op;

static const tdm_store_owner TEMPLATE_STORE_OWNER = {.schema = ENROL_SCHEMA,
                                                     .service = ENROL_SERVICE};

static template_op *op_new(const enrol_req *r, enrol_store_cb cb, void *arg)
{
    tdm_store_req sr = {.pool = r->pool, .arena = r->arena, .ctx = r->ctx, .idem = r->idem};
    return tdm_store_op_new(sizeof(template_op), &sr, &TEMPLATE_STORE_OWNER, cb, arg);
}

/* The one template row the statement answered becomes the response; end_fn ends. */
static void template_row(tdm_store_op *base, PGresult *res, void (*end_fn)(tdm_store_op *))
{
    if (!tdm_store_op_found(base, res, "template"))
        return;
    Tandem__V1__ProgrammeTemplate *t = enrol_template_from_row(
        PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), base->req.arena);
    if (!tdm_store_op_allocated(base, t))
        return;
    base->response = &t->base;
    end_fn(base);
}

static void end_read(tdm_store_op *base)
{
    tdm_store_op_end(base, NULL);
}

static void template_read(tdm_store_op *base, PGresult *res)
{
    template_row(base, res, end_read);
}

static void template_written(tdm_store_op *base, PGresult *res)
{
    template_row(base, res, tdm_store_op_commit);
}

/* ---- create --------------------------------------------------------------------- */

void enrol_store_create_template(const enrol_req *r, const Tandem__V1__ProgrammeTemplate *t,
                                 enrol_store_cb cb, void *arg)
{
    template_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->base.response_desc = &tandem__v1__programme_template__descriptor;
    op->params[0] = enrol_template_body_json(t, r->arena);
    if (!tdm_store_op_allocated(&op->base, op->params[0]))
        return;
    static const char sql[] =
        "WITH h AS (INSERT INTO " ENROL_SCHEMA ".programme_templates (id, latest_version)"
        " VALUES (gen_random_uuid(), 1) RETURNING id, create_time),"
        " v AS (INSERT INTO " ENROL_SCHEMA ".programme_template_versions (template_id, version,"
        " body, create_time) SELECT h.id, 1, $1::jsonb, h.create_time FROM h"
        " RETURNING version, body, create_time)"
        " SELECT " TEMPLATE_JSON " FROM h, v";
    tdm_store_op_start_query(&op->base, false, sql, 1, op->params, template_written);
}

/* ---- get and list ----------------------------------------------------------------- */

void enrol_store_get_template(const enrol_req *r, const char *id, int32_t version,
                              enrol_store_cb cb, void *arg)
{
    static const char sql[] =
        "SELECT " TEMPLATE_JSON " FROM " ENROL_SCHEMA ".programme_templates h"
        " JOIN " ENROL_SCHEMA ".programme_template_versions v ON v.template_id = h.id"
        " AND v.version = CASE WHEN $2::int = 0 THEN h.latest_version ELSE $2::int END"
        " WHERE h.id = $1::uuid";
    template_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->params[0] = id;
    op->params[1] = tdm_arena_printf(r->arena, "%d", (int)version);
    if (!tdm_store_op_allocated(&op->base, op->params[1]))
        return;
    tdm_store_op_read_once(&op->base, sql, 2, op->params, template_read);
}

static void list_templates_done(tdm_store_op *base, PGresult *res)
{
    template_op *op = (template_op *)base;
    tdm_arena *a = op->base.req.arena;
    Tandem__V1__ListProgrammeTemplatesResponse *out = tdm_arena_alloc(a, sizeof(*out));
    int n = PQntuples(res);
    int take = n > op->page_size ? op->page_size : n;
    if (!tdm_store_op_allocated(&op->base, out))
        return;
    tandem__v1__list_programme_templates_response__init(out);
    out->templates = tdm_arena_calloc(a, (size_t)(take > 0 ? take : 1), sizeof(*out->templates));
    for (int i = 0; out->templates != NULL && i < take; i++) {
        Tandem__V1__ProgrammeTemplate *t =
            enrol_template_from_row(PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1), a);
        if (!tdm_store_op_allocated(&op->base, t))
            return;
        out->templates[out->n_templates++] = t;
    }
    if (n > op->page_size)
        out->next_page_token =
            tdm_page_token_encode_seq(strtoll(PQgetvalue(res, take - 1, 0), NULL, 10), a);
    op->base.response = &out->base;
    tdm_store_op_end(&op->base, NULL);
}

void enrol_store_list_templates(const enrol_req *r, int page_size, int64_t after_seq,
                                enrol_store_cb cb, void *arg)
{
    /* Oldest first, keyset on the head's seq. */
    static const char sql[] =
        "SELECT h.seq, " TEMPLATE_JSON " FROM " ENROL_SCHEMA ".programme_templates h"
        " JOIN " ENROL_SCHEMA ".programme_template_versions v ON v.template_id = h.id"
        " AND v.version = h.latest_version"
        " WHERE h.seq > $1::bigint ORDER BY h.seq LIMIT $2::int";
    template_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->page_size = page_size;
    op->params[0] = tdm_arena_printf(r->arena, "%lld", (long long)after_seq);
    op->params[1] = tdm_arena_printf(r->arena, "%d", page_size + 1);
    if (op->params[0] == NULL || op->params[1] == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    tdm_store_op_read_once(&op->base, sql, 2, op->params, list_templates_done);
}

/* ---- update: a new version -------------------------------------------------------- */

static void update_template_write(tdm_store_op *base, PGresult *res)
{
    template_op *op = (template_op *)base;
    tdm_arena *a = op->base.req.arena;
    if (!tdm_store_op_found(&op->base, res, "template"))
        return;
    Tandem__V1__ProgrammeTemplate *current =
        enrol_template_from_row(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), a);
    if (!tdm_store_op_allocated(&op->base, current))
        return;
    Tandem__V1__ProgrammeTemplate *next = NULL;
    tdm_status *st = op->apply(op->apply_arg, current, &next);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    op->params[1] = enrol_template_body_json(next, a);
    if (!tdm_store_op_allocated(&op->base, op->params[1]))
        return;
    static const char sql[] =
        "WITH h AS (UPDATE " ENROL_SCHEMA ".programme_templates"
        " SET latest_version = latest_version + 1 WHERE id = $1::uuid"
        " RETURNING id, latest_version, create_time),"
        " v AS (INSERT INTO " ENROL_SCHEMA ".programme_template_versions (template_id, version,"
        " body) SELECT h.id, h.latest_version, $2::jsonb FROM h"
        " RETURNING version, body, create_time)"
        " SELECT " TEMPLATE_JSON " FROM h, v";
    tdm_store_op_query(&op->base, sql, 2, op->params, template_written);
}

/* The head is locked first; the latest version is read by a statement of its own, so
 * it sees a version committed by an update this one waited for. */
static void update_template_read(tdm_store_op *base, PGresult *res)
{
    template_op *op = (template_op *)base;
    if (!tdm_store_op_found(&op->base, res, "template"))
        return;
    static const char sql[] =
        "SELECT " TEMPLATE_JSON " FROM " ENROL_SCHEMA ".programme_templates h"
        " JOIN " ENROL_SCHEMA ".programme_template_versions v ON v.template_id = h.id"
        " AND v.version = h.latest_version WHERE h.id = $1::uuid";
    tdm_store_op_query(&op->base, sql, 1, op->params, update_template_write);
}

void enrol_store_update_template(const enrol_req *r, const char *id, enrol_template_apply_fn apply,
                                 void *apply_arg, enrol_store_cb cb, void *arg)
{
    template_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->params[0] = id;
    op->apply = apply;
    op->apply_arg = apply_arg;
    static const char sql[] = "SELECT 1 FROM " ENROL_SCHEMA ".programme_templates"
                              " WHERE id = $1::uuid FOR UPDATE";
    tdm_store_op_start_query(&op->base, false, sql, 1, op->params, update_template_read);
}

/* ---- the survey schedule ---------------------------------------------------------- */

int enrol_store_claim_due_surveys(tdm_pg_pool *pool, const char *request_id,
                                  const char *const params[4], tdm_pg_result_cb cb, void *arg)
{
    /* A transaction bound to no tenant: the scheduler_claim policy lets it see every
     * tenant's rows (018_programme_templates.sql). A row is due on its open_date in
     * UTC, "now" moved by the test clock offset ($1 seconds). A lease that ran out
     * (its holder died or stalled) makes the row claimable again; claim_id fences
     * the holder's write. */
    static const char sql[] =
        "UPDATE " ENROL_SCHEMA ".scheduled_surveys s SET claim_id = gen_random_uuid(),"
        " lease_until = now() + make_interval(secs => $3::int), attempts = s.attempts + 1"
        " WHERE (s.tenant_id, s.id) IN (SELECT tenant_id, id FROM " ENROL_SCHEMA
        ".scheduled_surveys WHERE survey_id IS NULL AND attempts < $4::int"
        " AND open_date <= ((now() + make_interval(secs => $1::bigint)) AT TIME ZONE 'UTC')::date"
        " AND (lease_until IS NULL OR lease_until < now())"
        " ORDER BY open_date LIMIT $2::int FOR UPDATE SKIP LOCKED)"
        " RETURNING s.tenant_id::text, s.id::text, s.programme_id::text, s.claim_id::text,"
        " s.survey::text";
    tdm_pg_tx_options o = {.tenant_id = NULL, .request_id = request_id};
    return tdm_pg_exec(pool, &o, sql, 4, params, cb, arg);
}

typedef struct opened_op {
    tdm_store_op base; /* first */
    const char *params[3];
    const Tandem__V1__Survey *survey;
} opened_op;

static void survey_opened(tdm_store_op *base, PGresult *res)
{
    opened_op *op = (opened_op *)base;
    tdm_arena *a = op->base.req.arena;
    if (!tdm_store_op_one_row(base, res, TDM_ABORTED, "the claim was lost"))
        return;
    tdm_json_writer w = {0};
    tdm_json_writer_raw(&w, "{\"survey\":", 10);
    tdm_json_writer_message(&w, &op->survey->base);
    tdm_json_writer_raw(&w, "}", 1);
    op->base.response = (ProtobufCMessage *)&op->survey->base;
    tdm_store_op_emit_event(base,
                            (tdm_outbox_event){
                                .type = "survey.opened",
                                .resource_id = op->survey->id,
                                .ordering_key = op->survey->programme_id,
                                .data_json = tdm_json_writer_finish(&w, a, NULL),
                            },
                            NULL);
}

void enrol_store_record_survey_opened(const enrol_req *r, const char *id, const char *claim_id,
                                      const Tandem__V1__Survey *survey, enrol_store_cb cb,
                                      void *arg)
{
    tdm_store_req sr = {.pool = r->pool, .arena = r->arena, .ctx = r->ctx};
    opened_op *op = tdm_store_op_new(sizeof(*op), &sr, &TEMPLATE_STORE_OWNER, cb, arg);
    if (op == NULL)
        return;
    op->params[0] = id;
    op->params[1] = claim_id;
    op->params[2] = survey->id;
    op->survey = survey;
    static const char sql[] =
        "UPDATE " ENROL_SCHEMA ".scheduled_surveys SET survey_id = $3::uuid, open_time = now(),"
        " lease_until = NULL WHERE tenant_id = " TDM_SQL_TENANT " AND id = $1::uuid"
        " AND claim_id = $2::uuid AND survey_id IS NULL RETURNING id";
    tdm_store_op_start_query(&op->base, false, sql, 3, op->params, survey_opened);
}
