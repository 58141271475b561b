/*
 * auth_guard.h - failed authentications per client address (API.md "The public
 * edge").
 *
 * Each address may fail `max_failures` times (missing, malformed, unknown or revoked
 * key) in a window of `window_ms`; past that, until the window ends, its requests
 * are refused (429 with Retry-After) before any key lookup - except those whose key
 * this replica has verified in the last GW_GUARD_VERIFIED_MS, so a neighbour behind
 * the same NAT that misbehaves cannot lock out a client with a good key (such
 * requests are still checked as usual).
 *
 * Both tables are fixed-size and live on the loop thread (no locks). When the address
 * table is full an expired window is reused, else the oldest window is evicted: an
 * attacker spraying addresses can at worst reset other addresses' counts, never make
 * the gateway allocate.
 */
#ifndef TANDEM_GATEWAY_AUTH_GUARD_H
#define TANDEM_GATEWAY_AUTH_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_GUARD_FAILURES_DEFAULT  20u
#define GW_GUARD_WINDOW_MS_DEFAULT 10000u
#define GW_GUARD_ADDRESS_SLOTS     8192u /* addresses tracked at once */
#define GW_GUARD_VERIFIED_SLOTS    4096u /* keys remembered as verified */
#define GW_GUARD_VERIFIED_MS       60000u
#define GW_GUARD_PROBES            16u /* slots looked at per lookup (open addressing) */
#define GW_GUARD_ADDRESS_BYTES     48u
#define GW_GUARD_HASH_BYTES        32u

typedef struct gw_auth_guard gw_auth_guard;

gw_auth_guard *gw_auth_guard_new(uint32_t max_failures, uint32_t window_ms);
void gw_auth_guard_free(gw_auth_guard *g);

/* 0 when `address` may try to authenticate at now_ms, else the whole seconds (>= 1)
 * until its window ends. */
uint32_t gw_auth_guard_blocked(gw_auth_guard *g, const char *address, uint64_t now_ms);
/* An authentication from `address` failed. */
void gw_auth_guard_failed(gw_auth_guard *g, const char *address, uint64_t now_ms);
/* A key (the SHA-256 of its secret) was verified by this replica. */
void gw_auth_guard_verified(gw_auth_guard *g, const uint8_t hash[GW_GUARD_HASH_BYTES],
                            uint64_t now_ms);
/* Whether that key was verified within the last GW_GUARD_VERIFIED_MS. */
bool gw_auth_guard_recently_verified(const gw_auth_guard *g,
                                     const uint8_t hash[GW_GUARD_HASH_BYTES], uint64_t now_ms);

#endif
