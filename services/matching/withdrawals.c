/*
 * withdrawals.c - a withdrawn participant's live matches end.
 *
 * WithdrawParticipant belongs to enrolment; matches are ours. Left alone, a mentor
 * who has left the firm would stay in an ACTIVE match for ever (and the pair would
 * turn up as at risk). So this follower reads enrolment's outbox past its cursor
 * (matching.enrolment_cursor) five times a second - only the ids, type and order columns,
 * which is all its grant allows: never a payload - and for the participant.withdrawn
 * events it finds, ends the participants' PROPOSED, ACCEPTED and ACTIVE matches
 * (each with its match.ended event), one transaction per tenant, then moves the
 * cursor. Ending is idempotent (an ended match is no longer live), so a crash between
 * the two only repeats work; the cursor only moves forward. Rows are taken below the
 * oldest running transaction, as the gateway's fan-out does, so none can commit
 * behind the cursor.
 *
 * Replicas: one follows at a time. A pass starts by taking or renewing the cursor
 * row's lease (holder = this process's follower id, for FOLLOWER_LEASE_MS) in the
 * statement that reads the outbox; a replica that finds the lease held by another
 * skips its tick, so N replicas do the work once, not N times. The holder keeps it
 * by renewing every pass; when it dies or stops, another takes over once the lease
 * has expired (a withdrawal then waits up to FOLLOWER_LEASE_MS more); one that stops
 * hands it back at once. The cursor moves only where this replica still holds the
 * lease. The timer, the passes and the lease's holder id are the runtime's periodic
 * job (tandem/job.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "matching.h"
#include "tandem/job.h"
#include "tandem/log.h"

#define POLL_MS          200   /* a deprovisioned person's matches end within a second */
#define NOT_READY_MS     30000 /* enrolment's outbox not readable yet: try again this often */
#define BATCH            500   /* rows per pass */
#define PASS_ARENA_BYTES (64 * 1024)
#define END_REASON       "the participant withdrew from the programme"
/* How long a pass's lease on the cursor lasts: passes renew it every POLL_MS, so a
 * holder keeps it through several missed ticks (a slow database, a busy loop). */
#define FOLLOWER_LEASE_MS 10000

typedef struct tenant_ids {
    char tenant_id[37];
    char *ids; /* "{uuid,uuid}" */
    size_t len, cap;
} tenant_ids;

struct mt_withdrawals {
    mt_service *svc;
    tdm_job *job; /* the timer, the pass's arena and request id, the lease's holder */
    bool warned;
    /* the pass in progress */
    tdm_arena *a;
    tenant_ids *tenants;
    size_t n_tenants, next, n_rows, n_withdrawn;
    char to_xact[32], to_seq[32];
    tdm_call_context ctx;
    mt_req req;
};

/* The pass's state goes with its arena. */
static void pass_forget(struct mt_withdrawals *w)
{
    w->a = NULL;
    w->tenants = NULL;
    w->n_tenants = w->next = w->n_rows = w->n_withdrawn = 0;
}

static void pass_end(struct mt_withdrawals *w, bool again)
{
    pass_forget(w);
    tdm_job_pass_end(w->job, again); /* again: a full batch, more rows are waiting */
}

static void pass_failed(struct mt_withdrawals *w, const char *what, tdm_status *st)
{
    pass_forget(w);
    tdm_job_pass_failed(w->job, what, st);
}

static void cursor_moved(void *arg, tdm_status *st, PGresult *res)
{
    struct mt_withdrawals *w = arg;
    (void)res;
    if (st != NULL) {
        pass_failed(w, "could not move the cursor", st);
        return;
    }
    if (w->n_withdrawn > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", w->n_withdrawn);
        tdm_log_fields(TDM_LOG_INFO, tdm_job_request_id(w->job),
                       "live matches of withdrawn participants ended", "participants", n, NULL);
    }
    pass_end(w, w->n_rows == BATCH);
}

static void next_tenant(struct mt_withdrawals *w);

static void tenant_done(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    struct mt_withdrawals *w = arg;
    (void)msg;
    if (st != NULL) {
        /* The cursor stays: the whole batch is tried again on the next tick. */
        tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(w->job),
                       "withdrawals: could not end matches", "tenant_id",
                       w->tenants[w->next - 1].tenant_id, "error", st->message, "detail",
                       st->detail, NULL);
        tdm_status_free(st);
        pass_end(w, false);
        return;
    }
    next_tenant(w);
}

static void next_tenant(struct mt_withdrawals *w)
{
    if (tdm_job_stopped(w->job)) {
        pass_end(w, false);
        return;
    }
    if (w->next < w->n_tenants) {
        tenant_ids *t = &w->tenants[w->next++];
        w->ctx =
            (tdm_call_context){.tenant_id = t->tenant_id, .request_id = tdm_job_request_id(w->job)};
        w->req = (mt_req){.pool = tdm_runtime_pg(w->svc->rt), .arena = w->a, .ctx = &w->ctx};
        mt_store_end_matches_of(&w->req, t->ids, END_REASON, tenant_done, w);
        return;
    }
    const char *values[] = {w->to_xact, w->to_seq, tdm_job_holder(w->job)};
    tdm_pg_tx_options o = {.tenant_id = NULL, .request_id = tdm_job_request_id(w->job)};
    if (tdm_pg_exec(tdm_runtime_pg(w->svc->rt), &o,
                    "UPDATE " MT_SCHEMA ".enrolment_cursor SET last_xact = $1::xid8,"
                    " last_seq = $2::bigint WHERE (last_xact, last_seq) < ($1::xid8, $2::bigint)"
                    " AND holder = $3::uuid",
                    3, values, cursor_moved, w) != 0)
        pass_end(w, false);
}

/* Append id to the tenant's "{...}" literal (UUIDs need no quoting). */
static int add_id(struct mt_withdrawals *w, const char *tenant_id, const char *id)
{
    tenant_ids *t = NULL;
    for (size_t i = 0; i < w->n_tenants && t == NULL; i++)
        if (strcmp(w->tenants[i].tenant_id, tenant_id) == 0)
            t = &w->tenants[i];
    if (t == NULL) {
        t = &w->tenants[w->n_tenants++];
        snprintf(t->tenant_id, sizeof(t->tenant_id), "%s", tenant_id);
        t->cap = 64 * 37 + 3;
        t->ids = tdm_arena_alloc(w->a, t->cap);
        if (t->ids == NULL)
            return -1;
        t->ids[0] = '{';
        t->len = 1;
    }
    size_t n = strlen(id);
    if (n != 36)
        return 0; /* not a UUID: the column's type makes this impossible */
    if (t->len + n + 3 > t->cap) {
        size_t cap = t->cap * 2;
        char *grown = tdm_arena_alloc(w->a, cap);
        if (grown == NULL)
            return -1;
        memcpy(grown, t->ids, t->len);
        t->ids = grown;
        t->cap = cap;
    }
    if (t->len > 1)
        t->ids[t->len++] = ',';
    memcpy(t->ids + t->len, id, n);
    t->len += n;
    t->ids[t->len] = '}';
    t->ids[t->len + 1] = '\0';
    return 0;
}

static void read_done(void *arg, tdm_status *st, PGresult *res)
{
    struct mt_withdrawals *w = arg;
    if (st != NULL) {
        /* Enrolment not migrated yet (or its grant missing): expected for a while. */
        bool not_ready = tdm_pg_peer_not_ready(res);
        if (not_ready)
            tdm_job_defer(w->job, NOT_READY_MS);
        tdm_log_fields(not_ready && w->warned ? TDM_LOG_DEBUG : TDM_LOG_WARN, NULL,
                       "withdrawals: could not read enrolment's outbox", "error", st->message,
                       "detail", st->detail, NULL);
        w->warned = not_ready;
        tdm_status_free(st);
        pass_end(w, false);
        return;
    }
    w->warned = false;
    int n = PQntuples(res);
    if (n == 0) {
        pass_end(w, false);
        return;
    }
    w->n_rows = (size_t)n;
    w->tenants = tdm_arena_calloc(w->a, (size_t)n, sizeof(*w->tenants));
    if (w->tenants == NULL) {
        pass_end(w, false);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (PQgetvalue(res, i, 2)[0] != 't')
            continue;
        if (add_id(w, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)) != 0) {
            pass_end(w, false);
            return;
        }
        w->n_withdrawn++;
    }
    snprintf(w->to_xact, sizeof(w->to_xact), "%s", PQgetvalue(res, n - 1, 3));
    snprintf(w->to_seq, sizeof(w->to_seq), "%s", PQgetvalue(res, n - 1, 4));
    next_tenant(w);
}

/* A pass: the lease and the read in one statement. */
static void pass(tdm_job *job)
{
    struct mt_withdrawals *w = tdm_job_data(job);
    w->a = tdm_job_arena(job);
    char limit[16], lease[16];
    snprintf(limit, sizeof(limit), "%d", BATCH);
    snprintf(lease, sizeof(lease), "%d", FOLLOWER_LEASE_MS);
    /* No row when another replica holds the lease (or nothing is new). SKIP LOCKED: a
     * replica renewing at this moment wins and this one skips instead of waiting for
     * it. */
    tdm_pg_tx_options o = {.tenant_id = NULL, .request_id = tdm_job_request_id(job)};
    if (tdm_pg_exec(tdm_runtime_pg(w->svc->rt), &o,
                    "WITH c AS (UPDATE " MT_SCHEMA ".enrolment_cursor SET holder = $2::uuid,"
                    "  held_until = now() + make_interval(secs => $3::int / 1000.0)"
                    "  WHERE only_row AND only_row IN (SELECT only_row FROM " MT_SCHEMA
                    ".enrolment_cursor WHERE holder IS NULL OR holder = $2::uuid"
                    "   OR held_until < now() FOR UPDATE SKIP LOCKED)"
                    "  RETURNING last_xact, last_seq)"
                    " SELECT o.tenant_id::text, o.resource_id::text,"
                    " o.type = 'participant.withdrawn', o.xact_id::text, o.seq::text"
                    " FROM enrolment.outbox o, c"
                    " WHERE (o.xact_id, o.seq) > (c.last_xact, c.last_seq)"
                    " AND o.xact_id < pg_snapshot_xmin(pg_current_snapshot())"
                    " ORDER BY o.xact_id, o.seq LIMIT $1::int",
                    3, (const char *const[]){limit, tdm_job_holder(job), lease}, read_done, w) != 0)
        pass_end(w, false);
}

static const tdm_job_spec WITHDRAWALS_JOB = {
    .name = "withdrawals",
    .interval_ms = POLL_MS,
    .arena_bytes = PASS_ARENA_BYTES,
    .pass = pass,
    /* Handed back at stop, so another replica follows at once; the cursor moves only
     * WHERE holder is the mover, so a pass still in flight then changes nothing. */
    .release_sql = "UPDATE " MT_SCHEMA ".enrolment_cursor SET holder = NULL, held_until = NULL"
                   " WHERE holder = $1::uuid",
};

tdm_status *mt_withdrawals_start(mt_service *svc)
{
    struct mt_withdrawals *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    w->svc = svc;
    tdm_status *st = tdm_job_start(svc->rt, &WITHDRAWALS_JOB, w, &w->job);
    if (st != NULL) {
        free(w);
        return st;
    }
    svc->withdrawals = w;
    return NULL;
}

void mt_withdrawals_stop(mt_service *svc)
{
    struct mt_withdrawals *w = svc->withdrawals;
    if (w != NULL)
        tdm_job_stop(w->job);
}
