/*
 * ratelimit.h - per-key token buckets.
 *
 * Each API key has a bucket of `burst` tokens refilled at `rps` tokens a second; a
 * request takes one token or is refused with the seconds to wait (Retry-After).
 * Buckets live in one process-local table keyed by the key id, on the loop thread
 * (no locks). With N gateway replicas each enforces the limit separately, so the
 * effective limit is N times the key's; that is the usual trade for not paying a
 * database round trip per request.
 */
#ifndef TANDEM_GATEWAY_RATELIMIT_H
#define TANDEM_GATEWAY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_RATELIMIT_MAX_BUCKETS 200000 /* keys tracked at once; full buckets are evicted */

typedef struct gw_bucket {
    double tokens;
    uint64_t last_ms;
    bool started;
} gw_bucket;

/* Take one token at now_ms. True when allowed; otherwise *retry_after_s is the
 * whole number of seconds (>= 1) after which a token will be there. */
bool gw_bucket_take(gw_bucket *b, uint32_t rps, uint32_t burst, uint64_t now_ms,
                    uint32_t *retry_after_s);

typedef struct gw_ratelimiter gw_ratelimiter;

gw_ratelimiter *gw_ratelimiter_new(void);
void gw_ratelimiter_free(gw_ratelimiter *rl);

/* gw_bucket_take on the bucket of key_id (created full on first use). When the table
 * is full and nothing can be evicted the request is allowed (failing open on memory
 * pressure beats refusing every new key). */
bool gw_ratelimiter_take(gw_ratelimiter *rl, const char *key_id, uint32_t rps, uint32_t burst,
                         uint64_t now_ms, uint32_t *retry_after_s);

size_t gw_ratelimiter_size(const gw_ratelimiter *rl);

#endif
