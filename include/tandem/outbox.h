/*
 * outbox.h - events written in the same transaction as the change that causes them.
 *
 * A service that changes a resource appends the event (e.g. "participant.enrolled")
 * to its schema's `outbox` table inside the transaction that makes the change, and
 * in the same statement calls pg_notify('tandem_outbox', <base64 EventEnvelope>)
 * once per append, whatever the number of events. Both are transactional: the rows
 * and the notification exist iff the change commits, so no event is lost and none is
 * invented. The dispatcher (the gateway) LISTENs on TDM_OUTBOX_CHANNEL to wake up,
 * and reads rows in `seq` order: a notification means "the outbox has new rows",
 * never "this one event", so no listener may rely on one payload per event.
 *
 * The row holds the webhook body's `data` (the resource in proto3 JSON under its
 * name, e.g. {"participant": {...}}); the NOTIFY payload is only the nanopb-encoded
 * tandem.internal.v1.EventEnvelope of the append's first event, whose maximum size is
 * proven at compile time to fit PostgreSQL's 8000-byte NOTIFY limit once
 * base64-encoded.
 *
 * The table (in the service's schema; copy it into your migration):
 *
 *     CREATE TABLE outbox (
 *         tenant_id uuid NOT NULL, id uuid NOT NULL, seq bigserial NOT NULL,
 *         type text NOT NULL, resource_id uuid NOT NULL, ordering_key text NOT NULL,
 *         payload jsonb NOT NULL, source_service text NOT NULL,
 *         request_id text NOT NULL DEFAULT '', create_time timestamptz NOT NULL,
 *         PRIMARY KEY (tenant_id, id));
 *     CREATE INDEX outbox_order ON outbox (seq);
 *     + ENABLE/FORCE ROW LEVEL SECURITY and the tenant_isolation policy;
 *     the service role needs INSERT (and USAGE on the seq sequence).
 */
#ifndef TANDEM_OUTBOX_H
#define TANDEM_OUTBOX_H

#include <stddef.h>

#include "tandem/pg.h"

/* The channel every service NOTIFYs on. */
#define TDM_OUTBOX_CHANNEL "tandem_outbox"
/* Longest event type and ordering key (EventEnvelope bounds). */
#define TDM_OUTBOX_MAX_TYPE_BYTES         64u
#define TDM_OUTBOX_MAX_ORDERING_KEY_BYTES 64u
/* Most events appended by one call (a BatchEnrol of 10,000 rows fits). */
#define TDM_OUTBOX_MAX_EVENTS 10000u

/* Where the events come from; shared by every event of one append. */
typedef struct tdm_outbox_source {
    const char *schema;     /* the service's schema, a trusted identifier ("enrolment") */
    const char *service;    /* "enrolment" (EventEnvelope.source_service, <= 32 bytes) */
    const char *tenant_id;  /* UUID text; must equal the transaction's tenant (RLS) */
    const char *request_id; /* the causing call's request id, <= 64 bytes; may be NULL */
} tdm_outbox_source;

typedef struct tdm_outbox_event {
    const char *type;         /* "participant.enrolled": [a-z_.], <= 64 bytes */
    const char *resource_id;  /* UUID of the resource concerned */
    const char *ordering_key; /* events with one key are delivered in order; NULL:
                                 resource_id. [A-Za-z0-9._:-], <= 64 bytes */
    const char *data_json;    /* the webhook body's `data`: a JSON object, e.g.
                                 {"participant":{...}} (tdm_json_encode of the resource) */
} tdm_outbox_event;

/*
 * Append n events (1..TDM_OUTBOX_MAX_EVENTS) in tx with one statement; each gets a
 * new UUID and the same create_time, the database's now() (not this process's
 * clock, which may drift from other replicas'). cb gets NULL or the statement's error (the
 * transaction is then aborted). Returns non-zero, without calling cb, when an
 * argument breaks the rules above (logged) or memory runs out.
 */
int tdm_outbox_append(tdm_pg_tx *tx, const tdm_outbox_source *src, const tdm_outbox_event *events,
                      size_t n, tdm_pg_done_cb cb, void *arg);

#endif
