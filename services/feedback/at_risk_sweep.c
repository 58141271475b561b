/*
 * at_risk_sweep.c - match.at_risk, once per at-risk episode, found on a timer.
 *
 * A match becomes at risk by the clock alone (no check-in for twice the cadence), so
 * no request can be the moment it is noticed - and a GET must never be (API.md "Least
 * privilege in every answer"). Every second one replica of tandem-feedback follows
 * matching's outbox, and every TANDEM_AT_RISK_SWEEP_SECONDS (default 15 min, counted
 * from the last pass of any replica) it also sweeps:
 *
 *   1. lease: takes or renews the one row of feedback.at_risk_sweeper (holder = this
 *      process, for SWEEP_LEASE_S, renewed as the pass goes); a replica that finds it
 *      held by another skips its tick, so N replicas do the work once, not N times;
 *   2. follow: reads matching's outbox past its cursor - only the ids, type and order
 *      columns its grant allows (matching 050_at_risk_follower.sql), never a payload -
 *      and for each match it does not follow yet asks matching for it (GetMatch with
 *      scope feedback:read: ids, status, start) to learn its programme, records it in
 *      feedback.at_risk_matches (and forgets those a match.ended names: ENDED is
 *      final, so a programme whose matches have all ended is no longer swept), then
 *      moves the cursor (only while it holds the lease), as matching's withdrawals.c
 *      follows enrolment's;
 *   3. sweep, when due: for every programme with followed matches, reads the programme
 *      (its cadence) and its matches' columns (ListMatchColumns, the report's own input)
 *      with scope feedback:read only, and in one transaction of the tenant applies the
 *      listing's rules (store.c FB_AT_RISK_CTES): an at-risk match without an open
 *      episode gets one and its match.at_risk event; an open episode of a match no
 *      longer at risk is closed, so a relapse is announced again;
 *   4. counts the pass (passes, last_pass_time: what operators and tests watch).
 *
 * Exactly once is the database's doing, not the lease's: the open episode is unique
 * per match, and the INSERT ... ON CONFLICT DO NOTHING that opens it - in the
 * transaction that writes the event - decides who emits. Two replicas that overlap (a
 * lease expired under a slow pass) both run the statement; the second finds the
 * episode open and emits nothing. Sweeps of one programme also take turns on an
 * advisory lock, so each decides on what the one before it committed.
 *
 * Every peer call carries the tenant's context with principal "at-risk-sweep" and
 * scope feedback:read alone: what a feedback:read key would be answered, no more.
 * "Now" is the database's, moved by TANDEM_TEST_CLOCK_OFFSET seconds (tests only).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedback.h"
#include "google/protobuf/wrappers.pb-c.h"
#include "tandem/internal/v1/report_inputs.pb-c.h"
#include "tandem/job.h"
#include "tandem/log.h"

#define SWEEP_DEFAULT_S 900 /* API.md: at least every 15 minutes */
#define SWEEP_MIN_S     1
#define SWEEP_MAX_S     900
/* The lease: renewed every tick, and every SWEEP_RENEW_MS during a pass, so a live
 * holder keeps it through a long sweep; a replica that dies leaves it to expire (the
 * follower and the sweep resume on another within SWEEP_LEASE_S), one that stops
 * hands it back at once. */
#define SWEEP_LEASE_S      30
#define SWEEP_RENEW_MS     10000
#define SWEEP_MAX_OFFSET_S (3660 * 86400)
#define FOLLOW_BATCH       500  /* outbox rows per read */
#define FOLLOW_MS          1000 /* the holder follows matching's outbox this often */
#define NOT_READY_S        30   /* matching's outbox not readable yet: try again */
#define CALL_TIMEOUT_MS    15000
#define PASS_ARENA_BYTES   (64 * 1024)
#define PRINCIPAL          "at-risk-sweep"

/* A match of the batch: new (to follow, once its programme is known) or ended (to
 * follow no longer). */
typedef struct followed {
    const char *tenant_id, *match_id, *programme_id;
    bool ended;
} followed;

typedef struct programme_ref {
    const char *tenant_id, *programme_id;
} programme_ref;

struct fb_sweep {
    fb_service *svc;
    tdm_job *job; /* the timer, the pass's arena and request id, the lease's holder */
    bool warned, sweep_due;
    uint64_t follow_again_at;
    char lease_s[16], batch[16], interval_s[16];
    /* the pass in progress */
    tdm_arena *a;
    char last_xact[32], last_seq[32], to_xact[32], to_seq[32];
    size_t n_rows;
    followed *matches; /* new matches of this batch, and how far asked */
    size_t n_matches, next_match;
    size_t next_tenant_match;
    programme_ref *programmes;
    size_t n_programmes, next_programme;
    size_t opened;
    /* the programme in progress */
    tdm_arena *pa;
    tdm_call_context ctx;
    fb_req req;
    fb_programme_data *data;
    int64_t after;
};

static void follow_read(fb_sweep *s);
static void followed_all(fb_sweep *s);
static void next_programme(fb_sweep *s);
static void next_match(fb_sweep *s);

static void pass_end(fb_sweep *s)
{
    tdm_arena_free(s->pa); /* the programme's; the pass's own goes with the pass */
    s->pa = s->a = NULL;
    s->matches = NULL;
    s->programmes = NULL;
    s->n_rows = s->n_matches = s->next_match = s->next_tenant_match = 0;
    s->n_programmes = s->next_programme = s->opened = 0;
    tdm_job_pass_end(s->job, false);
}

static void pass_failed(fb_sweep *s, const char *what, tdm_status *st)
{
    tdm_log_fields(TDM_LOG_WARN, tdm_job_request_id(s->job), what, "error", st->message, "detail",
                   st->detail, NULL);
    tdm_status_free(st);
    pass_end(s);
}

static tdm_pg_tx_options no_tenant(fb_sweep *s)
{
    return (tdm_pg_tx_options){.tenant_id = NULL, .request_id = tdm_job_request_id(s->job)};
}

/* The context of every peer call and store transaction of one tenant. */
static void tenant_context(fb_sweep *s, const char *tenant_id, tdm_arena *a)
{
    s->ctx = (tdm_call_context){.tenant_id = tenant_id,
                                .principal_id = PRINCIPAL,
                                .principal_kind = TDM_PRINCIPAL_PLATFORM,
                                .scopes = TDM_SCOPE_FEEDBACK_READ,
                                .request_id = tdm_job_request_id(s->job)};
    s->req = (fb_req){.pool = tdm_runtime_pg(s->svc->rt), .arena = a, .ctx = &s->ctx};
}

static int peer_call(fb_sweep *s, const char *peer, const ProtobufCServiceDescriptor *service,
                     const char *method, const ProtobufCMessage *q, tdm_arena *a,
                     tdm_rpc_client_cb cb)
{
    tdm_rpc_client *client = tdm_runtime_peer(s->svc->rt, peer);
    uint64_t deadline = uv_now(tdm_runtime_loop(s->svc->rt)) + CALL_TIMEOUT_MS;
    return client == NULL
               ? -1
               : tdm_rpc_client_call(client, service, method, q, &s->ctx, deadline, a, cb, s);
}

/* ---- 4. the pass is counted ------------------------------------------------------- */

static void counted(void *arg, tdm_status *st, PGresult *res)
{
    fb_sweep *s = arg;
    (void)res;
    if (st != NULL) {
        pass_failed(s, "at-risk sweep: could not count the pass", st);
        return;
    }
    if (s->opened > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", s->opened);
        tdm_log_fields(TDM_LOG_INFO, tdm_job_request_id(s->job), "at-risk episodes opened",
                       "matches", n, NULL);
    }
    pass_end(s);
}

static void count_pass(fb_sweep *s)
{
    if (tdm_job_stopped(s->job)) {
        pass_end(s);
        return;
    }
    tdm_pg_tx_options o = no_tenant(s);
    if (tdm_pg_exec(tdm_runtime_pg(s->svc->rt), &o,
                    "UPDATE " FB_SCHEMA ".at_risk_sweeper SET passes = passes + 1,"
                    " last_pass_time = now() WHERE holder = $1::uuid",
                    1, (const char *const[]){tdm_job_holder(s->job)}, counted, s) != 0)
        pass_end(s);
}

/* ---- 3. sweep each programme -------------------------------------------------------- */

static void programme_failed(fb_sweep *s, const char *what, tdm_status *st)
{
    /* One programme's failure (a peer down, a programme erased) does not stop the
     * others; it is swept again next pass. */
    const programme_ref *p = &s->programmes[s->next_programme - 1];
    tdm_log_fields(st->code == TDM_NOT_FOUND ? TDM_LOG_DEBUG : TDM_LOG_WARN,
                   tdm_job_request_id(s->job), what, "tenant_id", p->tenant_id, "programme_id",
                   p->programme_id, "error", st->message, NULL);
    tdm_status_free(st);
    next_programme(s);
}

static void swept(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    fb_sweep *s = arg;
    if (st != NULL) {
        programme_failed(s, "at-risk sweep: could not sweep a programme", st);
        return;
    }
    if (msg != NULL)
        s->opened += (size_t)((const Google__Protobuf__Int32Value *)msg)->value;
    next_programme(s);
}

static void ask_columns(fb_sweep *s);

static void columns_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    fb_sweep *s = arg;
    const Tandem__Internal__V1__MatchColumns *c = (const void *)msg;
    if (st == NULL && msg == NULL)
        st = tdm_status_new(TDM_INTERNAL, "matching answered no columns");
    if (st == NULL && (c->count < 0 || (c->next_after != 0 && c->next_after <= s->after)))
        st = tdm_status_new(TDM_INTERNAL, "matching answered a malformed page");
    const ProtobufCBinaryData *page[FB_MATCH_COLUMNS];
    if (st == NULL) {
        page[0] = &c->id;
        page[1] = &c->mentor_id;
        page[2] = &c->mentee_id;
        page[3] = &c->status;
        page[4] = &c->start_time;
        page[5] = &c->declined;
    }
    for (int i = 0; st == NULL && i < FB_MATCH_COLUMNS; i++) {
        fb_pg_array_result r =
            fb_pg_array_append(&s->data->mcols[i], page[i]->data, page[i]->len, (size_t)c->count,
                               FB_MAX_PROGRAMME_MATCHES, s->pa);
        if (r != FB_PG_ARRAY_OK)
            st = r == FB_PG_ARRAY_NO_MEMORY
                     ? tdm_store_oom()
                     : tdm_status_new(TDM_INTERNAL, "matching answered a malformed column");
    }
    if (st != NULL) {
        programme_failed(s, "at-risk sweep: could not read the programme's matches", st);
        return;
    }
    s->data->n_matches += (size_t)c->count;
    if (c->next_after != 0) {
        s->after = c->next_after;
        ask_columns(s);
        return;
    }
    s->data->match_columns = true;
    fb_store_at_risk_sweep(&s->req, s->data, s->svc->at_risk.clock_offset_s, swept, s);
}

static void ask_columns(fb_sweep *s)
{
    Tandem__Internal__V1__ListMatchColumnsRequest *q = tdm_arena_alloc(s->pa, sizeof(*q));
    if (q == NULL) {
        programme_failed(s, "at-risk sweep: out of memory", tdm_store_oom());
        return;
    }
    tandem__internal__v1__list_match_columns_request__init(q);
    q->programme_id = (char *)s->data->programme->id;
    q->after = s->after;
    if (peer_call(s, "matching", &tandem__internal__v1__match_columns_service__descriptor,
                  "ListMatchColumns", &q->base, s->pa, columns_got) != 0)
        programme_failed(s, "at-risk sweep: could not call tandem-matching",
                         tdm_status_new(TDM_UNAVAILABLE, "the call could not start"));
}

static void programme_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    fb_sweep *s = arg;
    if (st == NULL && msg == NULL)
        st = tdm_status_new(TDM_INTERNAL, "enrolment answered no programme");
    if (st != NULL) {
        programme_failed(s, "at-risk sweep: could not read the programme", st);
        return;
    }
    s->data->programme = (Tandem__V1__Programme *)msg;
    ask_columns(s);
}

static void sweep_programme(fb_sweep *s);

static void lease_renewed(void *arg, tdm_status *st, PGresult *res)
{
    fb_sweep *s = arg;
    if (st != NULL) {
        pass_failed(s, "at-risk sweep: could not renew the lease", st);
        return;
    }
    if (PQcmdTuples(res)[0] != '1') {
        /* Taken over (this pass was too slow): the other replica sweeps. What this
         * one did stands - each episode's event was claimed in the database. */
        tdm_log_fields(TDM_LOG_INFO, tdm_job_request_id(s->job),
                       "at-risk sweep: the lease passed to another replica", NULL);
        pass_end(s);
        return;
    }
    tdm_job_lease_held(s->job);
    sweep_programme(s);
}

static void next_programme(fb_sweep *s)
{
    tdm_arena_free(s->pa);
    s->pa = NULL;
    if (tdm_job_stopped(s->job)) {
        pass_end(s);
        return;
    }
    if (!tdm_job_lease_due(s->job)) {
        sweep_programme(s);
        return;
    }
    tdm_pg_tx_options o = no_tenant(s);
    if (tdm_pg_exec(tdm_runtime_pg(s->svc->rt), &o,
                    "UPDATE " FB_SCHEMA ".at_risk_sweeper SET held_until = now()"
                    " + make_interval(secs => $2::int) WHERE holder = $1::uuid",
                    2, (const char *const[]){tdm_job_holder(s->job), s->lease_s}, lease_renewed,
                    s) != 0)
        pass_end(s);
}

static void sweep_programme(fb_sweep *s)
{
    if (s->next_programme >= s->n_programmes) {
        count_pass(s);
        return;
    }
    const programme_ref *p = &s->programmes[s->next_programme++];
    s->pa = tdm_arena_new(PASS_ARENA_BYTES);
    s->data = s->pa != NULL ? tdm_arena_calloc(s->pa, 1, sizeof(*s->data)) : NULL;
    Tandem__V1__GetProgrammeRequest *q = s->pa != NULL ? tdm_arena_alloc(s->pa, sizeof(*q)) : NULL;
    if (s->data == NULL || q == NULL) {
        pass_end(s);
        return;
    }
    fb_match_columns_init(s->data->mcols);
    s->after = 0;
    tenant_context(s, p->tenant_id, s->pa);
    tandem__v1__get_programme_request__init(q);
    q->id = (char *)p->programme_id;
    if (peer_call(s, "enrolment", &tandem__v1__enrolment_service__descriptor, "GetProgramme",
                  &q->base, s->pa, programme_got) != 0)
        programme_failed(s, "at-risk sweep: could not call tandem-enrolment",
                         tdm_status_new(TDM_UNAVAILABLE, "the call could not start"));
}

static void programmes_listed(void *arg, tdm_status *st, PGresult *res)
{
    fb_sweep *s = arg;
    if (st != NULL) {
        pass_failed(s, "at-risk sweep: could not list the programmes", st);
        return;
    }
    int n = PQntuples(res);
    s->programmes = tdm_arena_calloc(s->a, (size_t)(n > 0 ? n : 1), sizeof(*s->programmes));
    if (s->programmes == NULL) {
        pass_end(s);
        return;
    }
    for (int i = 0; i < n; i++) {
        programme_ref *p = &s->programmes[s->n_programmes];
        p->tenant_id = tdm_arena_strdup(s->a, PQgetvalue(res, i, 0));
        p->programme_id = tdm_arena_strdup(s->a, PQgetvalue(res, i, 1));
        if (p->tenant_id == NULL || p->programme_id == NULL)
            break;
        s->n_programmes++;
    }
    next_programme(s);
}

static void sweep_list(fb_sweep *s)
{
    tdm_pg_tx_options o = no_tenant(s);
    if (tdm_pg_exec(tdm_runtime_pg(s->svc->rt), &o,
                    "SELECT DISTINCT tenant_id::text, programme_id::text FROM " FB_SCHEMA
                    ".at_risk_matches ORDER BY 1, 2",
                    0, NULL, programmes_listed, s) != 0)
        pass_end(s);
}

/* ---- 2. follow matching's outbox ---------------------------------------------------- */

/* Followed up to now: sweep when one is due (the last pass, by any replica, is an
 * interval old). */
static void followed_all(fb_sweep *s)
{
    if (s->sweep_due && !tdm_job_stopped(s->job))
        sweep_list(s);
    else
        pass_end(s);
}

static void cursor_moved(void *arg, tdm_status *st, PGresult *res)
{
    fb_sweep *s = arg;
    (void)res;
    if (st != NULL) {
        pass_failed(s, "at-risk sweep: could not move the cursor", st);
        return;
    }
    bool full = s->n_rows == FOLLOW_BATCH;
    snprintf(s->last_xact, sizeof(s->last_xact), "%s", s->to_xact);
    snprintf(s->last_seq, sizeof(s->last_seq), "%s", s->to_seq);
    s->n_rows = s->n_matches = s->next_match = s->next_tenant_match = 0;
    if (full && !tdm_job_stopped(s->job))
        follow_read(s); /* more rows are waiting */
    else
        followed_all(s);
}

static void move_cursor(fb_sweep *s)
{
    tdm_pg_tx_options o = no_tenant(s);
    if (tdm_pg_exec(tdm_runtime_pg(s->svc->rt), &o,
                    "UPDATE " FB_SCHEMA ".at_risk_sweeper SET last_xact = $1::xid8,"
                    " last_seq = $2::bigint WHERE (last_xact, last_seq) < ($1::xid8, $2::bigint)"
                    " AND holder = $3::uuid",
                    3, (const char *const[]){s->to_xact, s->to_seq, tdm_job_holder(s->job)},
                    cursor_moved, s) != 0)
        pass_end(s);
}

enum id_field { NEW_MATCH_IDS, NEW_PROGRAMME_IDS, ENDED_MATCH_IDS };

/* "{a,b}" of the batch's entries [from, to) (one tenant's): the new matches found at
 * matching and their programmes, or the ended matches. */
static char *id_array(fb_sweep *s, size_t from, size_t to, enum id_field which)
{
    size_t cap = (to - from) * 37 + 3, len = 1;
    char *out = tdm_arena_alloc(s->a, cap);
    if (out == NULL)
        return NULL;
    out[0] = '{';
    for (size_t i = from; i < to; i++) {
        const followed *f = &s->matches[i];
        if (f->ended != (which == ENDED_MATCH_IDS))
            continue;
        if (!f->ended && f->programme_id == NULL)
            continue; /* not found at matching */
        const char *id = which == NEW_PROGRAMME_IDS ? f->programme_id : f->match_id;
        len += (size_t)snprintf(out + len, cap - len, "%s%s", len > 1 ? "," : "", id);
    }
    snprintf(out + len, cap - len, "}");
    return out;
}

static void record_tenant(fb_sweep *s);

static void tenant_recorded(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    fb_sweep *s = arg;
    (void)msg;
    if (st != NULL) {
        /* The cursor stays: the batch is read again next pass. */
        pass_failed(s, "at-risk sweep: could not record followed matches", st);
        return;
    }
    record_tenant(s);
}

/* One transaction per tenant (the rows are grouped by tenant in read order). */
static void record_tenant(fb_sweep *s)
{
    if (tdm_job_stopped(s->job)) {
        pass_end(s);
        return;
    }
    size_t from = s->next_tenant_match;
    if (from >= s->n_matches) {
        move_cursor(s);
        return;
    }
    size_t to = from + 1;
    while (to < s->n_matches && strcmp(s->matches[to].tenant_id, s->matches[from].tenant_id) == 0)
        to++;
    s->next_tenant_match = to;
    char *ids = id_array(s, from, to, NEW_MATCH_IDS);
    char *programmes = id_array(s, from, to, NEW_PROGRAMME_IDS);
    char *ended = id_array(s, from, to, ENDED_MATCH_IDS);
    if (ids == NULL || programmes == NULL || ended == NULL) {
        pass_end(s);
        return;
    }
    tenant_context(s, s->matches[from].tenant_id, s->a);
    fb_store_follow_matches(&s->req, ids, programmes, ended, tenant_recorded, s);
}

static void match_got(void *arg, tdm_status *st, ProtobufCMessage *msg)
{
    fb_sweep *s = arg;
    followed *f = &s->matches[s->next_match - 1];
    if (st != NULL && st->code != TDM_NOT_FOUND) {
        pass_failed(s, "at-risk sweep: could not read a new match", st);
        return;
    }
    if (st != NULL) {
        tdm_status_free(st); /* gone (its tenant erased): nothing to follow */
    } else {
        const Tandem__V1__Match *m = (const void *)msg;
        f->programme_id = tdm_uuid_valid(m->programme_id) ? m->programme_id : NULL;
    }
    next_match(s);
}

static void next_match(fb_sweep *s)
{
    if (tdm_job_stopped(s->job)) {
        pass_end(s);
        return;
    }
    if (s->next_match >= s->n_matches) {
        record_tenant(s);
        return;
    }
    followed *f = &s->matches[s->next_match++];
    if (f->ended) {
        next_match(s); /* nothing to ask: it is followed no longer */
        return;
    }
    Tandem__V1__GetMatchRequest *q = tdm_arena_alloc(s->a, sizeof(*q));
    if (q == NULL) {
        pass_end(s);
        return;
    }
    tandem__v1__get_match_request__init(q);
    q->id = (char *)f->match_id;
    tenant_context(s, f->tenant_id, s->a);
    if (peer_call(s, "matching", &tandem__v1__matching_service__descriptor, "GetMatch", &q->base,
                  s->a, match_got) != 0)
        pass_failed(s, "at-risk sweep: could not call tandem-matching",
                    tdm_status_new(TDM_UNAVAILABLE, "the call could not start"));
}

static bool seen(const fb_sweep *s, const char *tenant_id, const char *match_id, bool ended)
{
    for (size_t i = 0; i < s->n_matches; i++)
        if (s->matches[i].ended == ended && strcmp(s->matches[i].match_id, match_id) == 0 &&
            strcmp(s->matches[i].tenant_id, tenant_id) == 0)
            return true;
    return false;
}

static int cmp_tenant(const void *x, const void *y)
{
    const followed *a = x, *b = y;
    return strcmp(a->tenant_id, b->tenant_id);
}

static void follow_done(void *arg, tdm_status *st, PGresult *res)
{
    fb_sweep *s = arg;
    if (st != NULL) {
        /* Matching not migrated yet (or its grant missing): expected for a while; the
         * programmes already followed are swept meanwhile. */
        bool not_ready = tdm_pg_peer_not_ready(res);
        tdm_log_fields(not_ready && s->warned ? TDM_LOG_DEBUG : TDM_LOG_WARN,
                       tdm_job_request_id(s->job),
                       "at-risk sweep: could not read matching's outbox", "error", st->message,
                       "detail", st->detail, NULL);
        s->warned = not_ready;
        if (not_ready)
            s->follow_again_at = uv_now(tdm_runtime_loop(s->svc->rt)) + NOT_READY_S * 1000u;
        tdm_status_free(st);
        followed_all(s);
        return;
    }
    s->warned = false;
    int n = PQntuples(res);
    if (n == 0) {
        followed_all(s);
        return;
    }
    s->n_rows = (size_t)n;
    s->matches = tdm_arena_calloc(s->a, (size_t)n, sizeof(*s->matches));
    if (s->matches == NULL) {
        pass_end(s);
        return;
    }
    /* Columns: tenant, resource id, xact, seq, whether it names a match not followed,
     * whether the match ended. */
    for (int i = 0; i < n; i++) {
        const char *tenant_id = PQgetvalue(res, i, 0), *match_id = PQgetvalue(res, i, 1);
        bool ended = PQgetvalue(res, i, 5)[0] == 't';
        if ((!ended && PQgetvalue(res, i, 4)[0] != 't') || seen(s, tenant_id, match_id, ended))
            continue;
        followed *f = &s->matches[s->n_matches];
        f->ended = ended;
        f->tenant_id = tdm_arena_strdup(s->a, tenant_id);
        f->match_id = tdm_arena_strdup(s->a, match_id);
        if (f->tenant_id == NULL || f->match_id == NULL) {
            pass_end(s);
            return;
        }
        s->n_matches++;
    }
    qsort(s->matches, s->n_matches, sizeof(*s->matches), cmp_tenant);
    snprintf(s->to_xact, sizeof(s->to_xact), "%s", PQgetvalue(res, n - 1, 2));
    snprintf(s->to_seq, sizeof(s->to_seq), "%s", PQgetvalue(res, n - 1, 3));
    next_match(s);
}

static void follow_read(fb_sweep *s)
{
    if (uv_now(tdm_runtime_loop(s->svc->rt)) < s->follow_again_at) {
        followed_all(s);
        return;
    }
    /* Rows below the oldest running transaction only, in (xact, seq) order, as the
     * gateway's fan-out reads: none can commit behind the cursor. */
    tdm_pg_tx_options o = no_tenant(s);
    if (tdm_pg_exec(tdm_runtime_pg(s->svc->rt), &o,
                    "SELECT o.tenant_id::text, o.resource_id::text, o.xact_id::text, o.seq::text,"
                    " o.type LIKE 'match.%' AND NOT EXISTS (SELECT 1 FROM " FB_SCHEMA
                    ".at_risk_matches f WHERE f.tenant_id = o.tenant_id"
                    "  AND f.match_id = o.resource_id), o.type = 'match.ended'"
                    " FROM matching.outbox o"
                    " WHERE (o.xact_id, o.seq) > ($1::xid8, $2::bigint)"
                    " AND o.xact_id < pg_snapshot_xmin(pg_current_snapshot())"
                    " ORDER BY o.xact_id, o.seq LIMIT $3::int",
                    3, (const char *const[]){s->last_xact, s->last_seq, s->batch}, follow_done,
                    s) != 0)
        pass_end(s);
}

/* ---- 1. the lease ------------------------------------------------------------------------ */

static void leased(void *arg, tdm_status *st, PGresult *res)
{
    fb_sweep *s = arg;
    if (st != NULL) {
        pass_failed(s, "at-risk sweep: could not take the lease", st);
        return;
    }
    if (PQntuples(res) != 1) {
        pass_end(s); /* another replica sweeps */
        return;
    }
    snprintf(s->last_xact, sizeof(s->last_xact), "%s", PQgetvalue(res, 0, 0));
    snprintf(s->last_seq, sizeof(s->last_seq), "%s", PQgetvalue(res, 0, 1));
    s->sweep_due = PQgetvalue(res, 0, 2)[0] == 't';
    tdm_job_lease_held(s->job);
    follow_read(s);
}

/* One sweep per process, for its life (static: nothing to free while a pass may
 * still be in flight at shutdown). */
static fb_sweep the_sweep;

/* A pass: take or renew the lease. */
static void pass(tdm_job *job)
{
    fb_sweep *s = tdm_job_data(job);
    s->a = tdm_job_arena(job);
    /* Taken when free, expired or already ours. A replica renewing at this moment
     * holds the row lock: this one waits the statement out and then finds it held. */
    tdm_pg_tx_options o = no_tenant(s);
    if (tdm_pg_exec(tdm_runtime_pg(s->svc->rt), &o,
                    "UPDATE " FB_SCHEMA ".at_risk_sweeper SET holder = $1::uuid,"
                    " held_until = now() + make_interval(secs => $2::int)"
                    " WHERE only_row AND (holder IS NULL OR holder = $1::uuid"
                    "  OR held_until < now()) RETURNING last_xact::text, last_seq::text,"
                    " last_pass_time IS NULL OR last_pass_time <= now()"
                    "  - make_interval(secs => $3::int) + interval '100 milliseconds'",
                    3, (const char *const[]){tdm_job_holder(job), s->lease_s, s->interval_s},
                    leased, s) != 0)
        pass_end(s);
}

static const tdm_job_spec SWEEP_JOB = {
    .name = "at-risk sweep",
    .interval_ms = FOLLOW_MS,
    .arena_bytes = PASS_ARENA_BYTES,
    .pass = pass,
    .renew_after_ms = SWEEP_RENEW_MS,
    /* The lease, if this replica holds it, is handed back at stop so another one
     * follows and sweeps at once (a rolling restart does not pause the sweep for a
     * lease). Its cursor moves and pass counts are fenced by holder, so a pass still
     * in flight can change nothing once it is released. */
    .release_sql = "UPDATE " FB_SCHEMA ".at_risk_sweeper SET holder = NULL, held_until = NULL"
                   " WHERE holder = $1::uuid",
};

tdm_status *fb_sweep_start(fb_service *svc)
{
    fb_sweep *s = &the_sweep;
    memset(s, 0, sizeof(*s));
    s->svc = svc;
    snprintf(s->lease_s, sizeof(s->lease_s), "%d", SWEEP_LEASE_S);
    snprintf(s->batch, sizeof(s->batch), "%d", FOLLOW_BATCH);
    snprintf(s->interval_s, sizeof(s->interval_s), "%d", svc->at_risk.interval_s);
    tdm_status *st = tdm_job_start(svc->rt, &SWEEP_JOB, s, &s->job);
    if (st != NULL)
        return st;
    svc->sweep = s;
    tdm_log_fields(TDM_LOG_INFO, NULL, "at-risk sweep started", "holder", tdm_job_holder(s->job),
                   "interval_s", s->interval_s, NULL);
    return NULL;
}

void fb_sweep_stop(fb_service *svc)
{
    fb_sweep *s = svc->sweep;
    if (s != NULL)
        tdm_job_stop(s->job);
}

tdm_status *fb_at_risk_config_load(fb_at_risk_config *cfg)
{
    tdm_status *st = tdm_config_int(NULL, "TANDEM_AT_RISK_SWEEP_SECONDS", SWEEP_DEFAULT_S,
                                    SWEEP_MIN_S, SWEEP_MAX_S, &cfg->interval_s);
    if (st == NULL)
        st = tdm_config_int(NULL, "TANDEM_TEST_CLOCK_OFFSET", 0, -SWEEP_MAX_OFFSET_S,
                            SWEEP_MAX_OFFSET_S, &cfg->clock_offset_s);
    return st;
}
