/*
 * webhook.c - WebhookService (API.md "WebhookService"): endpoints that receive a
 * tenant's events, and their delivery log.
 *
 * One entry point, gw_webhook_call(), serves both doors (the gRPC service registered
 * here and the REST front); every method needs `admin` and acts for the caller's
 * tenant only (another tenant's webhook is NOT_FOUND). CreateWebhook refuses URLs on
 * loopback, link-local or private addresses unless TANDEM_WEBHOOK_ALLOW_PRIVATE=1: a
 * literal address is judged as written, a name is resolved (uv_getaddrinfo, off the
 * loop) and every address it resolves to must be public. The delivery worker checks
 * again, on the address it actually connects to (delivery_http.c), because DNS can
 * change after registration. The signing secret is generated here, sealed before it
 * is stored (webhook_util.c) and shown in this response only; an Idempotency-Key
 * replay answers the webhook without it, as CreateApiKey does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "google/protobuf/empty.pb-c.h"
#include "keys.h"
#include "store.h"
#include "tandem/check.h"
#include "tandem/log.h"
#include "tandem/page_token.h"
#include "tandem/timestamp.h"
#include "tandem/uuid.h"
#include "tandem/v1/webhook.pb-c.h"
#include "webhook.h"
#include "webhook_store.h"

static const gw_route_auth AUTH_TENANT_ADMIN = {.scope = TDM_SCOPE_ADMIN, .tenant_scoped = true};

typedef struct webhook_op webhook_op;
struct webhook_op {
    gw_state *gw;
    const char *method;
    const ProtobufCMessage *request;
    const gw_principal *p;
    gw_keyed keyed; /* CreateWebhook's Idempotency-Key */
    const char *idem_key;
    Tandem__V1__Webhook *shown; /* a created webhook: its secret is shown in this answer */
    tdm_arena *arena;
    gw_store_ctx sc;
    gw_tenant_cb cb;
    void *arg;
    int page_size;
    char id[37];
    char secret[GW_WEBHOOK_SECRET_LEN + 1];
    const char *host;
    uv_getaddrinfo_t resolve;
    void (*write)(webhook_op *op); /* once the URL's target is checked */
    unsigned fields;               /* UpdateWebhook: the WEBHOOK_* fields it changes */
};

/* The fields of a Webhook a caller writes. */
#define WEBHOOK_URL         1u
#define WEBHOOK_EVENTS      2u
#define WEBHOOK_DESCRIPTION 4u
#define WEBHOOK_WRITABLE    (WEBHOOK_URL | WEBHOOK_EVENTS | WEBHOOK_DESCRIPTION)

static void answer(void *arg, tdm_status *st, ProtobufCMessage *response)
{
    webhook_op *op = arg;
    if (st == NULL && op->shown != NULL) {
        op->shown->secret = tdm_arena_strdup(op->arena, op->secret);
        if (op->shown->secret == NULL)
            st = tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    }
    OPENSSL_cleanse(op->secret, sizeof(op->secret));
    op->cb(op->arg, st, st == NULL ? response : NULL);
}

/* Every call ends here. CreateWebhook with an Idempotency-Key first stores its
 * response under the key (without the secret) and commits the webhook with it, or
 * rolls both back. */
static void finish(webhook_op *op, tdm_status *st, ProtobufCMessage *response)
{
    gw_keyed_end(&op->keyed, st, response, answer, op);
}

static Tandem__V1__Webhook *webhook_message(tdm_arena *a, const gw_webhook_row *r)
{
    Tandem__V1__Webhook *w = tdm_arena_alloc(a, sizeof(*w));
    if (w == NULL)
        return NULL;
    tandem__v1__webhook__init(w);
    w->id = (char *)r->id;
    w->url = (char *)r->url;
    w->events = r->events;
    w->n_events = r->n_events;
    w->description = (char *)(r->description != NULL ? r->description : "");
    w->create_time = tdm_timestamp_from_us_or_unset(r->create_us, a);
    w->state = (Tandem__V1__Webhook__State)r->state;
    return w;
}

static Tandem__V1__WebhookDelivery *delivery_message(tdm_arena *a, const gw_delivery_row *r)
{
    Tandem__V1__WebhookDelivery *d = tdm_arena_alloc(a, sizeof(*d));
    if (d == NULL)
        return NULL;
    tandem__v1__webhook_delivery__init(d);
    d->id = (char *)r->id;
    d->webhook_id = (char *)r->webhook_id;
    d->event_id = (char *)r->event_id;
    d->event_type = (char *)r->event_type;
    d->attempt_count = r->attempt_count;
    d->status = (Tandem__V1__WebhookDelivery__Status)r->status;
    d->last_status_code = r->last_status_code;
    d->last_error = (char *)(r->last_error != NULL ? r->last_error : "");
    d->next_attempt_time = tdm_timestamp_from_us_or_unset(r->next_attempt_us, a);
    d->create_time = tdm_timestamp_from_us_or_unset(r->create_us, a);
    d->last_attempt_time = tdm_timestamp_from_us_or_unset(r->last_attempt_us, a);
    return d;
}

/* ---- CreateWebhook -------------------------------------------------------------------------- */

/* The `fields` (WEBHOOK_*) of w, checked as CreateWebhook and UpdateWebhook write
 * them; *host gets the URL's host when WEBHOOK_URL is among them. */
static tdm_status *validate_webhook(const Tandem__V1__Webhook *w, unsigned fields,
                                    bool allow_private, tdm_arena *a, const char **host)
{
    tdm_violations v = {0};
    if (w == NULL) {
        tdm_violations_add(&v, "webhook", "required");
        return tdm_violations_take(&v, NULL);
    }
    tdm_status *url_st =
        fields & WEBHOOK_URL ? gw_webhook_url_check(a, w->url, allow_private, host) : NULL;
    if (url_st != NULL) {
        tdm_violations_add(&v, "webhook.url", "%s",
                           url_st->n_violations > 0 ? url_st->violations[0].description
                                                    : url_st->message);
        tdm_status_free(url_st);
    }
    size_t n_events = fields & WEBHOOK_EVENTS ? w->n_events : 0;
    if ((fields & WEBHOOK_EVENTS) && (n_events < 1 || n_events > GW_WEBHOOK_EVENTS_MAX))
        tdm_violations_add(&v, "webhook.events", "must list 1 to %d events", GW_WEBHOOK_EVENTS_MAX);
    for (size_t i = 0; i < n_events && i < GW_WEBHOOK_EVENTS_MAX; i++) {
        char field[32];
        snprintf(field, sizeof(field), "webhook.events[%zu]", i);
        bool known = false;
        for (size_t k = 0; k < GW_WEBHOOK_EVENTS_MAX && !known; k++)
            known = strcmp(w->events[i], GW_WEBHOOK_EVENT_NAMES[k]) == 0;
        if (!known)
            tdm_violations_add(
                &v, field,
                "unknown event; one of participant.enrolled, "
                "participant.withdrawn, matching_run.completed, match.proposed, "
                "match.accepted, match.declined, match.ended, "
                "check_in.recorded, match.at_risk, participant.updated, survey.opened");
        for (size_t k = 0; k < i && known; k++) {
            if (strcmp(w->events[i], w->events[k]) == 0) {
                tdm_violations_add(&v, field, "listed twice");
                break;
            }
        }
    }
    size_t chars = 0;
    const char *desc = fields & WEBHOOK_DESCRIPTION && w->description != NULL ? w->description : "";
    for (const char *s = desc; *s != '\0'; s++)
        chars += ((unsigned char)*s & 0xC0) != 0x80;
    if (chars > GW_WEBHOOK_DESC_MAX)
        tdm_violations_add(&v, "webhook.description", "must be at most 200 characters");
    return tdm_violations_take(&v, NULL);
}

static void created(void *arg, tdm_status *st, gw_webhook_row *rows, size_t n)
{
    webhook_op *op = arg;
    if (st == NULL && n == 0)
        st = tdm_status_new(TDM_INTERNAL, "the webhook was not stored");
    if (st != NULL) {
        /* The tenant vanished between authentication and the insert (foreign key). */
        if (st->code == TDM_FAILED_PRECONDITION) {
            tdm_status_free(st);
            st = tdm_status_new(TDM_NOT_FOUND, "tenant not found");
        } else if (st->detail != NULL && strstr(st->detail, "(constraint webhooks_per_tenant)")) {
            /* migrations/015_webhook_limits.sql: the tenant has its 20 already. */
            tdm_status_free(st);
            st = tdm_status_new(TDM_FAILED_PRECONDITION,
                                "a tenant may have at most %d webhooks; delete one first",
                                GW_WEBHOOKS_PER_TENANT_MAX);
        }
        finish(op, st, NULL);
        return;
    }
    Tandem__V1__Webhook *w = webhook_message(op->arena, &rows[0]);
    if (w == NULL) {
        finish(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    op->shown = w;
    finish(op, NULL, &w->base);
}

static void create_insert(webhook_op *op)
{
    const Tandem__V1__CreateWebhookRequest *req = (const void *)op->request;
    tdm_uuid_text(op->id);
    uint8_t sealed[GW_WEBHOOK_SEALED_MAX];
    size_t sealed_len = 0;
    char *aad = tdm_arena_printf(op->arena, "%s:%s", op->p->tenant_id, op->id);
    if (aad == NULL || gw_webhook_secret_generate(op->secret, sizeof(op->secret)) != 0 ||
        gw_webhook_secret_seal(aad, op->secret, sealed, &sealed_len) != 0) {
        finish(op, tdm_status_new(TDM_INTERNAL, "could not generate a signing secret"), NULL);
        return;
    }
    const Tandem__V1__Webhook *w = req->webhook;
    int rc = gw_webhook_store_create(&op->sc, op->p->tenant_id, op->id, w->url, w->events,
                                     w->n_events, w->description, sealed, sealed_len, created, op);
    if (rc != 0)
        finish(op, tdm_pg_not_started(rc, "store the webhook"), NULL);
    OPENSSL_cleanse(sealed, sizeof(sealed));
}

static void claimed(void *arg, tdm_status *st, ProtobufCMessage *replay)
{
    webhook_op *op = arg;
    if (st != NULL || replay != NULL)
        finish(op, st, replay);
    else
        create_insert(op);
}

/* The key is claimed once the URL has been judged, so no transaction waits on DNS. */
static void create_claim(webhook_op *op)
{
    gw_keyed_begin(&op->keyed, &op->sc, op->p->tenant_id, op->request, claimed, op);
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    webhook_op *op = req->data;
    tdm_status *st = NULL;
    if (status != 0 || res == NULL) {
        st = gw_invalid("webhook.url", "the host name does not resolve");
    } else {
        for (struct addrinfo *ai = res; ai != NULL && st == NULL; ai = ai->ai_next) {
            if (!gw_webhook_addr_public(ai->ai_addr))
                st = gw_invalid("webhook.url", "resolves to a loopback, link-local or private "
                                               "address (refused: TANDEM_WEBHOOK_ALLOW_PRIVATE)");
        }
    }
    uv_freeaddrinfo(res);
    if (st != NULL) {
        finish(op, st, NULL);
        return;
    }
    op->write(op);
}

/* Where the URL may point, then op->write. */
static void check_url_target(webhook_op *op)
{
    bool allow_private = op->gw->cfg->webhook_allow_private;
    bool is_public = false;
    if (allow_private) {
        op->write(op);
        return;
    }
    if (gw_webhook_literal(op->host, &is_public)) {
        if (!is_public) {
            finish(op,
                   gw_invalid("webhook.url", "is a loopback, link-local or private address "
                                             "(refused: TANDEM_WEBHOOK_ALLOW_PRIVATE)"),
                   NULL);
            return;
        }
        op->write(op);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    op->resolve.data = op;
    if (uv_getaddrinfo(tdm_runtime_loop(op->gw->rt), &op->resolve, resolved, op->host, NULL,
                       &hints) != 0)
        finish(op, gw_invalid("webhook.url", "the host name does not resolve"), NULL);
}

static void create_start(webhook_op *op)
{
    const Tandem__V1__CreateWebhookRequest *req = (const void *)op->request;
    bool allow_private = op->gw->cfg->webhook_allow_private;
    tdm_status *st =
        validate_webhook(req->webhook, WEBHOOK_WRITABLE, allow_private, op->arena, &op->host);
    if (st != NULL) {
        finish(op, st, NULL);
        return;
    }
    /* Keys are per tenant: a platform key may create webhooks for several. */
    op->keyed =
        (gw_keyed){.principal_id = op->p->key_id,
                   .method = tdm_arena_printf(op->arena, "CreateWebhook %s", op->p->tenant_id),
                   .key = op->idem_key,
                   .desc = &tandem__v1__webhook__descriptor};
    if (op->keyed.method == NULL) {
        finish(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    op->write = create_claim;
    check_url_target(op);
}

/* ---- the other methods --------------------------------------------------------------------------
 */

static void *webhook_item(tdm_arena *a, const void *row)
{
    return webhook_message(a, row);
}

static void *delivery_item(tdm_arena *a, const void *row)
{
    return delivery_message(a, row);
}

/* Webhooks and deliveries are listed by their sequence number. */
static char *webhook_token(tdm_arena *a, const void *row)
{
    return tdm_page_token_encode_seq(((const gw_webhook_row *)row)->seq, a);
}

static char *delivery_token(tdm_arena *a, const void *row)
{
    return tdm_page_token_encode_seq(((const gw_delivery_row *)row)->seq, a);
}

static void listed(void *arg, tdm_status *st, gw_webhook_row *rows, size_t n)
{
    static const tdm_page_rows PAGE = {&tandem__v1__list_webhooks_response__descriptor, "webhooks",
                                       sizeof(gw_webhook_row), webhook_item, webhook_token};
    webhook_op *op = arg;
    ProtobufCMessage *r = NULL;
    st = tdm_page_answer(st, op->arena, &PAGE, rows, n, op->page_size, &r);
    finish(op, st, r);
}

static void deleted(void *arg, tdm_status *st, gw_webhook_row *rows, size_t n)
{
    webhook_op *op = arg;
    (void)rows;
    if (st == NULL && n == 0)
        st = tdm_status_new(TDM_NOT_FOUND, "webhook not found");
    if (st != NULL) {
        finish(op, st, NULL);
        return;
    }
    Google__Protobuf__Empty *e = tdm_arena_alloc(op->arena, sizeof(*e));
    if (e == NULL) {
        finish(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    google__protobuf__empty__init(e);
    finish(op, NULL, &e->base);
}

static void deliveries_listed(void *arg, tdm_status *st, bool found, gw_delivery_row *rows,
                              size_t n)
{
    static const tdm_page_rows PAGE = {&tandem__v1__list_webhook_deliveries_response__descriptor,
                                       "webhook_deliveries", sizeof(gw_delivery_row), delivery_item,
                                       delivery_token};
    webhook_op *op = arg;
    ProtobufCMessage *r = NULL;
    if (st == NULL && !found)
        st = tdm_status_new(TDM_NOT_FOUND, "webhook not found");
    st = tdm_page_answer(st, op->arena, &PAGE, rows, n, op->page_size, &r);
    finish(op, st, r);
}

static tdm_status *create_webhook(webhook_op *op)
{
    create_start(op);
    return NULL;
}

static tdm_status *list_webhooks(webhook_op *op)
{
    const Tandem__V1__ListWebhooksRequest *req = (const void *)op->request;
    int64_t seq = 0;
    tdm_status *st =
        tdm_check_page_seq(NULL, req->page_size, req->page_token, &op->page_size, &seq);
    if (st != NULL)
        return st;
    return gw_started(
        gw_webhook_store_list(&op->sc, op->p->tenant_id, seq, op->page_size + 1, listed, op));
}

static tdm_status *delete_webhook(webhook_op *op)
{
    const Tandem__V1__DeleteWebhookRequest *req = (const void *)op->request;
    if (!tdm_uuid_valid(req->id))
        return gw_invalid("id", "must be a webhook id (UUID)");
    return gw_started(gw_webhook_store_delete(&op->sc, op->p->tenant_id, req->id, deleted, op));
}

static tdm_status *list_webhook_deliveries(webhook_op *op)
{
    const Tandem__V1__ListWebhookDeliveriesRequest *req = (const void *)op->request;
    int64_t seq = 0;
    if (!tdm_uuid_valid(req->webhook_id))
        return gw_invalid("webhook_id", "must be a webhook id (UUID)");
    if ((int)req->status < 0 || (int)req->status > 3)
        return gw_invalid("status", "must be PENDING, SUCCEEDED or FAILED");
    tdm_status *st =
        tdm_check_page_seq(NULL, req->page_size, req->page_token, &op->page_size, &seq);
    if (st != NULL)
        return st;
    return gw_started(gw_webhook_store_deliveries(&op->sc, op->p->tenant_id, req->webhook_id,
                                                  (int)req->status, seq, op->page_size + 1,
                                                  deliveries_listed, op));
}

/* ---- UpdateWebhook ------------------------------------------------------------------------- */

static void updated(void *arg, tdm_status *st, gw_webhook_row *rows, size_t n)
{
    webhook_op *op = arg;
    if (st == NULL && n == 0)
        st = tdm_status_new(TDM_NOT_FOUND, "webhook not found");
    if (st != NULL) {
        finish(op, st, NULL);
        return;
    }
    Tandem__V1__Webhook *w = webhook_message(op->arena, &rows[0]);
    finish(op, w == NULL ? tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory") : NULL,
           w != NULL ? &w->base : NULL);
}

static void update_write(webhook_op *op)
{
    const Tandem__V1__Webhook *w = ((const Tandem__V1__UpdateWebhookRequest *)op->request)->webhook;
    bool events = op->fields & WEBHOOK_EVENTS;
    if (gw_webhook_store_update(
            &op->sc, op->p->tenant_id, w->id, op->fields & WEBHOOK_URL ? w->url : NULL,
            events ? w->events : NULL, events ? w->n_events : 0,
            op->fields & WEBHOOK_DESCRIPTION ? w->description : NULL, updated, op) != 0)
        finish(op, gw_started(-1), NULL);
}

/* The WEBHOOK_* fields an update mask names (none or "*": all of them). */
static tdm_status *mask_fields(const Google__Protobuf__FieldMask *mask, unsigned *fields)
{
    static const struct {
        const char *path;
        unsigned field;
    } PATHS[] = {{"url", WEBHOOK_URL},
                 {"events", WEBHOOK_EVENTS},
                 {"description", WEBHOOK_DESCRIPTION},
                 {"*", WEBHOOK_WRITABLE}};
    *fields = mask == NULL || mask->n_paths == 0 ? WEBHOOK_WRITABLE : 0;
    for (size_t i = 0; mask != NULL && i < mask->n_paths; i++) {
        unsigned f = 0;
        for (size_t k = 0; k < sizeof(PATHS) / sizeof(PATHS[0]) && f == 0; k++)
            f = strcmp(mask->paths[i], PATHS[k].path) == 0 ? PATHS[k].field : 0;
        if (f == 0)
            return tdm_status_add_violation(
                tdm_status_new(TDM_INVALID_ARGUMENT, "invalid update_mask"), "update_mask",
                "\"%s\" is not a field UpdateWebhook changes (url, events, description)",
                mask->paths[i]);
        *fields |= f;
    }
    return NULL;
}

static tdm_status *update_webhook(webhook_op *op)
{
    const Tandem__V1__UpdateWebhookRequest *req = (const void *)op->request;
    if (req->webhook == NULL)
        return gw_invalid("webhook", "required");
    if (!tdm_uuid_valid(req->webhook->id))
        return gw_invalid("webhook.id", "must be a webhook id (UUID)");
    tdm_status *st = mask_fields(req->update_mask, &op->fields);
    bool allow_private = op->gw->cfg->webhook_allow_private;
    if (st == NULL)
        st = validate_webhook(req->webhook, op->fields, allow_private, op->arena, &op->host);
    if (st != NULL)
        return st;
    op->write = update_write;
    if (op->fields & WEBHOOK_URL)
        check_url_target(op);
    else
        update_write(op);
    return NULL;
}

/* WebhookService's methods in the order of its service descriptor (checked when the
 * service is registered); both doors dispatch through this table. */
static const struct webhook_method {
    const char *name;
    tdm_status *(*run)(webhook_op *op);
} WEBHOOK_METHODS[] = {
    {"CreateWebhook", create_webhook}, {"ListWebhooks", list_webhooks},
    {"DeleteWebhook", delete_webhook}, {"ListWebhookDeliveries", list_webhook_deliveries},
    {"UpdateWebhook", update_webhook},
};

#define N_WEBHOOK_METHODS (sizeof(WEBHOOK_METHODS) / sizeof(WEBHOOK_METHODS[0]))

void gw_webhook_call(gw_state *gw, const char *method, const ProtobufCMessage *request,
                     const gw_principal *p, const char *idempotency_key, const char *request_id,
                     uint64_t deadline_ms, tdm_arena *arena, gw_tenant_cb cb, void *arg)
{
    webhook_op *op = tdm_arena_calloc(arena, 1, sizeof(*op));
    if (op == NULL) {
        cb(arg, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"), NULL);
        return;
    }
    op->gw = gw;
    op->method = method;
    op->request = request;
    op->p = p;
    op->idem_key = idempotency_key != NULL && idempotency_key[0] != '\0' ? idempotency_key : NULL;
    op->arena = arena;
    op->cb = cb;
    op->arg = arg;
    op->sc = (gw_store_ctx){.pool = tdm_runtime_pg(gw->rt),
                            .arena = arena,
                            .request_id = request_id,
                            .deadline_ms = deadline_ms};
    size_t i =
        gw_local_method_index(&tandem__v1__webhook_service__descriptor, method, N_WEBHOOK_METHODS);
    tdm_status *st = NULL;
    if (p->tenant_id == NULL)
        st = tdm_status_new(TDM_INVALID_ARGUMENT, "the call names no tenant");
    else if (i >= N_WEBHOOK_METHODS)
        st = tdm_status_new(TDM_UNIMPLEMENTED, "unknown method WebhookService.%s", method);
    else
        st = WEBHOOK_METHODS[i].run(op);
    if (st != NULL)
        finish(op, st, NULL);
}

/* ---- the gRPC door ----------------------------------------------------------------------- */

/* The route table's rule when it has one, so both doors agree (admin, tenant). */
static const gw_route_auth *webhook_rule(const char *path, const char *method)
{
    (void)method;
    const gw_route_auth *ra = gw_rest_auth_for_grpc_path(path);
    return ra != NULL ? ra : &AUTH_TENANT_ADMIN;
}

tdm_status *gw_webhook_register(gw_state *gw)
{
    static gw_local_service svc = {.descriptor = &tandem__v1__webhook_service__descriptor,
                                   .rule = webhook_rule,
                                   .fn = gw_webhook_call};
    gw_webhook_sealing_key_load(gw->cfg->webhook_secret_key, gw->cfg->webhook_secret_key_previous);
    return gw_local_register(gw, &svc, WEBHOOK_METHODS, sizeof(WEBHOOK_METHODS[0]),
                             N_WEBHOOK_METHODS);
}
