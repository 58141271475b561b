/*
 * config.c - the gateway's own settings (see config.h), read with the runtime's
 * readers so every variable is refused the same way.
 */
#include "config.h"

#include "auth_cache.h"
#include "auth_guard.h"
#include "webhook.h"

#include <stdlib.h>
#include <string.h>

tdm_status *gw_config_load(gw_config *cfg, tdm_getenv_fn get)
{
    memset(cfg, 0, sizeof(*cfg));
    tdm_status *st = NULL;
    if ((st = tdm_config_secret(get, "TANDEM_BOOTSTRAP_KEY", GW_MIN_BOOTSTRAP_KEY_CHARS,
                                "of high-entropy secret", &cfg->bootstrap_key)) ||
        (st = tdm_config_int(get, "TANDEM_RATE_LIMIT_RPS", GW_DEFAULT_RATE_LIMIT_RPS, 1,
                             GW_MAX_RATE_LIMIT, &cfg->rate_limit_rps)) ||
        (st = tdm_config_int(get, "TANDEM_RATE_LIMIT_BURST", GW_DEFAULT_RATE_LIMIT_BURST, 1,
                             GW_MAX_RATE_LIMIT, &cfg->rate_limit_burst)) ||
        (st = tdm_config_bool(get, "TANDEM_WEBHOOK_ALLOW_PRIVATE", false,
                              &cfg->webhook_allow_private)) ||
        (st = tdm_config_secret(get, "TANDEM_WEBHOOK_SECRET_KEY", GW_MIN_WEBHOOK_SECRET_KEY_CHARS,
                                "of high-entropy secret", &cfg->webhook_secret_key)) ||
        (st = tdm_config_secret(get, "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS",
                                GW_MIN_WEBHOOK_SECRET_KEY_CHARS, "(the key being rotated out)",
                                &cfg->webhook_secret_key_previous)) ||
        (st = tdm_config_int(get, "TANDEM_WEBHOOK_RETRY_BASE_MS", GW_DEFAULT_WEBHOOK_RETRY_BASE_MS,
                             1, GW_DEFAULT_WEBHOOK_RETRY_BASE_MS, &cfg->webhook_retry_base_ms)) ||
        (st =
             tdm_config_int(get, "TANDEM_AUTH_FAILURES_PER_ADDRESS", (int)GW_GUARD_FAILURES_DEFAULT,
                            1, 1000000, &cfg->auth_failures_per_address)) ||
        (st = tdm_config_int(get, "TANDEM_AUTH_FAILURE_WINDOW_MS", (int)GW_GUARD_WINDOW_MS_DEFAULT,
                             100, 3600000, &cfg->auth_failure_window_ms)) ||
        (st = tdm_config_int(get, "TANDEM_OUTBOX_RETENTION_HOURS", GW_DEFAULT_OUTBOX_RETENTION_H, 1,
                             GW_MAX_OUTBOX_RETENTION_H, &cfg->outbox_retention_hours)) ||
        (st = tdm_config_int(get, "TANDEM_KEY_CACHE_SIZE", (int)GW_AUTH_CACHE_SIZE_DEFAULT, 0,
                             10000000, &cfg->key_cache_size)) ||
        (st = tdm_config_int(get, "TANDEM_WEBHOOK_MAX_IN_FLIGHT", GW_WEBHOOK_MAX_IN_FLIGHT_DEFAULT,
                             1, 10000, &cfg->webhook_max_in_flight)) ||
        (st = tdm_config_int(get, "TANDEM_WEBHOOK_TENANT_IN_FLIGHT",
                             GW_WEBHOOK_TENANT_IN_FLIGHT_DEFAULT, 1, 10000,
                             &cfg->webhook_tenant_in_flight)) ||
        (st = tdm_config_int(get, "TANDEM_WEBHOOK_DISABLE_AFTER_HOURS",
                             GW_WEBHOOK_DISABLE_AFTER_HOURS_DEFAULT, 1, 8760,
                             &cfg->webhook_disable_after_hours)) ||
        (st = tdm_config_int(get, "TANDEM_USAGE_FLUSH_MS", GW_DEFAULT_USAGE_FLUSH_MS, 100, 3600000,
                             &cfg->usage_flush_ms)))
        return st;
    char *mode = NULL;
    if ((st = tdm_config_string(get, "TANDEM_RATE_LIMIT_MODE", &mode)) != NULL)
        return st;
    cfg->rate_limit_shared = mode == NULL || strcmp(mode, "shared") == 0;
    bool known = cfg->rate_limit_shared || strcmp(mode, "replica") == 0;
    free(mode);
    if (!known)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_RATE_LIMIT_MODE is not valid: expected shared or replica");
    if (cfg->webhook_secret_key_previous != NULL && cfg->webhook_secret_key == NULL)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS is set without "
                              "TANDEM_WEBHOOK_SECRET_KEY: rotation needs the new key too");
    return NULL;
}

void gw_config_free(gw_config *cfg)
{
    free(cfg->bootstrap_key);
    free(cfg->webhook_secret_key);
    free(cfg->webhook_secret_key_previous);
    cfg->bootstrap_key = cfg->webhook_secret_key = cfg->webhook_secret_key_previous = NULL;
}
