/*
 * store.c - the gateway's SQL (see store.h). One statement per call, parameterised,
 * results decoded into arena structs before the PGresult is cleared. Binary values
 * travel as hex text (decode($n, 'hex') / encode(x, 'hex')) so every parameter stays
 * in text format.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "tandem/check.h"
#include "tandem/idempotency.h"
#include "tandem/log.h"
#include "webhook.h" /* gw_hex_encode */

#define TENANT_COLUMNS                                                                             \
    "id::text, name, slug, floor(extract(epoch FROM create_time) * 1000000)::bigint"

#define KEY_COLUMNS                                                                                \
    "id::text, tenant_id::text, kind, display_name, scopes, coalesce(rate_rps, 0), "               \
    "coalesce(rate_burst, 0), secret_prefix, "                                                     \
    "floor(extract(epoch FROM create_time) * 1000000)::bigint, "                                   \
    "coalesce(floor(extract(epoch FROM last_used_time) * 1000000)::bigint, 0), "                   \
    "coalesce(floor(extract(epoch FROM revoke_time) * 1000000)::bigint, 0), "                      \
    "encode(secret_hash, 'hex')"

typedef enum op_kind { OP_TENANTS, OP_KEYS, OP_DONE } op_kind;

typedef struct store_op {
    tdm_arena *arena;
    op_kind kind;
    union {
        gw_store_tenants_cb tenants;
        gw_store_keys_cb keys;
        gw_store_done_cb done;
    } cb;
    void *arg;
} store_op;

/* Hex text into out (cap bytes); the decoded length, or -1. */
static long hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = tdm_hex_digit(hex[2 * i]), lo = tdm_hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

/* ---- Idempotency-Key of the gateway's own methods ------------------------------------------ */

#define IDEM_KEY_MAX 200

#define IDEM_WHERE "WHERE principal_id = $1::uuid AND method = $2 AND key = $3"

static void keyed_answer(gw_keyed *k, tdm_status *st, ProtobufCMessage *replay)
{
    k->cb(k->arg, st, st == NULL ? replay : NULL);
}

/* The first error of the key's transaction wins over the end's own status. */
static tdm_status *first_error(gw_keyed *k, tdm_status *st)
{
    tdm_status *err = k->err;
    k->err = NULL;
    if (err == NULL)
        return st;
    tdm_status_free(st);
    return err;
}

static void keyed_replay_ended(void *arg, tdm_status *st)
{
    gw_keyed *k = arg;
    keyed_answer(k, first_error(k, st), k->replay);
}

/* The key is not ours: end the transaction (nothing was written), then answer err or
 * k->replay. */
static void keyed_release(gw_keyed *k, tdm_status *err)
{
    tdm_pg_tx *tx = k->sc->tx;
    k->sc->tx = NULL;
    k->err = err;
    if (tdm_pg_tx_end(tx, false, keyed_replay_ended, k) != 0)
        keyed_replay_ended(k, NULL);
}

static void keyed_existing(void *arg, tdm_status *st, PGresult *res)
{
    gw_keyed *k = arg;
    if (st != NULL) {
        keyed_release(k, st);
        return;
    }
    if (PQntuples(res) != 1) {
        keyed_release(k, tdm_status_new(TDM_ABORTED, "a request with this Idempotency-Key was "
                                                     "in progress; retry"));
        return;
    }
    uint8_t hash[GW_KEY_HASH_BYTES];
    if (hex_decode(PQgetvalue(res, 0, 0), hash, sizeof(hash)) != GW_KEY_HASH_BYTES ||
        !gw_key_hash_equal(hash, k->request_hash)) {
        keyed_release(k, tdm_idem_conflict_status());
        return;
    }
    const char *hex = PQgetvalue(res, 0, 1);
    size_t cap = strlen(hex) / 2 + 1;
    uint8_t *bytes = tdm_arena_alloc(k->sc->arena, cap);
    long n = bytes != NULL ? hex_decode(hex, bytes, cap) : -1;
    if (n > 0)
        k->replay = protobuf_c_message_unpack(k->desc, tdm_arena_protobuf_allocator(k->sc->arena),
                                              (size_t)n, bytes);
    keyed_release(k, k->replay == NULL ? tdm_status_new(TDM_INTERNAL, "could not read the stored "
                                                                      "response")
                                       : NULL);
}

static void keyed_claimed(void *arg, tdm_status *st, PGresult *res)
{
    gw_keyed *k = arg;
    if (st != NULL) {
        keyed_release(k, st);
        return;
    }
    if (PQntuples(res) == 1) {
        k->held = true;
        keyed_answer(k, NULL, NULL); /* ours: do the work in k->sc->tx */
        return;
    }
    /* Another request holds or held the key: its transaction has ended (the claim
     * waited for it on the primary key), and this new statement sees what it stored. */
    const char *v[] = {k->principal_id, k->method, k->key};
    if (tdm_pg_tx_query_prepared(k->sc->tx,
                                 "SELECT encode(request_hash, 'hex'), encode(response, 'hex') "
                                 "FROM gateway.idempotency " IDEM_WHERE,
                                 3, v, keyed_existing, k) != 0)
        keyed_release(k, tdm_status_new(TDM_INTERNAL, "could not read the idempotency key"));
}

static void keyed_begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    gw_keyed *k = arg;
    if (st != NULL) {
        keyed_answer(k, st, NULL);
        return;
    }
    k->sc->tx = tx;
    char hex[GW_KEY_HASH_HEX_LEN + 1];
    gw_key_hash_hex(k->request_hash, hex);
    const char *v[] = {k->principal_id, k->method, k->key, hex};
    /* The claim: a row comes back iff the key is ours. A live row of another
     * transaction makes this wait until that one ends; an expired row is taken over.
     * The response is written by gw_keyed_end in this same transaction, so no other
     * transaction ever sees the empty one. */
    if (tdm_pg_tx_query_prepared(
            tx,
            "INSERT INTO gateway.idempotency AS i (principal_id, method, key, request_hash, "
            "response) VALUES ($1::uuid, $2, $3, decode($4, 'hex'), '') "
            "ON CONFLICT (principal_id, method, key) DO UPDATE SET "
            "request_hash = EXCLUDED.request_hash, response = EXCLUDED.response, "
            "create_time = now() WHERE i.create_time <= now() - interval '24 hours' "
            "RETURNING 1",
            4, v, keyed_claimed, k) != 0)
        keyed_release(k, tdm_status_new(TDM_INTERNAL, "could not claim the idempotency key"));
}

void gw_keyed_begin(gw_keyed *k, gw_store_ctx *c, const char *tenant_id,
                    const ProtobufCMessage *request, gw_keyed_cb cb, void *arg)
{
    k->sc = c;
    k->cb = cb;
    k->arg = arg;
    if (k->key == NULL) {
        cb(arg, NULL, NULL);
        return;
    }
    if (strlen(k->key) > IDEM_KEY_MAX) {
        tdm_status *st =
            tdm_status_new(TDM_INVALID_ARGUMENT, "Idempotency-Key: must be at most 200 characters");
        cb(arg, tdm_status_add_violation(st, "Idempotency-Key", "must be at most 200 characters"),
           NULL);
        return;
    }
    size_t len = protobuf_c_message_get_packed_size(request);
    uint8_t *buf = tdm_arena_alloc(c->arena, len + 1);
    if (buf == NULL) {
        cb(arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    protobuf_c_message_pack(request, buf);
    gw_key_hash((const char *)buf, len, k->request_hash);
    tdm_pg_tx_options opts = {
        .tenant_id = tenant_id, .deadline_ms = c->deadline_ms, .request_id = c->request_id};
    if (tdm_pg_tx_begin(c->pool, &opts, keyed_begun, k) != 0)
        cb(arg, tdm_status_new(TDM_INTERNAL, "could not begin a transaction"), NULL);
}

static void keyed_ended(void *arg, tdm_status *st)
{
    gw_keyed *k = arg;
    st = first_error(k, st);
    k->done(k->done_arg, st, st == NULL ? k->response : NULL);
}

static void keyed_stored(void *arg, tdm_status *st, PGresult *res)
{
    gw_keyed *k = arg;
    (void)res;
    k->err = st;
    tdm_pg_tx *tx = k->sc->tx;
    k->sc->tx = NULL;
    if (tdm_pg_tx_end(tx, st == NULL, keyed_ended, k) != 0)
        keyed_ended(k, tdm_status_new(TDM_INTERNAL, "could not end the transaction"));
}

void gw_keyed_end(gw_keyed *k, tdm_status *st, ProtobufCMessage *response, gw_keyed_cb cb,
                  void *arg)
{
    if (!k->held) {
        cb(arg, st, st == NULL ? response : NULL);
        return;
    }
    k->held = false;
    k->response = response;
    k->done = cb;
    k->done_arg = arg;
    char *resp_hex = NULL;
    if (st == NULL) {
        size_t len = protobuf_c_message_get_packed_size(response);
        uint8_t *buf = tdm_arena_alloc(k->sc->arena, len + 1);
        if (buf != NULL) {
            protobuf_c_message_pack(response, buf);
            resp_hex = gw_hex_encode(k->sc->arena, buf, len);
        }
        if (resp_hex == NULL)
            st = tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (st != NULL) {
        keyed_stored(k, st, NULL);
        return;
    }
    const char *v[] = {k->principal_id, k->method, k->key, resp_hex};
    if (tdm_pg_tx_query_prepared(
            k->sc->tx, "UPDATE gateway.idempotency SET response = decode($4, 'hex') " IDEM_WHERE, 4,
            v, keyed_stored, k) != 0)
        keyed_stored(k, tdm_status_new(TDM_INTERNAL, "could not store the idempotency key"), NULL);
}

static const char *text_or_null(tdm_arena *a, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return tdm_arena_strdup(a, PQgetvalue(res, row, col));
}

static int64_t int_at(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static tdm_status *decode_tenants(tdm_arena *a, const PGresult *res, gw_tenant_row **out)
{
    int n = PQntuples(res);
    gw_tenant_row *rows = tdm_arena_calloc(a, (size_t)(n > 0 ? n : 1), sizeof(*rows));
    if (rows == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < n; i++) {
        rows[i].id = text_or_null(a, res, i, 0);
        rows[i].name = text_or_null(a, res, i, 1);
        rows[i].slug = text_or_null(a, res, i, 2);
        rows[i].create_us = int_at(res, i, 3);
    }
    *out = rows;
    return NULL;
}

static tdm_status *decode_keys(tdm_arena *a, const PGresult *res, gw_key_row **out)
{
    int n = PQntuples(res);
    gw_key_row *rows = tdm_arena_calloc(a, (size_t)(n > 0 ? n : 1), sizeof(*rows));
    if (rows == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < n; i++) {
        gw_key_row *k = &rows[i];
        k->id = text_or_null(a, res, i, 0);
        k->tenant_id = text_or_null(a, res, i, 1);
        k->kind = (int)int_at(res, i, 2);
        k->display_name = text_or_null(a, res, i, 3);
        k->scopes = (uint32_t)int_at(res, i, 4);
        k->rate_rps = (uint32_t)int_at(res, i, 5);
        k->rate_burst = (uint32_t)int_at(res, i, 6);
        k->secret_prefix = text_or_null(a, res, i, 7);
        k->create_us = int_at(res, i, 8);
        k->last_used_us = int_at(res, i, 9);
        k->revoke_us = int_at(res, i, 10);
        if (hex_decode(PQgetvalue(res, i, 11), k->secret_hash, sizeof(k->secret_hash)) !=
            GW_KEY_HASH_BYTES)
            return tdm_status_set_detail(tdm_status_new(TDM_INTERNAL, "internal error"),
                                         "api_keys.secret_hash is not 32 bytes");
    }
    *out = rows;
    return NULL;
}

static void op_finish(store_op *op, tdm_status *st, PGresult *res)
{
    switch (op->kind) {
    case OP_TENANTS: {
        gw_tenant_row *rows = NULL;
        if (st == NULL)
            st = decode_tenants(op->arena, res, &rows);
        op->cb.tenants(op->arg, st, st == NULL ? rows : NULL,
                       st == NULL ? (size_t)PQntuples(res) : 0);
        break;
    }
    case OP_KEYS: {
        gw_key_row *rows = NULL;
        if (st == NULL)
            st = decode_keys(op->arena, res, &rows);
        op->cb.keys(op->arg, st, st == NULL ? rows : NULL, st == NULL ? (size_t)PQntuples(res) : 0);
        break;
    }
    case OP_DONE:
        op->cb.done(op->arg, st);
        break;
    }
}

static void op_result(void *arg, tdm_status *st, PGresult *res)
{
    op_finish(arg, st, res);
}

/* Every statement of this file is fixed text, so each runs prepared (once per pooled
 * connection). A lookup that is one statement on tables without row-level security
 * (gateway.api_keys, gateway.tenants: the key directory itself, read before any
 * tenant is known) runs as one round trip without BEGIN/COMMIT (implicit); writes keep
 * their explicit transaction. */
static int run_stmt(const gw_store_ctx *c, op_kind kind, void (*cb)(void), void *arg, bool implicit,
                    const char *sql, int n, const char *const *values)
{
    store_op *op = tdm_arena_calloc(c->arena, 1, sizeof(*op));
    if (op == NULL)
        return UV_ENOMEM;
    op->arena = c->arena;
    op->kind = kind;
    op->arg = arg;
    switch (kind) {
    case OP_TENANTS:
        op->cb.tenants = (gw_store_tenants_cb)cb;
        break;
    case OP_KEYS:
        op->cb.keys = (gw_store_keys_cb)cb;
        break;
    case OP_DONE:
        op->cb.done = (gw_store_done_cb)cb;
        break;
    }
    tdm_pg_tx_options opts = {
        .tenant_id = NULL,
        .deadline_ms = c->deadline_ms,
        .read_only = false,
        .request_id = c->request_id,
        .implicit_tx = implicit,
    };
    if (c->tx != NULL)
        return tdm_pg_tx_query_prepared(c->tx, sql, n, values, op_result, op);
    return tdm_pg_exec_prepared(c->pool, &opts, sql, n, values, op_result, op);
}

static int run(const gw_store_ctx *c, op_kind kind, void (*cb)(void), void *arg, const char *sql,
               int n, const char *const *values)
{
    return run_stmt(c, kind, cb, arg, false, sql, n, values);
}

int gw_store_key_by_hash(const gw_store_ctx *c, const uint8_t hash[GW_KEY_HASH_BYTES],
                         gw_store_keys_cb cb, void *arg)
{
    char hex[GW_KEY_HASH_HEX_LEN + 1];
    gw_key_hash_hex(hash, hex);
    const char *v[] = {hex};
    return run_stmt(
        c, OP_KEYS, (void (*)(void))cb, arg, true,
        "SELECT " KEY_COLUMNS " FROM gateway.api_keys WHERE secret_hash = decode($1, 'hex')", 1, v);
}

int gw_store_tenant_resolve(const gw_store_ctx *c, const char *ref, gw_store_tenants_cb cb,
                            void *arg)
{
    const char *v[] = {ref};
    if (tdm_uuid_valid(ref))
        return run_stmt(c, OP_TENANTS, (void (*)(void))cb, arg, true,
                        "SELECT " TENANT_COLUMNS " FROM gateway.tenants WHERE id = $1::uuid", 1, v);
    return run_stmt(c, OP_TENANTS, (void (*)(void))cb, arg, true,
                    "SELECT " TENANT_COLUMNS " FROM gateway.tenants WHERE slug = $1", 1, v);
}

int gw_store_tenant_create(const gw_store_ctx *c, const char *name, const char *slug,
                           gw_store_tenants_cb cb, void *arg)
{
    const char *v[] = {name, slug};
    return run(c, OP_TENANTS, (void (*)(void))cb, arg,
               "INSERT INTO gateway.tenants (name, slug) VALUES ($1, $2) RETURNING " TENANT_COLUMNS,
               2, v);
}

int gw_store_tenant_list(const gw_store_ctx *c, int64_t after_us, const char *after_id, int limit,
                         gw_store_tenants_cb cb, void *arg)
{
    char us[32], lim[16];
    snprintf(us, sizeof(us), "%lld", (long long)after_us);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *v[] = {after_id != NULL ? us : NULL, after_id, lim};
    return run(c, OP_TENANTS, (void (*)(void))cb, arg,
               "SELECT " TENANT_COLUMNS " FROM gateway.tenants "
               "WHERE $2::uuid IS NULL OR (create_time, id) > "
               "(timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2::uuid) "
               "ORDER BY create_time, id LIMIT $3::int",
               3, v);
}

int gw_store_key_create(const gw_store_ctx *c, const gw_key_new *k, gw_store_keys_cb cb, void *arg)
{
    char kind[8], scopes[16], rps[16], burst[16], hex[GW_KEY_HASH_HEX_LEN + 1];
    snprintf(kind, sizeof(kind), "%d", k->kind);
    snprintf(scopes, sizeof(scopes), "%u", k->scopes);
    snprintf(rps, sizeof(rps), "%u", k->rate_rps);
    snprintf(burst, sizeof(burst), "%u", k->rate_burst);
    gw_key_hash_hex(k->secret_hash, hex);
    const char *v[] = {k->tenant_id,
                       kind,
                       k->display_name,
                       scopes,
                       k->rate_rps != 0 ? rps : NULL,
                       k->rate_burst != 0 ? burst : NULL,
                       hex,
                       k->secret_prefix};
    return run(c, OP_KEYS, (void (*)(void))cb, arg,
               "INSERT INTO gateway.api_keys (tenant_id, kind, display_name, scopes, rate_rps, "
               "rate_burst, secret_hash, secret_prefix) VALUES ($1::uuid, $2::smallint, $3, "
               "$4::int, $5::int, $6::int, decode($7, 'hex'), $8) RETURNING " KEY_COLUMNS,
               8, v);
}

int gw_store_key_list(const gw_store_ctx *c, const char *tenant_id, bool show_revoked,
                      int64_t before_us, const char *before_id, int limit, gw_store_keys_cb cb,
                      void *arg)
{
    char us[32], lim[16];
    snprintf(us, sizeof(us), "%lld", (long long)before_us);
    snprintf(lim, sizeof(lim), "%d", limit);
    const char *v[] = {tenant_id, show_revoked ? "true" : "false", before_id != NULL ? us : NULL,
                       before_id, lim};
    return run(c, OP_KEYS, (void (*)(void))cb, arg,
               "SELECT " KEY_COLUMNS " FROM gateway.api_keys WHERE tenant_id = $1::uuid "
               "AND ($2::bool OR revoke_time IS NULL) "
               "AND ($4::uuid IS NULL OR (create_time, id) < "
               "(timestamptz 'epoch' + $3::bigint * interval '1 microsecond', $4::uuid)) "
               "ORDER BY create_time DESC, id DESC LIMIT $5::int",
               5, v);
}

int gw_store_key_get(const gw_store_ctx *c, const char *id, gw_store_keys_cb cb, void *arg)
{
    const char *v[] = {id};
    return run(c, OP_KEYS, (void (*)(void))cb, arg,
               "SELECT " KEY_COLUMNS " FROM gateway.api_keys WHERE id = $1::uuid", 1, v);
}

int gw_store_key_revoke(const gw_store_ctx *c, const char *id, gw_store_keys_cb cb, void *arg)
{
    const char *v[] = {id};
    return run(c, OP_KEYS, (void (*)(void))cb, arg,
               "UPDATE gateway.api_keys SET revoke_time = coalesce(revoke_time, now()) "
               "WHERE id = $1::uuid RETURNING " KEY_COLUMNS,
               1, v);
}

int gw_store_keys_touch(const gw_store_ctx *c, const char *const *ids, size_t n,
                        gw_store_done_cb cb, void *arg)
{
    /* One text array literal of the ids that are UUIDs. */
    char *arr = tdm_pg_uuid_array(ids, n, c->arena);
    if (arr == NULL)
        return -1;
    const char *v[] = {arr};
    return run(c, OP_DONE, (void (*)(void))cb, arg,
               "UPDATE gateway.api_keys SET last_used_time = now() WHERE id = ANY($1::uuid[]) "
               "AND (last_used_time IS NULL OR last_used_time < now() - interval '1 minute')",
               1, v);
}

int gw_store_bootstrap_key(const gw_store_ctx *c, const gw_key_new *k, gw_store_done_cb cb,
                           void *arg)
{
    char scopes[16], hex[GW_KEY_HASH_HEX_LEN + 1];
    snprintf(scopes, sizeof(scopes), "%u", k->scopes);
    gw_key_hash_hex(k->secret_hash, hex);
    const char *v[] = {k->display_name, scopes, hex, k->secret_prefix};
    return run(c, OP_DONE, (void (*)(void))cb, arg,
               "INSERT INTO gateway.api_keys (tenant_id, kind, display_name, scopes, "
               "secret_hash, secret_prefix) VALUES (NULL, 1, $1, $2::int, decode($3, 'hex'), $4) "
               "ON CONFLICT (secret_hash) DO NOTHING",
               4, v);
}
