/*
 * store.c - every SQL statement of the enrolment service.
 *
 * Each store call is one transaction on the pool, driven as a small chain of
 * statements by a store_op: begin (tenant set by the pool) -> [idempotency claim]
 * -> the statements of the operation -> [outbox] -> [idempotency finish] -> COMMIT,
 * then one callback with the response message or the status. A failure anywhere
 * rolls the whole transaction back, so an effect, its events and its idempotency
 * record commit together or not at all. Statements are parameterised; rows come
 * back as JSON documents (rows.c maps them), except the upsert's, which answers only
 * the columns the database fills in. SQLSTATEs become statuses only through
 * tdm_pg_status_from_result (inside the pool).
 */
#include "enrolment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/log.h"
#include "tandem/outbox.h"
#include "tandem/person_data.h"
#include "tandem/protobuf.h"
#include "tandem/store.h"

#include "participant_sql.h"

#define PROGRAMME_JSON                                                                             \
    "json_build_object('id', g.id, 'name', g.name, 'description', g.description, 'kind', g.kind,"  \
    " 'objectives', g.objectives, 'status', g.status,"                                             \
    " 'start_date', COALESCE(to_char(g.start_date, 'YYYY-MM-DD'), ''),"                            \
    " 'end_date', COALESCE(to_char(g.end_date, 'YYYY-MM-DD'), ''),"                                \
    " 'check_in_cadence_days', g.check_in_cadence_days,"                                           \
    " 'anonymity_threshold', g.anonymity_threshold, 'weights_set', g.weights_set,"                 \
    " 'w_skills', g.w_skills, 'w_interests', g.w_interests, 'w_objectives', g.w_objectives,"       \
    " 'w_availability', g.w_availability, 'w_language', g.w_language,"                             \
    " 'w_seniority', g.w_seniority, 'w_perspective', g.w_perspective,"                             \
    " 'w_background', g.w_background, 'min_score', g.min_score,"                                   \
    " 'default_mentor_capacity', g.default_mentor_capacity, 'gap_min', g.gap_min,"                 \
    " 'gap_max', g.gap_max, 'forbid_same_department', g.forbid_same_department,"                   \
    " 'forbid_reporting_line', g.forbid_reporting_line,"                                           \
    " 'require_shared_language', g.require_shared_language, 'objective', g.objective,"             \
    " 'create_us', " US("g.create_time") ", 'update_us', " US(                                     \
        "g.update_time") ", 'template_id', g.template_id, 'template_version', g.template_version," \
                         " 'mentor_count', (SELECT count(*) FROM " ENROL_SCHEMA ".participants c"  \
                         "   WHERE c.tenant_id = g.tenant_id AND c.programme_id = g.id AND "       \
                         "c.role = 1"                                                              \
                         "   AND c.status <> 3),"                                                  \
                         " 'mentee_count', (SELECT count(*) FROM " ENROL_SCHEMA ".participants c"  \
                         "   WHERE c.tenant_id = g.tenant_id AND c.programme_id = g.id AND "       \
                         "c.role = 2"                                                              \
                         "   AND c.status <> 3))::text"

/* The programme's writable columns, as parameters $2..$29 ($1 is the id). */
#define PROGRAMME_COLUMNS                                                                          \
    "name, description, kind, objectives, status, start_date, end_date,"                           \
    " check_in_cadence_days, anonymity_threshold, weights_set, w_skills, w_interests,"             \
    " w_objectives, w_availability, w_language, w_seniority, w_perspective, w_background,"         \
    " min_score, default_mentor_capacity, gap_min, gap_max, forbid_same_department,"               \
    " forbid_reporting_line, require_shared_language, objective"
#define PROGRAMME_VALUES                                                                           \
    "$2, $3, $4::smallint, $5::jsonb, $6::smallint, $7::date, $8::date, $9::int, $10::int,"        \
    " $11::bool, $12::float8, $13::float8, $14::float8, $15::float8, $16::float8, $17::float8,"    \
    " $18::float8, $19::float8, $20::float8, $21::int, $22::int, $23::int, $24::bool, $25::bool,"  \
    " $26::bool, $27::smallint"
#define PROGRAMME_NPARAMS 27

/* The upsert of participants into programme $1 from binary arrays, one a column
 * ($2..$29, rows.c's enrol_rows: lists come as text[] literals, cast per row). A
 * row just inserted has no diversity record to drop, so div_drop probes only
 * updated rows. */
#define UPSERT_INPUT                                                                               \
    "WITH input AS MATERIALIZED (SELECT ord, external_id, display_name, email, role,"              \
    " seniority_level, years_qualified, practice_area, office, department,"                        \
    " reporting_chain::text[] AS reporting_chain, skill_names::text[] AS skill_names,"             \
    " skill_levels::smallint[] AS skill_levels, interests::text[] AS interests,"                   \
    " goals::text[] AS goals, languages::text[] AS languages, availability_hours_per_month,"       \
    " timezone, capacity, consent_data_processing, consent_diversity_data, consent_granted_secs,"  \
    " has_diversity, gender, ethnicity, first_generation_professional, disability, other"          \
    " FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::smallint[], $7::int[],"       \
    " $8::int[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],"     \
    " $15::text[], $16::text[], $17::text[], $18::int[], $19::text[], $20::int[], $21::bool[],"    \
    " $22::bool[], $23::text[], $24::bool[], $25::text[], $26::text[], $27::bool[], $28::bool[],"  \
    " $29::text[]) AS r(ord, external_id, display_name, email, role, seniority_level,"             \
    " years_qualified, practice_area, office, department, reporting_chain, skill_names,"           \
    " skill_levels, interests, goals, languages, availability_hours_per_month, timezone,"          \
    " capacity, consent_data_processing, consent_diversity_data, consent_granted_secs,"            \
    " has_diversity, gender, ethnicity, first_generation_professional, disability, other)), "      \
    "up AS (INSERT INTO " ENROL_SCHEMA ".participants AS t (tenant_id, programme_id,"              \
    " external_id, display_name, email, role, seniority_level, years_qualified, practice_area,"    \
    " office, department, reporting_chain, skill_names, skill_levels, interests, goals,"           \
    " languages, availability_hours_per_month, timezone, capacity, consent_data_processing,"       \
    " consent_diversity_data, consent_granted_time)"                                               \
    " SELECT " T ", $1::uuid, external_id, display_name, email, role, seniority_level,"            \
    " years_qualified, practice_area, office, department, reporting_chain, skill_names,"           \
    " skill_levels, interests, goals, languages, availability_hours_per_month, timezone,"          \
    " capacity, consent_data_processing, consent_diversity_data,"                                  \
    " CASE WHEN consent_data_processing OR consent_diversity_data THEN"                            \
    "  COALESCE(to_timestamp(consent_granted_secs::numeric), now()) END"                           \
    " FROM input ORDER BY ord "
#define UPSERT_CONFLICT                                                                            \
    " ON CONFLICT (tenant_id, programme_id, external_id) DO UPDATE SET"                            \
    " display_name = EXCLUDED.display_name, email = EXCLUDED.email, role = EXCLUDED.role,"         \
    " seniority_level = EXCLUDED.seniority_level, years_qualified = EXCLUDED.years_qualified,"     \
    " practice_area = EXCLUDED.practice_area, office = EXCLUDED.office,"                           \
    " department = EXCLUDED.department, reporting_chain = EXCLUDED.reporting_chain,"               \
    " skill_names = EXCLUDED.skill_names, skill_levels = EXCLUDED.skill_levels,"                   \
    " interests = EXCLUDED.interests, goals = EXCLUDED.goals, languages = EXCLUDED.languages,"     \
    " availability_hours_per_month = EXCLUDED.availability_hours_per_month,"                       \
    " timezone = EXCLUDED.timezone, capacity = EXCLUDED.capacity,"                                 \
    " consent_data_processing = EXCLUDED.consent_data_processing,"                                 \
    " consent_diversity_data = EXCLUDED.consent_diversity_data,"                                   \
    " consent_granted_time = EXCLUDED.consent_granted_time, update_time = now()"
/* clang-format off */
#define UPSERT_REST                                                                           \
    " RETURNING t.tenant_id, t.id, t.programme_id, t.external_id, t.status,"                  \
    " t.consent_granted_time, t.create_time, t.update_time, t.withdraw_time,"                 \
    " t.withdraw_reason, (t.xmax = 0) AS inserted), "                                         \
    "div_put AS (INSERT INTO " ENROL_SCHEMA ".participant_diversity AS x (tenant_id,"         \
    " participant_id, gender, ethnicity, first_generation_professional, disability, other)"   \
    " SELECT up.tenant_id, up.id, i.gender, i.ethnicity, i.first_generation_professional,"    \
    " i.disability, i.other FROM up JOIN input i USING (external_id) WHERE i.has_diversity"   \
    " ON CONFLICT (tenant_id, participant_id) DO UPDATE SET gender = EXCLUDED.gender,"        \
    " ethnicity = EXCLUDED.ethnicity,"                                                        \
    " first_generation_professional = EXCLUDED.first_generation_professional,"                \
    " disability = EXCLUDED.disability, other = EXCLUDED.other, update_time = now()), "       \
    "div_drop AS (DELETE FROM " ENROL_SCHEMA ".participant_diversity x USING up"              \
    " JOIN input i USING (external_id) WHERE x.tenant_id = up.tenant_id"                      \
    " AND x.participant_id = up.id AND NOT i.has_diversity AND NOT up.inserted) "             \
    "SELECT i.ord, p.inserted, p.id, p.programme_id, p.status,"                               \
    " " US("p.consent_granted_time") ", " US("p.create_time") ","                             \
    " " US("p.update_time") ", " US("p.withdraw_time") ", p.withdraw_reason"                  \
    " FROM up p JOIN input i USING (external_id)"
/* clang-format on */

static const char SQL_UPSERT_INSERT[] = UPSERT_INPUT UPSERT_REST;
static const char SQL_UPSERT_BATCH[] = UPSERT_INPUT UPSERT_CONFLICT UPSERT_REST;

/* One store call: the runtime's transaction chain (tandem/store.h) first, then the
 * state of the operation. */
typedef struct store_op {
    tdm_store_op base;
    bool include_diversity; /* the caller has the admin scope */
    const char *id;
    const char *programme_id;
    Tandem__V1__Participant **rows; /* decoded rows (Enrol, UpdateParticipant) */
    const ProtobufCMessage *lazy;   /* or BatchEnrol's request, its rows still bytes */
    const char **external_ids;      /* each row's */
    char **profiles;                /* each row's directory profile, or NULL */
    tdm_status **row_errors;
    size_t n_rows;
    bool batch;                       /* answer a BatchEnrolResponse */
    bool upsert;                      /* ON CONFLICT (external_id) DO UPDATE */
    enrol_rows columns;               /* the next chunk's, encoded while one runs */
    size_t next_row;                  /* the first row not yet in a chunk */
    size_t ready_lo, ready_hi;        /* the rows of the chunk in columns */
    size_t sent_lo, sent_hi;          /* the rows of the chunk in flight */
    Tandem__V1__Participant **stored; /* each row as written (NULL: refused) */
    bool *inserted;                   /* a new row, whose event is written */
    char *doc;
    const char *keys; /* the rows' external ids, a JSON array (the directory lookup) */
    const char **params;
    enrol_programme_apply_fn apply_programme;
    enrol_participant_apply_fn apply_participant;
    void *apply_arg;
    char ***ids_out;
    size_t *n_ids_out;
    const uint8_t *person_hash;
    const char *external_id;
    const char *unreachable;
    const char *reason;
    int64_t after_seq;
    int page_size;
    int audit_participants;
} store_op;

const tdm_store_owner ENROL_STORE_OWNER = {.schema = ENROL_SCHEMA, .service = ENROL_SERVICE};

/* An operation for r; NULL when out of memory (cb has been called). */
static store_op *op_new(const enrol_req *r, enrol_store_cb cb, void *arg)
{
    tdm_store_req sr = {.pool = r->pool, .arena = r->arena, .ctx = r->ctx, .idem = r->idem};
    store_op *op = tdm_store_op_new(sizeof(*op), &sr, &ENROL_STORE_OWNER, cb, arg);
    if (op != NULL)
        op->include_diversity = r->include_diversity;
    return op;
}

/* ---- programmes ----------------------------------------------------------------- */

static const char *fmt_double(tdm_arena *a, double v)
{
    return tdm_arena_printf(a, "%.17g", v);
}

static const char *fmt_int(tdm_arena *a, long v)
{
    return tdm_arena_printf(a, "%ld", v);
}

static const char *fmt_bool(bool v)
{
    return v ? "true" : "false";
}

/* $1 = id (or NULL), $2.. the writable columns of p. NULL when out of memory. */
static const char **programme_params(const Tandem__V1__Programme *p, const char *id, tdm_arena *a)
{
    /* Two more for the create's template_id and template_version ($28, $29). */
    const char **v = tdm_arena_calloc(a, PROGRAMME_NPARAMS + 2, sizeof(*v));
    if (v == NULL)
        return NULL;
    const Tandem__V1__MatchingPolicy *mp = p->matching_policy;
    Tandem__V1__MatchingPolicy defaults = TANDEM__V1__MATCHING_POLICY__INIT;
    if (mp == NULL)
        mp = &defaults;
    const Tandem__V1__CriterionWeights *w = mp->weights;
    v[0] = id;
    v[1] = p->name;
    v[2] = p->description;
    v[3] = fmt_int(a, p->kind);
    v[4] = enrol_objectives_json(p, a);
    v[5] = fmt_int(a, p->status == 0 ? TANDEM__V1__PROGRAMME__STATUS__DRAFT : p->status);
    v[6] = p->start_date[0] != '\0' ? p->start_date : NULL;
    v[7] = p->end_date[0] != '\0' ? p->end_date : NULL;
    v[8] = fmt_int(a, p->check_in_cadence_days == 0 ? 14 : p->check_in_cadence_days);
    v[9] = fmt_int(a, p->anonymity_threshold == 0 ? 5 : p->anonymity_threshold);
    v[10] = fmt_bool(w != NULL);
    v[11] = fmt_double(a, w ? w->skills : 0);
    v[12] = fmt_double(a, w ? w->interests : 0);
    v[13] = fmt_double(a, w ? w->objectives : 0);
    v[14] = fmt_double(a, w ? w->availability : 0);
    v[15] = fmt_double(a, w ? w->language : 0);
    v[16] = fmt_double(a, w ? w->seniority : 0);
    v[17] = fmt_double(a, w ? w->perspective : 0);
    v[18] = fmt_double(a, w ? w->background : 0);
    v[19] = fmt_double(a, mp->min_score);
    v[20] = fmt_int(a, mp->default_mentor_capacity);
    v[21] = mp->seniority_gap && mp->seniority_gap->min ? fmt_int(a, mp->seniority_gap->min->value)
                                                        : NULL;
    v[22] = mp->seniority_gap && mp->seniority_gap->max ? fmt_int(a, mp->seniority_gap->max->value)
                                                        : NULL;
    v[23] = fmt_bool(mp->forbid_same_department);
    v[24] = mp->forbid_reporting_line ? fmt_bool(mp->forbid_reporting_line->value) : NULL;
    v[25] = fmt_bool(mp->require_shared_language);
    v[26] = fmt_int(a, mp->objective);
    return v[4] != NULL ? v : NULL;
}

/* A single programme row answered by the statement just run, or NOT_FOUND. */
/* List items (tdm_store_op_page); a document of this file's SQL that does not
 * decode is out of memory. */
static tdm_status *programme_item(const char *doc, size_t len, tdm_arena *a, const void *ctx,
                                  void **out)
{
    (void)ctx;
    *out = enrol_programme_from_row(doc, len, a);
    return *out != NULL ? NULL : tdm_store_oom();
}

static void programme_row_done(tdm_store_op *base, PGresult *res)
{
    if (tdm_store_op_answer_row(base, res, "programme", programme_item, NULL))
        tdm_store_op_commit(base);
}

static void create_programme_scheduled(tdm_store_op *base, PGresult *res)
{
    (void)res;
    tdm_store_op_commit(base);
}

/* A template's surveys, scheduled to open relative to the programme's start_date
 * (the scheduler creates them in feedback on their day). */
static void create_programme_schedule(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    Tandem__V1__Programme *p =
        PQntuples(res) == 1
            ? enrol_programme_from_row(PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0),
                                       op->base.req.arena)
            : NULL;
    if (!tdm_store_op_allocated(&op->base, p))
        return;
    op->base.response = &p->base;
    const char **params = NULL;
    if (!tdm_store_op_params(&op->base, &params, 3, p->id, p->start_date, op->doc))
        return;
    static const char sql[] =
        "INSERT INTO " ENROL_SCHEMA ".scheduled_surveys (tenant_id, programme_id, ordinal,"
        " open_date, survey) SELECT " T ", $1::uuid, s.ordinal, $2::date + s.open_day, s.survey"
        " FROM jsonb_to_recordset($3::jsonb) AS s(ordinal int, open_day int, survey jsonb)";
    tdm_store_op_query(&op->base, sql, 3, params, create_programme_scheduled);
}

static void create_programme_insert(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    (void)res;
    static const char sql[] =
        "WITH g AS (INSERT INTO " ENROL_SCHEMA ".programmes (tenant_id, id, template_id,"
        " template_version, " PROGRAMME_COLUMNS ") VALUES (" T ", COALESCE($1::uuid,"
        " gen_random_uuid()), $28::uuid, $29::int, " PROGRAMME_VALUES
        ") RETURNING *) SELECT " PROGRAMME_JSON " FROM g";
    tdm_store_op_query(&op->base, sql, PROGRAMME_NPARAMS + 2, op->params,
                       op->doc != NULL ? create_programme_schedule : programme_row_done);
}

void enrol_store_create_programme(const enrol_req *r, const Tandem__V1__Programme *p,
                                  const Tandem__V1__TemplateRef *from, const char *schedule,
                                  enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->base.response_desc = &tandem__v1__programme__descriptor;
    op->params = programme_params(p, NULL, r->arena);
    if (!tdm_store_op_allocated(&op->base, op->params))
        return;
    if (from != NULL) {
        op->params[PROGRAMME_NPARAMS] = from->id;
        op->params[PROGRAMME_NPARAMS + 1] = fmt_int(r->arena, from->version);
        op->doc = (char *)schedule;
    }
    tdm_store_op_start(&op->base, false, create_programme_insert);
}

void enrol_store_get_programme(const enrol_req *r, const char *id, enrol_store_cb cb, void *arg)
{
    static const char sql[] = "SELECT " PROGRAMME_JSON " FROM " ENROL_SCHEMA ".programmes g"
                              " WHERE g.tenant_id = " T " AND g.id = $1::uuid";
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->id = id;
    tdm_store_op_read_once(&op->base, sql, 1, &op->id, programme_row_done);
}

static void list_programmes_done(tdm_store_op *base, PGresult *res)
{
    static const tdm_store_page page = {.desc = &tandem__v1__list_programmes_response__descriptor,
                                        .field = "programmes",
                                        .column = 1,
                                        .row = programme_item};
    tdm_store_op_page(base, res, ((store_op *)base)->page_size, &page);
}

void enrol_store_list_programmes(const enrol_req *r, const Tandem__V1__ListProgrammesRequest *q,
                                 int page_size, int64_t after_seq, enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    tdm_arena *a = r->arena;
    if (op == NULL ||
        !tdm_store_op_params(&op->base, &op->params, 4,
                             tdm_arena_printf(a, "%lld", (long long)after_seq),
                             fmt_int(a, q->status), fmt_int(a, q->kind), fmt_int(a, page_size + 1)))
        return;
    op->page_size = page_size;
    /* Newest first: keyset on seq descending; 0 means "from the newest". */
    static const char sql[] =
        "SELECT g.seq, " PROGRAMME_JSON " FROM " ENROL_SCHEMA ".programmes g"
        " WHERE g.tenant_id = " T " AND ($1::bigint = 0 OR g.seq < $1::bigint)"
        " AND ($2::int = 0 OR g.status = $2::int) AND ($3::int = 0 OR g.kind = $3::int)"
        " ORDER BY g.seq DESC LIMIT $4::int";
    tdm_store_op_start_query(&op->base, true, sql, 4, op->params, list_programmes_done);
}

static void update_programme_write(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "programme"))
        return;
    Tandem__V1__Programme *current = enrol_programme_from_row(
        PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), op->base.req.arena);
    if (!tdm_store_op_allocated(&op->base, current))
        return;
    Tandem__V1__Programme *next = NULL;
    tdm_status *st = op->apply_programme(op->apply_arg, current, &next);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    op->params = programme_params(next, op->id, op->base.req.arena);
    if (!tdm_store_op_allocated(&op->base, op->params))
        return;
    static const char sql[] =
        "WITH g AS (UPDATE " ENROL_SCHEMA ".programmes SET (" PROGRAMME_COLUMNS
        ", update_time) = (" PROGRAMME_VALUES ", now()) WHERE tenant_id = " T
        " AND id = $1::uuid RETURNING *) SELECT " PROGRAMME_JSON " FROM g";
    tdm_store_op_query(&op->base, sql, PROGRAMME_NPARAMS, op->params, programme_row_done);
}

void enrol_store_update_programme(const enrol_req *r, const char *id,
                                  enrol_programme_apply_fn apply, void *apply_arg,
                                  enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->id = id;
    op->apply_programme = apply;
    op->apply_arg = apply_arg;
    static const char sql[] = "SELECT " PROGRAMME_JSON " FROM " ENROL_SCHEMA ".programmes g"
                              " WHERE g.tenant_id = " T " AND g.id = $1::uuid FOR UPDATE";
    tdm_store_op_start_query(&op->base, false, sql, 1, &op->id, update_programme_write);
}

/* ---- participants --------------------------------------------------------------- */

/* ctx: the caller may see diversity data (const bool *). */
static tdm_status *participant_item(const char *doc, size_t len, tdm_arena *a, const void *ctx,
                                    void **out)
{
    *out = enrol_participant_from_row(doc, len, a, *(const bool *)ctx);
    return *out != NULL ? NULL : tdm_store_oom();
}

static void participant_row_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (tdm_store_op_answer_row(base, res, "participant", participant_item, &op->include_diversity))
        tdm_store_op_end(base, NULL);
}

void enrol_store_get_participant(const enrol_req *r, const char *id, enrol_store_cb cb, void *arg)
{
    static const char sql[] =
        "SELECT " PARTICIPANT_JSON PARTICIPANT_FROM " WHERE p.tenant_id = " T " AND p.id = $1::uuid"
        " AND p.erase_time IS NULL";
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->id = id;
    tdm_store_op_read_once(&op->base, sql, 1, &op->id, participant_row_done);
}

static void list_participants_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    const tdm_store_page page = {.desc = &tandem__v1__list_participants_response__descriptor,
                                 .field = "participants",
                                 .column = 1,
                                 .row = participant_item,
                                 .row_ctx = &op->include_diversity};
    tdm_store_op_page(base, res, op->page_size, &page);
}

static void list_participants_select(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "programme"))
        return;
    /* Enrolment order: keyset on seq, which an upsert keeps, so rows inserted
     * between pages land after the cursor and nothing is skipped or repeated. */
    static const char sql[] =
        "SELECT p.seq, " PARTICIPANT_JSON PARTICIPANT_FROM " WHERE p.tenant_id = " T
        " AND p.programme_id = $1::uuid AND p.seq > $2::bigint"
        " AND p.erase_time IS NULL AND ($3::int = 0 OR p.role = $3::int)"
        " AND ($4::int = 0 OR p.status = $4::int) AND ($5 = '' OR p.external_id = $5)"
        " ORDER BY p.seq LIMIT $6::int";
    tdm_store_op_query_prepared(&op->base, sql, 6, op->params, list_participants_done);
}

void enrol_store_list_participants(const enrol_req *r, const Tandem__V1__ListParticipantsRequest *q,
                                   int page_size, int64_t after_seq, enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    tdm_arena *a = r->arena;
    if (op == NULL ||
        !tdm_store_op_params(&op->base, &op->params, 6, q->programme_id,
                             tdm_arena_printf(a, "%lld", (long long)after_seq), fmt_int(a, q->role),
                             fmt_int(a, q->status), q->external_id, fmt_int(a, page_size + 1)))
        return;
    op->page_size = page_size;
    static const char sql[] = "SELECT 1 FROM " ENROL_SCHEMA ".programmes"
                              " WHERE tenant_id = " T " AND id = $1::uuid";
    tdm_store_op_start_prepared(&op->base, true, sql, 1, op->params, list_participants_select);
}

/* ---- enrolment (Enrol, BatchEnrol, and the write of UpdateParticipant) ----------- */

static tdm_status *row_error_status(tdm_status *st, Tandem__V1__RowError **out, tdm_arena *a)
{
    Tandem__V1__RowError *e = tdm_arena_alloc(a, sizeof(*e));
    if (e == NULL)
        return tdm_store_oom();
    tandem__v1__row_error__init(e);
    e->code = (int32_t)st->code;
    e->message = tdm_arena_strdup(a, st->message != NULL ? st->message : "");
    if (st->n_violations > 0) {
        e->details = tdm_arena_calloc(a, st->n_violations, sizeof(*e->details));
        for (size_t i = 0; e->details != NULL && i < st->n_violations; i++) {
            Tandem__V1__FieldViolation *fv = tdm_arena_alloc(a, sizeof(*fv));
            if (fv == NULL)
                return tdm_store_oom();
            tandem__v1__field_violation__init(fv);
            fv->field = tdm_arena_strdup(a, st->violations[i].field);
            fv->description = tdm_arena_strdup(a, st->violations[i].description);
            e->details[e->n_details++] = fv;
        }
    }
    *out = e;
    return NULL;
}

/* Row i as it is written: BatchEnrol's decoded from its bytes into `a` with its
 * directory profile applied; the others as they are (their profile was applied
 * once). NULL with *st set when it cannot be decoded or out of memory. */
static Tandem__V1__Participant *op_row(store_op *op, size_t i, tdm_arena *a, tdm_status **st)
{
    *st = NULL;
    if (op->lazy == NULL)
        return op->rows[i];
    Tandem__V1__Participant *p =
        (Tandem__V1__Participant *)tdm_protobuf_lazy_unpack(op->lazy, i, a, st);
    if (p != NULL && op->profiles != NULL && op->profiles[i] != NULL)
        *st = enrol_directory_fill(p, op->profiles[i], a);
    return *st == NULL ? p : NULL;
}

/* The rows are written ENROL_CHUNK_ROWS to a statement, every chunk and its events
 * in the one transaction, and the service works while PostgreSQL does. The
 * statements alternate - the upsert of chunk k+1, then the events of chunk k - and
 * each goes out as soon as the one before answers: while PostgreSQL writes the
 * upsert, the service builds the last chunk's answers and events; while it writes the
 * events, the service encodes the next chunk's columns (bench/RESULTS.md, "BatchEnrol
 * in chunks"). Each chunk's sort by ord stays within work_mem, and each buffer is a
 * chunk's, not the batch's. */
#define ENROL_CHUNK_ROWS 2000

/* Room for every row's answer and event; the events grow in row order. */
static tdm_status *written_init(store_op *op)
{
    tdm_arena *a = op->base.req.arena;
    op->stored = tdm_arena_calloc(a, op->n_rows, sizeof(*op->stored));
    op->inserted = tdm_arena_calloc(a, op->n_rows, sizeof(*op->inserted));
    op->base.events = tdm_arena_calloc(a, op->n_rows, sizeof(*op->base.events));
    if (op->stored == NULL || op->inserted == NULL || op->base.events == NULL)
        return tdm_store_oom();
    op->base.events_cap = op->n_rows;
    return NULL;
}

/* One chunk's answer, rows [lo, hi): each row as stored and, when it was inserted,
 * its participant.enrolled event. */
static tdm_status *chunk_stored(store_op *op, PGresult *res, size_t lo, size_t hi)
{
    tdm_arena *a = op->base.req.arena;
    int n = PQntuples(res);
    /* Each row answers in no particular order: ord places it. */
    for (int i = 0; i < n; i++) {
        long ord = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (ord < (long)lo || (size_t)ord >= hi || op->stored[ord] != NULL)
            return tdm_status_new(TDM_INTERNAL, "unexpected row");
        enrol_stored_columns col = {
            .id = PQgetvalue(res, i, 2),
            .programme_id = PQgetvalue(res, i, 3),
            .status = PQgetvalue(res, i, 4),
            .consent_granted_us = PQgetisnull(res, i, 5) ? NULL : PQgetvalue(res, i, 5),
            .create_us = PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6),
            .update_us = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7),
            .withdraw_us = PQgetisnull(res, i, 8) ? NULL : PQgetvalue(res, i, 8),
            .withdraw_reason = PQgetisnull(res, i, 9) ? NULL : PQgetvalue(res, i, 9),
        };
        tdm_status *st = NULL;
        Tandem__V1__Participant *sent = op_row(op, (size_t)ord, a, &st);
        if (sent == NULL)
            return st;
        op->stored[ord] = enrol_participant_stored(sent, &col, op->include_diversity, a);
        if (op->stored[ord] == NULL)
            return tdm_store_oom();
        op->inserted[ord] = PQgetvalue(res, i, 1)[0] == 't';
    }
    /* Events in the order of the rows sent, as their seq follows it. */
    for (size_t ord = lo; ord < hi; ord++) {
        if (!op->inserted[ord])
            continue;
        tdm_status *st = tdm_store_op_add_event(
            &op->base, (tdm_outbox_event){
                           .type = "participant.enrolled",
                           .resource_id = op->stored[ord]->id,
                           .data_json = enrol_participant_event_json(op->stored[ord], a),
                       });
        if (st != NULL)
            return st;
    }
    return NULL;
}

/* Every chunk answered: the response (the events still to append go with the
 * commit). NULL, or the status to end with. */
static tdm_status *enrol_response(store_op *op)
{
    tdm_arena *a = op->base.req.arena;
    if (!op->batch) {
        if (op->stored[0] == NULL)
            return tdm_status_new(TDM_INTERNAL, "the participant was not stored");
        op->base.response = &op->stored[0]->base;
        return NULL;
    }
    Tandem__V1__BatchEnrolResponse *out = tdm_arena_alloc(a, sizeof(*out));
    if (out == NULL)
        return tdm_store_oom();
    tandem__v1__batch_enrol_response__init(out);
    out->results = tdm_arena_calloc(a, op->n_rows, sizeof(*out->results));
    if (out->results == NULL)
        return tdm_store_oom();
    for (size_t i = 0; i < op->n_rows; i++) {
        Tandem__V1__BatchEnrolResult *r = tdm_arena_alloc(a, sizeof(*r));
        if (r == NULL)
            return tdm_store_oom();
        tandem__v1__batch_enrol_result__init(r);
        if (op->stored[i] != NULL) {
            r->result_case = TANDEM__V1__BATCH_ENROL_RESULT__RESULT_PARTICIPANT;
            r->participant = op->stored[i];
        } else {
            tdm_status *why = op->row_errors[i];
            tdm_status *fallback = NULL;
            if (why == NULL)
                why = fallback = tdm_status_new(TDM_INTERNAL, "the row was not stored");
            r->result_case = TANDEM__V1__BATCH_ENROL_RESULT__RESULT_ERROR;
            tdm_status *st = row_error_status(why, &r->error, a);
            tdm_status_free(fallback);
            if (st != NULL)
                return st;
        }
        out->results[out->n_results++] = r;
    }
    op->base.response = &out->base;
    return NULL;
}

/* The next chunk's columns: up to ENROL_CHUNK_ROWS rows to write from op->next_row
 * (refused rows are skipped), each decoded (BatchEnrol) into a scratch arena freed
 * before the next, so what this holds is about the columns. None left: columns.n 0. */
static tdm_status *chunk_prepare(store_op *op)
{
    enrol_rows_reset(&op->columns);
    op->ready_lo = op->next_row;
    while (op->next_row < op->n_rows && op->columns.n < ENROL_CHUNK_ROWS) {
        size_t i = op->next_row++;
        if (op->row_errors != NULL && op->row_errors[i] != NULL)
            continue;
        tdm_arena *scratch = op->lazy != NULL ? tdm_arena_new(0) : NULL;
        if (op->lazy != NULL && scratch == NULL)
            return tdm_store_oom();
        tdm_status *st = NULL;
        Tandem__V1__Participant *p = op_row(op, i, scratch, &st);
        if (p != NULL)
            enrol_rows_add(&op->columns, p, (int)i);
        tdm_arena_free(scratch);
        if (st != NULL)
            return st;
    }
    op->ready_hi = op->next_row;
    return op->columns.failed ? tdm_store_oom() : NULL;
}

static void enrol_chunk_written(tdm_store_op *base, PGresult *res);
static void enrol_events_written(tdm_store_op *base, PGresult *res);

/* Send the prepared chunk. 0, or -1 when the operation has ended. */
static int chunk_send(store_op *op)
{
    enum { N = 1 + ENROL_ROW_COLUMNS };
    const char *values[N] = {op->programme_id};
    int lengths[N] = {0}, formats[N] = {0};
    Oid types[N] = {0};
    if (enrol_rows_finish(&op->columns, values + 1, lengths + 1, types + 1) != 0) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return -1;
    }
    for (int i = 1; i < N; i++)
        formats[i] = 1;
    op->sent_lo = op->ready_lo;
    op->sent_hi = op->ready_hi;
    return tdm_store_op_query_params(&op->base, op->upsert ? SQL_UPSERT_BATCH : SQL_UPSERT_INSERT,
                                     N, types, values, lengths, formats, enrol_chunk_written);
}

/* Nothing left to write but the events not yet appended: then commit. */
static void enrol_finish(store_op *op)
{
    tdm_status *st = op->base.response != NULL ? NULL : enrol_response(op);
    if (st != NULL)
        tdm_store_op_end(&op->base, st);
    else
        tdm_store_op_emit(&op->base, NULL);
}

/* The next statement: the events built so far, else the prepared chunk. 1 when one
 * is on its way, 0 when there is none, -1 when the operation has ended. */
static int send_next(store_op *op)
{
    if (op->base.events_done < op->base.n_events)
        return tdm_store_op_emit(&op->base, enrol_events_written) == 0 ? 1 : -1;
    if (op->columns.n > 0)
        return chunk_send(op) == 0 ? 1 : -1;
    return 0;
}

/* A chunk's upsert answered: send the next statement, then build this chunk's
 * answers and events while it runs (and, after the last, the response). */
static void enrol_chunk_written(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_go_on(&op->base))
        return;
    size_t lo = op->sent_lo, hi = op->sent_hi;
    bool sent_upsert = op->base.events_done >= op->base.n_events && op->columns.n > 0;
    int sent = send_next(op);
    if (sent < 0)
        return;
    tdm_status *st = chunk_stored(op, res, lo, hi);
    if (st == NULL && sent_upsert)
        st = chunk_prepare(op); /* the one after the chunk now in flight */
    if (st == NULL && op->next_row >= op->n_rows && op->columns.n == 0 && !sent_upsert)
        st = enrol_response(op); /* this was the last chunk */
    if (sent) {
        tdm_store_op_fail_later(&op->base, st);
        return;
    }
    if (st != NULL)
        tdm_store_op_end(&op->base, st);
    else
        enrol_finish(op);
}

/* The prepared chunk, and the next encoded while it runs; with none, the rest. */
static void send_chunk_or_finish(store_op *op)
{
    if (op->columns.n == 0) {
        enrol_finish(op);
        return;
    }
    if (chunk_send(op) == 0)
        tdm_store_op_fail_later(&op->base, chunk_prepare(op));
}

/* The events of the chunks before answered: send the prepared chunk, then encode the
 * one after it while it runs. */
static void enrol_events_written(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    (void)res;
    if (!tdm_store_op_go_on(&op->base))
        return;
    send_chunk_or_finish(op);
}

static void enrol_upsert(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    tdm_arena *a = op->base.req.arena;
    op->profiles = tdm_arena_calloc(a, op->n_rows, sizeof(*op->profiles));
    if (!tdm_store_op_allocated(&op->base, op->profiles))
        return;
    if (tdm_arena_defer(a, enrol_rows_free, &op->columns) != 0) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    tdm_status *st =
        enrol_directory_match(res, op->external_ids, op->row_errors, op->n_rows, op->profiles, a);
    /* Decoded rows take their profile now, once. */
    for (size_t i = 0; st == NULL && op->lazy == NULL && i < op->n_rows; i++) {
        if (op->profiles[i] != NULL)
            st = enrol_directory_fill(op->rows[i], op->profiles[i], a);
    }
    if (st == NULL)
        st = written_init(op);
    if (st == NULL)
        st = chunk_prepare(op);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    send_chunk_or_finish(op); /* nothing, when every row named a deprovisioned person */
}

/* The directory's profile of the people first (directory_store.c), then the upsert;
 * new participants (Enrol, BatchEnrol) hold the people's rows FOR SHARE. */
static void enrol_write(store_op *op)
{
    if (op->external_ids == NULL) {
        op->external_ids = tdm_arena_calloc(op->base.req.arena, op->n_rows, sizeof(char *));
        for (size_t i = 0; op->external_ids != NULL && i < op->n_rows; i++)
            op->external_ids[i] = op->rows[i]->external_id;
    }
    op->keys = op->external_ids == NULL ? NULL
                                        : enrol_directory_keys(op->external_ids, op->row_errors,
                                                               op->n_rows, op->base.req.arena);
    if (!tdm_store_op_allocated(&op->base, op->keys))
        return;
    enrol_directory_lookup(&op->base, &op->keys, op->batch || !op->upsert, enrol_upsert);
}

static void enrol_programme_checked(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "programme"))
        return;
    int status = atoi(PQgetvalue(res, 0, 0));
    if (status != TANDEM__V1__PROGRAMME__STATUS__ENROLLING &&
        status != TANDEM__V1__PROGRAMME__STATUS__MATCHING &&
        status != TANDEM__V1__PROGRAMME__STATUS__ACTIVE) {
        tdm_store_op_end(&op->base,
                         tdm_status_new(TDM_FAILED_PRECONDITION,
                                        "the programme is not open for enrolment (it must be "
                                        "ENROLLING, MATCHING or ACTIVE)"));
        return;
    }
    size_t valid = 0;
    for (size_t i = 0; i < op->n_rows; i++)
        valid += op->row_errors == NULL || op->row_errors[i] == NULL;
    if (valid == 0) {
        /* Nothing to write: every row was refused. */
        tdm_status *st = written_init(op);
        if (st != NULL)
            tdm_store_op_end(&op->base, st);
        else
            enrol_finish(op);
        return;
    }
    enrol_write(op);
}

/* The programme must exist and be open; FOR SHARE keeps it open until we commit. */
static void enrol_check_programme(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    (void)res;
    static const char sql[] = "SELECT status FROM " ENROL_SCHEMA ".programmes"
                              " WHERE tenant_id = " T " AND id = $1::uuid FOR SHARE";
    tdm_store_op_query(&op->base, sql, 1, &op->programme_id, enrol_programme_checked);
}

static void free_row_errors(void *arg)
{
    store_op *op = arg;
    for (size_t i = 0; op->row_errors != NULL && i < op->n_rows; i++)
        tdm_status_free(op->row_errors[i]);
}

void enrol_store_enrol(const enrol_req *r, const char *programme_id, Tandem__V1__Participant **rows,
                       tdm_status **row_errors, size_t n, bool batch, enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL) {
        for (size_t i = 0; row_errors != NULL && i < n; i++)
            tdm_status_free(row_errors[i]);
        return;
    }
    op->programme_id = programme_id;
    op->rows = rows;
    op->row_errors = row_errors;
    op->n_rows = n;
    op->batch = batch;
    op->upsert = batch;
    op->base.response_desc = batch ? &tandem__v1__batch_enrol_response__descriptor
                                   : &tandem__v1__participant__descriptor;
    tdm_arena_defer(r->arena, free_row_errors, op);
    tdm_store_op_start(&op->base, false, enrol_check_programme);
}

void enrol_store_batch_enrol(const enrol_req *r, const char *programme_id,
                             const ProtobufCMessage *request, const char **external_ids,
                             tdm_status **row_errors, size_t n, enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL) {
        for (size_t i = 0; i < n; i++)
            tdm_status_free(row_errors[i]);
        return;
    }
    op->programme_id = programme_id;
    op->lazy = request;
    op->external_ids = external_ids;
    op->row_errors = row_errors;
    op->n_rows = n;
    op->batch = true;
    op->upsert = true;
    op->base.response_desc = &tandem__v1__batch_enrol_response__descriptor;
    tdm_arena_defer(r->arena, free_row_errors, op);
    tdm_store_op_start(&op->base, false, enrol_check_programme);
}

static void update_participant_write(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "participant"))
        return;
    Tandem__V1__Participant *current = enrol_participant_from_row(
        PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0), op->base.req.arena, true);
    if (!tdm_store_op_allocated(&op->base, current))
        return;
    Tandem__V1__Participant *next = NULL;
    tdm_status *st = op->apply_participant(op->apply_arg, current, &next);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    /* The external_id is immutable, so the upsert by (programme, external_id)
     * rewrites exactly this row - and its diversity record with it. */
    next->external_id = current->external_id;
    op->programme_id = current->programme_id;
    op->rows = tdm_arena_alloc(op->base.req.arena, sizeof(*op->rows));
    if (!tdm_store_op_allocated(&op->base, op->rows))
        return;
    op->rows[0] = next;
    op->n_rows = 1;
    op->upsert = true;
    enrol_write(op);
}

void enrol_store_update_participant(const enrol_req *r, const char *id,
                                    enrol_participant_apply_fn apply, void *apply_arg,
                                    enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->id = id;
    op->apply_participant = apply;
    op->apply_arg = apply_arg;
    op->base.response_desc = &tandem__v1__participant__descriptor;
    static const char sql[] =
        "SELECT " PARTICIPANT_JSON PARTICIPANT_FROM " WHERE p.tenant_id = " T " AND p.id = $1::uuid"
        " AND p.erase_time IS NULL FOR UPDATE OF p";
    tdm_store_op_start_query(&op->base, false, sql, 1, &op->id, update_participant_write);
}

/* ---- withdrawal ----------------------------------------------------------------- */

static void withdraw_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "participant"))
        return;
    bool already = PQgetvalue(res, 0, 0)[0] == 't';
    Tandem__V1__Participant *p =
        enrol_participant_from_row(PQgetvalue(res, 0, 1), (size_t)PQgetlength(res, 0, 1),
                                   op->base.req.arena, op->include_diversity);
    if (!tdm_store_op_allocated(&op->base, p))
        return;
    op->base.response = &p->base;
    if (already) {
        tdm_store_op_end(&op->base, NULL); /* idempotent: no second event */
        return;
    }
    tdm_store_op_emit_event(&op->base,
                            (tdm_outbox_event){
                                .type = "participant.withdrawn",
                                .resource_id = p->id,
                                .data_json = enrol_participant_event_json(p, op->base.req.arena),
                            },
                            NULL);
}

void enrol_store_withdraw(const enrol_req *r, const char *id, const char *reason, enrol_store_cb cb,
                          void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    const char *values[2] = {id, reason};
    op->params = tdm_arena_memdup(r->arena, values, sizeof(values));
    if (!tdm_store_op_allocated(&op->base, op->params))
        return;
    /* The previous status comes from the locking subquery in FROM, which runs before
     * the update: a FOR UPDATE CTE read beside the UPDATE would see the row the same
     * command just changed and return nothing, making a second withdrawal look like
     * a first one (and emit a second event). SET's right-hand sides see the old row. */
    static const char sql[] =
        "WITH upd AS (UPDATE " ENROL_SCHEMA ".participants p SET status = 3,"
        "  withdraw_time = COALESCE(p.withdraw_time, now()),"
        "  withdraw_reason = CASE WHEN p.status = 3 THEN p.withdraw_reason ELSE $2 END,"
        "  update_time = CASE WHEN p.status = 3 THEN p.update_time ELSE now() END"
        "  FROM (SELECT id, status AS old_status FROM " ENROL_SCHEMA ".participants"
        "   WHERE tenant_id = " T " AND id = $1::uuid AND erase_time IS NULL FOR UPDATE) old"
        "  WHERE p.tenant_id = " T " AND p.id = old.id RETURNING p.*, old.old_status)"
        " SELECT p.old_status = 3, " PARTICIPANT_JSON " FROM upd p"
        " LEFT JOIN " ENROL_SCHEMA ".participant_diversity d"
        " ON d.tenant_id = p.tenant_id AND d.participant_id = p.id";
    tdm_store_op_start_query(&op->base, false, sql, 2, op->params, withdraw_done);
}

/* ---- personal data -------------------------------------------------------------- */

static const char *hash_hex(const uint8_t h[32], tdm_arena *a)
{
    char *out = tdm_arena_alloc(a, 2 * 32 + 3);
    if (out == NULL)
        return NULL;
    out[0] = '\\';
    out[1] = 'x';
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 + 2 * i, 3, "%02x", h[i]);
    return out;
}

static void find_person_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    tdm_arena *a = op->base.req.arena;
    int n = PQntuples(res);
    if (n == 0) {
        tdm_store_op_end(&op->base, tdm_status_new(TDM_NOT_FOUND, "person not found"));
        return;
    }
    Tandem__V1__PersonExport *out = tdm_arena_alloc(a, sizeof(*out));
    char **ids = tdm_arena_calloc(a, (size_t)n, sizeof(*ids));
    if (out == NULL || ids == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    tandem__v1__person_export__init(out);
    out->external_id = tdm_arena_strdup(a, op->external_id);
    out->participants = tdm_arena_calloc(a, (size_t)n, sizeof(*out->participants));
    for (int i = 0; out->participants != NULL && i < n; i++) {
        ids[i] = tdm_arena_strdup(a, PQgetvalue(res, i, 0));
        if (PQgetvalue(res, i, 1)[0] != 't')
            continue; /* erased earlier: only its id remains, for the peers */
        Tandem__V1__Participant *p = enrol_participant_from_row(
            PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2), a, true);
        if (!tdm_store_op_allocated(&op->base, p))
            return;
        out->participants[out->n_participants++] = p;
    }
    *op->ids_out = ids;
    *op->n_ids_out = (size_t)n;
    op->base.response = &out->base;
    tdm_store_op_end(&op->base, NULL);
}

void enrol_store_find_person(const enrol_req *r, const char *external_id,
                             const uint8_t person_hash[32], char ***ids, size_t *n_ids,
                             enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->external_id = external_id;
    op->ids_out = ids;
    op->n_ids_out = n_ids;
    const char *values[2] = {external_id, hash_hex(person_hash, r->arena)};
    op->params = tdm_arena_memdup(r->arena, values, sizeof(values));
    if (op->params == NULL || values[1] == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    static const char sql[] =
        "SELECT p.id, p.erase_time IS NULL, " PARTICIPANT_JSON PARTICIPANT_FROM
        " WHERE p.tenant_id = " T " AND ((p.external_id = $1 AND p.erase_time IS NULL)"
        " OR p.person_hash = $2::bytea) ORDER BY p.seq LIMIT 1000";
    tdm_store_op_start_query(&op->base, true, sql, 2, op->params, find_person_done);
}

static void erase_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    Tandem__V1__ErasureCounts *c = tdm_arena_alloc(op->base.req.arena, sizeof(*c));
    if (c == NULL || PQntuples(res) != 1) {
        tdm_store_op_end(&op->base, c == NULL
                                        ? tdm_store_oom()
                                        : tdm_status_new(TDM_INTERNAL, "unexpected erase result"));
        return;
    }
    tandem__v1__erasure_counts__init(c);
    c->participants = atoi(PQgetvalue(res, 0, 0));
    c->diversity_records = atoi(PQgetvalue(res, 0, 1));
    op->base.response = &c->base;
    if (c->participants == 0) {
        tdm_store_op_end(&op->base, NULL); /* erased before: its person.erased event exists */
        return;
    }
    /* The gateway cancels undelivered webhooks about these participants when it reads
     * this event; no webhook can subscribe to it (not a public event type). */
    char *first = tdm_arena_strdup(op->base.req.arena, PQgetvalue(res, 0, 4));
    if (!tdm_store_op_allocated(&op->base, first))
        return;
    tdm_store_op_emit_event(
        &op->base,
        (tdm_outbox_event){
            .type = "person.erased",
            .resource_id = first,
            .ordering_key = "person",
            .data_json = tdm_arena_strdup(op->base.req.arena, PQgetvalue(res, 0, 3)),
        },
        NULL);
}

static const char **audit_params(const enrol_req *r, const char *first, const uint8_t h[32],
                                 const char *unreachable)
{
    const char *values[5] = {first, hash_hex(h, r->arena),
                             r->ctx->principal_id != NULL ? r->ctx->principal_id : "",
                             r->ctx->request_id != NULL ? r->ctx->request_id : "", unreachable};
    if (values[1] == NULL)
        return NULL;
    return tdm_arena_memdup(r->arena, values, sizeof(values));
}

void enrol_store_erase_person(const enrol_req *r, const char *external_id,
                              const uint8_t person_hash[32], const char *unreachable_array,
                              enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->params = audit_params(r, external_id, person_hash, unreachable_array);
    if (!tdm_store_op_allocated(&op->base, op->params))
        return;
    /* Identifying fields are cleared and the external_id replaced by a random token;
     * role, seniority, programme and status stay for anonymous aggregates. The
     * person_hash lets a retried ErasePerson find the ids again for the peers. The
     * person's participant.* events keep only ids and role, marked erased (the gateway
     * fans them out no more; matching's withdrawal follower still reads the ids),
     * their external id leaves other people's reporting chains (rows and events), and
     * idempotency records that name them go (tandem/person_data.h). */
    /* The shared CTEs are macros amid the statement's strings: laid out by hand. */
    /* clang-format off */
    static const char sql[] =
        "WITH target AS (SELECT id, programme_id, role FROM " ENROL_SCHEMA ".participants"
        "  WHERE tenant_id = " T " AND external_id = $1 AND erase_time IS NULL FOR UPDATE),"
        " events AS (UPDATE " ENROL_SCHEMA ".outbox o SET payload = jsonb_build_object("
        "  'erased', true, 'participant', jsonb_build_object('id', t.id::text, 'programmeId',"
        "  t.programme_id::text, 'role', CASE t.role WHEN 1 THEN 'MENTOR' ELSE 'MENTEE' END))"
        "  FROM target t WHERE o.tenant_id = " T " AND o.resource_id = t.id"
        "  AND o.type LIKE 'participant.%' RETURNING 1),"
        " div AS (DELETE FROM " ENROL_SCHEMA ".participant_diversity d USING target t"
        "  WHERE d.tenant_id = " T " AND d.participant_id = t.id RETURNING 1),"
        " anon AS (UPDATE " ENROL_SCHEMA ".participants p SET"
        "  external_id = 'erased-' || gen_random_uuid(), display_name = '', email = '',"
        "  years_qualified = 0, practice_area = '', office = '', department = '',"
        "  reporting_chain = '{}', skill_names = '{}', skill_levels = '{}', interests = '{}',"
        "  goals = '{}', languages = '{}', availability_hours_per_month = 0, timezone = '',"
        "  capacity = 0, consent_data_processing = false, consent_diversity_data = false,"
        "  consent_granted_time = NULL, withdraw_reason = '', status = 3,"
        "  withdraw_time = COALESCE(p.withdraw_time, now()), erase_time = now(),"
        "  person_hash = $2::bytea, update_time = now()"
        "  FROM target t WHERE p.tenant_id = " T " AND p.id = t.id RETURNING 1),"
        " chains AS (UPDATE " ENROL_SCHEMA ".participants p SET"
        "  reporting_chain = array_remove(p.reporting_chain, $1), update_time = now()"
        "  WHERE p.tenant_id = " T " AND $1 = ANY (p.reporting_chain)"
        "  AND p.id NOT IN (SELECT id FROM target) RETURNING 1),"
        " chain_events AS (UPDATE " ENROL_SCHEMA ".outbox o SET payload = jsonb_set(o.payload,"
        "  '{participant,reportingChain}', (o.payload->'participant'->'reportingChain') - $1)"
        "  WHERE o.tenant_id = " T " AND o.payload->'participant'->'reportingChain' ? $1"
        "  AND o.resource_id NOT IN (SELECT id FROM target) RETURNING 1),"
        /* The directory's entry of the person goes too (the people they managed
         * lose the link first, in the same statement). */
        " dir_unlink AS (UPDATE " ENROL_SCHEMA ".people SET manager_id = NULL,"
        "  version = version + 1, update_time = now() WHERE tenant_id = " T
        "  AND manager_id IN (SELECT id FROM " ENROL_SCHEMA ".people WHERE tenant_id = " T
        "  AND person_key = $1)),"
        " dir AS (DELETE FROM " ENROL_SCHEMA ".people WHERE tenant_id = " T
        "  AND person_key = $1),"
        " audit AS (INSERT INTO " ENROL_SCHEMA ".person_data_audit (tenant_id, action,"
        "  person_hash, principal_id, request_id, participants, unreachable_services)"
        "  VALUES (" T ", 'erase', $2::bytea, $3, $4, (SELECT count(*) FROM target), $5::text[])),"
        TDM_ERASE_IDEMPOTENCY_CTE("idem", ENROL_SCHEMA, "(SELECT array_agg(id) FROM target)") ","
        /* Someone else's enrolment answered with the person in its reporting chain: */
        /* Enrol and BatchEnrol are safe to run again (conflict, upsert). */
        " idem_chains AS (DELETE FROM " ENROL_SCHEMA ".idempotency_keys k"
        "  WHERE k.tenant_id = " T " AND k.method IN ('Enrol', 'BatchEnrol')"
        "  AND position(convert_to($1, 'UTF8') IN k.response) > 0 RETURNING 1)"
        " SELECT (SELECT count(*) FROM anon), (SELECT count(*) FROM div),"
        "  (SELECT count(*) FROM events),"
        "  (SELECT json_build_object('participantIds', json_agg(id::text)) FROM target)::text,"
        "  (SELECT min(id::text) FROM target)";
    /* clang-format on */
    tdm_store_op_start_query(&op->base, false, sql, 5, op->params, erase_done);
}

void enrol_store_audit_export(const enrol_req *r, const uint8_t person_hash[32], int participants,
                              const char *unreachable_array, enrol_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->params = audit_params(r, fmt_int(r->arena, participants), person_hash, unreachable_array);
    if (!tdm_store_op_allocated(&op->base, op->params))
        return;
    static const char sql[] =
        "INSERT INTO " ENROL_SCHEMA ".person_data_audit (tenant_id, action, person_hash,"
        " principal_id, request_id, participants, unreachable_services)"
        " VALUES (" T ", 'export', $2::bytea, $3, $4, $1::int, $5::text[])";
    tdm_store_op_start_query(&op->base, false, sql, 5, op->params, tdm_store_op_done);
}
