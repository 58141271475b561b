/*
 * auth_ratelimit.c - a key's rate limit in the mode TANDEM_RATE_LIMIT_MODE chose
 * (ratelimit.h): this replica's own bucket, or batches of tokens leased from the
 * key's row in gateway.rate_limits (migration 020), shared by every replica.
 *
 * A lease is one prepared statement in its own implicit transaction: it locks the
 * key's row, refills it for the time elapsed (the database's clock) up to burst,
 * takes up to the batch asked for in whole tokens, and answers what it granted and,
 * when the bucket is left without a whole token, how many milliseconds until it has
 * one. A key's first lease on an empty table inserts its row full (burst) and asks again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"
#include "tandem/log.h"
#include "tandem/pg.h"

#define LEASE_DEADLINE_MS 2000 /* a lease never holds its waiters longer */

typedef struct lease_op {
    gw_state *gw;
    char key_id[40];
    char rps[16], burst[16], want[16];
    bool inserted;
} lease_op;

static const char LEASE_SQL[] =
    "WITH cur AS (SELECT key_id, LEAST($3::float8, tokens + GREATEST(0, EXTRACT(EPOCH FROM "
    "now() - refill_time)::float8) * $2::float8) AS avail FROM gateway.rate_limits "
    "WHERE key_id = $1::uuid FOR UPDATE) "
    "UPDATE gateway.rate_limits r SET tokens = cur.avail - LEAST($4::float8, floor(cur.avail)), "
    "refill_time = GREATEST(r.refill_time, now()) FROM cur WHERE r.key_id = cur.key_id "
    "RETURNING LEAST($4::float8, floor(cur.avail))::int, CASE WHEN r.tokens >= 1 THEN 0 "
    "ELSE ceil((1 - r.tokens) * 1000 / $2::float8)::int END";

static const char INSERT_SQL[] =
    "INSERT INTO gateway.rate_limits (key_id, tokens, refill_time) "
    "VALUES ($1::uuid, $2::float8, now()) ON CONFLICT (key_id) DO NOTHING";

static int lease_send(lease_op *op);

static void lease_end(lease_op *op, bool ok, uint32_t granted, uint32_t wait_ms)
{
    gw_state *gw = op->gw;
    char key_id[sizeof(op->key_id)];
    memcpy(key_id, op->key_id, sizeof(key_id));
    free(op);
    gw_ratelimiter_leased(gw->limiter, key_id, ok, granted, wait_ms,
                          uv_now(tdm_runtime_loop(gw->rt)));
}

static void lease_failed(lease_op *op, tdm_status *st)
{
    tdm_log_fields(TDM_LOG_WARN, NULL,
                   "could not lease rate-limit tokens; this replica's own bucket applies", "error",
                   st != NULL ? st->message : "", "detail", st != NULL ? st->detail : NULL, NULL);
    tdm_status_free(st);
    lease_end(op, false, 0, 0);
}

static void inserted(void *arg, tdm_status *st, PGresult *res)
{
    (void)res;
    lease_op *op = arg;
    if (st != NULL || lease_send(op) != 0)
        lease_failed(op, st);
}

static void lease_answered(void *arg, tdm_status *st, PGresult *res)
{
    lease_op *op = arg;
    if (st != NULL) {
        lease_failed(op, st);
        return;
    }
    if (PQntuples(res) == 0) {
        /* The key's first lease: its bucket starts full. */
        const char *v[] = {op->key_id, op->burst};
        tdm_pg_tx_options opts = {.implicit_tx = true};
        bool again = op->inserted;
        op->inserted = true;
        if (again || tdm_pg_exec_prepared(tdm_runtime_pg(op->gw->rt), &opts, INSERT_SQL, 2, v,
                                          inserted, op) != 0)
            lease_failed(op, tdm_status_new(TDM_INTERNAL, "rate-limit row not made"));
        return;
    }
    long granted = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    long wait_ms = strtol(PQgetvalue(res, 0, 1), NULL, 10);
    lease_end(op, true, granted > 0 ? (uint32_t)granted : 0,
              wait_ms > 0 && wait_ms < 3600000 ? (uint32_t)wait_ms : 0);
}

static int lease_send(lease_op *op)
{
    const char *v[] = {op->key_id, op->rps, op->burst, op->want};
    tdm_pg_tx_options opts = {
        .implicit_tx = true,
        .deadline_ms = uv_now(tdm_runtime_loop(op->gw->rt)) + LEASE_DEADLINE_MS,
    };
    return tdm_pg_exec_prepared(tdm_runtime_pg(op->gw->rt), &opts, LEASE_SQL, 4, v, lease_answered,
                                op);
}

static void lease_start(gw_state *gw, const char *key_id, uint32_t rps, uint32_t burst,
                        uint32_t want)
{
    lease_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        gw_ratelimiter_leased(gw->limiter, key_id, false, 0, 0, uv_now(tdm_runtime_loop(gw->rt)));
        return;
    }
    op->gw = gw;
    snprintf(op->key_id, sizeof(op->key_id), "%s", key_id);
    snprintf(op->rps, sizeof(op->rps), "%u", rps);
    snprintf(op->burst, sizeof(op->burst), "%u", burst);
    snprintf(op->want, sizeof(op->want), "%u", want);
    if (lease_send(op) != 0)
        lease_failed(op, tdm_status_new(TDM_UNAVAILABLE, "the database pool refused the lease"));
}

void gw_rate_limit(gw_state *gw, const char *key_id, uint32_t rps, uint32_t burst, gw_rl_waiter *w)
{
    uint64_t now = uv_now(tdm_runtime_loop(gw->rt));
    uint32_t retry = 0;
    if (!gw->cfg->rate_limit_shared) {
        bool ok = gw_ratelimiter_take(gw->limiter, key_id, rps, burst, now, &retry);
        w->cb(w->arg, ok, retry);
        return;
    }
    uint32_t want = 0;
    gw_rl_verdict v =
        gw_ratelimiter_take_shared(gw->limiter, key_id, rps, burst, now, w, &retry, &want);
    if (want > 0)
        lease_start(gw, key_id, rps, burst, want);
    if (v != GW_RL_QUEUED)
        w->cb(w->arg, v == GW_RL_ALLOWED, retry);
}
