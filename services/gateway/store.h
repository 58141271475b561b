/*
 * store.h - every SQL statement of the gateway: tenants, API keys, idempotency.
 *
 * Each function runs one statement in its own transaction on the runtime's pool
 * (these tables are the tenant directory, not tenant-owned rows: see
 * migrations/001_tenants_and_keys.sql) and reports rows decoded into plain structs
 * allocated in the caller's arena. Callbacks follow pg.h: a function returning 0 calls
 * its callback exactly once, with a status it hands over, or NULL and the rows.
 * Times are microseconds since the Unix epoch, 0 when NULL.
 */
#ifndef TANDEM_GATEWAY_STORE_H
#define TANDEM_GATEWAY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "keys.h"
#include "tandem/arena.h"
#include "tandem/pg.h"
#include "tandem/status.h"

typedef struct gw_tenant_row {
    const char *id;
    const char *name;
    const char *slug;
    int64_t create_us;
} gw_tenant_row;

typedef struct gw_key_row {
    const char *id;
    const char *tenant_id; /* NULL for the bootstrap key */
    int kind;              /* 1 platform, 2 tenant */
    const char *display_name;
    uint32_t scopes;
    uint32_t rate_rps, rate_burst; /* 0: the deployment defaults */
    const char *secret_prefix;
    int64_t create_us, last_used_us, revoke_us;
    uint8_t secret_hash[GW_KEY_HASH_BYTES];
} gw_key_row;

typedef struct gw_store_ctx {
    tdm_pg_pool *pool;
    tdm_arena *arena; /* rows are allocated here */
    const char *request_id;
    uint64_t deadline_ms; /* 0 = none */
    tdm_pg_tx *tx;        /* set: every statement runs in this transaction (gw_keyed) */
} gw_store_ctx;

typedef void (*gw_store_tenants_cb)(void *arg, tdm_status *st, gw_tenant_row *rows, size_t n);
typedef void (*gw_store_keys_cb)(void *arg, tdm_status *st, gw_key_row *rows, size_t n);
typedef void (*gw_store_done_cb)(void *arg, tdm_status *st);

/* The key whose secret hashes to `hash` (revoked keys included: the caller decides). */
int gw_store_key_by_hash(const gw_store_ctx *c, const uint8_t hash[GW_KEY_HASH_BYTES],
                         gw_store_keys_cb cb, void *arg);

/* The tenant named by `ref`: its id when ref is a UUID, otherwise its slug. */
int gw_store_tenant_resolve(const gw_store_ctx *c, const char *ref, gw_store_tenants_cb cb,
                            void *arg);

/* ALREADY_EXISTS when the slug is taken. */
int gw_store_tenant_create(const gw_store_ctx *c, const char *name, const char *slug,
                           gw_store_tenants_cb cb, void *arg);

/* Oldest first, after the cursor (after_us 0 and after_id NULL: from the start). */
int gw_store_tenant_list(const gw_store_ctx *c, int64_t after_us, const char *after_id, int limit,
                         gw_store_tenants_cb cb, void *arg);

typedef struct gw_key_new {
    const char *tenant_id; /* NULL only for the bootstrap key */
    int kind;
    const char *display_name;
    uint32_t scopes;
    uint32_t rate_rps, rate_burst; /* 0: defaults */
    const char *secret_prefix;
    uint8_t secret_hash[GW_KEY_HASH_BYTES];
} gw_key_new;

int gw_store_key_create(const gw_store_ctx *c, const gw_key_new *k, gw_store_keys_cb cb, void *arg);

/* Newest first, before the cursor (before_us 0 and before_id NULL: from the start). */
int gw_store_key_list(const gw_store_ctx *c, const char *tenant_id, bool show_revoked,
                      int64_t before_us, const char *before_id, int limit, gw_store_keys_cb cb,
                      void *arg);

int gw_store_key_get(const gw_store_ctx *c, const char *id, gw_store_keys_cb cb, void *arg);

/* Sets revoke_time once (idempotent); no row when the key does not exist. */
int gw_store_key_revoke(const gw_store_ctx *c, const char *id, gw_store_keys_cb cb, void *arg);

/* last_used_time = now() for every key id in ids not touched in the last minute (one
 * statement for the batch; the column is documented as updated at most once a minute). */
int gw_store_keys_touch(const gw_store_ctx *c, const char *const *ids, size_t n,
                        gw_store_done_cb cb, void *arg);

/* Make sure a platform admin key with this hash exists (idempotent). */
int gw_store_bootstrap_key(const gw_store_ctx *c, const gw_key_new *k, gw_store_done_cb cb,
                           void *arg);

/* The Idempotency-Key of a method the gateway implements itself, claimed in the
 * transaction of the work it protects, as the services do (tandem/idempotency.h):
 *
 *     gw_keyed_begin(&op->keyed, &op->sc, tenant, request, begun, op)
 *       begun(op, NULL, NULL)   the key is ours (or there is none): do the work
 *                               through op->sc, whose statements now run in the
 *                               key's transaction, then
 *       gw_keyed_end(&op->keyed, st, response, answer, op)
 *                               st: roll back; else store the response and commit;
 *                               answer(op, NULL, response) or (op, status, NULL)
 *       begun(op, NULL, replay) the same request committed under this key before:
 *                               answer replay (the transaction has ended)
 *       begun(op, st, NULL)     a bad key (INVALID_ARGUMENT), a key used with another
 *                               request (ABORTED), the database's error
 *
 * Concurrency: the claim is an INSERT on the key's primary key, so a second request
 * with the same key - on this replica or another - waits until the first one's
 * transaction ends, then replays what it stored, or claims the key if it rolled back.
 * Keys are per calling API key and method, kept 24 h (an expired one is taken over). */
/* (NULL, NULL): go on; (NULL, message): answer it; (status, NULL): fail. */
typedef void (*gw_keyed_cb)(void *arg, tdm_status *st, ProtobufCMessage *msg);
typedef struct gw_keyed {
    /* Set by the caller before gw_keyed_begin. */
    const char *principal_id;               /* the calling API key's id */
    const char *method;                     /* e.g. "CreateTenant" */
    const char *key;                        /* the client's key; NULL: none */
    const ProtobufCMessageDescriptor *desc; /* the response's type, to decode a replay */

    /* Private to store.c. */
    gw_store_ctx *sc;
    bool held;
    uint8_t request_hash[GW_KEY_HASH_BYTES];
    ProtobufCMessage *replay, *response;
    tdm_status *err;
    gw_keyed_cb cb, done;
    void *arg, *done_arg;
} gw_keyed;

/* tenant_id: the transaction's tenant (row-level security of the work), or NULL. */
void gw_keyed_begin(gw_keyed *k, gw_store_ctx *c, const char *tenant_id,
                    const ProtobufCMessage *request, gw_keyed_cb cb, void *arg);
/* Takes st. Without a held key (none was given): cb at once with st or response. */
void gw_keyed_end(gw_keyed *k, tdm_status *st, ProtobufCMessage *response, gw_keyed_cb cb,
                  void *arg);

#endif
