/*
 * delivery.h - the pieces of the webhook delivery worker shared between delivery.c
 * (fan-out, claims, curl) and delivery_listen.c (LISTEN tandem_outbox). The public
 * start/stop are in webhook.h.
 */
#ifndef TANDEM_GATEWAY_DELIVERY_H
#define TANDEM_GATEWAY_DELIVERY_H

#include <uv.h>

/* Fan out and claim now (a NOTIFY arrived). */
void gw_delivery_wake(void);

/* A libpq connection of its own, on the loop, that LISTENs on tandem_outbox and calls
 * gw_delivery_wake() on each notification batch; reconnects after failures. The
 * one-second tick covers any gap, so this only shortens the latency. */
void gw_delivery_listen_start(uv_loop_t *loop, const char *conninfo);
void gw_delivery_listen_stop(void);

#endif
