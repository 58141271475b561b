/*
 * usage.h - what a tenant used in a month (docs/operations.md "Usage"): the API calls
 * the gateway admits, counted in memory and added to gateway.usage_api_calls, and
 * TenantService.GetTenantUsage and ListUsage, which gather the month's figures from
 * that table and from the owning services (tandem.internal.v1.UsageService).
 */
#ifndef TANDEM_GATEWAY_USAGE_H
#define TANDEM_GATEWAY_USAGE_H

#include <stdint.h>

#include "gateway.h"
#include "store.h"
#include "tandem/v1/tenant.pb-c.h"

/* Distinct (tenant, month, scope) counts held between flushes. Past it a call is not
 * counted, and the loss is logged at the next flush (a replica would need this many
 * tenants calling within one flush interval). */
#define GW_USAGE_MAX_PENDING 16384

/* Count one call admitted for tenant_id (a tenant's UUID) under the route's scope
 * (TDM_SCOPE_* bit; 0: any valid key), in the current month (UTC). */
void gw_usage_count(gw_state *gw, const char *tenant_id, uint32_t scope);

/* Start the flush timer (every gw->cfg->usage_flush_ms). */
void gw_usage_start(gw_state *gw);
/* From the shutdown hook: stop the timer and flush what is left, holding the runtime
 * (tdm_runtime_hold) until the database has it. */
void gw_usage_stop(gw_state *gw);

/* GetTenantUsage and ListUsage for an authenticated caller (tenants.c applies the
 * route's rule; these the per-tenant one). A status when refused before starting (cb
 * not called); otherwise NULL and cb(arg, status or NULL, response) exactly once. */
tdm_status *gw_usage_get_tenant(gw_state *gw, const gw_store_ctx *sc, const gw_principal *p,
                                const Tandem__V1__GetTenantUsageRequest *req, gw_tenant_cb cb,
                                void *arg);
tdm_status *gw_usage_list(gw_state *gw, const gw_store_ctx *sc, const gw_principal *p,
                          const Tandem__V1__ListUsageRequest *req, gw_tenant_cb cb, void *arg);

/* ---- usage_store.c: the SQL of gateway.usage_api_calls ---------------------------- */

typedef struct gw_usage_delta {
    const char *tenant_id;
    const char *month; /* "YYYY-MM-01" */
    const char *scope; /* the scope's name */
    int64_t count;
} gw_usage_delta;

/* Add every delta to its row in one statement (count = count + delta); the keys of
 * deltas are distinct. */
int gw_usage_store_add(const gw_store_ctx *c, const gw_usage_delta *deltas, size_t n,
                       gw_store_done_cb cb, void *arg);

typedef struct gw_usage_scope_row {
    const char *scope;
    int64_t count;
} gw_usage_scope_row;
typedef void (*gw_usage_scopes_cb)(void *arg, tdm_status *st, gw_usage_scope_row *rows, size_t n);

/* The tenant's API calls of a month ("YYYY-MM-01") by scope, by scope name. */
int gw_usage_store_api_calls(const gw_store_ctx *c, const char *tenant_id, const char *month,
                             gw_usage_scopes_cb cb, void *arg);

#endif
