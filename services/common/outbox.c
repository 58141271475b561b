/*
 * outbox.c - append events to a service's outbox and NOTIFY, in the caller's
 * transaction (see include/tandem/outbox.h).
 *
 * All the events of one call travel as five binary array parameters, one a column
 * (ids uuid[], types text[], resource ids uuid[], ordering keys text[], data as
 * text[] cast to jsonb per row, in array_recv's format), so a batch of 10,000 events is one
 * statement and one round trip and the server parses only each event's data, not one document of
 * all of them: the INSERT unnests the arrays in order (seq follows it) and the same
 * statement calls pg_notify once, with the envelope of the first event. The NOTIFY is a wake-up:
 * the dispatcher reads the rows, never the payload, so one per call wakes it as well as one per
 * event did - and 10,000 distinct payloads cost PostgreSQL 10,000 queue entries and the listener
 * 10,000 messages to drain.
 */
#include "tandem/outbox.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <pb_encode.h>
#include <uuid/uuid.h>

#include "tandem/check.h"

#include "tandem/internal/v1/event.pb.h"
#include "tandem/log.h"
#include "tandem/uuid.h"

/* PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
#define NOTIFY_PAYLOAD_LIMIT  8000
#define ENVELOPE_BASE64_BYTES (4 * ((tandem_internal_v1_EventEnvelope_size + 2) / 3))
_Static_assert(ENVELOPE_BASE64_BYTES < NOTIFY_PAYLOAD_LIMIT,
               "the base64 EventEnvelope must fit a NOTIFY payload");

#define OUTBOX_SQL_MAX 2048

typedef struct outbox_op {
    tdm_pg_done_cb cb;
    void *arg;
    uint8_t *cols[5]; /* the array parameters (malloc'd) */
    char notify[ENVELOPE_BASE64_BYTES + 1];
    char tenant_id[37];
    char service[33];
    char request_id[65];
    char sql[OUTBOX_SQL_MAX];
} outbox_op;

static int charset_ok(const char *s, size_t max, const char *extra)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(extra, c) != NULL;
        if (!ok || c == '\0')
            return 0;
    }
    return 1;
}

static int schema_ok(const char *schema)
{
    return charset_ok(schema, 63, "_");
}

/* Copy s into a fixed nanopb field; the caller checked the length. */
static void set_field(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s != NULL ? s : "");
}

/* The base64 of the encoded envelope, NUL-terminated, into out (big enough by the
 * static assertion). */
static int envelope_base64(const tandem_internal_v1_EventEnvelope *env,
                           char out[ENVELOPE_BASE64_BYTES + 1])
{
    uint8_t bytes[tandem_internal_v1_EventEnvelope_size];
    pb_ostream_t os = pb_ostream_from_buffer(bytes, sizeof(bytes));
    if (!pb_encode(&os, tandem_internal_v1_EventEnvelope_fields, env))
        return -1;
    EVP_EncodeBlock((unsigned char *)out, bytes, (int)os.bytes_written);
    return 0;
}

static void outbox_done(void *arg, tdm_status *st, PGresult *res)
{
    outbox_op *op = arg;
    (void)res;
    tdm_pg_done_cb cb = op->cb;
    void *cb_arg = op->arg;
    for (int i = 0; i < 5; i++)
        free(op->cols[i]);
    free(op);
    cb(cb_arg, st);
}

static int check_args(const tdm_outbox_source *src, const tdm_outbox_event *events, size_t n)
{
    if (src == NULL || !schema_ok(src->schema) || !tdm_uuid_valid(src->tenant_id) ||
        !charset_ok(src->service, 32, "_-") ||
        (src->request_id != NULL && strlen(src->request_id) > 64) || n == 0 ||
        n > TDM_OUTBOX_MAX_EVENTS) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const tdm_outbox_event *ev = &events[i];
        if (!charset_ok(ev->type, TDM_OUTBOX_MAX_TYPE_BYTES, "_.") ||
            !tdm_uuid_valid(ev->resource_id) ||
            (ev->ordering_key != NULL &&
             !charset_ok(ev->ordering_key, TDM_OUTBOX_MAX_ORDERING_KEY_BYTES,
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ._:-")) ||
            ev->data_json == NULL || ev->data_json[0] != '{') {
            return -1;
        }
    }
    return 0;
}

/* ---- binary arrays (array_recv's format) ------------------------------------------ */

#define OID_TEXT       25u
#define OID_UUID       2950u
#define OID_TEXT_ARRAY 1009u
#define OID_UUID_ARRAY 2951u
/* ndim, has-nulls flag, element type, length and lower bound of the one dimension. */
#define ARRAY_HEADER_BYTES 20u

typedef struct bin_array {
    uint8_t *data;
    size_t len, cap;
    int failed;
} bin_array;

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void array_start(bin_array *a, uint32_t elem, size_t n, size_t cap)
{
    a->cap = cap + ARRAY_HEADER_BYTES;
    a->data = malloc(a->cap);
    a->failed = a->data == NULL;
    if (a->failed)
        return;
    put_be32(a->data, 1);
    put_be32(a->data + 4, 0);
    put_be32(a->data + 8, elem);
    put_be32(a->data + 12, (uint32_t)n);
    put_be32(a->data + 16, 1);
    a->len = ARRAY_HEADER_BYTES;
}

/* One element: its length, then its bytes. */
static void array_put(bin_array *a, const void *v, size_t n)
{
    size_t need = 4 + n;
    if (a->failed || n > INT32_MAX) {
        a->failed = 1;
        return;
    }
    if (a->cap - a->len < need) {
        size_t cap = a->cap * 2;
        while (cap - a->len < need)
            cap *= 2;
        uint8_t *p = realloc(a->data, cap);
        if (p == NULL) {
            a->failed = 1;
            return;
        }
        a->data = p;
        a->cap = cap;
    }
    put_be32(a->data + a->len, (uint32_t)n);
    a->len += 4;
    memcpy(a->data + a->len, v, n);
    a->len += n;
}

int tdm_outbox_append(tdm_pg_tx *tx, const tdm_outbox_source *src, const tdm_outbox_event *events,
                      size_t n, tdm_pg_done_cb cb, void *arg)
{
    if (check_args(src, events, n) != 0) {
        tdm_log(TDM_LOG_ERROR, src != NULL ? src->request_id : NULL,
                "outbox: refused an event that breaks outbox.h's rules");
        return -1;
    }
    /* The event's time is the row's create_time, from the database's clock (the
     * transaction's now(), like every other time Tandem stores), so events of several
     * replicas whose clocks drift still compare with each other and with the resources'
     * times. The NOTIFY envelope only wakes the dispatcher: its time is the writer's
     * clock, for logs. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t create_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;

    tandem_internal_v1_EventEnvelope env = tandem_internal_v1_EventEnvelope_init_zero;
    set_field(env.tenant_id, sizeof(env.tenant_id), src->tenant_id);
    set_field(env.source_service, sizeof(env.source_service), src->service);
    set_field(env.request_id, sizeof(env.request_id), src->request_id);
    env.create_time_unix_ms = create_ms;

    /* The columns; every piece but data is from a checked charset (UUIDs, names). */
    char notify[ENVELOPE_BASE64_BYTES + 1];
    size_t data_bytes = 0;
    for (size_t i = 0; i < n; i++)
        data_bytes += strlen(events[i].data_json) + 5;
    bin_array ids, types, resources, keys, data;
    uint8_t(*new_ids)[16] = malloc(n * sizeof(*new_ids));
    if (new_ids == NULL)
        return -1;
    tdm_uuid_random(new_ids, n);
    array_start(&ids, OID_UUID, n, n * 20);
    array_start(&types, OID_TEXT, n, n * 28);
    array_start(&resources, OID_UUID, n, n * 20);
    array_start(&keys, OID_TEXT, n, n * 40);
    array_start(&data, OID_TEXT, n, data_bytes);
    bin_array *cols[5] = {&ids, &types, &resources, &keys, &data};
    for (size_t i = 0; i < n; i++) {
        const tdm_outbox_event *ev = &events[i];
        uint8_t resource[16];
        if (!tdm_uuid_parse(ev->resource_id, resource))
            ids.failed = 1;
        const char *key = ev->ordering_key != NULL ? ev->ordering_key : ev->resource_id;
        if (i == 0) { /* the NOTIFY's envelope is the first event's */
            uuid_unparse_lower(new_ids[0], env.id);
            set_field(env.type, sizeof(env.type), ev->type);
            set_field(env.resource_id, sizeof(env.resource_id), ev->resource_id);
            set_field(env.ordering_key, sizeof(env.ordering_key), key);
            if (envelope_base64(&env, notify) != 0)
                ids.failed = 1;
        }
        array_put(&ids, new_ids[i], 16);
        array_put(&types, ev->type, strlen(ev->type));
        array_put(&resources, resource, sizeof(resource));
        array_put(&keys, key, strlen(key));
        array_put(&data, ev->data_json, strlen(ev->data_json));
    }
    free(new_ids);
    int failed = 0;
    for (int c = 0; c < 5; c++)
        failed |= cols[c]->failed || cols[c]->len > INT32_MAX;
    if (failed) {
        for (int c = 0; c < 5; c++)
            free(cols[c]->data);
        return -1;
    }

    outbox_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        for (int c = 0; c < 5; c++)
            free(cols[c]->data);
        return -1;
    }
    op->cb = cb;
    op->arg = arg;
    for (int c = 0; c < 5; c++)
        op->cols[c] = cols[c]->data;
    set_field(op->tenant_id, sizeof(op->tenant_id), src->tenant_id);
    set_field(op->service, sizeof(op->service), src->service);
    set_field(op->request_id, sizeof(op->request_id), src->request_id);
    memcpy(op->notify, notify, sizeof(op->notify));
    /* The INSERT is a data-modifying CTE: it runs although the final SELECT does not
     * read it, and the NOTIFY queues with the transaction (delivered at COMMIT, dropped
     * at ROLLBACK). */
    snprintf(op->sql, sizeof(op->sql),
             "WITH ins AS ("
             " INSERT INTO %s.outbox (tenant_id, id, type, resource_id, ordering_key, payload,"
             "  source_service, request_id, create_time)"
             " SELECT $1::uuid, e.id, e.type, e.resource_id, e.ordering_key, e.data::jsonb, $2, "
             "$3, now()"
             " FROM unnest($5::uuid[], $6::text[], $7::uuid[], $8::text[], $9::text[])"
             "  WITH ORDINALITY AS e(id, type, resource_id, ordering_key, data, ord)"
             " ORDER BY e.ord) "
             "SELECT pg_notify('" TDM_OUTBOX_CHANNEL "', $4)",
             src->schema);
    const char *values[9] = {op->tenant_id, op->service, op->request_id, op->notify};
    int lengths[9] = {0};
    int formats[9] = {0};
    Oid oids[9] = {
        0, 0, 0, 0, OID_UUID_ARRAY, OID_TEXT_ARRAY, OID_UUID_ARRAY, OID_TEXT_ARRAY, OID_TEXT_ARRAY};
    for (int c = 0; c < 5; c++) {
        values[4 + c] = (const char *)cols[c]->data;
        lengths[4 + c] = (int)cols[c]->len;
        formats[4 + c] = 1;
    }
    if (tdm_pg_tx_query_params(tx, op->sql, 9, oids, values, lengths, formats, 0, outbox_done,
                               op) != 0) {
        for (int c = 0; c < 5; c++)
            free(op->cols[c]);
        free(op);
        return -1;
    }
    return 0;
}
