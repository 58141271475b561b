/*
 * ratelimit.c - token bucket arithmetic and the per-key bucket table (chained hash
 * table; buckets that have refilled completely carry no information and are evicted
 * when the table needs room).
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
            if (e->bucket.tokens >= e->burst) {
                *pp = e->next;
                free(e);
                rl->size--;
            } else {
                pp = &e->next;
            }
        }
    }
}

bool gw_ratelimiter_take(gw_ratelimiter *rl, const char *key_id, uint32_t rps, uint32_t burst,
                         uint64_t now_ms, uint32_t *retry_after_s)
{
    uint32_t slot = hash_key(key_id) % TABLE_SLOTS;
    entry *e = rl->slots[slot];
    while (e != NULL && strcmp(e->key_id, key_id) != 0)
        e = e->next;
    if (e == NULL) {
        if (strlen(key_id) >= sizeof(e->key_id))
            return true;
        if (rl->size >= GW_RATELIMIT_MAX_BUCKETS)
            evict_full(rl, now_ms);
        if (rl->size >= GW_RATELIMIT_MAX_BUCKETS)
            return true;
        e = calloc(1, sizeof(*e));
        if (e == NULL)
            return true;
        strcpy(e->key_id, key_id);
        e->next = rl->slots[slot];
        rl->slots[slot] = e;
        rl->size++;
    }
    /* A changed limit (the key was re-read) applies from now on. */
    e->rps = rps;
    e->burst = burst;
    return gw_bucket_take(&e->bucket, rps, burst, now_ms, retry_after_s);
}
