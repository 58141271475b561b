/*
 * outbox.c - append events to a service's outbox and NOTIFY, in the caller's
 * transaction (see include/tandem/outbox.h).
 *
 * All the events of one call travel as ONE jsonb parameter - an array of
 * {"id", "type", "resource_id", "ordering_key", "data"} - so a batch of 10,000 events
 * is one statement and one round trip: the INSERT reads the array in order (seq
 * follows it) and the same statement calls pg_notify once, with the envelope of the
 * first event. The NOTIFY is a wake-up: the dispatcher reads the rows, never the
 * payload, so one per call wakes it as well as one per event did - and 10,000
 * distinct payloads cost PostgreSQL 10,000 queue entries and the listener 10,000
 * messages to drain.
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

#include "tandem/internal/v1/event.pb.h"
#include "tandem/json.h"
#include "tandem/log.h"

/* PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
#define NOTIFY_PAYLOAD_LIMIT  8000
#define ENVELOPE_BASE64_BYTES (4 * ((tandem_internal_v1_EventEnvelope_size + 2) / 3))
_Static_assert(ENVELOPE_BASE64_BYTES < NOTIFY_PAYLOAD_LIMIT,
               "the base64 EventEnvelope must fit a NOTIFY payload");

#define OUTBOX_SQL_MAX 2048

typedef struct outbox_op {
    tdm_pg_done_cb cb;
    void *arg;
    char *doc; /* the jsonb parameter */
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

static int uuid_ok(const char *s)
{
    uuid_t u;
    return s != NULL && strlen(s) == 36 && uuid_parse(s, u) == 0;
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
    free(op->doc);
    free(op);
    cb(cb_arg, st);
}

static int check_args(const tdm_outbox_source *src, const tdm_outbox_event *events, size_t n)
{
    if (src == NULL || !schema_ok(src->schema) || !uuid_ok(src->tenant_id) ||
        !charset_ok(src->service, 32, "_-") ||
        (src->request_id != NULL && strlen(src->request_id) > 64) || n == 0 ||
        n > TDM_OUTBOX_MAX_EVENTS) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const tdm_outbox_event *ev = &events[i];
        if (!charset_ok(ev->type, TDM_OUTBOX_MAX_TYPE_BYTES, "_.") || !uuid_ok(ev->resource_id) ||
            (ev->ordering_key != NULL &&
             !charset_ok(ev->ordering_key, TDM_OUTBOX_MAX_ORDERING_KEY_BYTES,
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ._:-")) ||
            ev->data_json == NULL || ev->data_json[0] != '{') {
            return -1;
        }
    }
    return 0;
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

    /* Every piece written below is from a checked charset (UUIDs, names), so it needs
     * no JSON escaping; data_json is the caller's JSON object. */
    char notify[ENVELOPE_BASE64_BYTES + 1];
    tdm_json_writer doc = {0};
    tdm_json_writer_raw(&doc, "[", 1);
    for (size_t i = 0; i < n; i++) {
        const tdm_outbox_event *ev = &events[i];
        uuid_t id;
        uuid_generate(id);
        uuid_unparse_lower(id, env.id);
        set_field(env.type, sizeof(env.type), ev->type);
        set_field(env.resource_id, sizeof(env.resource_id), ev->resource_id);
        set_field(env.ordering_key, sizeof(env.ordering_key),
                  ev->ordering_key != NULL ? ev->ordering_key : ev->resource_id);
        if (i == 0 && envelope_base64(&env, notify) != 0) {
            free(tdm_json_writer_take(&doc, NULL));
            return -1;
        }
        char head[512];
        int head_len =
            snprintf(head, sizeof(head),
                     "%s{\"id\":\"%s\",\"type\":\"%s\",\"resource_id\":\"%s\","
                     "\"ordering_key\":\"%s\",\"data\":",
                     i > 0 ? "," : "", env.id, env.type, env.resource_id, env.ordering_key);
        if (head_len < 0 || (size_t)head_len >= sizeof(head)) {
            free(tdm_json_writer_take(&doc, NULL));
            return -1;
        }
        tdm_json_writer_raw(&doc, head, (size_t)head_len);
        tdm_json_writer_raw(&doc, ev->data_json, strlen(ev->data_json));
        tdm_json_writer_raw(&doc, "}", 1);
    }
    tdm_json_writer_raw(&doc, "]", 1);
    char *text = tdm_json_writer_take(&doc, NULL);
    if (text == NULL)
        return -1;

    outbox_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        free(text);
        return -1;
    }
    op->cb = cb;
    op->arg = arg;
    op->doc = text;
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
             " SELECT $2::uuid, (e->>'id')::uuid, e->>'type', (e->>'resource_id')::uuid,"
             "  e->>'ordering_key', e->'data', $3, $4, now()"
             " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, ord) ORDER BY ord) "
             "SELECT pg_notify('" TDM_OUTBOX_CHANNEL "', $5)",
             src->schema);
    const char *values[5] = {op->doc, op->tenant_id, op->service, op->request_id, op->notify};
    if (tdm_pg_tx_query(tx, op->sql, 5, values, outbox_done, op) != 0) {
        free(op->doc);
        free(op);
        return -1;
    }
    return 0;
}
