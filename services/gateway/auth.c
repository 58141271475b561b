/*
 * auth.c - who is calling, for which tenant, and may they: API key lookup, rate
 * limit, scope and tenancy rules (API.md "Credentials"), and the batched
 * last_used_time writes.
 *
 * Keys are looked up by the SHA-256 of the presented secret (one indexed lookup) the
 * first time this replica sees them, and verified from memory after that
 * (auth_cache.h): a change to a key reaches every replica by LISTEN/NOTIFY
 * (listen.h), so a revoked key stops working within 1 s everywhere. The stored hash is
 * compared again in constant time, so the database index is never the only judge.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_cache.h"
#include "auth_guard.h"
#include "gateway.h"
#include "keys.h"
#include "listen.h"
#include "store.h"
#include "usage.h"
#include "tandem/check.h"
#include "tandem/log.h"
#include "tandem/participant_token.h"

typedef struct auth_op {
    gw_state *gw;
    tdm_arena *arena;
    const char *request_id;
    uint64_t deadline_ms;
    const char *tenant_ref;
    gw_route_auth ra;
    gw_auth_cb cb;
    void *arg;
    uint8_t hash[GW_KEY_HASH_BYTES];
    uint64_t cache_epoch; /* the key cache's epoch when the lookup started */
    gw_cached_key key;    /* the verified key; p's strings point into it */
    gw_rl_waiter rate;    /* waiting for the key's rate limit */
    gw_principal p;
    const char *address;     /* the client's, for the failed-authentication limit */
    const gw_person *person; /* a participant token's person; NULL for an API key */
} auth_op;

static gw_store_ctx store_ctx(auth_op *op)
{
    return (gw_store_ctx){
        .pool = tdm_runtime_pg(op->gw->rt),
        .arena = op->arena,
        .request_id = op->request_id,
        .deadline_ms = op->deadline_ms,
    };
}

static void fail(auth_op *op, tdm_status *st, uint32_t retry_after_s)
{
    op->cb(op->arg, st, NULL, retry_after_s);
}

static uint64_t loop_now(const gw_state *gw)
{
    return uv_now(tdm_runtime_loop(gw->rt));
}

static tdm_status *unauthenticated(void)
{
    return tdm_status_new(TDM_UNAUTHENTICATED, "missing, invalid or revoked API key");
}

/* Missing, malformed, unknown or revoked: counted against the client's address. */
static void fail_unauthenticated(auth_op *op)
{
    gw_auth_guard_failed(op->gw->guard, op->address, loop_now(op->gw));
    fail(op, unauthenticated(), 0);
}

/* The caller may make the call: it is counted as the tenant's usage (usage.h) - the
 * tenant acted for, or a tenant key's own on a route that names none - then goes on. */
static void admitted(auth_op *op)
{
    const char *tenant = op->p.tenant_id;
    if (tenant == NULL && op->p.kind != TDM_PRINCIPAL_PLATFORM)
        tenant = op->p.key_tenant_id;
    if (tenant != NULL)
        gw_usage_count(op->gw, tenant, op->ra.scope);
    op->cb(op->arg, NULL, &op->p, 0);
}

static void tenant_resolved(void *arg, tdm_status *st, gw_tenant_row *rows, size_t n)
{
    auth_op *op = arg;
    if (st != NULL) {
        fail(op, st, 0);
        return;
    }
    if (op->p.kind != TDM_PRINCIPAL_PLATFORM) {
        /* A tenant key (or participant token) naming a tenant by slug: only its own. */
        if (n == 0 || op->p.key_tenant_id == NULL || strcmp(rows[0].id, op->p.key_tenant_id) != 0) {
            fail(op,
                 tdm_status_new(TDM_PERMISSION_DENIED,
                                "a tenant API key acts only for its own tenant"),
                 0);
            return;
        }
    } else if (n == 0) {
        fail(op, tdm_status_new(TDM_NOT_FOUND, "tenant \"%s\" not found", op->tenant_ref), 0);
        return;
    }
    op->p.tenant_id = rows[0].id;
    admitted(op);
}

static void resolve_tenant(auth_op *op)
{
    const char *ref = op->tenant_ref;
    bool named = ref != NULL && ref[0] != '\0';
    if (op->p.kind != TDM_PRINCIPAL_PLATFORM) {
        if (!named || (op->p.key_tenant_id != NULL && strcmp(ref, op->p.key_tenant_id) == 0)) {
            op->p.tenant_id = op->p.key_tenant_id;
            admitted(op);
            return;
        }
        if (tdm_uuid_valid(ref)) {
            fail(op,
                 tdm_status_new(TDM_PERMISSION_DENIED,
                                "a tenant API key acts only for its own tenant"),
                 0);
            return;
        }
    } else if (!named) {
        tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT,
                                        "a platform API key must name the tenant it acts for "
                                        "in X-Tandem-Tenant (tenant id or slug)");
        tdm_status_add_violation(st, "X-Tandem-Tenant", "required with a platform API key");
        fail(op, st, 0);
        return;
    }
    if (strlen(ref) > 200) {
        fail(op, tdm_status_new(TDM_INVALID_ARGUMENT, "X-Tandem-Tenant is too long"), 0);
        return;
    }
    gw_store_ctx c = store_ctx(op);
    int rc = gw_store_tenant_resolve(&c, ref, tenant_resolved, op);
    if (rc != 0)
        fail(op, tdm_pg_not_started(rc, "look the tenant up"), 0);
}

static void rate_decided(void *arg, bool allowed, uint32_t retry_after_s);

/* The caller's key is op->key, verified (from the database or the cache): apply its
 * rate limit, then (rate_decided) the route's scope and tenancy rules. */
static void key_verified(auth_op *op)
{
    gw_cached_key *k = &op->key;
    gw_auth_guard_verified(op->gw->guard, op->hash, loop_now(op->gw));
    op->p.key_id = k->id;
    op->p.key_tenant_id = k->tenant_id[0] != '\0' ? k->tenant_id : NULL;
    op->p.kind = k->kind;
    op->p.scopes = (k->scopes & TDM_SCOPE_ADMIN) != 0 ? GW_SCOPE_ALL : k->scopes;
    if (op->person != NULL) {
        /* A participant token acts as its person with the scopes of the calls it may
         * make, in the token's tenant; its calls count against the minting key. */
        op->p.kind = TDM_PRINCIPAL_PARTICIPANT;
        op->p.key_tenant_id = op->person->tenant_id;
        op->p.participant_id = op->person->participant_id;
        op->p.participant_programme_id = op->person->programme_id;
        op->p.scopes = GW_PERSON_SCOPES;
    }

    gw_state *gw = op->gw;
    uint32_t rps = k->rate_rps != 0 ? k->rate_rps : gw->default_rps;
    uint32_t burst = k->rate_burst != 0 ? k->rate_burst : gw->default_burst;
    gw_auth_touch(gw, k->id);
    op->rate.cb = rate_decided;
    op->rate.arg = op;
    gw_rate_limit(gw, k->id, rps, burst, &op->rate);
}

/* The key's rate limit has answered: the route's scope and tenancy rules. */
static void rate_decided(void *arg, bool allowed, uint32_t retry_after_s)
{
    auth_op *op = arg;
    gw_state *gw = op->gw;
    gw_cached_key *k = &op->key;
    if (!allowed) {
        tdm_metric_inc(gw->m_ratelimited, NULL);
        fail(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "rate limit of this API key exceeded"),
             retry_after_s);
        return;
    }
    if (op->person != NULL && (!op->ra.person || !op->ra.tenant_scoped)) {
        fail(op,
             tdm_status_new(TDM_PERMISSION_DENIED, "a participant token may not make this call"),
             0);
        return;
    }
    if (op->ra.platform_only && k->kind != 1) {
        fail(op, tdm_status_new(TDM_PERMISSION_DENIED, "this method needs a platform API key"), 0);
        return;
    }
    if (!gw_scope_allows(op->p.scopes, op->ra.scope)) {
        const char *name = gw_scope_name(op->ra.scope);
        fail(op,
             tdm_status_new(TDM_PERMISSION_DENIED, "this API key lacks the scope \"%s\"",
                            name != NULL ? name : "admin"),
             0);
        return;
    }
    if (!op->ra.tenant_scoped) {
        admitted(op);
        return;
    }
    resolve_tenant(op);
}

/* A participant token checked (participant_auth.c): k is the live key that minted
 * it. Only the calls of API.md's list, only in the token's tenant. */
static void person_verified(void *arg, tdm_status *st, const gw_person *person, const gw_key_row *k)
{
    auth_op *op = arg;
    if (st != NULL) {
        fail(op, st, 0);
        return;
    }
    if (person == NULL || strlen(k->id) >= sizeof(op->key.id)) {
        fail_unauthenticated(op);
        return;
    }
    gw_person *kept = tdm_arena_memdup(op->arena, person, sizeof(*person));
    if (kept == NULL) {
        fail(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), 0);
        return;
    }
    op->person = kept;
    gw_cached_key *c = &op->key;
    strcpy(c->id, k->id);
    strcpy(c->tenant_id, person->tenant_id);
    c->kind = k->kind;
    c->scopes = 0;
    c->rate_rps = k->rate_rps;
    c->rate_burst = k->rate_burst;
    key_verified(op);
}

static void key_found(void *arg, tdm_status *st, gw_key_row *rows, size_t n)
{
    auth_op *op = arg;
    if (st != NULL) {
        fail(op, st, 0);
        return;
    }
    if (n != 1 || !gw_key_hash_equal(rows[0].secret_hash, op->hash) || rows[0].revoke_us != 0 ||
        strlen(rows[0].id) >= sizeof(op->key.id) ||
        (rows[0].tenant_id != NULL && strlen(rows[0].tenant_id) >= sizeof(op->key.tenant_id))) {
        fail_unauthenticated(op);
        return;
    }
    gw_key_row *r = &rows[0];
    gw_cached_key *k = &op->key;
    strcpy(k->id, r->id);
    strcpy(k->tenant_id, r->tenant_id != NULL ? r->tenant_id : "");
    k->kind = r->kind;
    k->scopes = r->scopes;
    k->rate_rps = r->rate_rps;
    k->rate_burst = r->rate_burst;
    /* Kept unless a key changed (or the LISTEN was lost) while this lookup ran. */
    gw_auth_cache_put(op->gw->key_cache, op->hash, k, op->cache_epoch, loop_now(op->gw));
    key_verified(op);
}

void gw_auth_resolve_from(gw_state *gw, const char *address, tdm_arena *arena,
                          const char *request_id, uint64_t deadline_ms, const char *authorization,
                          const char *tenant_ref, const gw_route_auth *ra, gw_auth_cb cb, void *arg)
{
    auth_op *op = tdm_arena_calloc(arena, 1, sizeof(*op));
    if (op == NULL) {
        cb(arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL, 0);
        return;
    }
    op->gw = gw;
    op->arena = arena;
    op->request_id = request_id;
    op->deadline_ms = deadline_ms;
    op->tenant_ref = tenant_ref;
    op->ra = *ra;
    op->cb = cb;
    op->arg = arg;
    if (!tdm_runtime_migrated(gw->rt)) {
        /* The key directory is not there yet (start-up, or the database is away). */
        fail(op, tdm_status_new(TDM_UNAVAILABLE, "the gateway is starting; retry shortly"), 0);
        return;
    }
    /* Copied: the connection (and its text) may be gone when the lookup answers. */
    op->address = address != NULL ? tdm_arena_strdup(arena, address) : NULL;
    const char *token = NULL;
    size_t len = 0;
    bool well_formed =
        gw_bearer_token(authorization, &token, &len) && gw_key_hash(token, len, op->hash) == 0;
    /* An address past its failed-authentication limit is answered without a lookup,
     * unless its key is one this replica verified lately (a good client behind the
     * same NAT as a bad one); that key is still looked up and checked as usual. */
    uint64_t now = loop_now(gw);
    uint32_t blocked = gw_auth_guard_blocked(gw->guard, address, now);
    if (blocked > 0 &&
        !(well_formed && gw_auth_guard_recently_verified(gw->guard, op->hash, now))) {
        tdm_metric_inc(gw->m_auth_blocked, NULL);
        fail(op,
             tdm_status_new(TDM_RESOURCE_EXHAUSTED,
                            "too many failed authentications from this address; retry later"),
             blocked);
        return;
    }
    if (!well_formed) {
        fail_unauthenticated(op);
        return;
    }
    if (strncmp(token, TDM_PARTICIPANT_TOKEN_PREFIX, strlen(TDM_PARTICIPANT_TOKEN_PREFIX)) == 0) {
        /* Checked afresh on every call (participant_auth.c), never cached. */
        tdm_metric_inc(gw->m_key_lookups, NULL);
        gw_person_verify(gw, arena, request_id, deadline_ms, token, len, person_verified, op);
        return;
    }
    if (gw_auth_cache_get(gw->key_cache, op->hash, now, gw_listen_fresh_until(), &op->key)) {
        tdm_metric_inc(gw->m_key_cache_hits, NULL);
        key_verified(op);
        return;
    }
    tdm_metric_inc(gw->m_key_lookups, NULL);
    gw_store_ctx c = store_ctx(op);
    op->cache_epoch = gw_auth_cache_epoch(gw->key_cache);
    int rc = gw_store_key_by_hash(&c, op->hash, key_found, op);
    if (rc != 0)
        fail(op, tdm_pg_not_started(rc, "look the key up"), 0);
}

/* ---- last_used_time, batched ----------------------------------------------------- */

void gw_auth_touch(gw_state *gw, const char *key_id)
{
    for (size_t i = 0; i < gw->n_touched; i++) {
        if (strcmp(gw->touched[i], key_id) == 0)
            return;
    }
    if (gw->n_touched >= GW_TOUCH_MAX_PENDING || strlen(key_id) != 36)
        return;
    memcpy(gw->touched[gw->n_touched++], key_id, 37);
}

typedef struct touch_batch {
    gw_state *gw;
    tdm_arena *arena;
} touch_batch;

static void touch_done(void *arg, tdm_status *st)
{
    touch_batch *b = arg;
    if (st != NULL) {
        tdm_log_fields(TDM_LOG_WARN, NULL, "could not record key use", "error", st->message,
                       "detail", st->detail, NULL);
        tdm_status_free(st);
    }
    b->gw->touch_flushing = false;
    tdm_arena_free(b->arena);
}

static void touch_flush(uv_timer_t *timer)
{
    gw_state *gw = timer->data;
    if (gw->n_touched == 0 || gw->touch_flushing || !tdm_runtime_migrated(gw->rt))
        return;
    tdm_arena *arena = tdm_arena_new(0);
    if (arena == NULL)
        return;
    touch_batch *b = tdm_arena_calloc(arena, 1, sizeof(*b));
    const char **ids = tdm_arena_calloc(arena, gw->n_touched, sizeof(*ids));
    if (b == NULL || ids == NULL) {
        tdm_arena_free(arena);
        return;
    }
    for (size_t i = 0; i < gw->n_touched; i++)
        ids[i] = tdm_arena_strdup(arena, gw->touched[i]);
    b->gw = gw;
    b->arena = arena;
    gw_store_ctx c = {.pool = tdm_runtime_pg(gw->rt), .arena = arena};
    if (gw_store_keys_touch(&c, ids, gw->n_touched, touch_done, b) != 0) {
        tdm_arena_free(arena);
        return;
    }
    gw->touch_flushing = true;
    gw->n_touched = 0;
}

void gw_auth_start(gw_state *gw)
{
    uv_timer_init(tdm_runtime_loop(gw->rt), &gw->touch_timer);
    gw->touch_timer.data = gw;
    gw->touch_timer_open = true;
    uv_timer_start(&gw->touch_timer, touch_flush, GW_TOUCH_FLUSH_MS, GW_TOUCH_FLUSH_MS);
}

void gw_auth_stop(gw_state *gw)
{
    if (!gw->touch_timer_open)
        return;
    /* One last batch so a short-lived process still records its keys' use. */
    touch_flush(&gw->touch_timer);
    uv_timer_stop(&gw->touch_timer);
    uv_close((uv_handle_t *)&gw->touch_timer, NULL);
    gw->touch_timer_open = false;
}
