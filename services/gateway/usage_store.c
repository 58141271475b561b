/*
 * usage_store.c - the SQL of gateway.usage_api_calls (migrations/040_usage_api_calls.sql):
 * the additive upsert of a flush and the read of a tenant's month.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "usage.h"

typedef struct usage_query {
    gw_store_done_cb done;
    gw_usage_scopes_cb scopes;
    void *arg;
    tdm_arena *arena;
} usage_query;

static tdm_pg_tx_options tx_options(const gw_store_ctx *c, bool read_only)
{
    return (tdm_pg_tx_options){.tenant_id = NULL,
                               .deadline_ms = c->deadline_ms,
                               .read_only = read_only,
                               .request_id = c->request_id,
                               .implicit_tx = true};
}

static void added(void *arg, tdm_status *st, PGresult *res)
{
    (void)res;
    usage_query *q = arg;
    q->done(q->arg, st);
}

int gw_usage_store_add(const gw_store_ctx *c, const gw_usage_delta *deltas, size_t n,
                       gw_store_done_cb cb, void *arg)
{
    tdm_arena *a = c->arena;
    usage_query *q = tdm_arena_calloc(a, 1, sizeof(*q));
    const char **cols[4];
    for (int k = 0; k < 4; k++)
        cols[k] = tdm_arena_calloc(a, n + 1, sizeof(char *));
    if (q == NULL || cols[0] == NULL || cols[1] == NULL || cols[2] == NULL || cols[3] == NULL)
        return UV_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        cols[0][i] = deltas[i].tenant_id;
        cols[1][i] = deltas[i].month;
        cols[2][i] = deltas[i].scope;
        cols[3][i] = tdm_arena_printf(a, "%lld", (long long)deltas[i].count);
        if (cols[3][i] == NULL)
            return UV_ENOMEM;
    }
    const char *v[4];
    for (int k = 0; k < 4; k++) {
        v[k] = tdm_pg_array_literal(cols[k], n, a);
        if (v[k] == NULL)
            return UV_ENOMEM;
    }
    q->done = cb;
    q->arg = arg;
    tdm_pg_tx_options o = tx_options(c, false);
    return tdm_pg_exec(c->pool, &o,
                       "INSERT INTO gateway.usage_api_calls AS u (tenant_id, month, scope, count)"
                       " SELECT t, m, s, n FROM unnest($1::uuid[], $2::date[], $3::text[],"
                       "                               $4::bigint[]) AS d(t, m, s, n)"
                       " ON CONFLICT (tenant_id, month, scope)"
                       " DO UPDATE SET count = u.count + EXCLUDED.count",
                       4, v, added, q);
}

static void scopes_read(void *arg, tdm_status *st, PGresult *res)
{
    usage_query *q = arg;
    if (st != NULL) {
        q->scopes(q->arg, st, NULL, 0);
        return;
    }
    size_t n = (size_t)PQntuples(res);
    gw_usage_scope_row *rows = tdm_arena_calloc(q->arena, n + 1, sizeof(*rows));
    if (rows == NULL) {
        q->scopes(q->arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, 0);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rows[i].scope = tdm_arena_strdup(q->arena, PQgetvalue(res, (int)i, 0));
        rows[i].count = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
    }
    q->scopes(q->arg, NULL, rows, n);
}

int gw_usage_store_api_calls(const gw_store_ctx *c, const char *tenant_id, const char *month,
                             gw_usage_scopes_cb cb, void *arg)
{
    usage_query *q = tdm_arena_calloc(c->arena, 1, sizeof(*q));
    if (q == NULL)
        return UV_ENOMEM;
    q->scopes = cb;
    q->arg = arg;
    q->arena = c->arena;
    const char *v[] = {tenant_id, month};
    tdm_pg_tx_options o = tx_options(c, true);
    return tdm_pg_exec_prepared(c->pool, &o,
                                "SELECT scope, count FROM gateway.usage_api_calls"
                                " WHERE tenant_id = $1::uuid AND month = $2::date ORDER BY scope",
                                2, v, scopes_read, q);
}
