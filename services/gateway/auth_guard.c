/*
 * auth_guard.c - failed authentications per client address (auth_guard.h): a fixed
 * window per address and a table of recently verified keys, both open-addressed
 * with a bounded probe.
 */
#include <stdlib.h>
#include <string.h>

#include "auth_guard.h"

typedef struct address_slot {
    char address[GW_GUARD_ADDRESS_BYTES]; /* "" when free */
    uint64_t window_start_ms;
    uint32_t failures;
} address_slot;

typedef struct verified_slot {
    uint8_t hash[GW_GUARD_HASH_BYTES];
    uint64_t verified_ms; /* 0 when free */
} verified_slot;

struct gw_auth_guard {
    uint32_t max_failures;
    uint32_t window_ms;
    address_slot addresses[GW_GUARD_ADDRESS_SLOTS];
    verified_slot verified[GW_GUARD_VERIFIED_SLOTS];
};

gw_auth_guard *gw_auth_guard_new(uint32_t max_failures, uint32_t window_ms)
{
    gw_auth_guard *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->max_failures = max_failures > 0 ? max_failures : GW_GUARD_FAILURES_DEFAULT;
    g->window_ms = window_ms > 0 ? window_ms : GW_GUARD_WINDOW_MS_DEFAULT;
    return g;
}

void gw_auth_guard_free(gw_auth_guard *g)
{
    free(g);
}

static uint64_t fnv1a(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static bool window_over(const gw_auth_guard *g, const address_slot *s, uint64_t now_ms)
{
    return now_ms - s->window_start_ms >= g->window_ms;
}

/* The slot of `address`, or NULL when it has none (create: take one). */
static address_slot *address_find(gw_auth_guard *g, const char *address, uint64_t now_ms,
                                  bool create)
{
    size_t len = strnlen(address, GW_GUARD_ADDRESS_BYTES - 1);
    size_t start = (size_t)(fnv1a(address, len) % GW_GUARD_ADDRESS_SLOTS);
    address_slot *free_slot = NULL, *expired = NULL, *oldest = NULL;
    for (size_t i = 0; i < GW_GUARD_PROBES; i++) {
        address_slot *s = &g->addresses[(start + i) % GW_GUARD_ADDRESS_SLOTS];
        if (s->address[0] == '\0') {
            /* Slots are never emptied, so the address is not further along. */
            free_slot = s;
            break;
        }
        if (strncmp(s->address, address, len) == 0 && s->address[len] == '\0')
            return s;
        if (expired == NULL && window_over(g, s, now_ms))
            expired = s;
        if (oldest == NULL || s->window_start_ms < oldest->window_start_ms)
            oldest = s;
    }
    address_slot *reuse = free_slot != NULL ? free_slot : expired != NULL ? expired : oldest;
    if (!create)
        return NULL;
    memcpy(reuse->address, address, len);
    reuse->address[len] = '\0';
    reuse->window_start_ms = now_ms;
    reuse->failures = 0;
    return reuse;
}

uint32_t gw_auth_guard_blocked(gw_auth_guard *g, const char *address, uint64_t now_ms)
{
    if (address == NULL || address[0] == '\0')
        return 0;
    address_slot *s = address_find(g, address, now_ms, false);
    if (s == NULL || window_over(g, s, now_ms) || s->failures < g->max_failures)
        return 0;
    uint64_t left_ms = g->window_ms - (now_ms - s->window_start_ms);
    return (uint32_t)((left_ms + 999) / 1000);
}

void gw_auth_guard_failed(gw_auth_guard *g, const char *address, uint64_t now_ms)
{
    if (address == NULL || address[0] == '\0')
        return;
    address_slot *s = address_find(g, address, now_ms, true);
    if (window_over(g, s, now_ms)) {
        s->window_start_ms = now_ms;
        s->failures = 0;
    }
    if (s->failures < UINT32_MAX)
        s->failures++;
}

static size_t verified_start(const uint8_t hash[GW_GUARD_HASH_BYTES])
{
    uint64_t h;
    memcpy(&h, hash, sizeof(h)); /* SHA-256 output: already uniform */
    return (size_t)(h % GW_GUARD_VERIFIED_SLOTS);
}

void gw_auth_guard_verified(gw_auth_guard *g, const uint8_t hash[GW_GUARD_HASH_BYTES],
                            uint64_t now_ms)
{
    size_t start = verified_start(hash);
    verified_slot *oldest = NULL;
    for (size_t i = 0; i < GW_GUARD_PROBES; i++) {
        verified_slot *s = &g->verified[(start + i) % GW_GUARD_VERIFIED_SLOTS];
        if (s->verified_ms != 0 && memcmp(s->hash, hash, GW_GUARD_HASH_BYTES) == 0) {
            s->verified_ms = now_ms;
            return;
        }
        if (oldest == NULL || s->verified_ms < oldest->verified_ms)
            oldest = s;
    }
    memcpy(oldest->hash, hash, GW_GUARD_HASH_BYTES);
    oldest->verified_ms = now_ms > 0 ? now_ms : 1;
}

bool gw_auth_guard_recently_verified(const gw_auth_guard *g,
                                     const uint8_t hash[GW_GUARD_HASH_BYTES], uint64_t now_ms)
{
    size_t start = verified_start(hash);
    for (size_t i = 0; i < GW_GUARD_PROBES; i++) {
        const verified_slot *s = &g->verified[(start + i) % GW_GUARD_VERIFIED_SLOTS];
        if (s->verified_ms != 0 && memcmp(s->hash, hash, GW_GUARD_HASH_BYTES) == 0)
            return now_ms - s->verified_ms < GW_GUARD_VERIFIED_MS;
    }
    return false;
}
