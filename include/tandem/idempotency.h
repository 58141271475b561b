/*
 * idempotency.h - Idempotency-Key handling inside the caller's transaction.
 *
 * A create/start/batch call may carry `idempotency-key` metadata. The service then
 * records (tenant, method, key) -> SHA-256 of the packed request and the packed
 * response in its schema's `idempotency_keys` table, in the SAME transaction as the
 * effect, so a key is stored iff the effect committed:
 *
 *     tdm_idem_prepare(&k, "Enrol", key, &req->base)     hash the request
 *     tdm_pg_tx_begin(...)
 *       tdm_idem_begin(tx, schema, &k, cb)               claim the key
 *         NEW      -> do the work, tdm_idem_finish(tx, ..., response), COMMIT
 *         REPLAY   -> ROLLBACK, answer the stored response
 *         CONFLICT -> ROLLBACK, fail ABORTED (tdm_idem_conflict_status)
 *
 * Concurrency: the claim is INSERT ... ON CONFLICT, so a concurrent request with the
 * same key blocks on the unique index until the first transaction ends; if it
 * committed, the second sees its stored response (REPLAY); if it rolled back, the
 * second claims the key itself (NEW).
 *
 * Tenancy: the table has row-level security like every tenant table, and the
 * tenant is the transaction's app.tenant_id, so one tenant's key neither collides
 * with nor reveals anything about another's.
 *
 * Retention: keys are kept at least TDM_IDEM_RETENTION_HOURS. An expired key is
 * reclaimed in place when it is reused, and every claim also deletes up to
 * TDM_IDEM_PURGE_BATCH expired keys of the same tenant (RLS hides other tenants'
 * rows, so purging is necessarily per tenant; SKIP LOCKED keeps it from waiting).
 *
 * The table (in the service's schema; copy it into your migration):
 *
 *     CREATE TABLE idempotency_keys (
 *         tenant_id uuid NOT NULL, method text NOT NULL, key text NOT NULL,
 *         request_hash bytea NOT NULL, response bytea,
 *         create_time timestamptz NOT NULL DEFAULT now(),
 *         PRIMARY KEY (tenant_id, method, key));
 *     CREATE INDEX idempotency_keys_expiry ON idempotency_keys (tenant_id, create_time);
 *     + ENABLE/FORCE ROW LEVEL SECURITY and the tenant_isolation policy;
 *     the service role needs SELECT, INSERT, UPDATE, DELETE.
 */
#ifndef TANDEM_IDEMPOTENCY_H
#define TANDEM_IDEMPOTENCY_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/pg.h"
#include "tandem/status.h"

/* The metadata key carrying the client's Idempotency-Key. */
#define TDM_IDEM_METADATA_KEY "idempotency-key"
/* Keys are 1..TDM_IDEM_MAX_KEY_BYTES printable ASCII characters. */
#define TDM_IDEM_MAX_KEY_BYTES   255u
#define TDM_IDEM_RETENTION_HOURS 24
#define TDM_IDEM_PURGE_BATCH     100
#define TDM_IDEM_HASH_BYTES      32u

typedef struct tdm_idem_key {
    const char *method; /* e.g. "Enrol" (static or arena string) */
    const char *key;    /* the client's key (arena string) */
    uint8_t request_hash[TDM_IDEM_HASH_BYTES];
} tdm_idem_key;

typedef enum tdm_idem_outcome {
    TDM_IDEM_NEW = 0,  /* the key is ours: do the work, then tdm_idem_finish */
    TDM_IDEM_REPLAY,   /* same key, same request: answer the stored response */
    TDM_IDEM_CONFLICT, /* same key, another request: fail with tdm_idem_conflict_status */
} tdm_idem_outcome;

/*
 * Fill k from the client's key and the request (hashed as its packed protobuf
 * bytes with SHA-256). INVALID_ARGUMENT naming field "idempotency-key" when the key
 * is empty, too long or not printable ASCII. `method` and `key` are not copied.
 */
tdm_status *tdm_idem_prepare(tdm_idem_key *k, const char *method, const char *key,
                             const ProtobufCMessage *request);

/* The response bytes of a REPLAY are valid only during the callback: unpack or copy
 * them there. For NEW and CONFLICT they are NULL/0. A failed statement gives st
 * (and the transaction is aborted: end it with rollback). */
typedef void (*tdm_idem_begin_cb)(void *arg, tdm_status *st, tdm_idem_outcome outcome,
                                  const uint8_t *response, size_t response_len);

/* Claim k in tx (whose tenant is set). `schema` is the service's schema name
 * (a trusted identifier, e.g. "enrolment"). Returns non-zero if it could not start
 * (then cb is not called). */
int tdm_idem_begin(tdm_pg_tx *tx, const char *schema, const tdm_idem_key *k, tdm_idem_begin_cb cb,
                   void *arg);

/* Store the packed response for the claimed k, in the same tx, before COMMIT. */
int tdm_idem_finish(tdm_pg_tx *tx, const char *schema, const tdm_idem_key *k,
                    const ProtobufCMessage *response, tdm_pg_done_cb cb, void *arg);

/* ABORTED "Idempotency-Key reused with a different request" (409 on REST). */
tdm_status *tdm_idem_conflict_status(void);

#endif
