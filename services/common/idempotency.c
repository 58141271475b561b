/*
 * idempotency.c - claim, replay and store Idempotency-Keys inside a transaction.
 * See include/tandem/idempotency.h for the protocol. Two statements at most per
 * claim: the INSERT that claims (and lazily purges), and, only when the key already
 * exists, the SELECT that reads what the first request stored.
 */
#include "tandem/idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "tandem/log.h"

#define IDEM_SQL_MAX 2048

typedef struct idem_op {
    tdm_pg_tx *tx;
    const tdm_idem_key *k;
    char claim_sql[IDEM_SQL_MAX]; /* kept until the statement completes */
    char select_sql[IDEM_SQL_MAX];
    tdm_idem_begin_cb cb;
    void *arg;
} idem_op;

typedef struct idem_finish_op {
    tdm_pg_done_cb cb;
    void *arg;
    uint8_t *packed;
    char sql[IDEM_SQL_MAX];
} idem_finish_op;

/* Schema names are trusted identifiers from the service spec; refuse anything that
 * would need quoting rather than quote it. */
static int schema_ok(const char *schema)
{
    if (schema == NULL || schema[0] == '\0' || strlen(schema) > 63)
        return 0;
    for (const char *p = schema; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return 0;
    }
    return 1;
}

tdm_status *tdm_idem_prepare(tdm_idem_key *k, const char *method, const char *key,
                             const ProtobufCMessage *request)
{
    size_t len = key != NULL ? strlen(key) : 0;
    if (len == 0 || len > TDM_IDEM_MAX_KEY_BYTES) {
        return tdm_status_add_violation(
            tdm_status_new(TDM_INVALID_ARGUMENT, "invalid Idempotency-Key"), TDM_IDEM_METADATA_KEY,
            "must be 1 to %u characters", TDM_IDEM_MAX_KEY_BYTES);
    }
    for (size_t i = 0; i < len; i++) {
        if (key[i] < 0x21 || key[i] > 0x7e) {
            return tdm_status_add_violation(
                tdm_status_new(TDM_INVALID_ARGUMENT, "invalid Idempotency-Key"),
                TDM_IDEM_METADATA_KEY, "must be printable ASCII without spaces");
        }
    }
    k->method = method;
    k->key = key;

    size_t packed_len = protobuf_c_message_get_packed_size(request);
    uint8_t *packed = malloc(packed_len > 0 ? packed_len : 1);
    if (packed == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    protobuf_c_message_pack(request, packed);
    unsigned int hash_len = 0;
    int ok = EVP_Digest(packed, packed_len, k->request_hash, &hash_len, EVP_sha256(), NULL);
    free(packed);
    if (ok != 1 || hash_len != TDM_IDEM_HASH_BYTES)
        return tdm_status_new(TDM_INTERNAL, "could not hash the request");
    return NULL;
}

tdm_status *tdm_idem_conflict_status(void)
{
    return tdm_status_new(TDM_ABORTED, "Idempotency-Key reused with a different request");
}

static void idem_existing_cb(void *arg, tdm_status *st, PGresult *res)
{
    idem_op *op = arg;
    if (st != NULL) {
        op->cb(op->arg, st, TDM_IDEM_NEW, NULL, 0);
        return;
    }
    if (PQntuples(res) != 1) {
        /* Claimed by a transaction that has since rolled back and been purged in
         * between: rare; the client may simply retry. */
        op->cb(op->arg,
               tdm_status_new(TDM_ABORTED, "a request with this Idempotency-Key was in progress; "
                                           "retry"),
               TDM_IDEM_NEW, NULL, 0);
        return;
    }
    const uint8_t *hash = (const uint8_t *)PQgetvalue(res, 0, 0);
    int hash_len = PQgetlength(res, 0, 0);
    if (hash_len != (int)TDM_IDEM_HASH_BYTES ||
        memcmp(hash, op->k->request_hash, TDM_IDEM_HASH_BYTES) != 0) {
        op->cb(op->arg, NULL, TDM_IDEM_CONFLICT, NULL, 0);
        return;
    }
    if (PQgetisnull(res, 0, 1)) {
        op->cb(op->arg, tdm_idem_conflict_status(), TDM_IDEM_CONFLICT, NULL, 0);
        return;
    }
    op->cb(op->arg, NULL, TDM_IDEM_REPLAY, (const uint8_t *)PQgetvalue(res, 0, 1),
           (size_t)PQgetlength(res, 0, 1));
}

static void idem_claim_cb(void *arg, tdm_status *st, PGresult *res)
{
    idem_op *op = arg;
    if (st != NULL) {
        op->cb(op->arg, st, TDM_IDEM_NEW, NULL, 0);
        return;
    }
    if (PQntuples(res) == 1) {
        op->cb(op->arg, NULL, TDM_IDEM_NEW, NULL, 0);
        return;
    }
    /* The key exists (committed by another transaction, possibly one we waited
     * for on the unique index): READ COMMITTED gives this new statement a snapshot
     * that sees it. */
    const char *values[2] = {op->k->method, op->k->key};
    const int formats[2] = {0, 0};
    if (tdm_pg_tx_query_params(op->tx, op->select_sql, 2, NULL, values, NULL, formats, 1,
                               idem_existing_cb, op) != 0) {
        op->cb(op->arg, tdm_status_new(TDM_INTERNAL, "could not read the idempotency key"),
               TDM_IDEM_NEW, NULL, 0);
    }
}

/* The op must outlive both statements but the caller has no arena to give: it is
 * freed by the wrapper callback below. */
typedef struct idem_begin_box {
    idem_op op;
    tdm_idem_begin_cb user_cb;
    void *user_arg;
} idem_begin_box;

static void idem_box_done(void *arg, tdm_status *st, tdm_idem_outcome outcome,
                          const uint8_t *response, size_t len)
{
    idem_begin_box *box = arg;
    box->user_cb(box->user_arg, st, outcome, response, len);
    free(box);
}

int tdm_idem_begin(tdm_pg_tx *tx, const char *schema, const tdm_idem_key *k, tdm_idem_begin_cb cb,
                   void *arg)
{
    if (!schema_ok(schema) || k == NULL || cb == NULL)
        return -1;
    idem_begin_box *box = calloc(1, sizeof(*box));
    if (box == NULL)
        return -1;
    box->user_cb = cb;
    box->user_arg = arg;
    idem_op *op = &box->op;
    op->tx = tx;
    op->k = k;
    op->cb = idem_box_done;
    op->arg = box;
    snprintf(op->select_sql, sizeof(op->select_sql),
             "SELECT request_hash, response FROM %s.idempotency_keys "
             "WHERE tenant_id = " TDM_SQL_TENANT " "
             "AND method = $1 AND key = $2",
             schema);

    /* One statement: purge a bounded number of the tenant's expired keys (never the
     * one being claimed, never waiting on a locked row), then claim the key - or
     * reclaim it in place when it has expired. A row comes back iff it is ours. */
    snprintf(op->claim_sql, sizeof(op->claim_sql),
             "WITH purge AS ("
             " DELETE FROM %1$s.idempotency_keys WHERE (tenant_id, method, key) IN ("
             "  SELECT tenant_id, method, key FROM %1$s.idempotency_keys"
             "  WHERE tenant_id = " TDM_SQL_TENANT
             "  AND create_time < now() - make_interval(hours => %2$d)"
             "  AND NOT (method = $1 AND key = $2)"
             "  LIMIT %3$d FOR UPDATE SKIP LOCKED)) "
             "INSERT INTO %1$s.idempotency_keys AS k (tenant_id, method, key, request_hash) "
             "VALUES (" TDM_SQL_TENANT ", $1, $2, $3) "
             "ON CONFLICT (tenant_id, method, key) DO UPDATE "
             "SET request_hash = EXCLUDED.request_hash, response = NULL, create_time = now() "
             "WHERE k.create_time < now() - make_interval(hours => %2$d) "
             "RETURNING 1",
             schema, TDM_IDEM_RETENTION_HOURS, TDM_IDEM_PURGE_BATCH);
    const char *values[3] = {k->method, k->key, (const char *)k->request_hash};
    const int lengths[3] = {0, 0, (int)TDM_IDEM_HASH_BYTES};
    const int formats[3] = {0, 0, 1};
    if (tdm_pg_tx_query_params(tx, op->claim_sql, 3, NULL, values, lengths, formats, 0,
                               idem_claim_cb, op) != 0) {
        free(box);
        return -1;
    }
    return 0;
}

static void idem_finish_cb(void *arg, tdm_status *st, PGresult *res)
{
    idem_finish_op *op = arg;
    if (st == NULL && strcmp(PQcmdTuples(res), "1") != 0)
        st = tdm_status_new(TDM_INTERNAL, "the idempotency key was not claimed");
    tdm_pg_done_cb cb = op->cb;
    void *cb_arg = op->arg;
    free(op->packed);
    free(op);
    cb(cb_arg, st);
}

int tdm_idem_finish(tdm_pg_tx *tx, const char *schema, const tdm_idem_key *k,
                    const ProtobufCMessage *response, tdm_pg_done_cb cb, void *arg)
{
    if (!schema_ok(schema) || k == NULL || response == NULL || cb == NULL)
        return -1;
    idem_finish_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return -1;
    size_t len = protobuf_c_message_get_packed_size(response);
    op->packed = malloc(len > 0 ? len : 1);
    if (op->packed == NULL) {
        free(op);
        return -1;
    }
    protobuf_c_message_pack(response, op->packed);
    op->cb = cb;
    op->arg = arg;
    snprintf(op->sql, sizeof(op->sql),
             "UPDATE %s.idempotency_keys SET response = $3 "
             "WHERE tenant_id = " TDM_SQL_TENANT " "
             "AND method = $1 AND key = $2",
             schema);
    const char *values[3] = {k->method, k->key, (const char *)op->packed};
    const int lengths[3] = {0, 0, (int)len};
    const int formats[3] = {0, 0, 1};
    if (tdm_pg_tx_query_params(tx, op->sql, 3, NULL, values, lengths, formats, 0, idem_finish_cb,
                               op) != 0) {
        free(op->packed);
        free(op);
        return -1;
    }
    return 0;
}
