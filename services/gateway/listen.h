/*
 * listen.h - the gateway's LISTEN connection: one libpq connection of its own, on the
 * loop, LISTENing on every channel the gateway follows (the pool's connections are
 * leased per transaction and cannot hold a LISTEN). One connection for all channels
 * keeps the gateway's connection budget at the pool's size plus one.
 *
 * Channels and what follows them:
 *   tandem_outbox    the webhook worker (delivery.c) fans out and claims at once;
 *   tandem_api_keys  the key cache (auth_cache.h) forgets the key whose secret hash
 *                    the payload names (revoked or changed).
 *
 * Freshness: while listening, the connection sends a tiny query (SELECT 1) every
 * GW_LISTEN_PING_MS. PostgreSQL sends a session every notification signalled before
 * it goes idle ahead of its ReadyForQuery, so when the answer to a ping sent at loop
 * time s arrives, every NOTIFY committed before s has been received and handled.
 * gw_listen_fresh_until() is then s + GW_LISTEN_FRESH_MS: until that time whoever
 * relies on notifications (the key cache) may trust what it holds; past it (a
 * connection that hangs without closing, a server too slow to answer) it must not.
 *
 * A lost connection calls every handler's `down` at once and is connected again after
 * GW_LISTEN_RECONNECT_MS; `up` is called when the LISTENs are in force again, before
 * the first ping after them is sent.
 */
#ifndef TANDEM_GATEWAY_LISTEN_H
#define TANDEM_GATEWAY_LISTEN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define GW_LISTEN_PING_MS      200
#define GW_LISTEN_FRESH_MS     800 /* < 1 s: the revocation contract, with room for the loop */
#define GW_LISTEN_RECONNECT_MS 1000
#define GW_LISTEN_MAX_CHANNELS 4

typedef struct gw_listen_handler {
    const char *channel;                            /* a fixed identifier, e.g. "tandem_outbox" */
    void (*notify)(void *arg, const char *payload); /* each notification on the channel */
    void (*up)(void *arg);   /* LISTEN in force (after each connect); may be NULL */
    void (*down)(void *arg); /* the connection was lost; may be NULL */
    void *arg;
} gw_listen_handler;

/* Connect (conninfo: TANDEM_DATABASE_URL) and LISTEN on each handler's channel; the
 * handlers are copied (at most GW_LISTEN_MAX_CHANNELS). */
void gw_listen_start(uv_loop_t *loop, const char *conninfo, const gw_listen_handler *handlers,
                     size_t n);
/* Close the connection; `down` is called once more. */
void gw_listen_stop(void);
/* Loop time (uv_now) until which every notification committed up to a moment ago has
 * been handled (see top); 0 before the first answered ping and after the connection
 * is lost. */
uint64_t gw_listen_fresh_until(void);

#endif
