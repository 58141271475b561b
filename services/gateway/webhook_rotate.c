/*
 * webhook_rotate.c - rotating TANDEM_WEBHOOK_SECRET_KEY.
 *
 * Signing secrets are sealed at rest under the key (webhook_util.c). To rotate it, an
 * operator restarts the gateway with the new key in TANDEM_WEBHOOK_SECRET_KEY and the
 * old one in TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS: secrets still open (the old key is
 * tried second), and this pass, once after start-up, seals every secret found under
 * the old key - or stored unencrypted before any key was set - again under the new
 * one, tenant by tenant, each UPDATE conditional on the sealed bytes it read (so two
 * replicas doing the same pass cannot undo each other). It then logs how many it
 * re-sealed and how many it could not open; when none is left under the old key it
 * says that TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS can be removed. docs/operations.md
 * has the procedure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tandem/log.h"
#include "webhook.h"

#define WAIT_MS 1000 /* how often to look whether migrations are applied */

typedef struct reseal_op {
    gw_state *gw;
    uv_timer_t timer;
    tdm_arena *a;
    char (*tenants)[37];
    size_t n_tenants, next_tenant;
    /* the current tenant's webhooks needing a new seal */
    struct pending {
        const char *id, *old_hex, *new_hex;
    } * pending;
    size_t n_pending, next_pending;
    size_t resealed, unopenable, webhooks;
    bool stopped;
} reseal_op;

/* The pass in progress, reachable until its timer handle is closed. */
static reseal_op *CURRENT;

static void op_closed(uv_handle_t *h)
{
    reseal_op *op = h->data;
    if (CURRENT == op)
        CURRENT = NULL;
    tdm_arena_free(op->a);
    free(op);
}

static void finish(reseal_op *op, tdm_status *st)
{
    char n[3][24];
    snprintf(n[0], sizeof(n[0]), "%zu", op->resealed);
    snprintf(n[1], sizeof(n[1]), "%zu", op->unopenable);
    snprintf(n[2], sizeof(n[2]), "%zu", op->webhooks);
    if (st != NULL) {
        tdm_log_fields(TDM_LOG_WARN, NULL,
                       "webhook secrets: re-sealing stopped; it runs again at the next start",
                       "error", st->message, "detail", st->detail, "resealed", n[0], NULL);
        tdm_status_free(st);
    } else if (op->unopenable > 0) {
        tdm_log_fields(TDM_LOG_WARN, NULL,
                       "webhook secrets: some cannot be opened with TANDEM_WEBHOOK_SECRET_KEY or "
                       "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS; their deliveries fail until the key "
                       "they were sealed under is configured",
                       "unopenable", n[1], "resealed", n[0], "webhooks", n[2], NULL);
    } else if (op->resealed > 0 || op->gw->cfg->webhook_secret_key_previous != NULL) {
        tdm_log_fields(TDM_LOG_INFO, NULL,
                       "webhook secrets: all sealed under TANDEM_WEBHOOK_SECRET_KEY; "
                       "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS, if set, can be removed",
                       "resealed", n[0], "webhooks", n[2], NULL);
    }
    /* At shutdown the runtime may have closed the timer already (it closes every
     * handle left); op then stays reachable through CURRENT until exit. */
    if (!uv_is_closing((uv_handle_t *)&op->timer))
        uv_close((uv_handle_t *)&op->timer, op_closed);
}

static void next_tenant(reseal_op *op);
static void next_pending(reseal_op *op);

static void updated(void *arg, tdm_status *st, PGresult *res)
{
    reseal_op *op = arg;
    if (st != NULL) {
        finish(op, st);
        return;
    }
    if (PQcmdTuples(res)[0] == '1')
        op->resealed++; /* 0: changed meanwhile (deleted, or another replica was first) */
    next_pending(op);
}

static void next_pending(reseal_op *op)
{
    if (op->stopped) {
        finish(op, tdm_status_new(TDM_UNAVAILABLE, "the gateway is stopping"));
        return;
    }
    if (op->next_pending >= op->n_pending) {
        next_tenant(op);
        return;
    }
    struct pending *p = &op->pending[op->next_pending++];
    const char *tenant = op->tenants[op->next_tenant - 1];
    const char *values[] = {tenant, p->id, p->new_hex, p->old_hex};
    tdm_pg_tx_options o = {.tenant_id = tenant};
    if (tdm_pg_exec(tdm_runtime_pg(op->gw->rt), &o,
                    "UPDATE gateway.webhooks SET secret_sealed = decode($3, 'hex')"
                    " WHERE tenant_id = $1::uuid AND id = $2::uuid"
                    " AND secret_sealed = decode($4, 'hex')",
                    4, values, updated, op) != 0)
        finish(op, tdm_status_new(TDM_INTERNAL, "could not queue an update"));
}

static void webhooks_read(void *arg, tdm_status *st, PGresult *res)
{
    reseal_op *op = arg;
    if (st != NULL) {
        finish(op, st);
        return;
    }
    int n = PQntuples(res);
    const char *tenant = op->tenants[op->next_tenant - 1];
    op->pending = tdm_arena_calloc(op->a, (size_t)(n > 0 ? n : 1), sizeof(*op->pending));
    op->n_pending = op->next_pending = 0;
    if (op->pending == NULL) {
        finish(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    for (int i = 0; i < n; i++) {
        op->webhooks++;
        const char *id = PQgetvalue(res, i, 0), *hex = PQgetvalue(res, i, 1);
        char aad[80], secret[GW_WEBHOOK_SECRET_LEN + 1];
        uint8_t fresh[GW_WEBHOOK_SEALED_MAX];
        size_t len = 0, fresh_len = 0;
        bool stale = false;
        snprintf(aad, sizeof(aad), "%s:%s", tenant, id);
        const uint8_t *sealed = gw_hex_decode(op->a, hex, &len);
        if (sealed == NULL ||
            gw_webhook_secret_open(aad, sealed, len, secret, sizeof(secret), &stale) != 0) {
            op->unopenable++;
            continue;
        }
        int rc = stale ? gw_webhook_secret_seal(aad, secret, fresh, &fresh_len) : 0;
        OPENSSL_cleanse(secret, sizeof(secret));
        if (!stale)
            continue;
        struct pending *p = &op->pending[op->n_pending];
        if (rc != 0 || (p->id = tdm_arena_strdup(op->a, id)) == NULL ||
            (p->old_hex = tdm_arena_strdup(op->a, hex)) == NULL ||
            (p->new_hex = gw_hex_encode(op->a, fresh, fresh_len)) == NULL) {
            finish(op, tdm_status_new(TDM_INTERNAL, "could not seal a secret again"));
            return;
        }
        op->n_pending++;
    }
    next_pending(op);
}

static void next_tenant(reseal_op *op)
{
    if (op->stopped) {
        finish(op, tdm_status_new(TDM_UNAVAILABLE, "the gateway is stopping"));
        return;
    }
    if (op->next_tenant >= op->n_tenants) {
        finish(op, NULL);
        return;
    }
    const char *tenant = op->tenants[op->next_tenant++];
    const char *values[] = {tenant};
    tdm_pg_tx_options o = {.tenant_id = tenant, .read_only = true};
    if (tdm_pg_exec(tdm_runtime_pg(op->gw->rt), &o,
                    "SELECT id::text, encode(secret_sealed, 'hex') FROM gateway.webhooks"
                    " WHERE tenant_id = $1::uuid",
                    1, values, webhooks_read, op) != 0)
        finish(op, tdm_status_new(TDM_INTERNAL, "could not queue a read"));
}

static void tenants_read(void *arg, tdm_status *st, PGresult *res)
{
    reseal_op *op = arg;
    if (st != NULL) {
        finish(op, st);
        return;
    }
    int n = PQntuples(res);
    op->tenants = tdm_arena_calloc(op->a, (size_t)(n > 0 ? n : 1), sizeof(*op->tenants));
    if (op->tenants == NULL) {
        finish(op, tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory"));
        return;
    }
    for (int i = 0; i < n; i++)
        snprintf(op->tenants[i], sizeof(op->tenants[i]), "%s", PQgetvalue(res, i, 0));
    op->n_tenants = (size_t)n;
    next_tenant(op);
}

static void wait_migrated(uv_timer_t *t)
{
    reseal_op *op = t->data;
    if (op->stopped || !tdm_runtime_migrated(op->gw->rt))
        return;
    uv_timer_stop(t);
    tdm_pg_tx_options o = {.tenant_id = NULL, .read_only = true};
    if (tdm_pg_exec(tdm_runtime_pg(op->gw->rt), &o, "SELECT id::text FROM gateway.tenants", 0, NULL,
                    tenants_read, op) != 0)
        finish(op, tdm_status_new(TDM_INTERNAL, "could not queue a read"));
}

void gw_webhook_reseal_start(gw_state *gw)
{
    if (!gw_webhook_sealing_key_set())
        return; /* nothing to seal under */
    reseal_op *op = calloc(1, sizeof(*op));
    tdm_arena *a = op != NULL ? tdm_arena_new(16 * 1024) : NULL;
    if (a == NULL) {
        free(op);
        tdm_log(TDM_LOG_WARN, NULL, "webhook secrets: out of memory, not re-sealed");
        return;
    }
    op->gw = gw;
    op->a = a;
    uv_timer_init(tdm_runtime_loop(gw->rt), &op->timer);
    op->timer.data = op;
    uv_timer_start(&op->timer, wait_migrated, WAIT_MS, WAIT_MS);
    CURRENT = op;
}

void gw_webhook_reseal_stop(void)
{
    if (CURRENT == NULL)
        return;
    CURRENT->stopped = true; /* steps in flight end the pass when they answer */
    uv_timer_stop(&CURRENT->timer);
}
