/*
 * usage.c - a tenant's monthly usage at the gateway (docs/operations.md "Usage").
 *
 * API calls: every call admitted for a tenant (authenticated, within its rate limit,
 * scope and tenancy checked) is counted here in memory by (tenant, month, scope) and
 * the counts are added to gateway.usage_api_calls every TANDEM_USAGE_FLUSH_MS and on
 * SIGTERM, by an additive upsert: replicas add to the same rows, so none overwrites
 * another and no call is counted twice. A flush that fails puts its counts back to go
 * with the next one, so a database outage loses nothing; what a replica that dies
 * without SIGTERM (SIGKILL, a crash, the node lost) loses is the calls it admitted
 * since its last flush - at most one flush interval of its traffic.
 *
 * GetTenantUsage and ListUsage: the month's figures of each tenant, gathered from
 * that table and, over tandem.internal.v1.UsageService, from the services that count
 * them in their own schemas: enrolment (active participants), matching (active
 * matches), feedback (check-ins). Each service is called with the tenant's context
 * and only its own read scope.
 */
#include "usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "keys.h"
#include "tandem/check.h"
#include "tandem/internal/v1/usage.pb-c.h"
#include "tandem/log.h"
#include "tandem/page_token.h"
#include "tandem/rpc_client.h"
#include "tandem/usage.h"

#define USAGE_TABLE_SLOTS     (GW_USAGE_MAX_PENDING * 2) /* open addressing, at most half full */
#define USAGE_CALL_TIMEOUT_MS 10000 /* a service's answer, when the caller set no deadline */
#define USAGE_PEERS           3
#define USAGE_COUNTS_PATH     "/tandem.internal.v1.UsageService/GetUsageCounts"

_Static_assert((USAGE_TABLE_SLOTS & (USAGE_TABLE_SLOTS - 1)) == 0, "a power of two");

/* ---- counting ------------------------------------------------------------------------- */

typedef struct usage_slot {
    char tenant_id[37]; /* "" when the slot is free */
    int month;          /* year * 12 + month - 1 */
    uint32_t scope;
    int64_t count;
} usage_slot;

static struct {
    usage_slot *slots; /* USAGE_TABLE_SLOTS of them, NULL until started */
    size_t used;
    uint64_t dropped; /* calls not counted since the last flush: the table was full */
    bool flushing;    /* a flush is in flight */
    bool stopping;    /* gw_usage_stop: the runtime is held until the last flush */
    bool last_sent;   /* the flush in flight is that last one */
    bool timer_open;
    uv_timer_t timer;
    gw_state *gw;
} COUNTS;

static int month_now(void)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static uint32_t slot_hash(const char *tenant_id, int month, uint32_t scope)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *c = tenant_id; *c != '\0'; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    h = (h ^ (uint32_t)month) * 16777619u;
    return (h ^ scope) * 16777619u;
}

/* Add n calls to (tenant, month, scope); false when the table is full. */
static bool slot_add(const char *tenant_id, int month, uint32_t scope, int64_t n)
{
    size_t i = slot_hash(tenant_id, month, scope) & (USAGE_TABLE_SLOTS - 1);
    for (;;) {
        usage_slot *s = &COUNTS.slots[i];
        if (s->tenant_id[0] == '\0') {
            if (COUNTS.used >= GW_USAGE_MAX_PENDING)
                return false;
            memcpy(s->tenant_id, tenant_id, 37);
            s->month = month;
            s->scope = scope;
            s->count = n;
            COUNTS.used++;
            return true;
        }
        if (s->month == month && s->scope == scope && strcmp(s->tenant_id, tenant_id) == 0) {
            s->count += n;
            return true;
        }
        i = (i + 1) & (USAGE_TABLE_SLOTS - 1);
    }
}

void gw_usage_count(gw_state *gw, const char *tenant_id, uint32_t scope)
{
    (void)gw;
    if (COUNTS.slots == NULL || tenant_id == NULL || strlen(tenant_id) != 36)
        return;
    if (!slot_add(tenant_id, month_now(), scope, 1))
        COUNTS.dropped++;
}

static const char *scope_label(uint32_t scope)
{
    if (scope == 0)
        return "any";
    const char *name = gw_scope_name(scope);
    return name != NULL ? name : "admin";
}

/* ---- flushing ------------------------------------------------------------------------- */

/*
 * One flush at a time. At shutdown (gw_usage_stop) the runtime is held until a last
 * flush has written what is left: when a periodic flush is still in flight, the last
 * one starts once it has finished (a failed one puts its counts back first), so
 * nothing counted before SIGTERM is left behind while the database answers. The
 * table is freed after that last flush.
 */

typedef struct flush_batch {
    tdm_arena *arena;
    usage_slot *taken; /* the counts sent, put back if the statement fails */
    size_t n;
} flush_batch;

static void flush(void);

/* After stopping: the last flush is done (or there was nothing to send). */
static void stopped(void)
{
    if (COUNTS.used > 0 || COUNTS.dropped > 0) {
        char n[24];
        uint64_t calls = COUNTS.dropped;
        for (size_t i = 0; i < USAGE_TABLE_SLOTS; i++)
            calls += (uint64_t)COUNTS.slots[i].count;
        snprintf(n, sizeof(n), "%llu", (unsigned long long)calls);
        tdm_log_fields(TDM_LOG_ERROR, NULL, "API calls not recorded at shutdown", "calls", n, NULL);
    }
    free(COUNTS.slots);
    COUNTS.slots = NULL;
    COUNTS.used = 0;
    tdm_runtime_unhold(COUNTS.gw->rt);
}

static void flushed(void *arg, tdm_status *st)
{
    flush_batch *b = arg;
    bool failed = st != NULL;
    if (failed) {
        for (size_t i = 0; i < b->n; i++) {
            if (!slot_add(b->taken[i].tenant_id, b->taken[i].month, b->taken[i].scope,
                          b->taken[i].count))
                COUNTS.dropped += (uint64_t)b->taken[i].count;
        }
        tdm_log_fields(TDM_LOG_WARN, NULL, "could not record API usage; kept for the next flush",
                       "error", st->message, "detail", st->detail, NULL);
        tdm_status_free(st);
    }
    COUNTS.flushing = false;
    tdm_arena_free(b->arena);
    free(b->taken);
    free(b);
    if (!COUNTS.stopping)
        return;
    if (COUNTS.last_sent || failed)
        stopped(); /* the last flush is done, or the database fails: no retry now */
    else
        flush();
}

/* Send every count held to the table in one statement. */
static void flush(void)
{
    gw_state *gw = COUNTS.gw;
    if (COUNTS.dropped > 0 && !COUNTS.stopping) {
        char n[24];
        snprintf(n, sizeof(n), "%llu", (unsigned long long)COUNTS.dropped);
        tdm_log_fields(TDM_LOG_WARN, NULL,
                       "API calls not counted: too many tenants between flushes", "calls", n, NULL);
        COUNTS.dropped = 0;
    }
    if (COUNTS.flushing)
        return;
    if (COUNTS.used == 0 || !tdm_runtime_migrated(gw->rt)) {
        if (COUNTS.stopping)
            stopped();
        return;
    }
    flush_batch *b = calloc(1, sizeof(*b));
    usage_slot *taken = calloc(COUNTS.used, sizeof(*taken));
    tdm_arena *arena = tdm_arena_new(0);
    gw_usage_delta *d = arena != NULL ? tdm_arena_calloc(arena, COUNTS.used, sizeof(*d)) : NULL;
    size_t n = 0;
    for (size_t i = 0; d != NULL && i < USAGE_TABLE_SLOTS; i++) {
        usage_slot *s = &COUNTS.slots[i];
        if (s->tenant_id[0] == '\0')
            continue;
        taken[n] = *s;
        d[n] = (gw_usage_delta){
            .tenant_id = taken[n].tenant_id,
            .month = tdm_arena_printf(arena, "%04d-%02d-01", s->month / 12, s->month % 12 + 1),
            .scope = scope_label(s->scope),
            .count = s->count};
        if (d[n].month == NULL)
            break;
        n++;
    }
    gw_store_ctx c = {.pool = tdm_runtime_pg(gw->rt), .arena = arena};
    if (b == NULL || taken == NULL || d == NULL || n != COUNTS.used ||
        gw_usage_store_add(&c, d, n, flushed, b) != 0) {
        free(b);
        free(taken);
        tdm_arena_free(arena);
        if (COUNTS.stopping)
            stopped();
        return;
    }
    *b = (flush_batch){.arena = arena, .taken = taken, .n = n};
    /* Taken: the table starts afresh; a failure puts these back (flushed). */
    memset(COUNTS.slots, 0, USAGE_TABLE_SLOTS * sizeof(*COUNTS.slots));
    COUNTS.used = 0;
    COUNTS.flushing = true;
    COUNTS.last_sent = COUNTS.stopping;
}

static void flush_tick(uv_timer_t *timer)
{
    (void)timer;
    flush();
}

void gw_usage_start(gw_state *gw)
{
    COUNTS.gw = gw;
    COUNTS.slots = calloc(USAGE_TABLE_SLOTS, sizeof(*COUNTS.slots));
    if (COUNTS.slots == NULL) {
        tdm_log(TDM_LOG_ERROR, NULL, "out of memory: API calls will not be counted");
        return;
    }
    uv_timer_init(tdm_runtime_loop(gw->rt), &COUNTS.timer);
    COUNTS.timer_open = true;
    uint64_t every = (uint64_t)gw->cfg->usage_flush_ms;
    uv_timer_start(&COUNTS.timer, flush_tick, every, every);
}

void gw_usage_stop(gw_state *gw)
{
    if (!COUNTS.timer_open)
        return;
    uv_timer_stop(&COUNTS.timer);
    uv_close((uv_handle_t *)&COUNTS.timer, NULL);
    COUNTS.timer_open = false;
    /* The calls admitted since the last flush: the pool closes once the database has
     * them (stopped() releases the hold). */
    COUNTS.stopping = true;
    tdm_runtime_hold(gw->rt);
    flush();
}

/* ---- gathering one tenant's month ------------------------------------------------------ */

static const struct {
    const char *peer;
    uint32_t scope;
} USAGE_PEER[USAGE_PEERS] = {
    {"enrolment", TDM_SCOPE_ENROLMENT_READ},
    {"matching", TDM_SCOPE_MATCHING_READ},
    {"feedback", TDM_SCOPE_FEEDBACK_READ},
};

typedef struct gather_op gather_op;
typedef void (*gather_cb)(gather_op *g, tdm_status *st);

typedef struct peer_call {
    gather_op *g;
    size_t index;
} peer_call;

/* The figures of one tenant's month, four parts at once. */
struct gather_op {
    gw_state *gw;
    gw_store_ctx sc;
    const gw_principal *caller;
    const char *month;       /* "YYYY-MM" */
    const char *month_first; /* "YYYY-MM-01" */
    Tandem__V1__TenantUsage *out;
    peer_call calls[USAGE_PEERS];
    int pending;
    tdm_status *err; /* the first part that failed */
    gather_cb done;
    void *arg;
};

static void part_done(gather_op *g, tdm_status *st)
{
    if (st != NULL && g->err == NULL)
        g->err = st;
    else
        tdm_status_free(st);
    if (--g->pending == 0) {
        tdm_status *err = g->err;
        g->err = NULL;
        g->done(g, err);
    }
}

static void api_calls_read(void *arg, tdm_status *st, gw_usage_scope_row *rows, size_t n)
{
    gather_op *g = arg;
    if (st == NULL) {
        Tandem__V1__ApiCallCount **items = tdm_arena_calloc(g->sc.arena, n + 1, sizeof(*items));
        if (items == NULL)
            st = tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
        for (size_t i = 0; st == NULL && i < n; i++) {
            Tandem__V1__ApiCallCount *c = tdm_arena_alloc(g->sc.arena, sizeof(*c));
            if (c == NULL) {
                st = tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
            tandem__v1__api_call_count__init(c);
            c->scope = (char *)rows[i].scope;
            c->count = rows[i].count;
            g->out->api_calls += rows[i].count;
            items[i] = c;
        }
        if (st == NULL) {
            g->out->api_calls_by_scope = items;
            g->out->n_api_calls_by_scope = n;
        }
    }
    part_done(g, st);
}

/* A service's counts into the answer, by metric name (a metric the gateway does not
 * know is ignored, so a newer service can add one). */
static void counts_answered(void *arg, tdm_status *st, const uint8_t *response, size_t len,
                            const tdm_rpc_metadata *md)
{
    (void)md;
    peer_call *pc = arg;
    gather_op *g = pc->g;
    if (st != NULL) {
        tdm_status *wrapped = tdm_status_new(
            st->code == TDM_DEADLINE_EXCEEDED ? st->code : TDM_UNAVAILABLE,
            "the %s service did not give its usage: %s", USAGE_PEER[pc->index].peer, st->message);
        tdm_status_free(st);
        part_done(g, wrapped);
        return;
    }
    Tandem__Internal__V1__UsageCounts *c = (void *)protobuf_c_message_unpack(
        &tandem__internal__v1__usage_counts__descriptor, NULL, len, response);
    if (c == NULL) {
        part_done(g, tdm_status_new(TDM_INTERNAL, "the %s service's usage did not decode",
                                    USAGE_PEER[pc->index].peer));
        return;
    }
    for (size_t i = 0; i < c->n_counts; i++) {
        const char *m = c->counts[i]->metric;
        int64_t n = c->counts[i]->count;
        if (strcmp(m, "active_participants") == 0)
            g->out->active_participants = n;
        else if (strcmp(m, "active_matches") == 0)
            g->out->active_matches = n;
        else if (strcmp(m, "check_ins") == 0)
            g->out->check_ins = n;
    }
    protobuf_c_message_free_unpacked(&c->base, NULL);
    part_done(g, NULL);
}

static tdm_status *call_peer(gather_op *g, size_t i, const uint8_t *msg, size_t len)
{
    gw_state *gw = g->gw;
    const char *peer = USAGE_PEER[i].peer;
    tdm_rpc_client *client = tdm_runtime_peer(gw->rt, peer);
    if (client == NULL || gw_peer_unresponsive(gw, peer))
        return tdm_status_new(TDM_UNAVAILABLE, "the %s service is not responding", peer);
    /* The tenant's context with this service's read scope only. */
    gw_principal p = {.key_id = g->caller->key_id,
                      .key_tenant_id = g->caller->key_tenant_id,
                      .kind = g->caller->kind,
                      .scopes = USAGE_PEER[i].scope,
                      .tenant_id = g->out->tenant_id};
    uint64_t deadline = g->sc.deadline_ms;
    if (deadline == 0)
        deadline = uv_now(tdm_runtime_loop(gw->rt)) + USAGE_CALL_TIMEOUT_MS;
    char *ctx =
        gw_context_metadata(g->sc.arena, &p, g->sc.request_id, gw_remaining_ms(gw, deadline));
    if (ctx == NULL)
        return tdm_status_new(TDM_INTERNAL, "could not encode the request context");
    tdm_http_header md[2];
    size_t n = 0;
    md[n++] = (tdm_http_header){TDM_CONTEXT_METADATA_KEY, ctx};
    if (g->sc.request_id != NULL)
        md[n++] = (tdm_http_header){"x-request-id", g->sc.request_id};
    g->calls[i] = (peer_call){.g = g, .index = i};
    if (tdm_rpc_client_call_raw(client, USAGE_COUNTS_PATH, msg, len, md, n, deadline,
                                counts_answered, &g->calls[i]) != 0)
        return tdm_status_new(TDM_UNAVAILABLE, "the %s service is unavailable", peer);
    return NULL;
}

/* Gather the month of tenant row t into a new TenantUsage; done(g, st) once. */
static void gather(gather_op *g, const gw_tenant_row *t)
{
    tdm_arena *a = g->sc.arena;
    g->out = tdm_arena_alloc(a, sizeof(*g->out));
    if (g->out == NULL) {
        g->done(g, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    tandem__v1__tenant_usage__init(g->out);
    g->out->tenant_id = (char *)t->id;
    g->out->tenant_slug = (char *)t->slug;
    g->out->tenant_name = (char *)t->name;
    g->out->month = (char *)g->month;
    g->err = NULL;
    g->pending = 1 + USAGE_PEERS + 1; /* the table, the services, and this function */

    Tandem__Internal__V1__GetUsageCountsRequest q =
        TANDEM__INTERNAL__V1__GET_USAGE_COUNTS_REQUEST__INIT;
    q.month = (char *)g->month;
    size_t len = protobuf_c_message_get_packed_size(&q.base);
    uint8_t *msg = tdm_arena_alloc(a, len + 1);
    if (msg == NULL) {
        g->pending = 1;
        part_done(g, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    protobuf_c_message_pack(&q.base, msg);

    if (gw_usage_store_api_calls(&g->sc, t->id, g->month_first, api_calls_read, g) != 0)
        part_done(g, tdm_status_new(TDM_INTERNAL, "could not start a database operation"));
    for (size_t i = 0; i < USAGE_PEERS; i++) {
        tdm_status *st = call_peer(g, i, msg, len);
        if (st != NULL)
            part_done(g, st);
    }
    part_done(g, NULL);
}

/* The month of a request: "YYYY-MM", not after the current month (UTC). */
static tdm_status *check_month(const char *month, tdm_arena *a, const char **first)
{
    int year = 0, mon = 0;
    tdm_status *st = tdm_usage_check_month(month, "month", &year, &mon);
    if (st != NULL)
        return st;
    int now = month_now();
    if (year * 12 + mon - 1 > now)
        return tdm_invalid_field("month",
                                 "must not be after the current month (%04d-%02d, UTC): usage is "
                                 "known only for months that have begun",
                                 now / 12, now % 12 + 1);
    *first = tdm_arena_printf(a, "%04d-%02d-01", year, mon);
    return *first != NULL ? NULL : tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
}

/* ---- GetTenantUsage --------------------------------------------------------------------- */

typedef struct usage_call {
    gather_op g;
    gw_tenant_cb cb;
    void *arg;
    /* ListUsage */
    gw_tenant_row *rows;
    size_t n_rows, shown, next;
    int page_size;
    Tandem__V1__ListUsageResponse *page;
} usage_call;

static void tenant_gathered(gather_op *g, tdm_status *st)
{
    usage_call *u = (usage_call *)g;
    u->cb(u->arg, st, st == NULL ? &g->out->base : NULL);
}

static void tenant_found(void *arg, tdm_status *st, gw_tenant_row *rows, size_t n)
{
    usage_call *u = arg;
    if (st == NULL && n == 0)
        st = tdm_status_new(TDM_NOT_FOUND, "tenant not found");
    if (st != NULL) {
        u->cb(u->arg, st, NULL);
        return;
    }
    gather(&u->g, &rows[0]);
}

static usage_call *usage_call_new(gw_state *gw, const gw_store_ctx *sc, const gw_principal *p,
                                  gw_tenant_cb cb, void *arg)
{
    usage_call *u = tdm_arena_calloc(sc->arena, 1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->g.gw = gw;
    u->g.sc = *sc;
    u->g.caller = p;
    u->cb = cb;
    u->arg = arg;
    return u;
}

tdm_status *gw_usage_get_tenant(gw_state *gw, const gw_store_ctx *sc, const gw_principal *p,
                                const Tandem__V1__GetTenantUsageRequest *req, gw_tenant_cb cb,
                                void *arg)
{
    if (!tdm_uuid_valid(req->tenant_id))
        return tdm_invalid_field("tenant_id", "must be a tenant id (UUID)");
    /* As GetTenant: a tenant key sees only its own tenant, any other is NOT_FOUND. */
    if (p->kind != TDM_PRINCIPAL_PLATFORM) {
        if (p->key_tenant_id == NULL || strcasecmp(req->tenant_id, p->key_tenant_id) != 0)
            return tdm_status_new(TDM_NOT_FOUND, "tenant not found");
    } else if ((p->scopes & TDM_SCOPE_ADMIN) == 0) {
        return tdm_status_new(TDM_PERMISSION_DENIED, "this API key lacks the scope \"admin\"");
    }
    usage_call *u = usage_call_new(gw, sc, p, cb, arg);
    if (u == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    tdm_status *st = check_month(req->month, sc->arena, &u->g.month_first);
    if (st != NULL)
        return st;
    u->g.month = req->month;
    u->g.done = tenant_gathered;
    if (gw_store_tenant_resolve(&u->g.sc, req->tenant_id, tenant_found, u) != 0)
        return tdm_status_new(TDM_INTERNAL, "could not start a database operation");
    return NULL;
}

/* ---- ListUsage: a page of tenants, one after the other ------------------------------------ */

static void list_next(usage_call *u);

static void list_gathered(gather_op *g, tdm_status *st)
{
    usage_call *u = (usage_call *)g;
    if (st != NULL) {
        u->cb(u->arg, st, NULL);
        return;
    }
    u->page->usage[u->page->n_usage++] = g->out;
    list_next(u);
}

/* One tenant at a time, so a page of 500 tenants asks each service one thing at a
 * time instead of 500 at once. */
static void list_next(usage_call *u)
{
    if (u->next < u->shown) {
        gather(&u->g, &u->rows[u->next++]);
        return;
    }
    if (u->n_rows > u->shown) {
        const gw_tenant_row *last = &u->rows[u->shown - 1];
        u->page->next_page_token =
            tdm_page_token_encode_keyset(last->create_us, 0, last->id, u->g.sc.arena);
    }
    u->cb(u->arg, NULL, &u->page->base);
}

static void tenants_listed(void *arg, tdm_status *st, gw_tenant_row *rows, size_t n)
{
    usage_call *u = arg;
    if (st != NULL) {
        u->cb(u->arg, st, NULL);
        return;
    }
    tdm_arena *a = u->g.sc.arena;
    u->rows = rows;
    u->n_rows = n;
    u->shown = n > (size_t)u->page_size ? (size_t)u->page_size : n;
    u->page = tdm_arena_alloc(a, sizeof(*u->page));
    Tandem__V1__TenantUsage **items = tdm_arena_calloc(a, u->shown + 1, sizeof(*items));
    if (u->page == NULL || items == NULL) {
        u->cb(u->arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    tandem__v1__list_usage_response__init(u->page);
    u->page->usage = items;
    list_next(u);
}

tdm_status *gw_usage_list(gw_state *gw, const gw_store_ctx *sc, const gw_principal *p,
                          const Tandem__V1__ListUsageRequest *req, gw_tenant_cb cb, void *arg)
{
    usage_call *u = usage_call_new(gw, sc, p, cb, arg);
    if (u == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    int64_t us = 0, unused = 0;
    char after[37];
    tdm_status *st = check_month(req->month, sc->arena, &u->g.month_first);
    if (st == NULL)
        st = tdm_check_page_size(req->page_size, &u->page_size);
    if (st == NULL)
        st = tdm_check_page_token_keyset(req->page_token, &us, &unused, after);
    if (st != NULL)
        return st;
    u->g.month = req->month;
    u->g.done = list_gathered;
    if (gw_store_tenant_list(&u->g.sc, us, after[0] != '\0' ? after : NULL, u->page_size + 1,
                             tenants_listed, u) != 0)
        return tdm_status_new(TDM_INTERNAL, "could not start a database operation");
    return NULL;
}
