/*
 * auth_cache.c - the verified-key table (auth_cache.h).
 */
#include <stdlib.h>
#include <string.h>

#include "auth_cache.h"

typedef struct cache_slot {
    uint8_t hash[GW_AUTH_CACHE_HASH_BYTES];
    uint64_t stored_ms;
    bool used;
    gw_cached_key key;
} cache_slot;

struct gw_auth_cache {
    cache_slot *slots;
    size_t mask; /* slots - 1, a power of two minus one */
    size_t size;
    uint32_t max_age_ms;
    uint64_t epoch;
    bool enabled;
};

gw_auth_cache *gw_auth_cache_new(size_t capacity, uint32_t max_age_ms)
{
    if (capacity == 0)
        return NULL;
    size_t n = GW_AUTH_CACHE_PROBES;
    while (n < capacity && n < ((size_t)1 << 30))
        n <<= 1;
    gw_auth_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->slots = calloc(n, sizeof(*c->slots));
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    c->max_age_ms = max_age_ms;
    c->epoch = 1;
    return c;
}

void gw_auth_cache_free(gw_auth_cache *c)
{
    if (c == NULL)
        return;
    free(c->slots);
    free(c);
}

/* First slot of a hash's probe window (SHA-256 output is uniform already). */
static size_t home(const gw_auth_cache *c, const uint8_t hash[GW_AUTH_CACHE_HASH_BYTES])
{
    uint64_t h;
    memcpy(&h, hash + 8, sizeof(h));
    return (size_t)h & c->mask;
}

static cache_slot *find(gw_auth_cache *c, const uint8_t hash[GW_AUTH_CACHE_HASH_BYTES])
{
    size_t start = home(c, hash);
    for (size_t i = 0; i < GW_AUTH_CACHE_PROBES; i++) {
        cache_slot *s = &c->slots[(start + i) & c->mask];
        if (s->used && memcmp(s->hash, hash, GW_AUTH_CACHE_HASH_BYTES) == 0)
            return s;
    }
    return NULL;
}

static void drop(gw_auth_cache *c, cache_slot *s)
{
    s->used = false;
    c->size--;
}

bool gw_auth_cache_get(gw_auth_cache *c, const uint8_t hash[GW_AUTH_CACHE_HASH_BYTES],
                       uint64_t now_ms, uint64_t fresh_until, gw_cached_key *out)
{
    if (c == NULL || !c->enabled || now_ms >= fresh_until)
        return false;
    cache_slot *s = find(c, hash);
    if (s == NULL)
        return false;
    if (now_ms - s->stored_ms >= c->max_age_ms) {
        drop(c, s);
        return false;
    }
    *out = s->key;
    return true;
}

uint64_t gw_auth_cache_epoch(const gw_auth_cache *c)
{
    return c != NULL ? c->epoch : 0;
}

bool gw_auth_cache_put(gw_auth_cache *c, const uint8_t hash[GW_AUTH_CACHE_HASH_BYTES],
                       const gw_cached_key *k, uint64_t epoch, uint64_t now_ms)
{
    if (c == NULL || !c->enabled || epoch != c->epoch)
        return false;
    cache_slot *s = find(c, hash);
    if (s == NULL) {
        /* A free slot of the window, else its oldest entry. */
        size_t start = home(c, hash);
        for (size_t i = 0; i < GW_AUTH_CACHE_PROBES; i++) {
            cache_slot *t = &c->slots[(start + i) & c->mask];
            if (!t->used) {
                s = t;
                break;
            }
            if (s == NULL || t->stored_ms < s->stored_ms)
                s = t;
        }
        if (!s->used)
            c->size++;
    }
    memcpy(s->hash, hash, GW_AUTH_CACHE_HASH_BYTES);
    s->key = *k;
    s->stored_ms = now_ms;
    s->used = true;
    return true;
}

void gw_auth_cache_forget(gw_auth_cache *c, const uint8_t hash[GW_AUTH_CACHE_HASH_BYTES])
{
    if (c == NULL)
        return;
    c->epoch++;
    cache_slot *s = find(c, hash);
    if (s != NULL)
        drop(c, s);
}

void gw_auth_cache_enable(gw_auth_cache *c, bool on)
{
    if (c == NULL)
        return;
    c->epoch++;
    c->enabled = on;
    if (c->size > 0) {
        memset(c->slots, 0, (c->mask + 1) * sizeof(*c->slots));
        c->size = 0;
    }
}

size_t gw_auth_cache_size(const gw_auth_cache *c)
{
    return c != NULL ? c->size : 0;
}
