/*
 * main.c - tandem-gateway: wires configuration, the TenantService, the
 * WebhookService and its delivery worker, gRPC pass-through, the REST front and
 * authentication into the runtime.
 * Ready when the database is reachable and every service it forwards to answers.
 */
#include <stdlib.h>
#include <string.h>

#include "auth_cache.h"
#include "auth_guard.h"
#include "delivery.h"
#include "gateway.h"
#include "gateway_migrations.h"
#include "keys.h"
#include "listen.h"
#include "tandem/log.h"
#include "tandem/outbox.h"
#include "tandem/runtime.h"
#include "webhook.h"
#include "usage.h"

/* The gateway's state lives as long as the process: callbacks of the last key-use
 * batch and of peer probes may still run while the runtime closes the pool and the
 * peers, after the shutdown hook. */
static gw_state *STATE;
static gw_config CONFIG;

static tdm_status *load_config(void)
{
    return gw_config_load(&CONFIG, NULL);
}

/* Failed authentications per client address (auth_guard.h). */
static tdm_status *guard_init(gw_state *gw)
{
    gw->guard = gw_auth_guard_new((uint32_t)gw->cfg->auth_failures_per_address,
                                  (uint32_t)gw->cfg->auth_failure_window_ms);
    if (gw->guard == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    tdm_metrics *reg = tdm_metrics_global();
    gw->m_key_lookups = tdm_metric_counter(reg, "tandem_gateway_key_lookups_total",
                                           "API keys looked up in the database", NULL);
    gw->m_auth_blocked = tdm_metric_counter(
        reg, "tandem_gateway_auth_address_limited_total",
        "Requests refused (429) because their address failed to authenticate too often", NULL);
    return NULL;
}

/* ---- the LISTEN connection's channels (listen.h) ---------------------------------- */

static void outbox_notified(void *arg, const char *payload)
{
    (void)arg;
    (void)payload;
    gw_delivery_wake();
}

static void outbox_listening(void *arg)
{
    (void)arg;
    gw_delivery_wake(); /* whatever was written while not listening */
}

/* A key changed: its secret hash in hex. Anything else empties the cache. */
static void key_changed(void *arg, const char *payload)
{
    gw_state *gw = arg;
    uint8_t hash[GW_KEY_HASH_BYTES];
    if (gw_key_hash_from_hex(payload, hash))
        gw_auth_cache_forget(gw->key_cache, hash);
    else
        gw_auth_cache_enable(gw->key_cache, true);
}

static void keys_listening(void *arg)
{
    gw_state *gw = arg;
    gw_auth_cache_enable(gw->key_cache, true);
}

static void keys_not_listening(void *arg)
{
    gw_state *gw = arg;
    gw_auth_cache_enable(gw->key_cache, false);
}

static void listen_start(gw_state *gw)
{
    const gw_listen_handler handlers[] = {
        {.channel = TDM_OUTBOX_CHANNEL, .notify = outbox_notified, .up = outbox_listening},
        {.channel = GW_KEYS_CHANNEL,
         .notify = key_changed,
         .up = keys_listening,
         .down = keys_not_listening,
         .arg = gw},
    };
    gw_listen_start(tdm_runtime_loop(gw->rt), tdm_runtime_config(gw->rt)->database_url, handlers,
                    sizeof(handlers) / sizeof(handlers[0]));
}

/* The key cache: TANDEM_KEY_CACHE_SIZE keys at most (0: every request looks its key up). */
static tdm_status *key_cache_init(gw_state *gw)
{
    uint32_t size = (uint32_t)gw->cfg->key_cache_size;
    gw->key_cache = gw_auth_cache_new(size, GW_AUTH_CACHE_MAX_AGE_MS);
    if (size > 0 && gw->key_cache == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    gw->m_key_cache_hits = tdm_metric_counter(
        tdm_metrics_global(), "tandem_gateway_key_cache_hits_total",
        "API keys verified from the gateway's memory without a database lookup", NULL);
    return NULL;
}

static tdm_status *gateway_init(tdm_runtime *rt)
{
    gw_state *gw = calloc(1, sizeof(*gw));
    if (gw == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    gw->rt = rt;
    gw->cfg = &CONFIG;
    gw->default_rps = (uint32_t)CONFIG.rate_limit_rps;
    gw->default_burst = (uint32_t)CONFIG.rate_limit_burst;
    gw->limiter = gw_ratelimiter_new();
    gw->touched = calloc(GW_TOUCH_MAX_PENDING, sizeof(*gw->touched));
    if (gw->limiter == NULL || gw->touched == NULL) {
        gw_ratelimiter_free(gw->limiter);
        free(gw->touched);
        free(gw);
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    }
    tdm_metrics *reg = tdm_metrics_global();
    gw->m_requests =
        tdm_metric_counter(reg, "tandem_http_requests_total",
                           "REST requests by route, method and HTTP status", "route,method,status");
    gw->m_duration = tdm_metric_histogram(
        reg, "tandem_http_request_duration_seconds", "REST request latency by route and method",
        "route,method", TDM_METRIC_LATENCY_BUCKETS, TDM_METRIC_LATENCY_BUCKETS_COUNT);
    gw->m_ratelimited = tdm_metric_counter(reg, "tandem_ratelimit_rejections_total",
                                           "Requests refused by a key's rate limit", NULL);
    STATE = gw;
    tdm_runtime_set_user(rt, gw);
    tdm_status *st = guard_init(gw);
    if (st == NULL)
        st = key_cache_init(gw);
    if (st == NULL)
        st = gw_tenant_register(gw);
    if (st == NULL)
        st = gw_webhook_register(gw);
    if (st == NULL)
        st = gw_passthrough_register(gw);
    if (st == NULL)
        st = gw_rest_install(gw);
    if (st != NULL)
        return st;
    gw_auth_start(gw);
    gw_usage_start(gw);
    gw_probe_start(gw);
    gw_tenant_bootstrap(gw);
    gw_webhook_reseal_start(gw);
    gw_delivery_limits limits = {.max_in_flight = (uint32_t)CONFIG.webhook_max_in_flight,
                                 .tenant_in_flight = (uint32_t)CONFIG.webhook_tenant_in_flight,
                                 .disable_after_hours =
                                     (uint32_t)CONFIG.webhook_disable_after_hours};
    st = gw_delivery_start(gw, &limits);
    if (st == NULL)
        listen_start(gw);
    return st;
}

static void gateway_shutdown(tdm_runtime *rt)
{
    gw_state *gw = tdm_runtime_user(rt);
    if (gw == NULL)
        return;
    gw_auth_stop(gw);
    gw_usage_stop(gw);
    gw_probe_stop(gw);
    gw_listen_stop();
    gw_delivery_stop();
    gw_webhook_reseal_stop();
    gw_rest_uninstall();
}

/* Ready when the runtime's checks hold and every service answers. */
static bool gateway_ready(tdm_runtime *rt, const char **reason)
{
    gw_state *gw = tdm_runtime_user(rt);
    if (gw == NULL) {
        *reason = "starting";
        return false;
    }
    if (gw->bootstrap_pending) {
        /* A fresh deployment's first call uses TANDEM_BOOTSTRAP_KEY: not ready
         * until that key exists, or the call would be refused 401. */
        *reason = "bootstrap key not yet ensured";
        return false;
    }
    const char *down = gw_peers_unreachable(gw);
    if (down != NULL) {
        /* The runtime shows this reason on /readyz. */
        *reason = strcmp(down, "enrolment") == 0  ? "enrolment service unreachable"
                  : strcmp(down, "matching") == 0 ? "matching service unreachable"
                                                  : "feedback service unreachable";
        return false;
    }
    return true;
}

int main(void)
{
    static const tdm_service_spec spec = {
        .name = "gateway",
        .default_port = TDM_PORT_GATEWAY,
        .schema = "gateway",
        .migrations = gateway_migrations,
        .n_migrations = GATEWAY_MIGRATIONS_COUNT,
        .load_config = load_config,
        .init = gateway_init,
        .shutdown = gateway_shutdown,
        .ready_check = gateway_ready,
    };
    int rc = tdm_runtime_main(&spec);
    gw_config_free(&CONFIG);
    return rc;
}
