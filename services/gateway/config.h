/*
 * config.h - the gateway's own settings (the runtime's tdm_config holds what every
 * process reads): read once at start, before the runtime starts anything, and kept
 * for the life of the process. docs/operations.md lists each variable.
 */
#ifndef TANDEM_GATEWAY_CONFIG_H
#define TANDEM_GATEWAY_CONFIG_H

#include <stdbool.h>

#include "tandem/config.h"

#define GW_DEFAULT_RATE_LIMIT_RPS        200
#define GW_DEFAULT_RATE_LIMIT_BURST      400
#define GW_MAX_RATE_LIMIT                1000000
#define GW_DEFAULT_WEBHOOK_RETRY_BASE_MS 5000 /* API.md: the first retry within 5 s */
#define GW_DEFAULT_OUTBOX_RETENTION_H    168  /* a week */
#define GW_MAX_OUTBOX_RETENTION_H        8760
#define GW_MIN_WEBHOOK_SECRET_KEY_CHARS  16
#define GW_MIN_BOOTSTRAP_KEY_CHARS       32
#define GW_DEFAULT_USAGE_FLUSH_MS        1000

typedef struct gw_config {
    char *bootstrap_key;        /* TANDEM_BOOTSTRAP_KEY (32+ chars), NULL when unset */
    int rate_limit_rps;         /* TANDEM_RATE_LIMIT_RPS, 1..1000000, default 200 */
    int rate_limit_burst;       /* TANDEM_RATE_LIMIT_BURST, 1..1000000, default 400 */
    bool webhook_allow_private; /* TANDEM_WEBHOOK_ALLOW_PRIVATE=1 */
    char *webhook_secret_key;   /* TANDEM_WEBHOOK_SECRET_KEY (16+ chars), NULL when unset */
    /* TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS: the key being rotated out (opens, never seals),
     * NULL when unset */
    char *webhook_secret_key_previous;
    int webhook_retry_base_ms;     /* TANDEM_WEBHOOK_RETRY_BASE_MS, 1..5000, default 5000 */
    int auth_failures_per_address; /* TANDEM_AUTH_FAILURES_PER_ADDRESS, 1..1000000, default 20 */
    int auth_failure_window_ms;    /* TANDEM_AUTH_FAILURE_WINDOW_MS, 100..3600000, default 10000 */
    int outbox_retention_hours;    /* TANDEM_OUTBOX_RETENTION_HOURS, 1..8760, default 168: the
                                      gateway deletes outbox rows it has fanned out once older */
    int key_cache_size;            /* TANDEM_KEY_CACHE_SIZE, 0..10000000, default 10000 (0: off) */
    /* TANDEM_RATE_LIMIT_MODE: "shared" (true, default: one bucket per key in PostgreSQL
     * for every replica) or "replica" (false: each gateway its own; ratelimit.h) */
    bool rate_limit_shared;
    int webhook_max_in_flight;       /* TANDEM_WEBHOOK_MAX_IN_FLIGHT, 1..10000, default 64 */
    int webhook_tenant_in_flight;    /* TANDEM_WEBHOOK_TENANT_IN_FLIGHT, 1..10000, default 8 */
    int webhook_disable_after_hours; /* TANDEM_WEBHOOK_DISABLE_AFTER_HOURS, 1..8760, default 72 */
    int usage_flush_ms; /* TANDEM_USAGE_FLUSH_MS, 100..3600000, default 1000: how often the API
                           calls counted in memory are added to gateway.usage_api_calls */
} gw_config;

/* Fill cfg from the environment (get: getenv when NULL). On a bad value, the status
 * names the variable; cfg must still be released with gw_config_free. */
tdm_status *gw_config_load(gw_config *cfg, tdm_getenv_fn get);
void gw_config_free(gw_config *cfg);

#endif
