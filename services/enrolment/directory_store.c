/*
 * directory_store.c - every SQL statement of the people directory
 * (tandem.internal.v1.DirectoryService, migrations/017_people_directory.sql).
 *
 * A person travels as its proto3 JSON both ways: the handler's Person is encoded
 * once and the statements read its fields with ->>; rows come back as the same JSON
 * (PERSON_JSON) and are decoded by the runtime's codec, so no column is mapped by
 * hand in C.
 *
 * Every write is one transaction that ends with the directory's effect on the
 * participants it governs (those whose external_id is a person's key, in programmes
 * that are not CLOSED, not withdrawn, not erased):
 *
 *   [lock the person, check If-Match's version]
 *     -> [check the manager link: the manager exists and is not below the person]
 *     -> write the person
 *     -> deprovision: an inactive (or deleted) person's participants are withdrawn
 *        with reason "deprovisioned"          -> participant.withdrawn events
 *     -> propagate: the profile of the person and of everyone below them (whose
 *        reporting_chain may have changed) is written onto their participants,
 *        where it differs                       -> participant.updated events
 *     -> outbox -> COMMIT
 *
 * The person's row lock serialises this with an enrolment of the same person
 * (enrol_directory_fill reads the profile FOR SHARE), so a participant enrolled
 * concurrently is either filled with the new profile or updated by this
 * transaction's propagation, never left behind.
 */
#include "enrolment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/json.h"
#include "tandem/outbox.h"
#include "tandem/store.h"

#include "participant_sql.h"

#define RFC3339(x) "to_char(" x " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A person row (alias x) as the proto3 JSON of tandem.internal.v1.Person. */
/* clang-format off */
#define PERSON_JSON                                                                           \
    "json_build_object('id', x.id, 'user_name', x.user_name, 'external_id', x.external_id,"  \
    " 'given_name', x.given_name, 'family_name', x.family_name,"                              \
    " 'formatted_name', x.formatted_name, 'display_name', x.display_name,"                    \
    " 'emails', x.emails, 'active', x.active, 'title', x.title,"                              \
    " 'preferred_language', x.preferred_language, 'timezone', x.timezone,"                    \
    " 'employee_number', x.employee_number, 'department', x.department,"                      \
    " 'organization', x.organization, 'division', x.division,"                                \
    " 'manager_id', COALESCE(x.manager_id::text, ''), 'seniority_level', x.seniority_level,"  \
    " 'practice_area', x.practice_area, 'office', x.office,"                                  \
    " 'years_qualified', x.years_qualified, 'version', x.version::text,"                       \
    " 'create_time', " RFC3339("x.create_time") ", 'update_time', " RFC3339("x.update_time")  \
    ", 'person_key', x.person_key)::text"

/* The writable columns and their values from the Person JSON $2 (alias j). */
#define PERSON_COLUMNS                                                                        \
    "user_name, external_id, given_name, family_name, formatted_name, display_name, emails,"  \
    " active, title, preferred_language, timezone, employee_number, department,"              \
    " organization, division, manager_id, seniority_level, practice_area, office,"            \
    " years_qualified"
#define PERSON_VALUES                                                                         \
    "j->>'userName', COALESCE(j->>'externalId', ''), COALESCE(j->>'givenName', ''),"          \
    " COALESCE(j->>'familyName', ''), COALESCE(j->>'formattedName', ''),"                     \
    " COALESCE(j->>'displayName', ''), COALESCE(j->'emails', '[]'),"                          \
    " COALESCE((j->>'active')::boolean, true), COALESCE(j->>'title', ''),"                    \
    " COALESCE(j->>'preferredLanguage', ''), COALESCE(j->>'timezone', ''),"                   \
    " COALESCE(j->>'employeeNumber', ''), COALESCE(j->>'department', ''),"                    \
    " COALESCE(j->>'organization', ''), COALESCE(j->>'division', ''),"                        \
    " NULLIF(j->>'managerId', '')::uuid, (j->>'seniorityLevel')::int,"                        \
    " COALESCE(j->>'practiceArea', ''), COALESCE(j->>'office', ''),"                          \
    " (j->>'yearsQualified')::int"

/* What a person (alias x) gives their participants. The name shown: displayName,
 * else name.formatted, else given and family names, else userName; the e-mail: the
 * primary address, else the first "work" one, else the first. Unset seniority, years,
 * practice area, office and department leave the participant's own value. */
#define PROFILE_COLUMNS                                                                       \
    "x.person_key AS key,"                                                                    \
    " COALESCE(NULLIF(x.display_name, ''), NULLIF(x.formatted_name, ''),"                     \
    "  NULLIF(btrim(x.given_name || ' ' || x.family_name), ''), x.user_name) AS display_name," \
    " COALESCE((SELECT e->>'value' FROM jsonb_array_elements(x.emails) WITH ORDINALITY"      \
    "  AS m(e, n) ORDER BY COALESCE((e->>'primary')::boolean, false) DESC,"                   \
    "  (e->>'type') IS NOT DISTINCT FROM 'work' DESC, n LIMIT 1), '') AS email,"              \
    " NULLIF(x.department, '') AS department, NULLIF(x.office, '') AS office,"                \
    " NULLIF(x.practice_area, '') AS practice_area, x.seniority_level, x.years_qualified,"   \
    " enrolment.directory_chain(x.tenant_id, x.id) AS reporting_chain"

/* Participants of a person (alias p) that the directory governs: live, in a
 * programme that is not CLOSED. */
#define GOVERNED                                                                              \
    " p.tenant_id = " T " AND p.erase_time IS NULL AND p.status <> 3"                         \
    " AND EXISTS (SELECT 1 FROM " ENROL_SCHEMA ".programmes g WHERE g.tenant_id = p.tenant_id" \
    "  AND g.id = p.programme_id AND g.status <> 5)"
/* clang-format on */

#define DEPROVISIONED_REASON "deprovisioned"

/* The participants an UPDATE ... RETURNING p.* named upd changed, as documents. */
#define UPDATED_PARTICIPANTS                                                                       \
    " SELECT " PARTICIPANT_JSON " FROM upd p LEFT JOIN " ENROL_SCHEMA                              \
    ".participant_diversity d ON d.tenant_id = p.tenant_id AND d.participant_id = p.id"            \
    " ORDER BY p.seq"

typedef struct dir_op {
    tdm_store_op base; /* first */
    const char **params;
    const char *id;
    const char *person_json;
    const char *manager_id;
    const char *key;   /* the person's key, for deprovisioning */
    const char *roots; /* "{uuid,...}": whose subtrees to propagate */
    int64_t if_version;
    bool deleting, active;
    int page_size;
    int64_t after_seq;
    Tandem__Internal__V1__Person *person; /* the answer of a write */
} dir_op;

static const tdm_store_owner DIR_STORE_OWNER = {.schema = ENROL_SCHEMA, .service = ENROL_SERVICE};

static dir_op *dir_op_new(const enrol_req *r, enrol_store_cb cb, void *arg)
{
    tdm_store_req sr = {.pool = r->pool, .arena = r->arena, .ctx = r->ctx, .idem = r->idem};
    return tdm_store_op_new(sizeof(dir_op), &sr, &DIR_STORE_OWNER, cb, arg);
}

static Tandem__Internal__V1__Person *person_from_row(dir_op *op, PGresult *res, int row, int col,
                                                     tdm_status **st)
{
    ProtobufCMessage *m = NULL;
    *st = tdm_json_decode(&tandem__internal__v1__person__descriptor, PQgetvalue(res, row, col),
                          (size_t)PQgetlength(res, row, col), op->base.req.arena, &m);
    if (*st != NULL) {
        tdm_status_set_detail(*st, "a stored person did not decode");
        return NULL;
    }
    return (Tandem__Internal__V1__Person *)m;
}

/* Append one event per row of res (column 0: the participant document). */
static tdm_status *add_events(dir_op *op, PGresult *res, const char *type)
{
    tdm_arena *a = op->base.req.arena;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++) {
        Tandem__V1__Participant *p = enrol_participant_from_row(
            PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0), a, false);
        if (p == NULL)
            return tdm_store_oom();
        tdm_status *st = tdm_store_op_add_event(
            &op->base, (tdm_outbox_event){.type = type,
                                          .resource_id = p->id,
                                          .data_json = enrol_participant_event_json(p, a)});
        if (st != NULL)
            return st;
    }
    return NULL;
}

/* ---- the tail of every write: deprovision, propagate, emit ------------------------ */

/* The end of a write: the person (or Empty) answers, the events go out. */
static void finish(dir_op *op)
{
    if (op->base.response == NULL && op->person != NULL)
        op->base.response = &op->person->base;
    tdm_store_op_emit(&op->base, NULL);
}

static void propagate(dir_op *op);

static void propagate_or_finish(dir_op *op)
{
    if (op->roots == NULL)
        finish(op);
    else
        propagate(op);
}

/* The events of the rows res changed; false when the operation ended instead. */
static bool took_events(dir_op *op, PGresult *res, const char *type)
{
    tdm_status *st = add_events(op, res, type);
    if (st != NULL)
        tdm_store_op_end(&op->base, st);
    return st == NULL;
}

static void propagated(tdm_store_op *base, PGresult *res)
{
    if (took_events((dir_op *)base, res, "participant.updated"))
        finish((dir_op *)base);
}

static void propagate(dir_op *op)
{
    /* Each governed participant of the people below the roots (roots included)
     * takes their profile; rows that already match are left alone (no event). */
    static const char sql[] =
        "WITH aff AS (SELECT DISTINCT s.id FROM unnest($1::uuid[]) r(id),"
        "  enrolment.directory_subtree(" T ", r.id) s(id)),"
        " prof AS (SELECT " PROFILE_COLUMNS " FROM " ENROL_SCHEMA ".people x"
        "  JOIN aff ON x.id = aff.id WHERE x.tenant_id = " T " AND x.active),"
        " upd AS (UPDATE " ENROL_SCHEMA ".participants p SET display_name = f.display_name,"
        "  email = f.email, department = COALESCE(f.department, p.department),"
        "  office = COALESCE(f.office, p.office),"
        "  practice_area = COALESCE(f.practice_area, p.practice_area),"
        "  seniority_level = COALESCE(f.seniority_level, p.seniority_level),"
        "  years_qualified = COALESCE(f.years_qualified, p.years_qualified),"
        "  reporting_chain = f.reporting_chain, update_time = now()"
        "  FROM prof f WHERE p.external_id = f.key AND" GOVERNED
        "  AND (p.display_name, p.email, p.department, p.office, p.practice_area,"
        "   p.seniority_level, p.years_qualified, p.reporting_chain) IS DISTINCT FROM"
        "  (f.display_name, f.email, COALESCE(f.department, p.department),"
        "   COALESCE(f.office, p.office), COALESCE(f.practice_area, p.practice_area),"
        "   COALESCE(f.seniority_level, p.seniority_level),"
        "   COALESCE(f.years_qualified, p.years_qualified), f.reporting_chain)"
        "  RETURNING p.*)" UPDATED_PARTICIPANTS;
    tdm_store_op_query(&op->base, sql, 1, &op->roots, propagated);
}

static void deprovisioned(tdm_store_op *base, PGresult *res)
{
    if (took_events((dir_op *)base, res, "participant.withdrawn"))
        propagate_or_finish((dir_op *)base);
}

/* Withdraw the person's governed participants when they are inactive or deleted,
 * then propagate; the withdrawal is the one WithdrawParticipant makes, with its
 * event, so tandem-matching ends their live matches. */
static void deprovision_then_propagate(dir_op *op)
{
    if (op->active && !op->deleting) {
        propagate_or_finish(op);
        return;
    }
    static const char sql[] =
        "WITH upd AS (UPDATE " ENROL_SCHEMA ".participants p SET status = 3,"
        "  withdraw_time = now(), withdraw_reason = '" DEPROVISIONED_REASON "',"
        "  update_time = now() WHERE p.external_id = $1 AND" GOVERNED
        " RETURNING p.*)" UPDATED_PARTICIPANTS;
    tdm_store_op_query(&op->base, sql, 1, &op->key, deprovisioned);
}

/* The person just written (column 0) becomes the answer and the root to propagate. */
static void person_written(tdm_store_op *base, PGresult *res)
{
    dir_op *op = (dir_op *)base;
    if (!tdm_store_op_found(base, res, "person"))
        return;
    tdm_status *st = NULL;
    op->person = person_from_row(op, res, 0, 0, &st);
    if (op->person == NULL) {
        tdm_store_op_end(base, st);
        return;
    }
    op->key = op->person->person_key;
    op->active = op->person->active == NULL || op->person->active->value;
    op->roots = tdm_arena_printf(op->base.req.arena, "{%s}", op->person->id);
    if (op->key == NULL || op->roots == NULL) {
        tdm_store_op_end(base, tdm_store_oom());
        return;
    }
    deprovision_then_propagate(op);
}

/* ---- manager links ----------------------------------------------------------------- */

static void write_person(dir_op *op);

static void manager_checked(tdm_store_op *base, PGresult *res)
{
    dir_op *op = (dir_op *)base;
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 0)[0] != 't') {
        tdm_store_op_end(base, tdm_status_add_violation(
                                   tdm_status_new(TDM_INVALID_ARGUMENT, "unknown manager"),
                                   "person.manager_id", "is not a person of this directory"));
        return;
    }
    if (PQgetvalue(res, 0, 1)[0] == 't') {
        tdm_store_op_end(
            base, tdm_status_add_violation(
                      tdm_status_new(TDM_INVALID_ARGUMENT, "the manager link would close a cycle"),
                      "person.manager_id", "is the person or someone who reports to them"));
        return;
    }
    write_person(op);
}

/* The manager must exist in the tenant and must not be the person or below them.
 * Two people linked to each other at once cannot both pass: each holds its own row
 * FOR UPDATE (lock_person) and takes the other's FOR SHARE here (as the foreign key
 * would at the write), so one waits for the other - and then sees its link and
 * refuses - or the two deadlock and one is aborted (ABORTED, to retry).
 * test_concurrent_links_never_close_a_cycle races them. */
static void check_manager(dir_op *op)
{
    if (op->manager_id == NULL) {
        write_person(op);
        return;
    }
    static const char sql[] = "SELECT EXISTS (SELECT 1 FROM " ENROL_SCHEMA
                              ".people WHERE tenant_id = " T "  AND id = $2::uuid FOR SHARE),"
                              " $1::uuid IS NOT NULL AND $2::uuid IN"
                              "  (SELECT s FROM enrolment.directory_subtree(" T ", $1::uuid) s)";
    const char *values[2] = {op->id, op->manager_id};
    op->params = tdm_arena_memdup(op->base.req.arena, values, sizeof(values));
    if (!tdm_store_op_allocated(&op->base, op->params))
        return;
    tdm_store_op_query(&op->base, sql, 2, op->params, manager_checked);
}

/* ---- create ------------------------------------------------------------------------- */

static void write_person(dir_op *op)
{
    static const char insert_sql[] =
        "WITH s AS (SELECT $1::jsonb AS j), x AS (INSERT INTO " ENROL_SCHEMA
        ".people (tenant_id, " PERSON_COLUMNS ") SELECT " T ", " PERSON_VALUES " FROM s"
        " RETURNING *) SELECT " PERSON_JSON " FROM x";
    static const char update_sql[] =
        "WITH s AS (SELECT $2::jsonb AS j), x AS (UPDATE " ENROL_SCHEMA
        ".people SET (" PERSON_COLUMNS ", version, update_time) = (SELECT " PERSON_VALUES
        ", people.version + 1, now() FROM s)"
        " WHERE tenant_id = " T " AND id = $1::uuid RETURNING *) SELECT " PERSON_JSON " FROM x";
    const char *values[2] = {op->id, op->person_json};
    op->params = tdm_arena_memdup(op->base.req.arena, values, sizeof(values));
    if (!tdm_store_op_allocated(&op->base, op->params))
        return;
    if (op->id == NULL)
        tdm_store_op_query(&op->base, insert_sql, 1, op->params + 1, person_written);
    else
        tdm_store_op_query(&op->base, update_sql, 2, op->params, person_written);
}

static void create_first(tdm_store_op *base, PGresult *res)
{
    (void)res;
    check_manager((dir_op *)base);
}

static tdm_status *encode_person(dir_op *op, const Tandem__Internal__V1__Person *p)
{
    op->person_json = tdm_json_encode(&p->base, op->base.req.arena, NULL);
    if (op->person_json == NULL)
        return tdm_store_oom();
    op->manager_id = p->manager_id != NULL && p->manager_id[0] != '\0' ? p->manager_id : NULL;
    return NULL;
}

void enrol_store_create_person(const enrol_req *r, const Tandem__Internal__V1__Person *p,
                               enrol_store_cb cb, void *arg)
{
    dir_op *op = dir_op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->base.conflict_message = "userName or externalId is already taken in this directory";
    op->base.conflict_field = "person.user_name";
    op->base.conflict_description = "must be unique in the tenant (as must external_id)";
    tdm_status *st = encode_person(op, p);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    tdm_store_op_start(&op->base, false, create_first);
}

/* ---- replace and delete: lock, check the version ------------------------------------ */

static void clear_reports(dir_op *op);

static void locked(tdm_store_op *base, PGresult *res)
{
    dir_op *op = (dir_op *)base;
    if (!tdm_store_op_found(base, res, "person"))
        return;
    long long version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    if (op->if_version != 0 && version != op->if_version) {
        tdm_store_op_end(
            base, tdm_status_add_violation(tdm_status_new(TDM_ABORTED, "the person has changed"),
                                           "if_version", "is %lld; the stored version is %lld",
                                           (long long)op->if_version, version));
        return;
    }
    op->key = tdm_arena_strdup(op->base.req.arena, PQgetvalue(res, 0, 1));
    if (!tdm_store_op_allocated(base, op->key))
        return;
    if (op->deleting)
        clear_reports(op);
    else
        check_manager(op);
}

static void lock_person(tdm_store_op *base, PGresult *res)
{
    dir_op *op = (dir_op *)base;
    (void)res;
    static const char sql[] = "SELECT version, person_key FROM " ENROL_SCHEMA ".people"
                              " WHERE tenant_id = " T " AND id = $1::uuid FOR UPDATE";
    tdm_store_op_query(&op->base, sql, 1, &op->id, locked);
}

void enrol_store_replace_person(const enrol_req *r, const Tandem__Internal__V1__Person *p,
                                int64_t if_version, enrol_store_cb cb, void *arg)
{
    dir_op *op = dir_op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->id = p->id;
    op->if_version = if_version;
    op->base.conflict_message = "userName or externalId is already taken in this directory";
    op->base.conflict_field = "person.user_name";
    op->base.conflict_description = "must be unique in the tenant (as must external_id)";
    tdm_status *st = encode_person(op, p);
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    tdm_store_op_start(&op->base, false, lock_person);
}

static void deleted(tdm_store_op *base, PGresult *res)
{
    dir_op *op = (dir_op *)base;
    (void)res;
    if (tdm_store_op_answer_empty(base))
        deprovision_then_propagate(op);
}

static void delete_row(tdm_store_op *base, PGresult *res)
{
    dir_op *op = (dir_op *)base;
    /* The people this person managed have no manager now: their chains change. */
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
        op->roots = tdm_arena_strdup(op->base.req.arena, PQgetvalue(res, 0, 0));
        if (!tdm_store_op_allocated(base, op->roots))
            return;
    }
    static const char sql[] =
        "DELETE FROM " ENROL_SCHEMA ".people WHERE tenant_id = " T " AND id = $1::uuid";
    tdm_store_op_query(&op->base, sql, 1, &op->id, deleted);
}

static void clear_reports(dir_op *op)
{
    static const char sql[] = "WITH c AS (UPDATE " ENROL_SCHEMA ".people SET manager_id = NULL,"
                              "  version = version + 1, update_time = now()"
                              "  WHERE tenant_id = " T " AND manager_id = $1::uuid RETURNING id)"
                              " SELECT array_agg(id)::text FROM c";
    tdm_store_op_query(&op->base, sql, 1, &op->id, delete_row);
}

void enrol_store_delete_person(const enrol_req *r, const char *id, int64_t if_version,
                               enrol_store_cb cb, void *arg)
{
    dir_op *op = dir_op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->id = id;
    op->if_version = if_version;
    op->deleting = true;
    tdm_store_op_start(&op->base, false, lock_person);
}

/* ---- reads -------------------------------------------------------------------------- */

static void person_read(tdm_store_op *base, PGresult *res)
{
    dir_op *op = (dir_op *)base;
    if (!tdm_store_op_found(base, res, "person"))
        return;
    tdm_status *st = NULL;
    Tandem__Internal__V1__Person *p = person_from_row(op, res, 0, 0, &st);
    if (p != NULL)
        op->base.response = &p->base;
    tdm_store_op_end(base, st);
}

void enrol_store_get_person(const enrol_req *r, const char *id, enrol_store_cb cb, void *arg)
{
    static const char sql[] = "SELECT " PERSON_JSON " FROM " ENROL_SCHEMA ".people x"
                              " WHERE x.tenant_id = " T " AND x.id = $1::uuid";
    dir_op *op = dir_op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->id = id;
    tdm_store_op_read_once(&op->base, sql, 1, &op->id, person_read);
}

static void people_listed(tdm_store_op *base, PGresult *res)
{
    dir_op *op = (dir_op *)base;
    tdm_arena *a = op->base.req.arena;
    int n = PQntuples(res);
    int take = n > op->page_size ? op->page_size : n;
    Tandem__Internal__V1__ListPeopleResponse *out = tdm_arena_alloc(a, sizeof(*out));
    if (!tdm_store_op_allocated(base, out))
        return;
    tandem__internal__v1__list_people_response__init(out);
    out->people = tdm_arena_calloc(a, (size_t)(take > 0 ? take : 1), sizeof(*out->people));
    if (!tdm_store_op_allocated(base, out->people))
        return;
    for (int i = 0; i < take; i++) {
        tdm_status *st = NULL;
        Tandem__Internal__V1__Person *p = person_from_row(op, res, i, 1, &st);
        if (p == NULL) {
            tdm_store_op_end(base, st);
            return;
        }
        out->people[out->n_people++] = p;
    }
    if (n > op->page_size)
        out->next_page_token =
            tdm_page_token_encode_seq(strtoll(PQgetvalue(res, take - 1, 0), NULL, 10), a);
    op->base.response = &out->base;
    tdm_store_op_end(base, NULL);
}

void enrol_store_list_people(const enrol_req *r, const Tandem__Internal__V1__ListPeopleRequest *q,
                             int page_size, int64_t after_seq, enrol_store_cb cb, void *arg)
{
    static const char sql[] = "SELECT x.seq, " PERSON_JSON " FROM " ENROL_SCHEMA ".people x"
                              " WHERE x.tenant_id = " T " AND x.seq > $1::bigint"
                              " AND ($2 = '' OR lower(x.user_name) = lower($2))"
                              " AND ($3 = '' OR x.external_id = $3) ORDER BY x.seq LIMIT $4::int";
    dir_op *op = dir_op_new(r, cb, arg);
    if (op == NULL)
        return;
    op->page_size = page_size;
    const char *values[4] = {tdm_arena_printf(r->arena, "%lld", (long long)after_seq), q->user_name,
                             q->external_id, tdm_arena_printf(r->arena, "%d", page_size + 1)};
    op->params = tdm_arena_memdup(r->arena, values, sizeof(values));
    if (op->params == NULL || values[0] == NULL || values[3] == NULL) {
        tdm_store_op_end(&op->base, tdm_store_oom());
        return;
    }
    tdm_store_op_read_once(&op->base, sql, 4, op->params, people_listed);
}

/* ---- enrolment of a directory person -------------------------------------------------- */

/* The profiles of the people whose key is among the JSON array of strings $1. */
#define PROFILE_LOOKUP(lock)                                                                       \
    "SELECT json_build_object('key', f.key, 'active', f.active,"                                   \
    " 'display_name', f.display_name, 'email', f.email, 'department', f.department,"               \
    " 'office', f.office, 'practice_area', f.practice_area,"                                       \
    " 'seniority_level', f.seniority_level, 'years_qualified', f.years_qualified,"                 \
    " 'reporting_chain', f.reporting_chain)::text FROM (SELECT x.active, " PROFILE_COLUMNS         \
    "  FROM " ENROL_SCHEMA ".people x WHERE x.tenant_id = " T                                      \
    "  AND x.person_key IN (SELECT jsonb_array_elements_text($1::jsonb))" lock ") f"

void enrol_directory_lookup(tdm_store_op *op, const char *const *keys_json, bool lock,
                            tdm_store_step next)
{
    /* FOR SHARE (new participants): a directory change of these people waits for
     * this enrolment to commit, and its propagation then sees the new rows. An
     * update of existing rows needs no lock (the change's UPDATE re-reads them). */
    static const char sql_lock[] = PROFILE_LOOKUP(" FOR SHARE OF x");
    static const char sql_read[] = PROFILE_LOOKUP("");
    tdm_store_op_query(op, lock ? sql_lock : sql_read, 1, keys_json, next);
}

char *enrol_directory_keys(const char *const *external_ids, tdm_status **row_errors, size_t n,
                           tdm_arena *a)
{
    tdm_json_writer w = {0};
    tdm_json_writer_raw(&w, "[", 1);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (row_errors != NULL && row_errors[i] != NULL)
            continue;
        if (!first)
            tdm_json_writer_raw(&w, ",", 1);
        first = false;
        tdm_json_writer_string(&w, external_ids[i]);
    }
    tdm_json_writer_raw(&w, "]", 1);
    return tdm_json_writer_finish(&w, a, NULL);
}

static char *profile_str(json_t *o, const char *k, char *keep, tdm_arena *a)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? tdm_arena_strdup(a, v) : keep;
}

static tdm_status *fill_row(Tandem__V1__Participant *p, json_t *o, tdm_arena *a)
{
    json_t *chain = json_object_get(o, "reporting_chain");
    size_t n = json_array_size(chain);
    char **items = tdm_arena_calloc(a, n > 0 ? n : 1, sizeof(*items));
    if (items == NULL)
        return tdm_store_oom();
    for (size_t i = 0; i < n; i++) {
        items[i] = tdm_arena_strdup(a, json_string_value(json_array_get(chain, i)));
        if (items[i] == NULL)
            return tdm_store_oom();
    }
    p->reporting_chain = items;
    p->n_reporting_chain = n;
    p->display_name = profile_str(o, "display_name", p->display_name, a);
    p->email = profile_str(o, "email", p->email, a);
    p->department = profile_str(o, "department", p->department, a);
    p->office = profile_str(o, "office", p->office, a);
    p->practice_area = profile_str(o, "practice_area", p->practice_area, a);
    json_t *sl = json_object_get(o, "seniority_level"), *yq = json_object_get(o, "years_qualified");
    if (json_is_integer(sl))
        p->seniority_level = (int32_t)json_integer_value(sl);
    if (json_is_integer(yq))
        p->years_qualified = (int32_t)json_integer_value(yq);
    return NULL;
}

tdm_status *enrol_directory_match(PGresult *res, const char *const *external_ids,
                                  tdm_status **row_errors, size_t n, char **profiles, tdm_arena *a)
{
    for (int r = 0; r < PQntuples(res); r++) {
        const char *doc = PQgetvalue(res, r, 0);
        json_t *o = json_loadb(doc, (size_t)PQgetlength(res, r, 0), 0, NULL);
        const char *key = json_string_value(json_object_get(o, "key"));
        tdm_status *st = o == NULL || key == NULL ? tdm_store_oom() : NULL;
        bool active = json_is_true(json_object_get(o, "active"));
        char *kept = NULL;
        for (size_t i = 0; st == NULL && i < n; i++) {
            if ((row_errors != NULL && row_errors[i] != NULL) || strcmp(external_ids[i], key) != 0)
                continue;
            if (!active) {
                tdm_status *refused = tdm_status_add_violation(
                    tdm_status_new(TDM_FAILED_PRECONDITION,
                                   "the person is deprovisioned in the directory"),
                    row_errors != NULL ? "external_id" : "participant.external_id",
                    "names a directory person who is not active");
                if (row_errors == NULL)
                    st = refused;
                else
                    row_errors[i] = refused;
                continue;
            }
            if (kept == NULL)
                kept = tdm_arena_strndup(a, doc, (size_t)PQgetlength(res, r, 0));
            if (kept == NULL)
                st = tdm_store_oom();
            profiles[i] = kept;
        }
        json_decref(o);
        if (st != NULL)
            return st;
    }
    return NULL;
}

tdm_status *enrol_directory_fill(Tandem__V1__Participant *p, const char *profile, tdm_arena *a)
{
    json_t *o = json_loads(profile, 0, NULL);
    tdm_status *st = o == NULL ? tdm_store_oom() : fill_row(p, o, a);
    json_decref(o);
    return st;
}
