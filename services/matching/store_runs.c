/*
 * store_runs.c - the SQL of matching runs: queueing, reading and listing runs and
 * their proposals, approval, the worker's claim/progress/finish statements (the
 * claiming protocol is described at the top of migrations/001), and the export and
 * erasure of participants' data.
 */
#include "store_op.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- queueing and reading ----------------------------------------------------------- */

static void run_row_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "matching run"))
        return;
    ProtobufCMessage *m = op_row(op, res, 0, 0, &tandem__v1__matching_run__descriptor);
    if (m != NULL) {
        op->base.response = m;
        tdm_store_op_commit(&op->base);
    }
}

void mt_store_queue_run(const mt_req *r, const Tandem__V1__StartMatchingRunRequest *q,
                        int objective, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    tdm_arena *a = r->arena;
    const tdm_call_context *c = r->ctx;
    int algorithm = q->algorithm == 0 ? TANDEM__V1__ALGORITHM__OPTIMAL : (int)q->algorithm;
    int scope = q->scope == 0 ? TANDEM__V1__RUN_SCOPE__ALL : (int)q->scope;
    if (op == NULL ||
        !tdm_store_op_params(&op->base, &op->params, 10, q->programme_id, op_int(a, algorithm),
                             op_int(a, scope), op_int(a, objective), q->dry_run ? "true" : "false",
                             op_int(a, q->seed), c->principal_id != NULL ? c->principal_id : "",
                             op_int(a, c->principal_kind), op_int(a, (int64_t)c->scopes),
                             c->request_id != NULL ? c->request_id : ""))
        return;
    op->base.response_desc = &tandem__v1__matching_run__descriptor;
    /* seed 0: derived from the run id, so a run can be replayed from its record. */
    static const char sql[] =
        "WITH n AS (SELECT gen_random_uuid() AS id),"
        " r AS (INSERT INTO " MT_SCHEMA ".runs (tenant_id, id, programme_id, algorithm, scope,"
        "  objective, dry_run, seed, principal_id, principal_kind, scopes, request_id)"
        "  SELECT " T ", n.id, $1::uuid, $2::smallint, $3::smallint, $4::smallint, $5::bool,"
        "  CASE WHEN $6::bigint = 0 THEN ('x' || substr(md5(n.id::text), 1, 8))::bit(32)::bigint"
        "  & 4294967295 ELSE $6::bigint END, $7, $8::smallint, $9::int, $10 FROM n RETURNING *),"
        " q AS (INSERT INTO " MT_SCHEMA ".run_queue (tenant_id, run_id)"
        "  SELECT tenant_id, id FROM r)"
        " SELECT " RUN_JSON " FROM r";
    op->base.conflict_message = "a matching run of this programme is already queued or running";
    tdm_store_op_start_query(&op->base, false, sql, 10, op->params, run_row_done);
}

void mt_store_get_run(const mt_req *r, const char *id, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 1, id))
        return;
    static const char sql[] = "SELECT " RUN_JSON " FROM " MT_SCHEMA ".runs r"
                              " WHERE r.tenant_id = " T " AND r.id = $1::uuid";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, run_row_done);
}

static void list_runs_done(tdm_store_op *base, PGresult *res)
{
    op_page((store_op *)base, res, &tandem__v1__list_matching_runs_response__descriptor,
            "matching_runs", &tandem__v1__matching_run__descriptor);
}

void mt_store_list_runs(const mt_req *r, const Tandem__V1__ListMatchingRunsRequest *q,
                        int page_size, int64_t after, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    tdm_arena *a = r->arena;
    if (op == NULL ||
        !tdm_store_op_params(&op->base, &op->params, 4, q->programme_id, op_int(a, after),
                             op_int(a, q->status), op_int(a, page_size + 1)))
        return;
    op->page_size = page_size;
    /* Newest first; the listing leaves out the (long) list of unmatched mentees. */
    static const char sql[] = "SELECT r.seq, " RUN_JSON_WITH(
        "(r.stats - 'unmatchedMentees')") " FROM " MT_SCHEMA ".runs r WHERE r.tenant_id = " T
                                          " AND r.programme_id = $1::uuid"
                                          " AND ($2::bigint = 0 OR r.seq < $2::bigint) AND "
                                          "($3::int = 0 OR r.status = $3::int)"
                                          " ORDER BY r.seq DESC LIMIT $4::int";
    tdm_store_op_start_query(&op->base, true, sql, 4, op->params, list_runs_done);
}

static void list_proposals_done(tdm_store_op *base, PGresult *res)
{
    op_page((store_op *)base, res, &tandem__v1__list_proposals_response__descriptor, "proposals",
            &tandem__v1__proposal__descriptor);
}

static void list_proposals_select(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "matching run"))
        return;
    /* Best score first: rank is the run's order of its proposals (1 = best). */
    static const char sql[] = "SELECT p.rank, " PROPOSAL_JSON " FROM " MT_SCHEMA ".proposals p"
                              " WHERE p.tenant_id = " T " AND p.run_id = $1::uuid"
                              " AND p.rank > $2::int ORDER BY p.rank LIMIT $3::int";
    tdm_store_op_query(&op->base, sql, 3, op->params, list_proposals_done);
}

void mt_store_list_proposals(const mt_req *r, const char *run_id, int page_size, int64_t after,
                             mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL ||
        !tdm_store_op_params(&op->base, &op->params, 3, run_id, op_int(r->arena, after),
                             op_int(r->arena, page_size + 1)))
        return;
    op->page_size = page_size;
    static const char sql[] =
        "SELECT 1 FROM " MT_SCHEMA ".runs WHERE tenant_id = " T " AND id = $1::uuid";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, list_proposals_select);
}

/* ---- approval ----------------------------------------------------------------------- */

static void approve_reread(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    (void)res;
    static const char sql[] = "SELECT " RUN_JSON " FROM " MT_SCHEMA ".runs r"
                              " WHERE r.tenant_id = " T " AND r.id = $1::uuid";
    tdm_store_op_query(&op->base, sql, 1, op->params, run_row_done);
}

static void approve_created(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    op_match_events(op, res, "match.proposed", approve_reread);
}

static void approve_create(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    long taken = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    long over = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    long gone = strtol(PQgetvalue(res, 0, 2), NULL, 10);
    if (taken > 0 || over > 0 || gone > 0) {
        tdm_status *st = tdm_status_new(
            TDM_FAILED_PRECONDITION,
            "proposals of this run are no longer available: %ld mentee%s already in a live "
            "match, %ld mentor%s without the seats, %ld proposal%s naming a withdrawn "
            "participant; start a new run",
            taken, taken == 1 ? "" : "s", over, over == 1 ? "" : "s", gone, gone == 1 ? "" : "s");
        tdm_store_op_end(&op->base, st);
        return;
    }
    static const char sql[] =
        "WITH m AS (INSERT INTO " MT_SCHEMA ".matches (tenant_id, id, programme_id, run_id,"
        "  proposal_id, mentor_id, mentee_id, mentor_capacity, score, explanation)"
        "  SELECT tenant_id, gen_random_uuid(), programme_id, run_id, id, mentor_id, mentee_id,"
        "  mentor_capacity, score, explanation FROM " MT_SCHEMA ".proposals"
        "  WHERE tenant_id = " T " AND run_id = $1::uuid ORDER BY rank RETURNING *),"
        " p AS (UPDATE " MT_SCHEMA ".proposals x SET match_id = m.id FROM m"
        "  WHERE x.tenant_id = " T " AND x.id = m.proposal_id),"
        " r AS (UPDATE " MT_SCHEMA ".runs SET approve_time = now()"
        "  WHERE tenant_id = " T " AND id = $1::uuid)"
        " SELECT " MATCH_JSON " FROM m";
    tdm_store_op_query(&op->base, sql, 1, op->params, approve_created);
}

static void approve_checked(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_found(&op->base, res, "matching run"))
        return;
    int status = atoi(PQgetvalue(res, 0, 0));
    bool dry = PQgetvalue(res, 0, 1)[0] == 't';
    bool approved = PQgetvalue(res, 0, 2)[0] == 't';
    bool later = PQgetvalue(res, 0, 3)[0] == 't';
    if (approved) {
        /* Idempotent: an approved run answers as it is, nothing is created again. */
        op->base.read_only = true;
        op->base.response = op_row(op, res, 0, 4, &tandem__v1__matching_run__descriptor);
        if (op->base.response != NULL)
            tdm_store_op_end(&op->base, NULL);
        return;
    }
    tdm_status *st = NULL;
    if (status != TANDEM__V1__MATCHING_RUN__STATUS__SUCCEEDED)
        st = tdm_status_new(TDM_FAILED_PRECONDITION, "only a SUCCEEDED run can be approved");
    else if (dry)
        st = tdm_status_new(TDM_FAILED_PRECONDITION, "a dry run cannot be approved");
    else if (later)
        st = tdm_status_new(TDM_FAILED_PRECONDITION,
                            "a later run of this programme succeeded: only the latest "
                            "successful run can be approved");
    if (st != NULL) {
        tdm_store_op_end(&op->base, st);
        return;
    }
    /* Each proposed mentee must still be free, and each mentor must still have the
     * seats: matches approved meanwhile (another run, scope ALL) would overlap. */
    static const char sql[] =
        "SELECT (SELECT count(*) FROM " MT_SCHEMA ".proposals p WHERE p.tenant_id = " T
        "  AND p.run_id = $1::uuid AND EXISTS (SELECT 1 FROM " MT_SCHEMA ".matches m"
        "  WHERE m.tenant_id = p.tenant_id AND m.programme_id = p.programme_id"
        "  AND m.mentee_id = p.mentee_id AND m.status IN (1, 2, 4))),"
        " (SELECT count(*) FROM (SELECT p.mentor_id, p.programme_id, max(p.mentor_capacity) AS cap,"
        "  count(*) AS n FROM " MT_SCHEMA ".proposals p WHERE p.tenant_id = " T
        "  AND p.run_id = $1::uuid GROUP BY p.mentor_id, p.programme_id) x"
        "  WHERE x.n + (SELECT count(*) FROM " MT_SCHEMA ".matches m WHERE m.tenant_id = " T
        "  AND m.programme_id = x.programme_id AND m.mentor_id = x.mentor_id"
        "  AND m.status IN (1, 2, 4)) > x.cap),"
        " (SELECT count(*) FROM " MT_SCHEMA ".proposals p WHERE p.tenant_id = " T
        "  AND p.run_id = $1::uuid AND (p.mentor_id = ANY($2::uuid[])"
        "  OR p.mentee_id = ANY($2::uuid[])))";
    tdm_store_op_query(&op->base, sql, 2, op->params, approve_create);
}

/* Columns: status, dry_run, approved, a later successful run, the run document. */
void mt_store_approve_run(const mt_req *r, const char *id, char **withdrawn, size_t n_withdrawn,
                          mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    const char *arr = op != NULL ? op_uuid_array(op, withdrawn, n_withdrawn) : NULL;
    if (arr == NULL || !tdm_store_op_params(&op->base, &op->params, 2, id, arr))
        return;
    static const char sql[] =
        "SELECT r.status, r.dry_run, r.approve_time IS NOT NULL,"
        " EXISTS (SELECT 1 FROM " MT_SCHEMA ".runs l WHERE l.tenant_id = r.tenant_id"
        "  AND l.programme_id = r.programme_id AND l.seq > r.seq AND l.status = 3 AND NOT "
        "l.dry_run),"
        " " RUN_JSON " FROM " MT_SCHEMA ".runs r WHERE r.tenant_id = " T
        " AND r.id = $1::uuid FOR UPDATE";
    tdm_store_op_start_query(&op->base, false, sql, 1, op->params, approve_checked);
}

/* ---- the worker ----------------------------------------------------------------------- */

static void claim_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    mt_claim *c = op->user;
    if (PQntuples(res) == 1) {
        c->tenant_id = tdm_arena_strdup(op->base.req.arena, PQgetvalue(res, 0, 0));
        c->run_id = tdm_arena_strdup(op->base.req.arena, PQgetvalue(res, 0, 1));
        c->claim = tdm_arena_strdup(op->base.req.arena, PQgetvalue(res, 0, 2));
    }
    tdm_store_op_end(&op->base, NULL);
}

void mt_store_claim_run(const mt_req *r, int lease_ms, mt_claim *out, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 1, op_int(r->arena, lease_ms)))
        return;
    memset(out, 0, sizeof(*out));
    op->user = out;
    /* SKIP LOCKED: replicas claiming at the same moment take different entries. */
    static const char sql[] =
        "UPDATE " MT_SCHEMA ".run_queue q SET claim = gen_random_uuid(),"
        " lease_until = now() + make_interval(secs => $1::int / 1000.0)"
        " WHERE (q.tenant_id, q.run_id) = (SELECT tenant_id, run_id FROM " MT_SCHEMA ".run_queue"
        "  WHERE lease_until IS NULL OR lease_until < now() ORDER BY enqueue_time LIMIT 1"
        "  FOR UPDATE SKIP LOCKED) RETURNING q.tenant_id, q.run_id, q.claim";
    tdm_store_op_start_query(&op->base, false, sql, 1, op->params, claim_done);
}

static void start_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    mt_run_job *job = op->user;
    if (PQntuples(res) != 1) {
        /* Finished or gone: drop the queue entry (ours by the claim). */
        static const char sql[] = "DELETE FROM " MT_SCHEMA ".run_queue WHERE tenant_id = " T
                                  " AND run_id = $1::uuid AND claim = $2::uuid";
        tdm_store_op_query(&op->base, sql, 2, op->params, tdm_store_op_done);
        return;
    }
    ProtobufCMessage *m = op_row(op, res, 0, 0, &tandem__v1__matching_run__descriptor);
    if (m == NULL)
        return;
    tdm_arena *a = op->base.req.arena;
    job->run = (Tandem__V1__MatchingRun *)m;
    job->ctx.tenant_id = op->base.req.ctx->tenant_id;
    job->ctx.principal_id = tdm_arena_strdup(a, PQgetvalue(res, 0, 1));
    job->ctx.principal_kind = atoi(PQgetvalue(res, 0, 2));
    job->ctx.scopes = (uint32_t)strtoul(PQgetvalue(res, 0, 3), NULL, 10);
    job->ctx.request_id = tdm_arena_strdup(a, PQgetvalue(res, 0, 4));
    job->attempts = atoi(PQgetvalue(res, 0, 5));
    tdm_store_op_end(&op->base, NULL);
}

void mt_store_start_run(const mt_req *r, const mt_claim *c, mt_run_job *job, mt_store_cb cb,
                        void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 2, c->run_id, c->claim))
        return;
    memset(job, 0, sizeof(*job));
    op->user = job;
    static const char sql[] =
        "WITH r AS (UPDATE " MT_SCHEMA ".runs SET status = 2, progress = 0.05,"
        " start_time = COALESCE(start_time, now()), attempts = attempts + 1"
        " WHERE tenant_id = " T " AND id = $1::uuid AND status IN (1, 2)"
        " AND EXISTS (SELECT 1 FROM " MT_SCHEMA ".run_queue q WHERE q.tenant_id = " T
        "  AND q.run_id = $1::uuid AND q.claim = $2::uuid) RETURNING *)"
        " SELECT " RUN_JSON ", r.principal_id, r.principal_kind, r.scopes, r.request_id,"
        " r.attempts FROM r";
    tdm_store_op_start_query(&op->base, false, sql, 2, op->params, start_done);
}

static void progress_done(tdm_store_op *base, PGresult *res)
{
    if (!tdm_store_op_one_row(base, res, TDM_ABORTED, "the run's lease was lost"))
        return;
    tdm_store_op_end(base, NULL);
}

void mt_store_run_progress(const mt_req *r, const mt_claim *c, double progress, int lease_ms,
                           mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 4, c->run_id, c->claim,
                                           tdm_arena_printf(r->arena, "%.3f", progress),
                                           op_int(r->arena, lease_ms)))
        return;
    static const char sql[] =
        "WITH l AS (UPDATE " MT_SCHEMA ".run_queue SET lease_until = now() +"
        " make_interval(secs => $4::int / 1000.0) WHERE tenant_id = " T " AND run_id = $1::uuid"
        " AND claim = $2::uuid RETURNING 1)"
        " UPDATE " MT_SCHEMA ".runs SET progress = GREATEST(progress, $3::real)"
        " WHERE tenant_id = " T " AND id = $1::uuid AND EXISTS (SELECT 1 FROM l) RETURNING 1";
    tdm_store_op_start_query(&op->base, false, sql, 4, op->params, progress_done);
}

void mt_store_release_run(const mt_req *r, const mt_claim *c, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 2, c->run_id, c->claim))
        return;
    /* A new claim token fences this replica out (its writes need the old one); the
     * free lease lets any replica claim the run at its next tick; the attempt is not
     * counted, since the replica stopped on purpose and did not fail. */
    static const char sql[] =
        "WITH q AS (UPDATE " MT_SCHEMA ".run_queue SET claim = gen_random_uuid(),"
        " lease_until = NULL WHERE tenant_id = " T " AND run_id = $1::uuid AND claim = $2::uuid"
        " RETURNING 1)"
        " UPDATE " MT_SCHEMA ".runs SET attempts = GREATEST(attempts - 1, 0)"
        " WHERE tenant_id = " T " AND id = $1::uuid AND EXISTS (SELECT 1 FROM q)";
    tdm_store_op_start_query(&op->base, false, sql, 2, op->params, tdm_store_op_done);
}

static void finish_done(tdm_store_op *base, PGresult *res)
{
    store_op *op = (store_op *)base;
    if (!tdm_store_op_one_row(&op->base, res, TDM_ABORTED, "the run's lease was lost"))
        return;
    ProtobufCMessage *m = op_row(op, res, 0, 0, &tandem__v1__matching_run__descriptor);
    if (m == NULL)
        return;
    op->base.response = m;
    Tandem__V1__MatchingRun *run = (Tandem__V1__MatchingRun *)m;
    op_event(op, "matching_run.completed", run->id,
             mt_event_json("matchingRun", m, op->base.req.arena), NULL);
}

void mt_store_finish_run(const mt_req *r, const mt_claim *c, int status, const char *proposals,
                         const char *stats, const char *error, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    if (op == NULL || !tdm_store_op_params(&op->base, &op->params, 6, c->run_id, c->claim,
                                           proposals != NULL ? proposals : "[]", stats,
                                           op_int(r->arena, status), error != NULL ? error : ""))
        return;
    /* Everything only when the queue entry is still ours (the lease): the DELETE
     * decides, and the other parts depend on it, so a lost lease writes nothing. */
    static const char sql[] =
        "WITH q AS (DELETE FROM " MT_SCHEMA ".run_queue WHERE tenant_id = " T
        "  AND run_id = $1::uuid AND claim = $2::uuid RETURNING 1),"
        " run AS (SELECT programme_id FROM " MT_SCHEMA ".runs WHERE tenant_id = " T
        "  AND id = $1::uuid AND EXISTS (SELECT 1 FROM q)),"
        " ins AS (INSERT INTO " MT_SCHEMA ".proposals (tenant_id, run_id, id, programme_id, rank,"
        "  mentor_id, mentee_id, mentor_capacity, score, pinned, explanation)"
        "  SELECT " T ", $1::uuid, gen_random_uuid(), run.programme_id, x.rank, x.mentor_id,"
        "  x.mentee_id, x.cap, x.score, x.pinned, x.explanation"
        "  FROM run, jsonb_to_recordset($3::jsonb) AS x(rank int, mentor_id uuid, mentee_id uuid,"
        "  cap int, score numeric, pinned bool, explanation jsonb)),"
        " r AS (UPDATE " MT_SCHEMA ".runs SET status = $5::smallint,"
        "  progress = CASE WHEN $5::int = 3 THEN 1 ELSE progress END, stats = $4::jsonb,"
        "  error_message = NULLIF($6, ''), end_time = now()"
        "  WHERE tenant_id = " T " AND id = $1::uuid AND EXISTS (SELECT 1 FROM q) RETURNING *)"
        " SELECT " RUN_JSON " FROM r";
    tdm_store_op_start_query(&op->base, false, sql, 6, op->params, finish_done);
}

/* ---- personal data ---------------------------------------------------------------------- */

#define NAMES_ANY " (mentor_id = ANY($1::uuid[]) OR mentee_id = ANY($1::uuid[]))"

/* The kinds of mt_store_export's rows (its column 0), in that order. */
static const tdm_person_data_items EXPORT_KINDS[] = {
    {.field = "proposals", .row = op_json_row, .row_ctx = &tandem__v1__proposal__descriptor},
    {.field = "matches", .row = op_json_row, .row_ctx = &tandem__v1__match__descriptor},
    {.field = "pins", .row = op_json_row, .row_ctx = &tandem__v1__pin__descriptor},
    {.field = "exclusions", .row = op_json_row, .row_ctx = &tandem__v1__exclusion__descriptor},
};

static void export_done(tdm_store_op *base, PGresult *res)
{
    if (tdm_person_data_export_rows(base, res, 0, 1, EXPORT_KINDS,
                                    sizeof(EXPORT_KINDS) / sizeof(EXPORT_KINDS[0])))
        tdm_store_op_end(base, NULL);
}

void mt_store_export(const mt_req *r, char **ids, size_t n, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    const char *arr = op != NULL ? op_uuid_array(op, ids, n) : NULL;
    if (arr == NULL || !tdm_store_op_params(&op->base, &op->params, 1, arr))
        return;
    static const char sql[] =
        "(SELECT 0, " PROPOSAL_JSON " FROM " MT_SCHEMA ".proposals p WHERE p.tenant_id = " T
        " AND" NAMES_ANY " ORDER BY p.create_time, p.id LIMIT 10000)"
        " UNION ALL (SELECT 1, " MATCH_JSON " FROM " MT_SCHEMA ".matches m WHERE m.tenant_id = " T
        " AND" NAMES_ANY " ORDER BY m.seq LIMIT 10000)"
        " UNION ALL (SELECT 2, " RULE_JSON " FROM " MT_SCHEMA ".pins x WHERE x.tenant_id = " T
        " AND" NAMES_ANY " ORDER BY x.seq LIMIT 10000)"
        " UNION ALL (SELECT 3, " RULE_JSON " FROM " MT_SCHEMA ".exclusions x WHERE x.tenant_id = " T
        " AND" NAMES_ANY " ORDER BY x.seq LIMIT 10000)";
    tdm_store_op_start_query(&op->base, true, sql, 1, op->params, export_done);
}

static void erase_done(tdm_store_op *op, PGresult *res)
{
    static const char *const COUNTS[] = {"proposals", "matches", "pins", "exclusions"};
    tdm_person_data_erased(op, res, COUNTS, sizeof(COUNTS) / sizeof(COUNTS[0]));
}

void mt_store_erase(const mt_req *r, char **ids, size_t n, mt_store_cb cb, void *arg)
{
    store_op *op = op_new(r, cb, arg);
    const char *arr = op != NULL ? op_uuid_array(op, ids, n) : NULL;
    if (arr == NULL || !tdm_store_op_params(&op->base, &op->params, 1, arr))
        return;
    /* Proposals, pins and exclusions go. A match stays as an anonymous pair for the
     * programme's aggregates: its explanation (skills, interests, offices...) and
     * free-text reasons are cleared, and a live match ends. A repeat finds nothing
     * left to erase (erase_time), so it counts 0. Idempotency records and events that
     * name the person go too (tandem/person_data.h). */
    /* The shared CTEs are macros amid the statement's strings: laid out by hand. */
    /* clang-format off */
    static const char sql[] =
        "WITH pr AS (DELETE FROM " MT_SCHEMA ".proposals WHERE tenant_id = " T " AND" NAMES_ANY
        "  RETURNING 1),"
        " ma AS (UPDATE " MT_SCHEMA ".matches SET explanation = '[]', mentor_reason = '',"
        "  mentee_reason = '', end_reason = '',"
        "  status = CASE WHEN status IN (1, 2, 4) THEN 5 ELSE status END,"
        "  end_time = COALESCE(end_time, now()), erase_time = now(), update_time = now()"
        "  WHERE tenant_id = " T " AND" NAMES_ANY " AND erase_time IS NULL RETURNING 1),"
        " pi AS (DELETE FROM " MT_SCHEMA ".pins WHERE tenant_id = " T " AND" NAMES_ANY
        "  RETURNING 1),"
        " ex AS (DELETE FROM " MT_SCHEMA ".exclusions WHERE tenant_id = " T " AND" NAMES_ANY
        "  RETURNING 1),"
        TDM_ERASE_IDEMPOTENCY_CTE("idem", MT_SCHEMA, "$1::uuid[]") ","
        TDM_ERASE_OUTBOX_CTE("ev", MT_SCHEMA, "$1::uuid[]")
        " SELECT (SELECT count(*) FROM pr), (SELECT count(*) FROM ma), (SELECT count(*) FROM pi),"
        " (SELECT count(*) FROM ex), (SELECT count(*) FROM idem), (SELECT count(*) FROM ev)";
    /* clang-format on */
    tdm_store_op_start_query(&op->base, false, sql, 1, op->params, erase_done);
}
