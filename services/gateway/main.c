/*
 * main.c - tandem-gateway: wires configuration, the TenantService, the
 * WebhookService and its delivery worker, gRPC pass-through, the REST front and
 * authentication into the runtime.
 * Ready when the database is reachable and every service it forwards to answers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth_guard.h"
#include "gateway.h"
#include "gateway_migrations.h"
#include "tandem/log.h"
#include "tandem/runtime.h"
#include "webhook.h"

/* The gateway's state lives as long as the process: callbacks of the last key-use
 * batch and of peer probes may still run while the runtime closes the pool and the
 * peers, after the shutdown hook. */
static gw_state *STATE;

/* A gateway-only setting: a whole number in [min, max], or `fallback` when unset. */
static tdm_status *env_uint(const char *name, uint32_t fallback, uint32_t min, uint32_t max,
                            uint32_t *out)
{
    const char *v = getenv(name);
    *out = fallback;
    if (v == NULL || v[0] == '\0')
        return NULL;
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || n < min || n > max)
        return tdm_status_new(TDM_INVALID_ARGUMENT, "%s must be a whole number from %u to %u", name,
                              min, max);
    *out = (uint32_t)n;
    return NULL;
}

/* Failed authentications per client address (auth_guard.h). */
static tdm_status *guard_init(gw_state *gw)
{
    uint32_t failures, window_ms;
    tdm_status *st = env_uint("TANDEM_AUTH_FAILURES_PER_ADDRESS", GW_GUARD_FAILURES_DEFAULT, 1,
                              1000000, &failures);
    if (st == NULL)
        st = env_uint("TANDEM_AUTH_FAILURE_WINDOW_MS", GW_GUARD_WINDOW_MS_DEFAULT, 100, 3600000,
                      &window_ms);
    if (st != NULL)
        return st;
    gw->guard = gw_auth_guard_new(failures, window_ms);
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

static tdm_status *gateway_init(tdm_runtime *rt)
{
    gw_state *gw = calloc(1, sizeof(*gw));
    if (gw == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    const tdm_config *cfg = tdm_runtime_config(rt);
    gw->rt = rt;
    gw->default_rps = (uint32_t)cfg->rate_limit_rps;
    gw->default_burst = (uint32_t)cfg->rate_limit_burst;
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
    gw_probe_start(gw);
    gw_tenant_bootstrap(gw);
    gw_webhook_reseal_start(gw);
    gw_delivery_limits limits;
    st = env_uint("TANDEM_WEBHOOK_MAX_IN_FLIGHT", GW_WEBHOOK_MAX_IN_FLIGHT_DEFAULT, 1, 10000,
                  &limits.max_in_flight);
    if (st == NULL)
        st = env_uint("TANDEM_WEBHOOK_TENANT_IN_FLIGHT", GW_WEBHOOK_TENANT_IN_FLIGHT_DEFAULT, 1,
                      10000, &limits.tenant_in_flight);
    if (st == NULL)
        st = env_uint("TANDEM_WEBHOOK_DISABLE_AFTER_HOURS", GW_WEBHOOK_DISABLE_AFTER_HOURS_DEFAULT,
                      1, 8760, &limits.disable_after_hours);
    return st != NULL ? st : gw_delivery_start(gw, &limits);
}

static void gateway_shutdown(tdm_runtime *rt)
{
    gw_state *gw = tdm_runtime_user(rt);
    if (gw == NULL)
        return;
    gw_auth_stop(gw);
    gw_probe_stop(gw);
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
        .init = gateway_init,
        .shutdown = gateway_shutdown,
        .ready_check = gateway_ready,
    };
    return tdm_runtime_main(&spec);
}
