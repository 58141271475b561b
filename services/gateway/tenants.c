/*
 * tenants.c - TenantService: tenants and API keys (API.md "TenantService").
 *
 * One entry point, gw_tenant_call(), serves both doors: the gRPC service registered
 * here and the REST front. Validation, then store.c, then the response message built
 * from the rows. CreateTenant and CreateApiKey honour Idempotency-Key per calling key;
 * a replayed CreateApiKey answers the key without its secret, because the secret is
 * never stored anywhere, the idempotency table included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth_cache.h"
#include "gateway.h"
#include "keys.h"
#include "store.h"
#include "usage.h"
#include "tandem/check.h"
#include "tandem/log.h"
#include "tandem/page_token.h"
#include "tandem/timestamp.h"
#include "tandem/v1/tenant.pb-c.h"

#define NAME_MAX_CHARS     200
#define BOOTSTRAP_RETRY_MS 1000

static const gw_route_auth AUTH_PLATFORM_ADMIN = {
    .scope = TDM_SCOPE_ADMIN, .tenant_scoped = false, .platform_only = true};
static const gw_route_auth AUTH_ANY_KEY = {
    .scope = 0, .tenant_scoped = false, .platform_only = false};

typedef struct tenant_method tenant_method;

typedef struct tenant_op {
    gw_state *gw;
    const tenant_method *m;
    const char *method;
    const ProtobufCMessage *request;
    const gw_principal *p;
    gw_keyed keyed;                /* the Idempotency-Key of CreateTenant and CreateApiKey */
    Tandem__V1__ApiKey *shown_key; /* a created key: its secret is shown in this answer */
    tdm_arena *arena;
    gw_store_ctx sc;
    gw_tenant_cb cb;
    void *arg;
    char secret[GW_KEY_SECRET_LEN + 1];
    int page_size;
} tenant_op;

static void answer(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    tenant_op *op = arg;
    if (st == NULL && op->shown_key != NULL)
        op->shown_key->secret = op->secret;
    op->cb(op->arg, st, response);
}

/* Every call ends here. A keyed one first stores its response under the key (without
 * a secret: see the file comment) and commits the work with it, or rolls both back. */
static void finish(tenant_op *op, tdm_status *st, ProtobufCMessage *response)
{
    gw_keyed_end(&op->keyed, st, response, answer, op);
}

static bool slug_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

static Tandem__V1__Tenant *tenant_message(tdm_arena *a, const gw_tenant_row *r)
{
    Tandem__V1__Tenant *t = tdm_arena_alloc(a, sizeof(*t));
    if (t == NULL)
        return NULL;
    tandem__v1__tenant__init(t);
    t->id = (char *)r->id;
    t->name = (char *)r->name;
    t->slug = (char *)r->slug;
    t->create_time = tdm_timestamp_from_us_or_unset(r->create_us, a);
    return t;
}

static Tandem__V1__ApiKey *key_message(tdm_arena *a, const gw_key_row *r)
{
    Tandem__V1__ApiKey *k = tdm_arena_alloc(a, sizeof(*k));
    if (k == NULL)
        return NULL;
    tandem__v1__api_key__init(k);
    k->id = (char *)r->id;
    k->tenant_id = (char *)(r->tenant_id != NULL ? r->tenant_id : "");
    k->kind =
        r->kind == 1 ? TANDEM__V1__API_KEY__KIND__PLATFORM : TANDEM__V1__API_KEY__KIND__TENANT;
    k->display_name = (char *)r->display_name;
    k->scopes = tdm_arena_calloc(a, 9, sizeof(char *));
    if (k->scopes == NULL)
        return NULL;
    for (uint32_t bit = 1; bit <= TDM_SCOPE_LAST; bit <<= 1) {
        if ((r->scopes & bit) != 0)
            k->scopes[k->n_scopes++] = (char *)gw_scope_name(bit);
    }
    if (r->rate_rps != 0 || r->rate_burst != 0) {
        k->rate_limit = tdm_arena_alloc(a, sizeof(*k->rate_limit));
        if (k->rate_limit == NULL)
            return NULL;
        tandem__v1__rate_limit__init(k->rate_limit);
        k->rate_limit->requests_per_second = (int32_t)r->rate_rps;
        k->rate_limit->burst = (int32_t)r->rate_burst;
    }
    k->secret_prefix = (char *)r->secret_prefix;
    k->create_time = tdm_timestamp_from_us_or_unset(r->create_us, a);
    k->last_used_time = tdm_timestamp_from_us_or_unset(r->last_used_us, a);
    k->revoke_time = tdm_timestamp_from_us_or_unset(r->revoke_us, a);
    return k;
}

/* ---- idempotency ------------------------------------------------------------------------ */

static void run_method(tenant_op *op);

static void idem_checked(void *arg, tdm_status *st, ProtobufCMessage *replay)
{
    tenant_op *op = arg;
    if (st != NULL || replay != NULL)
        finish(op, st, replay);
    else
        run_method(op);
}

/* ---- the methods -------------------------------------------------------------------------- */

static void tenant_rows_one(void *arg, tdm_status *st, gw_tenant_row *rows, size_t n)
{
    tenant_op *op = arg;
    if (st != NULL) {
        if (st->code == TDM_ALREADY_EXISTS) {
            tdm_status *dup = tdm_status_new(TDM_ALREADY_EXISTS, "a tenant with this slug exists");
            tdm_status_add_violation(dup, "tenant.slug", "already taken");
            tdm_status_free(st);
            st = dup;
        }
        finish(op, st, NULL);
        return;
    }
    if (n == 0) {
        finish(op, tdm_status_new(TDM_NOT_FOUND, "tenant not found"), NULL);
        return;
    }
    Tandem__V1__Tenant *t = tenant_message(op->arena, &rows[0]);
    if (t == NULL) {
        finish(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    finish(op, NULL, &t->base);
}

static void *tenant_item(tdm_arena *a, const void *row)
{
    return tenant_message(a, row);
}

static void *key_item(tdm_arena *a, const void *row)
{
    return key_message(a, row);
}

/* Tenants and keys are listed by creation time, ties broken by id. */
static char *created_token(tdm_arena *a, const void *row)
{
    const gw_tenant_row *t = row;
    return tdm_page_token_encode_keyset(t->create_us, 0, t->id, a);
}

static char *key_token(tdm_arena *a, const void *row)
{
    const gw_key_row *k = row;
    return tdm_page_token_encode_keyset(k->create_us, 0, k->id, a);
}

static void tenant_rows_list(void *arg, tdm_status *st, gw_tenant_row *rows, size_t n)
{
    static const tdm_page_rows PAGE = {&tandem__v1__list_tenants_response__descriptor, "tenants",
                                       sizeof(gw_tenant_row), tenant_item, created_token};
    tenant_op *op = arg;
    ProtobufCMessage *r = NULL;
    st = tdm_page_answer(st, op->arena, &PAGE, rows, n, op->page_size, &r);
    finish(op, st, r);
}

static void key_rows_one(void *arg, tdm_status *st, gw_key_row *rows, size_t n)
{
    tenant_op *op = arg;
    if (st != NULL) {
        /* The tenant of the path does not exist (foreign key). */
        if (st->code == TDM_FAILED_PRECONDITION) {
            tdm_status_free(st);
            st = tdm_status_new(TDM_NOT_FOUND, "tenant not found");
        }
        finish(op, st, NULL);
        return;
    }
    if (n == 0) {
        finish(op, tdm_status_new(TDM_NOT_FOUND, "API key not found"), NULL);
        return;
    }
    Tandem__V1__ApiKey *k = key_message(op->arena, &rows[0]);
    if (k == NULL) {
        finish(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    if (op->secret[0] != '\0')
        op->shown_key = k;
    finish(op, NULL, &k->base);
}

static void key_rows_list(void *arg, tdm_status *st, gw_key_row *rows, size_t n)
{
    static const tdm_page_rows PAGE = {&tandem__v1__list_api_keys_response__descriptor, "api_keys",
                                       sizeof(gw_key_row), key_item, key_token};
    tenant_op *op = arg;
    ProtobufCMessage *r = NULL;
    st = tdm_page_answer(st, op->arena, &PAGE, rows, n, op->page_size, &r);
    finish(op, st, r);
}

static tdm_status *validate_create_tenant(const Tandem__V1__CreateTenantRequest *req)
{
    tdm_violations v = {0};
    if (req->tenant == NULL) {
        tdm_violations_add(&v, "tenant", "required");
        return tdm_violations_take(&v, NULL);
    }
    const char *name = req->tenant->name != NULL ? req->tenant->name : "";
    size_t chars = tdm_utf8_chars(name);
    if (chars < 1 || chars > NAME_MAX_CHARS)
        tdm_violations_add(&v, "tenant.name", "must be 1 to 200 characters");
    const char *slug = req->tenant->slug != NULL ? req->tenant->slug : "";
    if (!slug_ok(slug))
        tdm_violations_add(&v, "tenant.slug", "must match [a-z0-9-]{2,63}");
    return tdm_violations_take(&v, NULL);
}

static tdm_status *validate_create_key(const Tandem__V1__CreateApiKeyRequest *req, gw_key_new *k)
{
    tdm_violations v = {0};
    if (!tdm_uuid_valid(req->tenant_id))
        tdm_violations_add(&v, "tenant_id", "must be a tenant id (UUID)");
    const Tandem__V1__ApiKey *in = req->api_key;
    if (in == NULL) {
        tdm_violations_add(&v, "api_key", "required");
        return tdm_violations_take(&v, NULL);
    }
    size_t chars = tdm_utf8_chars(in->display_name != NULL ? in->display_name : "");
    if (chars < 1 || chars > NAME_MAX_CHARS)
        tdm_violations_add(&v, "api_key.display_name", "must be 1 to 200 characters");
    if (in->n_scopes < 1 || in->n_scopes > 8)
        tdm_violations_add(&v, "api_key.scopes", "must list 1 to 8 scopes");
    k->scopes = 0;
    for (size_t i = 0; i < in->n_scopes && i < 8; i++) {
        uint32_t bit = gw_scope_bit(in->scopes[i]);
        if (bit == 0) {
            char field[40];
            snprintf(field, sizeof(field), "api_key.scopes[%zu]", i);
            tdm_violations_add(&v, field,
                               "unknown scope; one of admin, enrolment:read, enrolment:write, "
                               "matching:read, matching:write, feedback:read, feedback:write");
        }
        k->scopes |= bit;
    }
    if (in->kind != TANDEM__V1__API_KEY__KIND__KIND_UNSPECIFIED &&
        in->kind != TANDEM__V1__API_KEY__KIND__PLATFORM &&
        in->kind != TANDEM__V1__API_KEY__KIND__TENANT)
        tdm_violations_add(&v, "api_key.kind", "must be PLATFORM or TENANT");
    k->kind = in->kind == TANDEM__V1__API_KEY__KIND__PLATFORM ? 1 : 2;
    k->rate_rps = k->rate_burst = 0;
    if (in->rate_limit != NULL) {
        int32_t rps = in->rate_limit->requests_per_second, burst = in->rate_limit->burst;
        if (rps < 0 || rps > 1000000)
            tdm_violations_add(&v, "api_key.rate_limit.requests_per_second",
                               "must be 1 to 1000000 (0: the default)");
        if (burst < 0 || burst > 1000000)
            tdm_violations_add(&v, "api_key.rate_limit.burst",
                               "must be 1 to 1000000 (0: the default)");
        k->rate_rps = rps > 0 ? (uint32_t)rps : 0;
        k->rate_burst = burst > 0 ? (uint32_t)burst : 0;
    }
    k->tenant_id = req->tenant_id;
    k->display_name = in->display_name;
    return tdm_violations_take(&v, NULL);
}

static tdm_status *check_create_tenant(tenant_op *op)
{
    return validate_create_tenant((const void *)op->request);
}

static tdm_status *create_tenant(tenant_op *op)
{
    const Tandem__V1__CreateTenantRequest *req = (const void *)op->request;
    return gw_started(
        gw_store_tenant_create(&op->sc, req->tenant->name, req->tenant->slug, tenant_rows_one, op));
}

static tdm_status *create_api_key(tenant_op *op)
{
    const Tandem__V1__CreateApiKeyRequest *req = (const void *)op->request;
    gw_key_new k = {0};
    tdm_status *st = validate_create_key(req, &k);
    if (st != NULL)
        return st;
    if (gw_key_generate(op->secret, sizeof(op->secret)) != 0 ||
        gw_key_hash(op->secret, strlen(op->secret), k.secret_hash) != 0)
        return tdm_status_new(TDM_INTERNAL, "could not generate a key");
    k.secret_prefix = tdm_arena_strndup(op->arena, op->secret, GW_KEY_DISPLAY_PREFIX);
    return gw_started(gw_store_key_create(&op->sc, &k, key_rows_one, op));
}

static tdm_status *get_tenant(tenant_op *op)
{
    const Tandem__V1__GetTenantRequest *req = (const void *)op->request;
    const gw_principal *p = op->p;
    if (!tdm_uuid_valid(req->id))
        return gw_invalid("id", "must be a tenant id (UUID)");
    if (p->kind != TDM_PRINCIPAL_PLATFORM) {
        /* A tenant key sees only its own tenant; any other is NOT_FOUND. */
        if (p->key_tenant_id == NULL || strcasecmp(req->id, p->key_tenant_id) != 0)
            return tdm_status_new(TDM_NOT_FOUND, "tenant not found");
    } else if ((p->scopes & TDM_SCOPE_ADMIN) == 0) {
        return tdm_status_new(TDM_PERMISSION_DENIED, "this API key lacks the scope \"admin\"");
    }
    return gw_started(gw_store_tenant_resolve(&op->sc, req->id, tenant_rows_one, op));
}

static tdm_status *list_tenants(tenant_op *op)
{
    const Tandem__V1__ListTenantsRequest *req = (const void *)op->request;
    int64_t us = 0, unused = 0;
    char after[37];
    tdm_status *st = tdm_check_page_size(req->page_size, &op->page_size);
    if (st == NULL)
        st = tdm_check_page_token_keyset(req->page_token, &us, &unused, after);
    if (st != NULL)
        return st;
    return gw_started(gw_store_tenant_list(&op->sc, us, after[0] != '\0' ? after : NULL,
                                           op->page_size + 1, tenant_rows_list, op));
}

static tdm_status *list_api_keys(tenant_op *op)
{
    const Tandem__V1__ListApiKeysRequest *req = (const void *)op->request;
    int64_t us = 0, unused = 0;
    char before[37];
    if (!tdm_uuid_valid(req->tenant_id))
        return gw_invalid("tenant_id", "must be a tenant id (UUID)");
    tdm_status *st = tdm_check_page_size(req->page_size, &op->page_size);
    if (st == NULL)
        st = tdm_check_page_token_keyset(req->page_token, &us, &unused, before);
    if (st != NULL)
        return st;
    return gw_started(gw_store_key_list(&op->sc, req->tenant_id, req->show_revoked, us,
                                        before[0] != '\0' ? before : NULL, op->page_size + 1,
                                        key_rows_list, op));
}

/* Revoked: this replica forgets the key before answering, so the caller's next request
 * here is refused at once; other replicas hear of it by NOTIFY (auth_cache.h). */
static void key_revoked(void *arg, tdm_status *st, gw_key_row *rows, size_t n)
{
    tenant_op *op = arg;
    if (st == NULL && n > 0)
        gw_auth_cache_forget(op->gw->key_cache, rows[0].secret_hash);
    key_rows_one(arg, st, rows, n);
}

static tdm_status *revoke_api_key(tenant_op *op)
{
    const Tandem__V1__RevokeApiKeyRequest *req = (const void *)op->request;
    if (!tdm_uuid_valid(req->id))
        return gw_invalid("id", "must be an API key id (UUID)");
    return gw_started(gw_store_key_revoke(&op->sc, req->id, key_revoked, op));
}

/* GetTenantUsage and ListUsage (usage.c) answer through finish like the others. */
static void usage_answered(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    finish(arg, st, response);
}

static tdm_status *get_tenant_usage(tenant_op *op)
{
    return gw_usage_get_tenant(op->gw, &op->sc, op->p, (const void *)op->request, usage_answered,
                               op);
}

static tdm_status *list_usage(tenant_op *op)
{
    return gw_usage_list(op->gw, &op->sc, op->p, (const void *)op->request, usage_answered, op);
}

/* TenantService's methods in the order of its service descriptor (checked when the
 * service is registered): each method's rule, its Idempotency-Key (the response
 * type of a replay; NULL: not keyed), the checks made before the key is claimed,
 * and the function that starts it. Both doors dispatch through this table. */
struct tenant_method {
    const char *name;
    const gw_route_auth *auth;
    const ProtobufCMessageDescriptor *keyed;
    tdm_status *(*check)(tenant_op *op);
    tdm_status *(*run)(tenant_op *op);
};

static const tenant_method TENANT_METHODS[] = {
    {"CreateTenant", &AUTH_PLATFORM_ADMIN, &tandem__v1__tenant__descriptor, check_create_tenant,
     create_tenant},
    {"GetTenant", &AUTH_ANY_KEY, NULL, NULL, get_tenant},
    {"ListTenants", &AUTH_PLATFORM_ADMIN, NULL, NULL, list_tenants},
    {"CreateApiKey", &AUTH_PLATFORM_ADMIN, &tandem__v1__api_key__descriptor, NULL, create_api_key},
    {"ListApiKeys", &AUTH_PLATFORM_ADMIN, NULL, NULL, list_api_keys},
    {"RevokeApiKey", &AUTH_PLATFORM_ADMIN, NULL, NULL, revoke_api_key},
    {"GetTenantUsage", &AUTH_ANY_KEY, NULL, NULL, get_tenant_usage},
    {"ListUsage", &AUTH_PLATFORM_ADMIN, NULL, NULL, list_usage},
};

#define N_TENANT_METHODS (sizeof(TENANT_METHODS) / sizeof(TENANT_METHODS[0]))

/* The entry of a method by the service descriptor; NULL for one it does not have. */
static const tenant_method *tenant_method_named(const char *name)
{
    size_t i =
        gw_local_method_index(&tandem__v1__tenant_service__descriptor, name, N_TENANT_METHODS);
    return i < N_TENANT_METHODS ? &TENANT_METHODS[i] : NULL;
}

const gw_route_auth *gw_tenant_method_auth(const char *method)
{
    const tenant_method *m = tenant_method_named(method);
    return m != NULL ? m->auth : NULL;
}

static void run_method(tenant_op *op)
{
    tdm_status *st = op->m->run(op);
    if (st != NULL)
        finish(op, st, NULL);
}

void gw_tenant_call(gw_state *gw, const char *method, const ProtobufCMessage *request,
                    const gw_principal *p, const char *idempotency_key, const char *request_id,
                    uint64_t deadline_ms, tdm_arena *arena, gw_tenant_cb cb, void *arg)
{
    tenant_op *op = tdm_arena_calloc(arena, 1, sizeof(*op));
    if (op == NULL) {
        cb(arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    op->gw = gw;
    op->m = tenant_method_named(method);
    op->method = method;
    op->request = request;
    op->p = p;
    op->arena = arena;
    op->cb = cb;
    op->arg = arg;
    op->sc = (gw_store_ctx){.pool = tdm_runtime_pg(gw->rt),
                            .arena = arena,
                            .request_id = request_id,
                            .deadline_ms = deadline_ms};
    if (op->m == NULL) {
        finish(op, tdm_status_new(TDM_UNIMPLEMENTED, "unknown method TenantService.%s", method),
               NULL);
        return;
    }
    tdm_status *st = op->m->check != NULL ? op->m->check(op) : NULL;
    if (st != NULL) {
        finish(op, st, NULL);
        return;
    }
    if (op->m->keyed == NULL) {
        run_method(op);
        return;
    }
    op->keyed = (gw_keyed){
        .principal_id = p->key_id,
        .method = method,
        .key = idempotency_key != NULL && idempotency_key[0] != '\0' ? idempotency_key : NULL,
        .desc = op->m->keyed};
    gw_keyed_begin(&op->keyed, &op->sc, NULL, op->request, idem_checked, op);
}

/* ---- the gRPC door ------------------------------------------------------------------------- */

static const gw_route_auth *tenant_rule(const char *path, const char *method)
{
    (void)path;
    return gw_tenant_method_auth(method);
}

tdm_status *gw_tenant_register(gw_state *gw)
{
    static gw_local_service svc = {.descriptor = &tandem__v1__tenant_service__descriptor,
                                   .rule = tenant_rule,
                                   .fn = gw_tenant_call};
    return gw_local_register(gw, &svc, TENANT_METHODS, sizeof(TENANT_METHODS[0]), N_TENANT_METHODS);
}

/* ---- TANDEM_BOOTSTRAP_KEY -------------------------------------------------------------------- */

typedef struct bootstrap_op {
    gw_state *gw;
    tdm_arena *arena;
    uv_timer_t timer;
} bootstrap_op;

static void bootstrap_try(uv_timer_t *timer);

static void bootstrap_closed(uv_handle_t *h)
{
    bootstrap_op *b = h->data;
    tdm_arena_free(b->arena);
    free(b);
}

static void bootstrap_done(void *arg, tdm_status *st)
{
    bootstrap_op *b = arg;
    if (st != NULL && !tdm_runtime_stopping(b->gw->rt)) {
        tdm_log_fields(TDM_LOG_WARN, NULL, "bootstrap key not ensured yet; retrying", "error",
                       st->message, "detail", st->detail, NULL);
        tdm_status_free(st);
        uv_timer_start(&b->timer, bootstrap_try, BOOTSTRAP_RETRY_MS, 0);
        return;
    }
    if (st == NULL) {
        b->gw->bootstrap_pending = false;
        tdm_log(TDM_LOG_INFO, NULL, "bootstrap platform key ensured");
    }
    tdm_status_free(st);
    if (!uv_is_closing((uv_handle_t *)&b->timer))
        uv_close((uv_handle_t *)&b->timer, bootstrap_closed);
}

static void bootstrap_try(uv_timer_t *timer)
{
    bootstrap_op *b = timer->data;
    if (tdm_runtime_stopping(b->gw->rt)) {
        uv_close((uv_handle_t *)&b->timer, bootstrap_closed);
        return;
    }
    if (!tdm_runtime_migrated(b->gw->rt)) {
        uv_timer_start(&b->timer, bootstrap_try, 200, 0);
        return;
    }
    const char *secret = b->gw->cfg->bootstrap_key;
    gw_key_new k = {.tenant_id = NULL,
                    .kind = TDM_PRINCIPAL_PLATFORM,
                    .display_name = "bootstrap (TANDEM_BOOTSTRAP_KEY)",
                    .scopes = TDM_SCOPE_ADMIN};
    k.secret_prefix = tdm_arena_strndup(b->arena, secret, GW_KEY_DISPLAY_PREFIX);
    gw_key_hash(secret, strlen(secret), k.secret_hash);
    gw_store_ctx c = {.pool = tdm_runtime_pg(b->gw->rt), .arena = b->arena};
    if (gw_store_bootstrap_key(&c, &k, bootstrap_done, b) != 0)
        uv_timer_start(&b->timer, bootstrap_try, BOOTSTRAP_RETRY_MS, 0);
}

void gw_tenant_bootstrap(gw_state *gw)
{
    const char *secret = gw->cfg->bootstrap_key;
    if (secret == NULL || secret[0] == '\0')
        return;
    bootstrap_op *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return;
    b->gw = gw;
    gw->bootstrap_pending = true;
    b->arena = tdm_arena_new(0);
    uv_timer_init(tdm_runtime_loop(gw->rt), &b->timer);
    b->timer.data = b;
    uv_timer_start(&b->timer, bootstrap_try, 0, 0);
}
