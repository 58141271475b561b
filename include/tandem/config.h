/*
 * config.h - configuration from the environment (API.md, "Configuration").
 *
 * tdm_config holds what every process reads; a service's own settings are read by
 * the service (tdm_service_spec.load_config, with the readers below), so they are
 * declared next to the code that uses them. A bad value stops start-up (exit status
 * 2) with a message that names the variable and says what would be accepted.
 * Nothing else in Tandem calls getenv() for configuration.
 */
#ifndef TANDEM_CONFIG_H
#define TANDEM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

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
    tdm_addr enrolment_addr;         /* TANDEM_ENROLMENT_ADDR, default 127.0.0.1:50051 */
    tdm_addr matching_addr;          /* TANDEM_MATCHING_ADDR, default 127.0.0.1:50052 */
    tdm_addr feedback_addr;          /* TANDEM_FEEDBACK_ADDR, default 127.0.0.1:50053 */
    tdm_log_level log_level;         /* TANDEM_LOG_LEVEL, default info */
    int drain_timeout_ms;            /* TANDEM_DRAIN_TIMEOUT_MS, 0..600000, default 15000 */
    bool reflection;                 /* TANDEM_REFLECTION, default 1 */
    int db_pool_size;                /* TANDEM_DB_POOL_SIZE, 1..256, default 8 */
    int send_stall_timeout_ms;       /* TANDEM_SEND_STALL_TIMEOUT_MS, 1000..600000, default 20000 */
    int max_connections;             /* TANDEM_MAX_CONNECTIONS, 1..1000000, default 10000 */
    int max_connections_per_address; /* TANDEM_MAX_CONNECTIONS_PER_ADDRESS, 1..1000000, 256 */
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

/* The readers of every variable, the runtime's and a service's own. get: getenv when
 * NULL. An unset or empty variable gives the default (*out NULL for a string); a bad
 * value is INVALID_ARGUMENT "NAME=\"value\" is not valid: expected ...". A string
 * is the caller's to free. */
typedef const char *(*tdm_getenv_fn)(const char *name);
tdm_status *tdm_config_int(tdm_getenv_fn get, const char *name, int dflt, int min, int max,
                           int *out);
tdm_status *tdm_config_bool(tdm_getenv_fn get, const char *name, bool dflt, bool *out);
tdm_status *tdm_config_string(tdm_getenv_fn get, const char *name, char **out);
/* A secret, when set, of at least min_chars characters ("NAME is too short: ..."). */
tdm_status *tdm_config_secret(tdm_getenv_fn get, const char *name, size_t min_chars,
                              const char *what, char **out);

/* Parse "host:port" or "[v6]:port" into addr; returns 0 or -1. */
int tdm_addr_parse(const char *s, tdm_addr *addr);

#endif
