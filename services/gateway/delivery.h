/*
 * delivery.h - the pieces of the webhook delivery worker shared between delivery.c
 * (fan-out, claims, curl) and main.c, which wakes it on LISTEN tandem_outbox (listen.h).
 * The public start/stop are in webhook.h.
 */
#ifndef TANDEM_GATEWAY_DELIVERY_H
#define TANDEM_GATEWAY_DELIVERY_H

#include <uv.h>

/* Fan out and claim now (a NOTIFY on tandem_outbox arrived, or the LISTEN connection
 * was made again and some may have been missed). The one-second tick covers any gap,
 * so this only shortens the latency. */
void gw_delivery_wake(void);

#endif
