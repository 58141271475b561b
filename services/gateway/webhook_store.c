/*
 * webhook_store.c - the SQL of webhooks (see webhook_store.h). Parameterised only;
 * the one identifier spliced into text is a source schema from a fixed list. The
 * fan-out is one transaction of several statements: lock the source's cursor, find
 * the next batch of settled outbox rows, then per tenant (app.tenant_id set, so RLS
 * checks every delivery written) insert the deliveries and queue them, then move the
 * cursor and commit - all or nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/log.h"
#include "webhook.h"
#include "webhook_store.h"

#define US_OF(col) "floor(extract(epoch FROM " col ") * 1000000)::bigint"

#define WEBHOOK_COLUMNS                                                                            \
    "id::text, url, array_to_string(events, ','), description, " US_OF("create_time") ", seq, "    \
                                                                                      "state"

#define DELIVERY_COLUMNS                                                                           \
    "d.id::text, d.webhook_id::text, d.event_id::text, d.event_type, d.attempt_count, d.status, "  \
    "d.last_status_code, d.last_error, coalesce(" US_OF("d.next_attempt_time") ", 0), " US_OF(     \
        "d.create_time") ", coalesce(" US_OF("d.last_attempt_time") ", 0), d.seq"

#define FANOUT_SQL_MAX 4096

static const char *const SOURCES[] = {"enrolment", "matching", "feedback"};

/* Every reader of each outbox, by the relation that holds its cursor - one row of
 * (last_xact, last_seq), the (writing transaction, seq) of the last event it took. A
 * row of an outbox is pruned only once EVERY reader of that outbox is past it, so a
 * reader that lags (matching down for a day) loses nothing. A new reader of an outbox
 * is one line here, plus a grant letting tandem_gateway SELECT its cursor (as
 * matching's 014_outbox_cursor_reader.sql does); until that grant exists, the outbox
 * is not pruned at all. */
static const struct outbox_reader {
    const char *source; /* the outbox's schema, one of SOURCES */
    const char *cursor; /* FROM ... that yields its cursor row */
} OUTBOX_READERS[] = {
    {"enrolment", "gateway.outbox_cursors WHERE source = 'enrolment'"}, /* webhook fan-out */
    {"matching", "gateway.outbox_cursors WHERE source = 'matching'"},
    {"feedback", "gateway.outbox_cursors WHERE source = 'feedback'"},
    {"enrolment", "matching.enrolment_cursor"}, /* matching's withdrawal follower */
    {"matching", "feedback.at_risk_sweeper"},   /* feedback's at-risk sweep */
};

#define N_OUTBOX_READERS (sizeof(OUTBOX_READERS) / sizeof(OUTBOX_READERS[0]))

/* "SELECT last_xact, last_seq FROM <cursor> UNION ALL ..." over source's readers into
 * out, and their count; 0, or -1 when it does not fit. */
static int readers_sql(const char *source, char *out, size_t cap, size_t *n_readers)
{
    size_t off = 0;
    *n_readers = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_OUTBOX_READERS; i++) {
        if (strcmp(OUTBOX_READERS[i].source, source) != 0)
            continue;
        int w = snprintf(out + off, cap - off, "%sSELECT last_xact, last_seq FROM %s",
                         *n_readers > 0 ? " UNION ALL " : "", OUTBOX_READERS[i].cursor);
        if (w < 0 || (size_t)w >= cap - off)
            return -1;
        off += (size_t)w;
        (*n_readers)++;
    }
    return *n_readers > 0 ? 0 : -1;
}

static const char *source_schema(const char *source)
{
    for (size_t i = 0; i < sizeof(SOURCES) / sizeof(SOURCES[0]); i++) {
        if (strcmp(source, SOURCES[i]) == 0)
            return SOURCES[i];
    }
    return NULL;
}

static const char *dup_at(tdm_arena *a, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return tdm_arena_strdup(a, PQgetvalue(res, row, col));
}

static int64_t int_at(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static tdm_pg_tx_options tenant_opts(const gw_store_ctx *c, const char *tenant_id)
{
    return (tdm_pg_tx_options){
        .tenant_id = tenant_id, .deadline_ms = c->deadline_ms, .request_id = c->request_id};
}

/* What a delivery cancelled by an erasure becomes (the fan-out and ErasePerson). */
#define CANCEL_ERASED_SET                                                                          \
    " SET status = 3, body = NULL, next_attempt_time = NULL,"                                      \
    "  last_error = 'cancelled: the person it concerns was erased (ErasePerson)'"

/* ---- WebhookService ------------------------------------------------------------------------ */

typedef struct wh_op {
    tdm_arena *arena;
    gw_webhooks_cb webhooks;
    gw_deliveries_cb deliveries;
    void *arg;
} wh_op;

static gw_webhook_row *decode_webhooks(tdm_arena *a, const PGresult *res, size_t *n_out)
{
    int n = PQntuples(res);
    gw_webhook_row *rows = tdm_arena_calloc(a, (size_t)(n > 0 ? n : 1), sizeof(*rows));
    if (rows == NULL)
        return NULL;
    for (int i = 0; i < n; i++) {
        gw_webhook_row *w = &rows[i];
        w->id = dup_at(a, res, i, 0);
        w->url = dup_at(a, res, i, 1);
        char *list = (char *)dup_at(a, res, i, 2);
        w->events = tdm_arena_calloc(a, GW_WEBHOOK_EVENTS_MAX + 1, sizeof(char *));
        if (w->events == NULL || list == NULL)
            return NULL;
        for (char *save = NULL, *tok = strtok_r(list, ",", &save);
             tok != NULL && w->n_events < GW_WEBHOOK_EVENTS_MAX; tok = strtok_r(NULL, ",", &save))
            w->events[w->n_events++] = tok;
        w->description = dup_at(a, res, i, 3);
        w->create_us = int_at(res, i, 4);
        w->seq = int_at(res, i, 5);
        w->state = (int)int_at(res, i, 6);
    }
    *n_out = (size_t)n;
    return rows;
}

static void webhooks_done(void *arg, tdm_status *st, PGresult *res)
{
    wh_op *op = arg;
    if (st != NULL) {
        op->webhooks(op->arg, st, NULL, 0);
        return;
    }
    size_t n = 0;
    gw_webhook_row *rows = decode_webhooks(op->arena, res, &n);
    if (rows == NULL) {
        op->webhooks(op->arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, 0);
        return;
    }
    op->webhooks(op->arg, NULL, rows, n);
}

static wh_op *new_op(const gw_store_ctx *c, void *arg)
{
    wh_op *op = tdm_arena_calloc(c->arena, 1, sizeof(*op));
    if (op != NULL) {
        op->arena = c->arena;
        op->arg = arg;
    }
    return op;
}

/* A text[] literal of event names, in a; NULL when out of memory. The names were
 * checked against GW_WEBHOOK_EVENT_NAMES, so none needs escaping. */
static char *events_literal(tdm_arena *a, char *const *events, size_t n_events)
{
    size_t cap = 3;
    for (size_t i = 0; i < n_events; i++)
        cap += strlen(events[i]) + 3;
    char *list = tdm_arena_alloc(a, cap);
    if (list == NULL)
        return NULL;
    size_t off = 0;
    list[off++] = '{';
    for (size_t i = 0; i < n_events; i++)
        off += (size_t)snprintf(list + off, cap - off, "%s\"%s\"", i > 0 ? "," : "", events[i]);
    snprintf(list + off, cap - off, "}");
    return list;
}

int gw_webhook_store_create(const gw_store_ctx *c, const char *tenant_id, const char *id,
                            const char *url, char *const *events, size_t n_events,
                            const char *description, const uint8_t *sealed, size_t sealed_len,
                            gw_webhooks_cb cb, void *arg)
{
    wh_op *op = new_op(c, arg);
    char *list = events_literal(c->arena, events, n_events);
    char *hex = gw_hex_encode(c->arena, sealed, sealed_len);
    if (op == NULL || list == NULL || hex == NULL)
        return -1;
    op->webhooks = cb;
    tdm_pg_tx_options o = tenant_opts(c, tenant_id);
    const char *values[] = {tenant_id, id, url, list, description != NULL ? description : "", hex};
    const char *sql = "INSERT INTO gateway.webhooks (tenant_id, id, url, events, description, "
                      "secret_sealed) VALUES ($1::uuid, $2::uuid, $3, $4::text[], $5, "
                      "decode($6, 'hex')) RETURNING " WEBHOOK_COLUMNS;
    if (c->tx != NULL) /* in the transaction of its Idempotency-Key */
        return tdm_pg_tx_query(c->tx, sql, 6, values, webhooks_done, op);
    return tdm_pg_exec(c->pool, &o, sql, 6, values, webhooks_done, op);
}

int gw_webhook_store_list(const gw_store_ctx *c, const char *tenant_id, int64_t after, int limit,
                          gw_webhooks_cb cb, void *arg)
{
    wh_op *op = new_op(c, arg);
    if (op == NULL)
        return -1;
    op->webhooks = cb;
    char after_s[24], limit_s[16];
    snprintf(after_s, sizeof(after_s), "%lld", (long long)after);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    tdm_pg_tx_options o = tenant_opts(c, tenant_id);
    o.read_only = true;
    const char *values[] = {tenant_id, after_s, limit_s};
    return tdm_pg_exec(c->pool, &o,
                       "SELECT " WEBHOOK_COLUMNS
                       " FROM gateway.webhooks WHERE tenant_id = $1::uuid "
                       "AND seq > $2::bigint ORDER BY seq LIMIT $3::int",
                       3, values, webhooks_done, op);
}

int gw_webhook_store_update(const gw_store_ctx *c, const char *tenant_id, const char *id,
                            const char *url, char *const *events, size_t n_events,
                            const char *description, gw_webhooks_cb cb, void *arg)
{
    wh_op *op = new_op(c, arg);
    char *list = n_events > 0 ? events_literal(c->arena, events, n_events) : NULL;
    if (op == NULL || (n_events > 0 && list == NULL))
        return -1;
    op->webhooks = cb;
    tdm_pg_tx_options o = tenant_opts(c, tenant_id);
    const char *values[] = {tenant_id, id, url, list, description};
    /* Deliveries already queued go to the new url; events are matched against the new
     * list from the next fan-out on. */
    return tdm_pg_exec(c->pool, &o,
                       "UPDATE gateway.webhooks SET url = coalesce($3, url),"
                       " events = coalesce($4::text[], events),"
                       " description = coalesce($5, description), state = 1,"
                       " failing_since = NULL"
                       " WHERE tenant_id = $1::uuid AND id = $2::uuid RETURNING " WEBHOOK_COLUMNS,
                       5, values, webhooks_done, op);
}

int gw_webhook_store_delete(const gw_store_ctx *c, const char *tenant_id, const char *id,
                            gw_webhooks_cb cb, void *arg)
{
    wh_op *op = new_op(c, arg);
    if (op == NULL)
        return -1;
    op->webhooks = cb;
    tdm_pg_tx_options o = tenant_opts(c, tenant_id);
    const char *values[] = {tenant_id, id};
    return tdm_pg_exec(c->pool, &o,
                       "DELETE FROM gateway.webhooks WHERE tenant_id = $1::uuid AND id = $2::uuid "
                       "RETURNING " WEBHOOK_COLUMNS,
                       2, values, webhooks_done, op);
}

static void deliveries_done(void *arg, tdm_status *st, PGresult *res)
{
    wh_op *op = arg;
    if (st != NULL) {
        op->deliveries(op->arg, st, false, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    gw_delivery_row *rows = tdm_arena_calloc(op->arena, (size_t)(n > 0 ? n : 1), sizeof(*rows));
    if (rows == NULL) {
        op->deliveries(op->arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), false,
                       NULL, 0);
        return;
    }
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(res, i, 0))
            continue; /* the webhook without deliveries (LEFT JOIN) */
        gw_delivery_row *d = &rows[k++];
        tdm_arena *a = op->arena;
        d->id = dup_at(a, res, i, 0);
        d->webhook_id = dup_at(a, res, i, 1);
        d->event_id = dup_at(a, res, i, 2);
        d->event_type = dup_at(a, res, i, 3);
        d->attempt_count = (int)int_at(res, i, 4);
        d->status = (int)int_at(res, i, 5);
        d->last_status_code = (int)int_at(res, i, 6);
        d->last_error = dup_at(a, res, i, 7);
        d->next_attempt_us = int_at(res, i, 8);
        d->create_us = int_at(res, i, 9);
        d->last_attempt_us = int_at(res, i, 10);
        d->seq = int_at(res, i, 11);
    }
    op->deliveries(op->arg, NULL, n > 0, rows, k);
}

int gw_webhook_store_deliveries(const gw_store_ctx *c, const char *tenant_id,
                                const char *webhook_id, int status, int64_t before, int limit,
                                gw_deliveries_cb cb, void *arg)
{
    wh_op *op = new_op(c, arg);
    if (op == NULL)
        return -1;
    op->deliveries = cb;
    char status_s[8], before_s[24], limit_s[16];
    snprintf(status_s, sizeof(status_s), "%d", status);
    snprintf(before_s, sizeof(before_s), "%lld", (long long)before);
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    tdm_pg_tx_options o = tenant_opts(c, tenant_id);
    o.read_only = true;
    const char *values[] = {tenant_id, webhook_id, status_s, before_s, limit_s};
    return tdm_pg_exec(
        c->pool, &o,
        "SELECT " DELIVERY_COLUMNS " FROM gateway.webhooks w LEFT JOIN LATERAL ("
        " SELECT * FROM gateway.webhook_deliveries x WHERE x.tenant_id = w.tenant_id"
        " AND x.webhook_id = w.id AND ($3::int = 0 OR x.status = $3::int)"
        " AND ($4::bigint = 0 OR x.seq < $4::bigint) ORDER BY x.seq DESC LIMIT $5::int) d ON true"
        " WHERE w.tenant_id = $1::uuid AND w.id = $2::uuid ORDER BY d.seq DESC",
        5, values, deliveries_done, op);
}

/* ---- fan-out -----------------------------------------------------------------------------------
 */

typedef struct fanout_op {
    tdm_pg_pool *pool;
    tdm_pg_tx *tx;
    const char *source;
    int batch;
    gw_fanout_cb cb;
    void *arg;
    char from_xact[24], to_xact[24];
    char from_seq[24], to_seq[24];
    char (*tenants)[37];
    size_t n_tenants, next_tenant;
    size_t n_events;
    tdm_status *failure;
    char sql[FANOUT_SQL_MAX];
} fanout_op;

static void fanout_free(fanout_op *op)
{
    free(op->tenants);
    free(op);
}

static void fanout_ended(void *arg, tdm_status *st)
{
    fanout_op *op = arg;
    tdm_status *result = op->failure != NULL ? op->failure : st;
    if (op->failure != NULL)
        tdm_status_free(st);
    gw_fanout_cb cb = op->cb;
    void *cb_arg = op->arg;
    size_t n = op->n_events;
    fanout_free(op);
    cb(cb_arg, result, result == NULL ? n : 0);
}

/* An outbox not there yet (its service has not migrated) or not readable (the grant of
 * its 002_outbox_reader.sql is missing) is not an error of this gateway. */
static tdm_status *source_status(tdm_status *st, const PGresult *res, const char *source)
{
    if (tdm_pg_peer_not_ready(res)) {
        const char *state = tdm_pg_sqlstate(res);
        tdm_status *s =
            tdm_status_new(TDM_FAILED_PRECONDITION,
                           "the %s outbox is not readable yet (SQLSTATE %s)", source, state);
        tdm_status_free(st);
        return s;
    }
    return st;
}

static void fanout_fail(fanout_op *op, tdm_status *st)
{
    op->failure = st;
    if (op->tx == NULL || tdm_pg_tx_end(op->tx, false, fanout_ended, op) != 0)
        fanout_ended(op, NULL);
}

static void fanout_next_tenant(fanout_op *op);

static void fanout_committed(void *arg, tdm_status *st)
{
    fanout_ended(arg, st);
}

static void fanout_cursor_moved(void *arg, tdm_status *st, PGresult *res)
{
    fanout_op *op = arg;
    (void)res;
    if (st != NULL) {
        fanout_fail(op, st);
        return;
    }
    if (tdm_pg_tx_end(op->tx, true, fanout_committed, op) != 0)
        fanout_fail(op, tdm_status_new(TDM_INTERNAL, "could not commit the fan-out"));
}

static void fanout_inserted(void *arg, tdm_status *st, PGresult *res)
{
    fanout_op *op = arg;
    (void)res;
    if (st != NULL) {
        fanout_fail(op, st);
        return;
    }
    fanout_next_tenant(op);
}

static void fanout_tenant_set(void *arg, tdm_status *st, PGresult *res)
{
    fanout_op *op = arg;
    (void)res;
    if (st != NULL) {
        fanout_fail(op, st);
        return;
    }
    /* The body is built here, once, as the exact text every attempt sends. A webhook
     * sees only events committed after it was created. A person.erased event (from
     * enrolment's ErasePerson; no webhook can subscribe to it) cancels the deliveries
     * not yet made of any event, from any service, that names those participants: the
     * body goes, the delivery shows FAILED with the reason. Their outbox rows were
     * marked erased in each service's erasure transaction (tandem/person_data.h), and
     * a marked event is never fanned out. */
    snprintf(op->sql, sizeof(op->sql),
             "WITH ev AS ("
             " SELECT o.id, o.type, o.ordering_key, o.create_time, o.xact_id, o.seq,"
             "  '{\"id\":' || to_json(o.id::text)::text || ',\"type\":' || to_json(o.type)::text"
             "  || ',\"createTime\":' || to_json(to_char(o.create_time AT TIME ZONE 'UTC',"
             "   'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'))::text"
             "  || ',\"tenantId\":' || to_json(o.tenant_id::text)::text"
             "  || ',\"data\":' || o.payload::text || '}' AS body"
             " FROM %s.outbox o WHERE o.tenant_id = $1::uuid"
             "  AND (o.xact_id, o.seq) > ($2::xid8, $3::bigint)"
             "  AND (o.xact_id, o.seq) <= ($4::xid8, $5::bigint)"
             "  AND NOT (o.payload ? 'erased')), "
             "ins AS ("
             " INSERT INTO gateway.webhook_deliveries (tenant_id, id, webhook_id, event_id,"
             "  event_type, ordering_key, source, body, next_attempt_time)"
             " SELECT $1::uuid, md5(w.id::text || ev.id::text)::uuid, w.id, ev.id, ev.type,"
             "  ev.ordering_key, $6, ev.body, now()"
             " FROM ev JOIN gateway.webhooks w ON w.tenant_id = $1::uuid AND w.state = 1"
             "  AND ev.type = ANY (w.events) AND w.create_time <= ev.create_time"
             " ORDER BY ev.xact_id, ev.seq, w.id"
             " ON CONFLICT DO NOTHING"
             " RETURNING tenant_id, id, webhook_id, ordering_key, seq, next_attempt_time), "
             "erased AS ("
             " SELECT DISTINCT jsonb_array_elements_text(o.payload->'participantIds') AS id"
             " FROM %s.outbox o WHERE o.tenant_id = $1::uuid AND o.type = 'person.erased'"
             "  AND (o.xact_id, o.seq) > ($2::xid8, $3::bigint)"
             "  AND (o.xact_id, o.seq) <= ($4::xid8, $5::bigint)), "
             "cancelled AS ("
             " UPDATE gateway.webhook_deliveries d" CANCEL_ERASED_SET
             " WHERE d.tenant_id = $1::uuid AND d.status = 1"
             "  AND EXISTS (SELECT 1 FROM erased e WHERE strpos(d.body, e.id) > 0)"
             " RETURNING d.id), "
             "dequeued AS (DELETE FROM gateway.webhook_queue q USING cancelled c"
             " WHERE q.tenant_id = $1::uuid AND q.delivery_id = c.id) "
             "INSERT INTO gateway.webhook_queue (tenant_id, delivery_id, webhook_id, ordering_key,"
             " position, next_attempt_time)"
             " SELECT tenant_id, id, webhook_id, ordering_key, seq, next_attempt_time FROM ins",
             op->source, op->source);
    const char *values[] = {op->tenants[op->next_tenant - 1],
                            op->from_xact,
                            op->from_seq,
                            op->to_xact,
                            op->to_seq,
                            op->source};
    if (tdm_pg_tx_query(op->tx, op->sql, 6, values, fanout_inserted, op) != 0)
        fanout_fail(op, tdm_status_new(TDM_INTERNAL, "could not queue the fan-out"));
}

static void fanout_next_tenant(fanout_op *op)
{
    if (op->next_tenant < op->n_tenants) {
        const char *values[] = {op->tenants[op->next_tenant++]};
        if (tdm_pg_tx_query(op->tx, "SELECT set_config('app.tenant_id', $1, true)", 1, values,
                            fanout_tenant_set, op) != 0)
            fanout_fail(op, tdm_status_new(TDM_INTERNAL, "could not set the tenant"));
        return;
    }
    const char *values[] = {op->source, op->to_xact, op->to_seq};
    if (tdm_pg_tx_query(op->tx,
                        "UPDATE gateway.outbox_cursors SET last_xact = $2::xid8, "
                        "last_seq = $3::bigint WHERE source = $1",
                        3, values, fanout_cursor_moved, op) != 0)
        fanout_fail(op, tdm_status_new(TDM_INTERNAL, "could not move the cursor"));
}

static void fanout_batch(void *arg, tdm_status *st, PGresult *res)
{
    fanout_op *op = arg;
    if (st != NULL) {
        fanout_fail(op, source_status(st, res, op->source));
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        if (tdm_pg_tx_end(op->tx, false, fanout_ended, op) != 0)
            fanout_ended(op, NULL);
        return;
    }
    op->n_events = (size_t)n;
    op->tenants = calloc((size_t)n, sizeof(*op->tenants));
    if (op->tenants == NULL) {
        fanout_fail(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *t = PQgetvalue(res, i, 0);
        bool seen = false;
        for (size_t k = 0; k < op->n_tenants && !seen; k++)
            seen = strcmp(op->tenants[k], t) == 0;
        if (!seen)
            snprintf(op->tenants[op->n_tenants++], sizeof(op->tenants[0]), "%s", t);
    }
    snprintf(op->to_xact, sizeof(op->to_xact), "%s", PQgetvalue(res, n - 1, 1));
    snprintf(op->to_seq, sizeof(op->to_seq), "%s", PQgetvalue(res, n - 1, 2));
    fanout_next_tenant(op);
}

static void fanout_cursor(void *arg, tdm_status *st, PGresult *res)
{
    fanout_op *op = arg;
    if (st != NULL) {
        fanout_fail(op, st);
        return;
    }
    if (PQntuples(res) != 1) {
        /* SKIP LOCKED: another replica is fanning this outbox out now (the cursor rows
         * themselves are made by the migrations). Nothing to do this tick, and no
         * pool connection held waiting on its lock. */
        if (tdm_pg_tx_end(op->tx, false, fanout_ended, op) != 0)
            fanout_ended(op, NULL);
        return;
    }
    snprintf(op->from_xact, sizeof(op->from_xact), "%s", PQgetvalue(res, 0, 0));
    snprintf(op->from_seq, sizeof(op->from_seq), "%s", PQgetvalue(res, 0, 1));
    /* Only rows of transactions older than every running one (the cursor's own
     * transaction included: FOR UPDATE gave it an id): nothing can commit behind. */
    char limit[16];
    snprintf(limit, sizeof(limit), "%d", op->batch);
    snprintf(op->sql, sizeof(op->sql),
             "SELECT o.tenant_id::text, o.xact_id::text, o.seq FROM %s.outbox o"
             " WHERE (o.xact_id, o.seq) > ($1::xid8, $2::bigint)"
             " AND o.xact_id < pg_snapshot_xmin(pg_current_snapshot())"
             " ORDER BY o.xact_id, o.seq LIMIT $3::int",
             op->source);
    const char *values[] = {op->from_xact, op->from_seq, limit};
    if (tdm_pg_tx_query(op->tx, op->sql, 3, values, fanout_batch, op) != 0)
        fanout_fail(op, tdm_status_new(TDM_INTERNAL, "could not read the outbox"));
}

static void fanout_begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    fanout_op *op = arg;
    if (st != NULL) {
        fanout_fail(op, st);
        return;
    }
    op->tx = tx;
    const char *values[] = {op->source};
    if (tdm_pg_tx_query(tx,
                        "SELECT last_xact::text, last_seq FROM gateway.outbox_cursors "
                        "WHERE source = $1 FOR UPDATE SKIP LOCKED",
                        1, values, fanout_cursor, op) != 0)
        fanout_fail(op, tdm_status_new(TDM_INTERNAL, "could not lock the cursor"));
}

int gw_webhook_store_fanout(tdm_pg_pool *pool, const char *source, int batch, gw_fanout_cb cb,
                            void *arg)
{
    const char *schema = source_schema(source);
    if (schema == NULL || batch < 1)
        return -1;
    fanout_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return -1;
    op->pool = pool;
    op->source = schema;
    op->batch = batch;
    op->cb = cb;
    op->arg = arg;
    tdm_pg_tx_options o = {.tenant_id = NULL};
    int rc = tdm_pg_tx_begin(pool, &o, fanout_begun, op);
    if (rc != 0)
        fanout_free(op);
    return rc;
}

/* ---- retention ---------------------------------------------------------------------------- */

typedef struct prune_op {
    gw_fanout_cb cb;
    void *arg;
    const char *source;
    char sql[2048];
} prune_op;

static void pruned(void *arg, tdm_status *st, PGresult *res)
{
    prune_op *op = arg;
    gw_fanout_cb cb = op->cb;
    void *cb_arg = op->arg;
    size_t n = 0;
    if (st != NULL)
        st = source_status(st, res, op->source);
    else if (PQntuples(res) == 1)
        n = (size_t)strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    free(op);
    cb(cb_arg, st, n);
}

int gw_webhook_store_prune(tdm_pg_pool *pool, const char *source, int retention_hours, int batch,
                           gw_fanout_cb cb, void *arg)
{
    const char *schema = source_schema(source);
    if (schema == NULL || batch < 1 || retention_hours < 1)
        return -1;
    prune_op *op = calloc(1, sizeof(*op));
    char readers[1024];
    size_t n_readers = 0;
    if (op == NULL || readers_sql(schema, readers, sizeof(readers), &n_readers) != 0) {
        free(op);
        return -1;
    }
    op->cb = cb;
    op->arg = arg;
    op->source = schema;
    /* Oldest first along the cursors' order, below the lowest cursor of the outbox's
     * readers - and nothing at all when a reader's cursor row is missing. The gateway
     * role may delete (and read) these rows through the webhook_pruner policy of the
     * source's migration. */
    int w = snprintf(op->sql, sizeof(op->sql),
                     "WITH r AS (%s), "
                     "c AS (SELECT last_xact, last_seq FROM r"
                     "  WHERE (SELECT count(*) FROM r) = $3::int"
                     "  ORDER BY last_xact, last_seq LIMIT 1), "
                     "old AS (SELECT o.tenant_id, o.id FROM %s.outbox o, c"
                     "  WHERE (o.xact_id, o.seq) <= (c.last_xact, c.last_seq)"
                     "  AND o.create_time < now() - $1::int * interval '1 hour'"
                     "  ORDER BY o.xact_id, o.seq LIMIT $2::int), "
                     "gone AS (DELETE FROM %s.outbox o USING old"
                     "  WHERE o.tenant_id = old.tenant_id AND o.id = old.id RETURNING 1) "
                     "SELECT count(*) FROM gone",
                     readers, schema, schema);
    if (w < 0 || (size_t)w >= sizeof(op->sql)) {
        free(op);
        return -1;
    }
    char hours[16], limit[16], count[16];
    snprintf(hours, sizeof(hours), "%d", retention_hours);
    snprintf(limit, sizeof(limit), "%d", batch);
    snprintf(count, sizeof(count), "%zu", n_readers);
    const char *values[] = {hours, limit, count};
    tdm_pg_tx_options o = {.tenant_id = NULL};
    int rc = tdm_pg_exec(pool, &o, op->sql, 3, values, pruned, op);
    if (rc != 0)
        free(op);
    return rc;
}

/* ---- claim, load, record --------------------------------------------------------------------- */

typedef struct worker_op {
    tdm_arena *arena;
    gw_claims_cb claims;
    gw_attempts_cb attempts;
    gw_record_cb record;
    void *arg;
} worker_op;

static void claim_done(void *arg, tdm_status *st, PGresult *res)
{
    worker_op *op = arg;
    if (st != NULL) {
        op->claims(op->arg, st, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    gw_claim_row *rows = tdm_arena_calloc(op->arena, (size_t)(n > 0 ? n : 1), sizeof(*rows));
    if (rows == NULL) {
        op->claims(op->arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, 0);
        return;
    }
    for (int i = 0; i < n; i++) {
        rows[i].tenant_id = dup_at(op->arena, res, i, 0);
        rows[i].delivery_id = dup_at(op->arena, res, i, 1);
        rows[i].claim_id = dup_at(op->arena, res, i, 2);
    }
    op->claims(op->arg, NULL, rows, (size_t)n);
}

int gw_webhook_store_claim(tdm_pg_pool *pool, tdm_arena *arena, int limit, int tenant_cap,
                           int lease_ms, gw_claims_cb cb, void *arg)
{
    worker_op *op = tdm_arena_calloc(arena, 1, sizeof(*op));
    if (op == NULL)
        return -1;
    op->arena = arena;
    op->claims = cb;
    op->arg = arg;
    char limit_s[16], lease_s[16], cap_s[16];
    snprintf(limit_s, sizeof(limit_s), "%d", limit);
    snprintf(lease_s, sizeof(lease_s), "%d", lease_ms);
    snprintf(cap_s, sizeof(cap_s), "%d", tenant_cap);
    const char *values[] = {limit_s, lease_s, cap_s};
    tdm_pg_tx_options o = {.tenant_id = NULL};
    /* Due: the oldest pending delivery of each (webhook, ordering key) only, so events
     * of one match or participant reach an endpoint in order. Fair: the tenants with
     * due rows are found by a loose index scan (one probe per tenant), each gives at
     * most its cap of due rows, oldest first, through webhook_queue_tenant_due (so a
     * tenant's backlog of 200,000 is not read for 64 claims: bench/RESULTS.md
     * "Webhook claims"), those are numbered (turn), a tenant may take as many as its
     * cap leaves beside its live leases (every replica's), and turns are served
     * round-robin. Two replicas claiming at the same instant may together pass a
     * tenant's cap by one claim's worth. The rows are locked (SKIP LOCKED) a level out
     * from the window function, which FOR UPDATE cannot share a level with, and
     * checked again there: a row another replica claimed meanwhile is not taken. */
    return tdm_pg_exec(
        pool, &o,
        "UPDATE gateway.webhook_queue q SET lease_until = now() + $2::int * interval '1 ms',"
        " claim_id = gen_random_uuid()"
        " FROM (SELECT a.tenant_id, a.delivery_id FROM gateway.webhook_queue a"
        "  WHERE (a.tenant_id, a.delivery_id) IN ("
        "   SELECT r.tenant_id, r.delivery_id FROM ("
        "    WITH RECURSIVE tenants AS ("
        "     (SELECT t.tenant_id FROM gateway.webhook_queue t WHERE t.next_attempt_time <= now()"
        "      ORDER BY t.tenant_id LIMIT 1)"
        "     UNION ALL"
        "     SELECT (SELECT t.tenant_id FROM gateway.webhook_queue t"
        "      WHERE t.tenant_id > p.tenant_id AND t.next_attempt_time <= now()"
        "      ORDER BY t.tenant_id LIMIT 1)"
        "     FROM tenants p WHERE p.tenant_id IS NOT NULL)"
        "    SELECT e.tenant_id, e.delivery_id, e.next_attempt_time, e.position,"
        "     row_number() OVER (PARTITION BY e.tenant_id"
        "      ORDER BY e.next_attempt_time, e.position) AS turn"
        "    FROM tenants tn CROSS JOIN LATERAL ("
        "     SELECT d.tenant_id, d.delivery_id, d.next_attempt_time, d.position"
        "     FROM gateway.webhook_queue d WHERE d.tenant_id = tn.tenant_id"
        "     AND d.next_attempt_time <= now()"
        "     AND (d.lease_until IS NULL OR d.lease_until < now())"
        "     AND NOT EXISTS (SELECT 1 FROM gateway.webhook_queue b"
        "      WHERE b.webhook_id = d.webhook_id AND b.ordering_key = d.ordering_key"
        "      AND b.position < d.position)"
        "     ORDER BY d.next_attempt_time, d.position LIMIT $3::int) e) r"
        "   LEFT JOIN (SELECT l.tenant_id, count(*) AS busy FROM gateway.webhook_queue l"
        "    WHERE l.lease_until >= now() GROUP BY l.tenant_id) f ON f.tenant_id = r.tenant_id"
        "   WHERE r.turn <= $3::int - coalesce(f.busy, 0)"
        "   ORDER BY r.turn, r.next_attempt_time, r.position LIMIT $1::int)"
        "  AND a.next_attempt_time <= now() AND (a.lease_until IS NULL OR a.lease_until < now())"
        "  FOR UPDATE SKIP LOCKED) c"
        " WHERE q.tenant_id = c.tenant_id AND q.delivery_id = c.delivery_id"
        " RETURNING q.tenant_id::text, q.delivery_id::text, q.claim_id::text",
        3, values, claim_done, op);
}

static void load_done(void *arg, tdm_status *st, PGresult *res)
{
    worker_op *op = arg;
    if (st != NULL) {
        op->attempts(op->arg, st, NULL, 0);
        return;
    }
    int n = PQntuples(res);
    gw_attempt_row *rows = tdm_arena_calloc(op->arena, (size_t)(n > 0 ? n : 1), sizeof(*rows));
    if (rows == NULL) {
        op->attempts(op->arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, 0);
        return;
    }
    tdm_arena *a = op->arena;
    for (int i = 0; i < n; i++) {
        gw_attempt_row *r = &rows[i];
        r->id = dup_at(a, res, i, 0);
        r->webhook_id = dup_at(a, res, i, 1);
        r->event_id = dup_at(a, res, i, 2);
        r->event_type = dup_at(a, res, i, 3);
        r->body = dup_at(a, res, i, 4);
        r->attempt_count = (int)int_at(res, i, 5);
        r->url = dup_at(a, res, i, 6);
        r->sealed = gw_hex_decode(a, PQgetvalue(res, i, 7), &r->sealed_len);
    }
    op->attempts(op->arg, NULL, rows, (size_t)n);
}

int gw_webhook_store_load(tdm_pg_pool *pool, tdm_arena *arena, const char *tenant_id,
                          const char *const *ids, size_t n, gw_attempts_cb cb, void *arg)
{
    worker_op *op = tdm_arena_calloc(arena, 1, sizeof(*op));
    char *list = tdm_pg_uuid_array(ids, n, arena);
    if (op == NULL || list == NULL)
        return -1;
    op->arena = arena;
    op->attempts = cb;
    op->arg = arg;
    const char *values[] = {tenant_id, list};
    tdm_pg_tx_options o = {.tenant_id = tenant_id, .read_only = true};
    return tdm_pg_exec(pool, &o,
                       "SELECT d.id::text, d.webhook_id::text, d.event_id::text, d.event_type,"
                       " d.body, d.attempt_count, w.url, encode(w.secret_sealed, 'hex')"
                       " FROM gateway.webhook_deliveries d JOIN gateway.webhooks w"
                       " ON w.tenant_id = d.tenant_id AND w.id = d.webhook_id"
                       " WHERE d.tenant_id = $1::uuid AND d.id = ANY ($2::uuid[])"
                       " AND d.status = 1 AND d.body IS NOT NULL ORDER BY d.seq",
                       2, values, load_done, op);
}

static void record_done(void *arg, tdm_status *st, PGresult *res)
{
    worker_op *op = arg;
    if (st != NULL) {
        op->record(op->arg, st, 0);
        return;
    }
    op->record(op->arg, NULL, PQntuples(res) > 0 ? (int)int_at(res, 0, 0) : 0);
}

int gw_webhook_store_record(tdm_pg_pool *pool, tdm_arena *arena, const char *tenant_id,
                            const char *id, const char *claim_id, bool succeeded, int status_code,
                            const char *error, int64_t delay_ms, int disable_after_hours,
                            gw_record_cb cb, void *arg)
{
    worker_op *op = tdm_arena_calloc(arena, 1, sizeof(*op));
    if (op == NULL)
        return -1;
    op->arena = arena;
    op->record = cb;
    op->arg = arg;
    char code_s[16], delay_s[24], hours_s[16];
    snprintf(code_s, sizeof(code_s), "%d", status_code);
    snprintf(delay_s, sizeof(delay_s), "%lld", (long long)delay_ms);
    snprintf(hours_s, sizeof(hours_s), "%d", disable_after_hours);
    const char *values[] = {tenant_id,
                            id,
                            succeeded ? "true" : "false",
                            code_s,
                            error != NULL ? error : "",
                            delay_s,
                            claim_id,
                            hours_s};
    tdm_pg_tx_options o = {.tenant_id = tenant_id};
    /* The fence: the queue row is locked and must still carry this attempt's claim.
     * A claim taken over by another replica (our lease ran out) has another claim_id,
     * and FOR UPDATE re-reads a row that a concurrent claim changed, so an outcome is
     * never written over another replica's claim, nor releases it. Over: succeeded, the
     * next attempt would fall past 24 h after queueing, or the endpoint is disabled by
     * this failure (its attempts have all failed for $8 hours: failing_since as it was
     * before this one). A disabled endpoint's other pending deliveries are given up
     * too, and leave the queue (an attempt of one in flight then finds its claim gone
     * and records nothing). */
    return tdm_pg_exec(
        pool, &o,
        "WITH mine AS (SELECT q.tenant_id, q.delivery_id FROM gateway.webhook_queue q"
        "  WHERE q.tenant_id = $1::uuid AND q.delivery_id = $2::uuid AND q.claim_id = $7::uuid"
        "  FOR UPDATE), "
        "hook AS (SELECT w.id, w.failing_since FROM gateway.webhook_deliveries x"
        "  JOIN gateway.webhooks w ON w.tenant_id = x.tenant_id AND w.id = x.webhook_id"
        "  WHERE x.tenant_id = $1::uuid AND x.id = $2::uuid), "
        "c AS (SELECT $3::bool AS ok, now() + $6::bigint * interval '1 ms' AS next,"
        "  (NOT $3::bool AND hook.failing_since <= now() - $8::int * interval '1 hour')"
        "   AS disable FROM mine LEFT JOIN hook ON true), "
        "d AS (UPDATE gateway.webhook_deliveries x SET attempt_count = x.attempt_count + 1,"
        "  last_attempt_time = now(), last_status_code = $4::int,"
        "  last_error = left(CASE WHEN c.disable THEN 'the endpoint was disabled after failing"
        " every attempt for ' || $8::int::text || ' h; last error: ' || $5 ELSE $5 END, 1000),"
        "  status = CASE WHEN c.ok THEN 2"
        "   WHEN c.disable OR c.next > x.create_time + interval '24 hours' THEN 3 ELSE 1 END,"
        "  next_attempt_time = CASE WHEN c.ok OR c.disable"
        "   OR c.next > x.create_time + interval '24 hours' THEN NULL ELSE c.next END,"
        "  body = CASE WHEN c.ok OR c.disable OR c.next > x.create_time + interval '24 hours'"
        "   THEN NULL ELSE x.body END"
        " FROM c WHERE x.tenant_id = $1::uuid AND x.id = $2::uuid AND x.status = 1"
        " RETURNING x.tenant_id, x.id, x.status, x.next_attempt_time), "
        "endpoint AS (UPDATE gateway.webhooks w SET failing_since = CASE WHEN c.ok THEN NULL"
        "  ELSE coalesce(w.failing_since, now()) END,"
        "  state = CASE WHEN c.disable THEN 2 ELSE w.state END"
        " FROM c, hook, d WHERE w.tenant_id = $1::uuid AND w.id = hook.id RETURNING 1), "
        "abandoned AS (UPDATE gateway.webhook_deliveries y SET status = 3, body = NULL,"
        "  next_attempt_time = NULL, last_error = 'given up: the endpoint was disabled after"
        " failing every attempt for ' || $8::int::text || ' h'"
        " FROM c, hook WHERE c.disable AND y.tenant_id = $1::uuid AND y.webhook_id = hook.id"
        "  AND y.status = 1 AND y.id <> $2::uuid RETURNING y.id), "
        "unqueued AS (DELETE FROM gateway.webhook_queue q USING abandoned a"
        " WHERE q.tenant_id = $1::uuid AND q.delivery_id = a.id RETURNING 1), "
        "gone AS (DELETE FROM gateway.webhook_queue q USING d WHERE q.tenant_id = d.tenant_id"
        " AND q.delivery_id = d.id AND d.status <> 1 RETURNING 1), "
        "later AS (UPDATE gateway.webhook_queue q SET next_attempt_time = d.next_attempt_time,"
        " lease_until = NULL, claim_id = NULL FROM d WHERE q.tenant_id = d.tenant_id"
        " AND q.delivery_id = d.id AND d.status = 1 RETURNING 1) "
        "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM mine) THEN -1"
        " ELSE coalesce((SELECT status FROM d), 0) END",
        8, values, record_done, op);
}

/* ---- erasure ------------------------------------------------------------------------------ */

typedef struct cancel_erased_op {
    gw_store_done_cb cb;
    void *arg;
} cancel_erased_op;

static void erased_cancelled(void *arg, tdm_status *st, PGresult *res)
{
    cancel_erased_op *op = arg;
    (void)res;
    op->cb(op->arg, st);
}

int gw_webhook_store_cancel_erased(const gw_store_ctx *c, const char *tenant_id,
                                   const char *external_id, gw_store_done_cb cb, void *arg)
{
    cancel_erased_op *op = tdm_arena_alloc(c->arena, sizeof(*op));
    if (op == NULL)
        return -1;
    op->cb = cb;
    op->arg = arg;
    tdm_pg_tx_options o = tenant_opts(c, tenant_id);
    const char *values[] = {tenant_id, external_id};
    return tdm_pg_exec(
        c->pool, &o,
        "WITH erased AS ("
        " SELECT DISTINCT jsonb_array_elements_text(o.payload->'participantIds') AS id"
        " FROM enrolment.outbox o WHERE o.tenant_id = $1::uuid AND o.type = 'person.erased'), "
        "cancelled AS ("
        " UPDATE gateway.webhook_deliveries d" CANCEL_ERASED_SET
        " WHERE d.tenant_id = $1::uuid AND d.status = 1"
        "  AND (strpos(d.body, to_json($2::text)::text) > 0"
        "   OR EXISTS (SELECT 1 FROM erased e WHERE strpos(d.body, e.id) > 0))"
        " RETURNING d.id) "
        "DELETE FROM gateway.webhook_queue q USING cancelled c"
        " WHERE q.tenant_id = $1::uuid AND q.delivery_id = c.id",
        2, values, erased_cancelled, op);
}
