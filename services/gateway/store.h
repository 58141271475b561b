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
} gw_store_ctx;

typedef void (*gw_store_tenants_cb)(void *arg, tdm_status *st, gw_tenant_row *rows, size_t n);
typedef void (*gw_store_keys_cb)(void *arg, tdm_status *st, gw_key_row *rows, size_t n);
typedef void (*gw_store_done_cb)(void *arg, tdm_status *st);
typedef void (*gw_store_idem_cb)(void *arg, tdm_status *st, bool found, const uint8_t *request_hash,
                                 const uint8_t *response, size_t response_len);

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

/* A stored response for (principal, method, key) younger than 24 h. */
int gw_store_idem_get(const gw_store_ctx *c, const char *principal_id, const char *method,
                      const char *key, gw_store_idem_cb cb, void *arg);
/* Store a response; a concurrent duplicate keeps the first. */
int gw_store_idem_put(const gw_store_ctx *c, const char *principal_id, const char *method,
                      const char *key, const uint8_t request_hash[GW_KEY_HASH_BYTES],
                      const uint8_t *response, size_t len, gw_store_done_cb cb, void *arg);

/* The Idempotency-Key front of a method the gateway implements itself. With no key,
 * cb(arg, NULL, NULL) at once: run the method. Otherwise the key's length is checked,
 * request_hash (the caller's, for gw_store_idem_put later) is filled from the packed
 * request, and cb gets a status (a bad key, the store's error, ABORTED for a key used
 * with another request), or the stored response as a `desc` message to answer again,
 * or (NULL, NULL): run the method and store its response. */
typedef void (*gw_idem_cb)(void *arg, tdm_status *st, ProtobufCMessage *replay);
void gw_idem_check(const gw_store_ctx *c, const char *principal_id, const char *method,
                   const char *key, const ProtobufCMessage *request,
                   const ProtobufCMessageDescriptor *desc, uint8_t request_hash[GW_KEY_HASH_BYTES],
                   gw_idem_cb cb, void *arg);

bool gw_is_uuid(const char *s);

#endif
