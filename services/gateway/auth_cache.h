/*
 * auth_cache.h - API keys verified from memory after their first lookup (API.md,
 * "Many replicas, one outcome": a revoked key stops working within 1 s on every
 * replica).
 *
 * Only keys found valid (not revoked) are kept: an unknown or revoked secret is looked
 * up again every time (the failed-authentication limit per address bounds that). The
 * table is fixed-size, open-addressed on the SHA-256 of the secret with a bounded
 * probe; when full, the oldest entry of the probe window is replaced, so memory never
 * grows with what callers send. An entry older than max_age_ms is looked up again.
 *
 * Why a hit can be trusted (auth.c wires this to listen.h):
 *   - every change to a key (revocation, scopes, limits) NOTIFYs tandem_api_keys with
 *     its secret hash in the same transaction (a trigger, migration 019), and the
 *     notification calls gw_auth_cache_forget;
 *   - the cache holds entries only while the LISTEN is in force (gw_auth_cache_enable,
 *     from the listener's up/down): losing the connection empties it;
 *   - a hit is served only while the listener is fresh (fresh_until, listen.h), so a
 *     connection that hangs without closing stops the cache within 1 s;
 *   - a lookup that was in flight while any key was forgotten or the cache emptied may
 *     have read the row before the change: its result is not stored (the epoch taken
 *     when it started no longer matches).
 *
 * On the loop thread only (no locks).
 */
#ifndef TANDEM_GATEWAY_AUTH_CACHE_H
#define TANDEM_GATEWAY_AUTH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_AUTH_CACHE_SIZE_DEFAULT 10000u  /* TANDEM_KEY_CACHE_SIZE; 0 turns the cache off */
#define GW_AUTH_CACHE_MAX_AGE_MS   300000u /* an entry is looked up again after 5 min */
#define GW_AUTH_CACHE_PROBES       16u
#define GW_AUTH_CACHE_HASH_BYTES   32u

/* What authentication needs of a key row. */
typedef struct gw_cached_key {
    char id[37];
    char tenant_id[37]; /* "" for none (the bootstrap key) */
    int kind;
    uint32_t scopes;
    uint32_t rate_rps, rate_burst;
} gw_cached_key;

typedef struct gw_auth_cache gw_auth_cache;

/* capacity entries at most (rounded up to a power of two); NULL on allocation failure
 * or capacity 0 (no cache: every call below then does nothing or misses). */
gw_auth_cache *gw_auth_cache_new(size_t capacity, uint32_t max_age_ms);
void gw_auth_cache_free(gw_auth_cache *c);

/* The key whose secret hashes to `hash`, when cached, not older than max_age_ms, and
 * now_ms < fresh_until. */
bool gw_auth_cache_get(gw_auth_cache *c, const uint8_t hash[GW_AUTH_CACHE_HASH_BYTES],
                       uint64_t now_ms, uint64_t fresh_until, gw_cached_key *out);

/* Taken when a lookup starts; passed back to gw_auth_cache_put with its result. */
uint64_t gw_auth_cache_epoch(const gw_auth_cache *c);

/* Keep a key found valid by a lookup that started at `epoch`. Refused (false) when
 * the cache is disabled or anything was forgotten or cleared since. */
bool gw_auth_cache_put(gw_auth_cache *c, const uint8_t hash[GW_AUTH_CACHE_HASH_BYTES],
                       const gw_cached_key *k, uint64_t epoch, uint64_t now_ms);

/* A key changed (a notification): drop it, and refuse the results of lookups in flight. */
void gw_auth_cache_forget(gw_auth_cache *c, const uint8_t hash[GW_AUTH_CACHE_HASH_BYTES]);

/* Drop everything and hold entries from now on (on) or not (off). */
void gw_auth_cache_enable(gw_auth_cache *c, bool on);

size_t gw_auth_cache_size(const gw_auth_cache *c);

#endif
