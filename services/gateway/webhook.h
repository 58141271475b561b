/*
 * webhook.h - WebhookService (webhook.c), its SQL (webhook_store.c), the pure
 * helpers both it and the delivery worker use (webhook_util.c: secrets, signatures,
 * URL and address rules) and the delivery worker itself (delivery*.c).
 *
 * How events reach endpoints (services/gateway/README.md "Webhooks"):
 *   1. a service writes an event to its `<schema>.outbox` in the transaction of the
 *      change and NOTIFYs tandem_outbox;
 *   2. the worker (woken by LISTEN, or every second) reads each source outbox past
 *      its cursor, only rows whose writing transaction is older than every running
 *      one (so a row can never appear behind the cursor later), and in ONE
 *      transaction inserts a delivery per matching webhook, queues it and moves
 *      the cursor: every event is fanned out exactly once;
 *   3. due deliveries are claimed from gateway.webhook_queue (a lease, FOR UPDATE
 *      SKIP LOCKED, oldest of each (webhook, ordering key) first), POSTed with
 *      libcurl on the loop, and their outcome recorded with the next attempt time;
 *      a restart or crash loses nothing, at worst an attempt is repeated.
 */
#ifndef TANDEM_GATEWAY_WEBHOOK_H
#define TANDEM_GATEWAY_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "gateway.h"
#include "tandem/arena.h"
#include "tandem/status.h"

/* "whsec_" + 43 base64url characters of 32 random bytes. */
#define GW_WEBHOOK_SECRET_PREFIX "whsec_"
#define GW_WEBHOOK_SECRET_LEN    49
#define GW_WEBHOOK_URL_MAX       2048
#define GW_WEBHOOK_EVENTS_MAX    11
#define GW_WEBHOOK_DESC_MAX      200
/* Endpoints per tenant (migrations/005_webhook_limits.sql enforces it). */
#define GW_WEBHOOKS_PER_TENANT_MAX 20
/* A sealed secret: version byte, 12-byte nonce, ciphertext, 16-byte GCM tag. */
#define GW_WEBHOOK_SEALED_MAX (1 + 12 + GW_WEBHOOK_SECRET_LEN + 16)

/* The events a webhook may subscribe to (API.md "WebhookService"). */
extern const char *const GW_WEBHOOK_EVENT_NAMES[GW_WEBHOOK_EVENTS_MAX];

/* ---- webhook_util.c (no I/O) ---------------------------------------------------- */

/* Lower-case hex of n bytes, in a; NULL when out of memory. */
char *gw_hex_encode(tdm_arena *a, const uint8_t *p, size_t n);
/* The bytes of lower-case hex text, in a (*len their count); NULL when the text is not
 * that or memory runs out. */
uint8_t *gw_hex_decode(tdm_arena *a, const char *hex, size_t *len);

/* A fresh signing secret into out (GW_WEBHOOK_SECRET_LEN + 1 bytes); 0 or -1. */
int gw_webhook_secret_generate(char *out, size_t out_size);

/* The key sealing secrets at rest: SHA-256 of `key` (TANDEM_WEBHOOK_SECRET_KEY, read
 * and checked by tdm_config_load), or none when key is NULL (secrets are then stored
 * as version 0, unencrypted; a warning says so at start). `previous`
 * (TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS, may be NULL) only opens: it is the key being
 * rotated out. */
void gw_webhook_sealing_key_load(const char *key, const char *previous);
bool gw_webhook_sealing_key_set(void);

/* Seal `secret` bound to `aad` (tenant id ':' webhook id): out gets at most
 * GW_WEBHOOK_SEALED_MAX bytes, *out_len the count. 0 or -1. */
int gw_webhook_secret_seal(const char *aad, const char *secret, uint8_t *out, size_t *out_len);
/* Open a sealed secret into out (GW_WEBHOOK_SECRET_LEN + 1 bytes). 0, or -1 when it
 * was tampered with, sealed under another key or bound to another webhook. *stale
 * (when not NULL) says whether it should be sealed again under the current key: it
 * was sealed under the previous one, or stored unencrypted before a key was set. */
int gw_webhook_secret_open(const char *aad, const uint8_t *sealed, size_t len, char *out,
                           size_t out_size, bool *stale);

/* Re-seal, at start-up, every webhook secret that gw_webhook_secret_open finds stale
 * (webhook_rotate.c): each tenant's webhooks in turn, logged when done. */
void gw_webhook_reseal_start(gw_state *gw);
/* At shutdown: a pass in progress stops after its current statement. */
void gw_webhook_reseal_stop(void);

/* Tandem-Signature: "t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>" into out
 * (at least 96 bytes). 0 or -1. */
int gw_webhook_signature(const char *secret, int64_t t, const char *body, size_t len, char *out,
                         size_t out_size);

/* True when a webhook may be sent to this address: not loopback, link-local,
 * private (RFC 1918, ULA), shared (100.64/10), unspecified, multicast, reserved or
 * documentation space, including IPv4 embedded in IPv6 (mapped, NAT64, 6to4). */
bool gw_webhook_addr_public(const struct sockaddr *sa);
/* The same for a textual literal ("10.0.0.1", "::1"); false when not a literal. */
bool gw_webhook_literal(const char *host, bool *is_public);

/* Parse and check a URL: http(s), a host, no more than GW_WEBHOOK_URL_MAX bytes;
 * http only when allow_private. *host gets the host (brackets stripped) in arena.
 * NULL or INVALID_ARGUMENT naming field "url" (webhook.url). */
tdm_status *gw_webhook_url_check(tdm_arena *a, const char *url, bool allow_private,
                                 const char **host);

/* The retry delay after `attempts` failed attempts (>= 1): base * 2^(attempts-1),
 * capped at one hour, with jitter (uniformly in [delay/2, delay]). */
int64_t gw_webhook_retry_delay_ms(int attempts, int64_t base_ms);

/* ---- webhook.c: the service --------------------------------------------------------- */

/* Run WebhookService.<method> for an authenticated caller (admin scope and the tenant
 * already checked by gw_auth_resolve_from). Always calls cb once; response in arena. */
void gw_webhook_call(gw_state *gw, const char *method, const ProtobufCMessage *request,
                     const gw_principal *p, const char *idempotency_key, const char *request_id,
                     uint64_t deadline_ms, tdm_arena *arena, gw_tenant_cb cb, void *arg);

/* Register WebhookService on the server (gRPC). */
tdm_status *gw_webhook_register(gw_state *gw);

/* ---- delivery.c: the worker ----------------------------------------------------------- */

/* How many deliveries may be in flight (API.md "The public edge": one tenant's slow
 * or dead endpoints never delay another tenant's events). */
#define GW_WEBHOOK_MAX_IN_FLIGHT_DEFAULT       64 /* per gateway replica */
#define GW_WEBHOOK_TENANT_IN_FLIGHT_DEFAULT    8  /* per tenant, over every replica */
#define GW_WEBHOOK_DISABLE_AFTER_HOURS_DEFAULT 72
typedef struct gw_delivery_limits {
    uint32_t max_in_flight;       /* TANDEM_WEBHOOK_MAX_IN_FLIGHT */
    uint32_t tenant_in_flight;    /* TANDEM_WEBHOOK_TENANT_IN_FLIGHT */
    uint32_t disable_after_hours; /* TANDEM_WEBHOOK_DISABLE_AFTER_HOURS: every attempt
                                     failed this long, the endpoint is DISABLED */
} gw_delivery_limits;

/* Start fan-out and delivery on the runtime's loop (curl, timers, LISTEN). */
tdm_status *gw_delivery_start(gw_state *gw, const gw_delivery_limits *limits);
/* Stop taking work, abandon attempts in flight (their leases expire and they are
 * tried again, by this or another gateway), close every handle. */
void gw_delivery_stop(void);

#endif
