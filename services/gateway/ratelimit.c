/*
 * ratelimit.c - token bucket arithmetic and the per-key table (chained hash table;
 * entries that carry no information - a bucket refilled completely, no lease in flight
 * and nobody waiting - are evicted when the table needs room), with the shared mode's
 * accounting of leased tokens (ratelimit.h).
 */
#include "ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_SLOTS 4096u /* chains; grows no further, chains stay short for our key counts */

typedef struct entry {
    struct entry *next;
    gw_bucket bucket;
    uint32_t rps, burst;
    char key_id[40];
    /* Shared mode: tokens leased and not yet spent (until local_expire_ms), the lease
     * in flight and who waits for it, the database bucket empty until empty_until_ms,
     * this replica's own bucket used until fallback_until_ms. */
    double local;
    uint64_t local_expire_ms, empty_until_ms, fallback_until_ms;
    bool leasing;
    gw_rl_waiter *waiters, **waiters_tail;
} entry;

struct gw_ratelimiter {
    entry *slots[TABLE_SLOTS];
    size_t size;
};

static void refill(gw_bucket *b, uint32_t rps, uint32_t burst, uint64_t now_ms)
{
    if (!b->started) {
        b->tokens = burst;
        b->last_ms = now_ms;
        b->started = true;
        return;
    }
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rps / 1000.0;
        b->last_ms = now_ms;
    }
    if (b->tokens > burst)
        b->tokens = burst;
}

bool gw_bucket_take(gw_bucket *b, uint32_t rps, uint32_t burst, uint64_t now_ms,
                    uint32_t *retry_after_s)
{
    if (rps == 0)
        rps = 1;
    if (burst == 0)
        burst = 1;
    refill(b, rps, burst, now_ms);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    double wait_s = (1.0 - b->tokens) / rps;
    double whole = ceil(wait_s);
    *retry_after_s = whole < 1.0 ? 1u : (uint32_t)whole;
    return false;
}

static uint32_t hash_key(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 16777619u;
    }
    return h;
}

gw_ratelimiter *gw_ratelimiter_new(void)
{
    return calloc(1, sizeof(gw_ratelimiter));
}

void gw_ratelimiter_free(gw_ratelimiter *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < TABLE_SLOTS; i++) {
        entry *e = rl->slots[i];
        while (e != NULL) {
            entry *next = e->next;
            free(e);
            e = next;
        }
    }
    free(rl);
}

size_t gw_ratelimiter_size(const gw_ratelimiter *rl)
{
    return rl->size;
}

/* Drop buckets that are full again at now_ms: forgetting them changes nothing. */
static void evict_full(gw_ratelimiter *rl, uint64_t now_ms)
{
    for (size_t i = 0; i < TABLE_SLOTS; i++) {
        entry **pp = &rl->slots[i];
        while (*pp != NULL) {
            entry *e = *pp;
            refill(&e->bucket, e->rps, e->burst, now_ms);
            if (e->bucket.tokens >= e->burst && !e->leasing && e->waiters == NULL &&
                now_ms >= e->empty_until_ms) {
                *pp = e->next;
                free(e);
                rl->size--;
            } else {
                pp = &e->next;
            }
        }
    }
}

/* The entry of key_id, created when missing; NULL when it cannot be (then allow). */
static entry *entry_of(gw_ratelimiter *rl, const char *key_id, uint64_t now_ms)
{
    uint32_t slot = hash_key(key_id) % TABLE_SLOTS;
    entry *e = rl->slots[slot];
    while (e != NULL && strcmp(e->key_id, key_id) != 0)
        e = e->next;
    if (e != NULL)
        return e;
    if (strlen(key_id) >= sizeof(e->key_id))
        return NULL;
    if (rl->size >= GW_RATELIMIT_MAX_BUCKETS)
        evict_full(rl, now_ms);
    if (rl->size >= GW_RATELIMIT_MAX_BUCKETS)
        return NULL;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    strcpy(e->key_id, key_id);
    e->waiters_tail = &e->waiters;
    e->next = rl->slots[slot];
    rl->slots[slot] = e;
    rl->size++;
    return e;
}

bool gw_ratelimiter_take(gw_ratelimiter *rl, const char *key_id, uint32_t rps, uint32_t burst,
                         uint64_t now_ms, uint32_t *retry_after_s)
{
    entry *e = entry_of(rl, key_id, now_ms);
    if (e == NULL)
        return true;
    /* A changed limit (the key was re-read) applies from now on. */
    e->rps = rps;
    e->burst = burst;
    return gw_bucket_take(&e->bucket, rps, burst, now_ms, retry_after_s);
}

/* ---- shared mode ----------------------------------------------------------------------- */

static uint32_t batch_of(const entry *e)
{
    double want = ceil((double)e->rps * GW_RL_LEASE_MS / 1000.0);
    uint32_t cap = e->burst < GW_RL_LEASE_MAX ? e->burst : GW_RL_LEASE_MAX;
    if (want > cap)
        want = cap;
    return want < 1.0 ? 1u : (uint32_t)want;
}

static uint32_t seconds_until(uint64_t until_ms, uint64_t now_ms)
{
    uint64_t left = until_ms > now_ms ? until_ms - now_ms : 0;
    uint32_t s = (uint32_t)((left + 999) / 1000);
    return s < 1 ? 1u : s;
}

gw_rl_verdict gw_ratelimiter_take_shared(gw_ratelimiter *rl, const char *key_id, uint32_t rps,
                                         uint32_t burst, uint64_t now_ms, gw_rl_waiter *w,
                                         uint32_t *retry_after_s, uint32_t *lease)
{
    *lease = 0;
    entry *e = entry_of(rl, key_id, now_ms);
    if (e == NULL)
        return GW_RL_ALLOWED;
    e->rps = rps != 0 ? rps : 1;
    e->burst = burst != 0 ? burst : 1;
    if (now_ms < e->fallback_until_ms)
        return gw_bucket_take(&e->bucket, rps, burst, now_ms, retry_after_s) ? GW_RL_ALLOWED
                                                                             : GW_RL_REFUSED;
    if (now_ms >= e->local_expire_ms)
        e->local = 0;
    uint32_t batch = batch_of(e);
    gw_rl_verdict v;
    if (e->local >= 1.0) {
        e->local -= 1.0;
        v = GW_RL_ALLOWED;
    } else if (!e->leasing && now_ms < e->empty_until_ms) {
        *retry_after_s = seconds_until(e->empty_until_ms, now_ms);
        return GW_RL_REFUSED;
    } else {
        w->next = NULL;
        *e->waiters_tail = w;
        e->waiters_tail = &w->next;
        v = GW_RL_QUEUED;
    }
    /* The next batch while half of this one is left, unless the bucket is empty. */
    if (!e->leasing && now_ms >= e->empty_until_ms && e->local < batch / 2.0 + 1.0) {
        e->leasing = true;
        *lease = batch;
    }
    return v;
}

void gw_ratelimiter_leased(gw_ratelimiter *rl, const char *key_id, bool ok, uint32_t granted,
                           uint32_t wait_ms, uint64_t now_ms)
{
    uint32_t slot = hash_key(key_id) % TABLE_SLOTS;
    entry *e = rl->slots[slot];
    while (e != NULL && strcmp(e->key_id, key_id) != 0)
        e = e->next;
    if (e == NULL)
        return;
    e->leasing = false;
    if (!ok) {
        e->fallback_until_ms = now_ms + GW_RL_FALLBACK_MS;
    } else {
        if (now_ms >= e->local_expire_ms)
            e->local = 0;
        e->local += granted;
        e->local_expire_ms = now_ms + GW_RL_LEASE_TTL_MS;
        if (granted == 0)
            e->empty_until_ms =
                now_ms + (wait_ms > GW_RL_MIN_WAIT_MS ? wait_ms : GW_RL_MIN_WAIT_MS);
    }
    /* Detach the waiters first: a callback may come back here for the same key. */
    gw_rl_waiter *w = e->waiters;
    e->waiters = NULL;
    e->waiters_tail = &e->waiters;
    while (w != NULL) {
        gw_rl_waiter *next = w->next;
        uint32_t retry = 0;
        bool allowed;
        if (!ok) {
            allowed = gw_bucket_take(&e->bucket, e->rps, e->burst, now_ms, &retry);
        } else if (e->local >= 1.0) {
            e->local -= 1.0;
            allowed = true;
        } else {
            allowed = false;
            retry = seconds_until(e->empty_until_ms, now_ms);
        }
        w->cb(w->arg, allowed, retry);
        w = next;
    }
}
