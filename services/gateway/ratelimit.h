/*
 * ratelimit.h - per-key token buckets, per replica or shared by every replica.
 *
 * Each API key has a bucket of `burst` tokens refilled at `rps` tokens a second; a
 * request takes one token or is refused with the seconds to wait (Retry-After).
 * State lives in one process-local table keyed by the key id, on the loop thread (no
 * locks). Two modes (TANDEM_RATE_LIMIT_MODE):
 *
 *   replica  the bucket is in this process (gw_ratelimiter_take): with N gateway
 *            replicas the effective limit is N times the key's. For a single gateway.
 *   shared   (default) the bucket is a row per key in PostgreSQL
 *            (gateway.rate_limits, auth_ratelimit.c); each replica leases tokens from
 *            it in batches of about GW_RL_LEASE_MS of the key's rate and spends them
 *            from memory (gw_ratelimiter_take_shared). The next batch is leased when
 *            half of one is left, so a key with steady traffic never waits for the
 *            database; a request finds no token only on a key's first use on this
 *            replica or when the key has used up its limit, and then waits for the
 *            lease in flight. The database bucket grants no more than burst + rps *
 *            elapsed in all, whichever replica asks, so the limit holds across
 *            replicas; what a replica holds unused is at most one batch, dropped after
 *            GW_RL_LEASE_TTL_MS. When the database says the bucket is empty, requests
 *            are refused from memory until it will have a token again. When a lease
 *            fails (database unreachable), the key falls back to this replica's own
 *            bucket for GW_RL_FALLBACK_MS.
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

/* ---- shared mode --------------------------------------------------------------------- */

#define GW_RL_LEASE_MS     50   /* a batch is this many ms of the key's rate... */
#define GW_RL_LEASE_MAX    1000 /* ...and never more tokens than this, or than burst */
#define GW_RL_LEASE_TTL_MS 1000 /* leased tokens unused this long are dropped */
#define GW_RL_FALLBACK_MS  1000 /* after a failed lease: this replica's own bucket */
#define GW_RL_MIN_WAIT_MS  5    /* an empty bucket is asked again no sooner than this */

/* A request waiting for the lease in flight (lives with the request). */
typedef struct gw_rl_waiter {
    struct gw_rl_waiter *next;
    void (*cb)(void *arg, bool allowed, uint32_t retry_after_s);
    void *arg;
} gw_rl_waiter;

typedef enum gw_rl_verdict { GW_RL_ALLOWED, GW_RL_REFUSED, GW_RL_QUEUED } gw_rl_verdict;

/* One request of key_id at now_ms. ALLOWED or REFUSED (*retry_after_s set): decided
 * from memory. QUEUED: w's callback will be called by gw_ratelimiter_leased. Either
 * way, *lease > 0 asks the caller to lease that many tokens for key_id now and report
 * with gw_ratelimiter_leased (at most one lease per key is in flight). */
gw_rl_verdict gw_ratelimiter_take_shared(gw_ratelimiter *rl, const char *key_id, uint32_t rps,
                                         uint32_t burst, uint64_t now_ms, gw_rl_waiter *w,
                                         uint32_t *retry_after_s, uint32_t *lease);

/* The lease of key_id ended: ok with `granted` tokens (0: the bucket was empty and will
 * have a token in wait_ms), or failed (!ok). Answers the waiting requests. */
void gw_ratelimiter_leased(gw_ratelimiter *rl, const char *key_id, bool ok, uint32_t granted,
                           uint32_t wait_ms, uint64_t now_ms);

#endif
