/*
 * webhook_store.h - every SQL statement of webhooks: the endpoints and deliveries of
 * WebhookService (tenant-bound transactions, RLS), and the worker's fan-out, claim,
 * load and record (migrations/002_webhooks.sql says which tables are cross-tenant
 * and why). Callbacks follow pg.h: a function returning 0 calls back exactly once;
 * rows live in the caller's arena; times are microseconds since the epoch (0: NULL).
 */
#ifndef TANDEM_GATEWAY_WEBHOOK_STORE_H
#define TANDEM_GATEWAY_WEBHOOK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct gw_webhook_row {
    const char *id;
    const char *url;
    char **events;
    size_t n_events;
    const char *description;
    int64_t create_us;
    int64_t seq;
    int state; /* 1 ACTIVE, 2 DISABLED */
} gw_webhook_row;

typedef struct gw_delivery_row {
    const char *id;
    const char *webhook_id;
    const char *event_id;
    const char *event_type;
    int attempt_count;
    int status; /* 1 PENDING, 2 SUCCEEDED, 3 FAILED */
    int last_status_code;
    const char *last_error;
    int64_t next_attempt_us, create_us, last_attempt_us;
    int64_t seq;
} gw_delivery_row;

typedef void (*gw_webhooks_cb)(void *arg, tdm_status *st, gw_webhook_row *rows, size_t n);
/* found: the webhook exists (deliveries may still be none). */
typedef void (*gw_deliveries_cb)(void *arg, tdm_status *st, bool found, gw_delivery_row *rows,
                                 size_t n);

int gw_webhook_store_create(const gw_store_ctx *c, const char *tenant_id, const char *id,
                            const char *url, char *const *events, size_t n_events,
                            const char *description, const uint8_t *sealed, size_t sealed_len,
                            gw_webhooks_cb cb, void *arg);
/* Oldest first, after seq `after` (0: from the start). */
int gw_webhook_store_list(const gw_store_ctx *c, const char *tenant_id, int64_t after, int limit,
                          gw_webhooks_cb cb, void *arg);
/* Change a webhook's url, events and description - each only when not NULL (events:
 * when n_events > 0) - and re-enable it (ACTIVE, failures forgotten). The updated
 * webhook (no row: none). */
int gw_webhook_store_update(const gw_store_ctx *c, const char *tenant_id, const char *id,
                            const char *url, char *const *events, size_t n_events,
                            const char *description, gw_webhooks_cb cb, void *arg);
/* The deleted webhook (no row: none). Its deliveries and queue entries go with it. */
int gw_webhook_store_delete(const gw_store_ctx *c, const char *tenant_id, const char *id,
                            gw_webhooks_cb cb, void *arg);
/* Newest first, before seq `before` (0: from the newest); status 0: any. */
int gw_webhook_store_deliveries(const gw_store_ctx *c, const char *tenant_id,
                                const char *webhook_id, int status, int64_t before, int limit,
                                gw_deliveries_cb cb, void *arg);

/* ---- the worker --------------------------------------------------------------------------- */

/* Fan out up to `batch` events of source's outbox past its cursor, in one
 * transaction that also moves the cursor. cb gets the number of events taken. */
typedef void (*gw_fanout_cb)(void *arg, tdm_status *st, size_t n_events);
int gw_webhook_store_fanout(tdm_pg_pool *pool, const char *source, int batch, gw_fanout_cb cb,
                            void *arg);

/* Delete up to `batch` rows of source's outbox that are behind the cursor of every
 * reader of that outbox (the fan-out's and any other service's: OUTBOX_READERS in
 * webhook_store.c) and older than retention_hours, cross-tenant, in one statement. cb
 * gets the number of rows deleted (n_events). The outbox would otherwise keep every
 * event's personal data for ever. */
int gw_webhook_store_prune(tdm_pg_pool *pool, const char *source, int retention_hours, int batch,
                           gw_fanout_cb cb, void *arg);

typedef struct gw_claim_row {
    const char *tenant_id;
    const char *delivery_id;
    const char *claim_id; /* this claim's fence: recording needs it (gw_webhook_store_record) */
} gw_claim_row;
typedef void (*gw_claims_cb)(void *arg, tdm_status *st, gw_claim_row *rows, size_t n);
/* Lease up to `limit` due deliveries for lease_ms, each under a fresh claim id:
 * round-robin across tenants (every tenant's first due delivery before any tenant's
 * second) and no tenant past `tenant_cap` leased at once, counting the leases of every
 * replica. */
int gw_webhook_store_claim(tdm_pg_pool *pool, tdm_arena *arena, int limit, int tenant_cap,
                           int lease_ms, gw_claims_cb cb, void *arg);

typedef struct gw_attempt_row {
    const char *id;
    const char *webhook_id;
    const char *event_id;
    const char *event_type;
    const char *body;
    int attempt_count;
    const char *url;
    uint8_t *sealed;
    size_t sealed_len;
} gw_attempt_row;
typedef void (*gw_attempts_cb)(void *arg, tdm_status *st, gw_attempt_row *rows, size_t n);
/* The pending deliveries among ids (a tenant's), with their endpoint. */
int gw_webhook_store_load(tdm_pg_pool *pool, tdm_arena *arena, const char *tenant_id,
                          const char *const *ids, size_t n, gw_attempts_cb cb, void *arg);

/* Record an attempt: succeeded, or failed with the next attempt delay_ms from now
 * unless that is past 24 h after the delivery was queued (then FAILED). The body is
 * cleared once it is over. The endpoint's failing_since follows (cleared on success);
 * a failure when its attempts have all failed for disable_after_hours disables it
 * (DISABLED) and gives up its pending deliveries (FAILED, dequeued). Only the holder of the claim
 * records: when the queue row no longer carries claim_id (the lease ran out and another replica
 * claimed it), nothing is written. cb gets the delivery's status afterwards (0: gone; -1: the claim
 * was not ours any more, nothing recorded). */
typedef void (*gw_record_cb)(void *arg, tdm_status *st, int status);
int gw_webhook_store_record(tdm_pg_pool *pool, tdm_arena *arena, const char *tenant_id,
                            const char *id, const char *claim_id, bool succeeded, int status_code,
                            const char *error, int64_t delay_ms, int disable_after_hours,
                            gw_record_cb cb, void *arg);

/* ErasePerson's own share of the erasure, in the tenant's transaction before the
 * gateway answers it: every delivery not yet made of an event that names an erased
 * participant (the ids of the tenant's person.erased events) or the external id (in
 * JSON, e.g. in someone else's reporting chain) is cancelled - body deleted, status
 * FAILED with the reason - and leaves the work list. The fan-out does the same when
 * it reads person.erased; this makes it true when ErasePerson answers. */
int gw_webhook_store_cancel_erased(const gw_store_ctx *c, const char *tenant_id,
                                   const char *external_id, gw_store_done_cb cb, void *arg);

#endif
