/*
 * config.h - configuration from the environment (API.md, "Configuration").
 *
 * Every process reads the same variable names; a bad value stops start-up with a
 * message that names the variable and says what would be accepted. Nothing else in
 * Tandem calls getenv() for configuration.
 */
#ifndef TANDEM_CONFIG_H
#define TANDEM_CONFIG_H

#include <stdbool.h>

#include "tandem/log.h"
#include "tandem/status.h"

#define TDM_CONFIG_HOST_MAX 256

typedef struct tdm_addr {
    char host[TDM_CONFIG_HOST_MAX];
    int port;
} tdm_addr;

typedef struct tdm_config {
    const char *service;          /* "gateway", "enrolment", ... (static string) */
    char *database_url;           /* TANDEM_DATABASE_URL (service role) */
    char *migration_database_url; /* TANDEM_MIGRATION_DATABASE_URL (owner), or database_url */
    tdm_addr listen;              /* TANDEM_LISTEN, default 0.0.0.0:<service port> */
    /* TANDEM_ADMIN_LISTEN, unset by default: when set, /metrics, /healthz and /readyz are
     * served on this address too, and the public port (TANDEM_LISTEN) no longer answers
     * /metrics. Must differ from TANDEM_LISTEN. */
    tdm_addr admin_listen;
    bool has_admin_listen;
    tdm_addr enrolment_addr;      /* TANDEM_ENROLMENT_ADDR, default 127.0.0.1:50051 */
    tdm_addr matching_addr;       /* TANDEM_MATCHING_ADDR, default 127.0.0.1:50052 */
    tdm_addr feedback_addr;       /* TANDEM_FEEDBACK_ADDR, default 127.0.0.1:50053 */
    char *bootstrap_key;          /* TANDEM_BOOTSTRAP_KEY, NULL when unset */
    tdm_log_level log_level;      /* TANDEM_LOG_LEVEL, default info */
    int rate_limit_rps;           /* TANDEM_RATE_LIMIT_RPS, 1..1000000, default 200 */
    int rate_limit_burst;         /* TANDEM_RATE_LIMIT_BURST, 1..1000000, default 400 */
    bool webhook_allow_private;   /* TANDEM_WEBHOOK_ALLOW_PRIVATE=1 */
    char *webhook_secret_key;     /* TANDEM_WEBHOOK_SECRET_KEY (16+ chars), NULL when unset */
    /* TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS: the key being rotated out (opens, never seals),
     * NULL when unset */
    char *webhook_secret_key_previous;
    int webhook_retry_base_ms;       /* TANDEM_WEBHOOK_RETRY_BASE_MS, 1..5000, default 5000 */
    int outbox_retention_hours;      /* TANDEM_OUTBOX_RETENTION_HOURS, 1..8760, default 168: the
                                        gateway deletes outbox rows it has fanned out once older */
    int drain_timeout_ms;            /* TANDEM_DRAIN_TIMEOUT_MS, 0..600000, default 15000 */
    bool reflection;                 /* TANDEM_REFLECTION, default 1 */
    int db_pool_size;                /* TANDEM_DB_POOL_SIZE, 1..256, default 8 */
    int send_stall_timeout_ms;       /* TANDEM_SEND_STALL_TIMEOUT_MS, 1000..600000, default 20000 */
    int max_connections;             /* TANDEM_MAX_CONNECTIONS, 1..1000000, default 10000 */
    int max_connections_per_address; /* TANDEM_MAX_CONNECTIONS_PER_ADDRESS, 1..1000000, 256 */
    int run_lease_ms; /* TANDEM_RUN_LEASE_MS, 1000..3600000, default 120000 (matching: how long
                         a run's claim lasts unrenewed; renewed every quarter of it) */
} tdm_config;

/* Service names and their default ports (API.md "Ports"). */
#define TDM_PORT_GATEWAY   8080
#define TDM_PORT_ENROLMENT 50051
#define TDM_PORT_MATCHING  50052
#define TDM_PORT_FEEDBACK  50053

/*
 * Fill cfg for `service` (a static string) from the environment, using getenv_fn
 * (getenv when NULL; tests pass their own). On a bad value returns INVALID_ARGUMENT
 * whose message names the variable, and cfg must still be released with
 * tdm_config_free.
 */
tdm_status *tdm_config_load(tdm_config *cfg, const char *service, int default_port,
                            const char *(*getenv_fn)(const char *name));
void tdm_config_free(tdm_config *cfg);

/* Parse "host:port" or "[v6]:port" into addr; returns 0 or -1. */
int tdm_addr_parse(const char *s, tdm_addr *addr);

#endif
