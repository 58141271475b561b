/*
 * config.c - read and validate the environment (API.md, "Configuration").
 */
#include "tandem/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_RATE_LIMIT_RPS         200
#define DEFAULT_RATE_LIMIT_BURST       400
#define DEFAULT_DRAIN_TIMEOUT_MS       15000
#define MAX_DRAIN_TIMEOUT_MS           600000
#define DEFAULT_SEND_STALL_TIMEOUT_MS  20000
#define MIN_SEND_STALL_TIMEOUT_MS      1000
#define MAX_SEND_STALL_TIMEOUT_MS      600000
#define DEFAULT_MAX_CONNECTIONS        10000
#define DEFAULT_MAX_CONNECTIONS_PER_IP 256
#define MAX_CONNECTIONS_LIMIT          1000000
#define DEFAULT_DB_POOL_SIZE           8
#define MAX_DB_POOL_SIZE               256
#define MAX_RATE_LIMIT                 1000000
#define DEFAULT_WEBHOOK_RETRY_BASE_MS  5000 /* API.md: the first retry within 5 s */
#define DEFAULT_OUTBOX_RETENTION_HOURS 168  /* a week */
#define MAX_OUTBOX_RETENTION_HOURS     8760
#define MIN_WEBHOOK_SECRET_KEY_CHARS   16

static const char *env_getenv(const char *name)
{
    return getenv(name);
}

int tdm_addr_parse(const char *s, tdm_addr *addr)
{
    const char *colon;
    size_t host_len;
    const char *host = s;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -1;
        host_len = (size_t)(colon - s);
    }
    if (host_len == 0 || host_len >= sizeof(addr->host))
        return -1;
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || port < 0 || port > 65535)
        return -1;
    memcpy(addr->host, host, host_len);
    addr->host[host_len] = '\0';
    addr->port = (int)port;
    return 0;
}

static tdm_status *bad(const char *name, const char *value, const char *expected)
{
    return tdm_status_new(TDM_INVALID_ARGUMENT, "%s=\"%s\" is not valid: expected %s", name, value,
                          expected);
}

static tdm_status *read_int(const char *(*get)(const char *), const char *name, int dflt, int min,
                            int max, int *out)
{
    const char *v = get(name);
    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return NULL;
    }
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > max) {
        char expected[96];
        snprintf(expected, sizeof(expected), "a whole number from %d to %d", min, max);
        return bad(name, v, expected);
    }
    *out = (int)n;
    return NULL;
}

static tdm_status *read_bool(const char *(*get)(const char *), const char *name, bool dflt,
                             bool *out)
{
    const char *v = get(name);
    if (v == NULL || v[0] == '\0') {
        *out = dflt;
        return NULL;
    }
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) {
        *out = true;
        return NULL;
    }
    if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) {
        *out = false;
        return NULL;
    }
    return bad(name, v, "1 or 0");
}

static tdm_status *read_addr(const char *(*get)(const char *), const char *name, const char *dflt,
                             tdm_addr *out)
{
    const char *v = get(name);
    if (v == NULL || v[0] == '\0')
        v = dflt;
    if (tdm_addr_parse(v, out) != 0)
        return bad(name, v, "host:port with a port from 0 to 65535");
    return NULL;
}

/* An address that may be left unset (then *set is false). */
static tdm_status *read_optional_addr(const char *(*get)(const char *), const char *name,
                                      tdm_addr *out, bool *set)
{
    const char *v = get(name);
    *set = v != NULL && v[0] != '\0';
    if (*set && tdm_addr_parse(v, out) != 0)
        return bad(name, v, "host:port with a port from 0 to 65535, or unset");
    return NULL;
}

static tdm_status *read_string(const char *(*get)(const char *), const char *name, char **out)
{
    const char *v = get(name);
    *out = NULL;
    if (v == NULL || v[0] == '\0')
        return NULL;
    *out = strdup(v);
    if (*out == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory reading %s", name);
    return NULL;
}

tdm_status *tdm_config_load(tdm_config *cfg, const char *service, int default_port,
                            const char *(*getenv_fn)(const char *name))
{
    const char *(*get)(const char *) = getenv_fn != NULL ? getenv_fn : env_getenv;
    memset(cfg, 0, sizeof(*cfg));
    cfg->service = service;
    tdm_status *st = NULL;
    char listen_default[32];
    snprintf(listen_default, sizeof(listen_default), "0.0.0.0:%d", default_port);

    const char *level = get("TANDEM_LOG_LEVEL");
    cfg->log_level = TDM_LOG_INFO;
    if (level != NULL && level[0] != '\0') {
        int parsed = tdm_log_level_parse(level);
        if (parsed < 0)
            return bad("TANDEM_LOG_LEVEL", level, "debug, info, warn or error");
        cfg->log_level = (tdm_log_level)parsed;
    }
    if ((st = read_string(get, "TANDEM_DATABASE_URL", &cfg->database_url)) != NULL)
        return st;
    if (cfg->database_url == NULL)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_DATABASE_URL is not set: give a libpq connection "
                              "string, e.g. postgresql://tandem_%s@localhost/tandem",
                              service);
    if ((st = read_string(get, "TANDEM_MIGRATION_DATABASE_URL", &cfg->migration_database_url)))
        return st;
    if (cfg->migration_database_url == NULL &&
        (cfg->migration_database_url = strdup(cfg->database_url)) == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    if ((st = read_addr(get, "TANDEM_LISTEN", listen_default, &cfg->listen)) != NULL ||
        (st = read_optional_addr(get, "TANDEM_ADMIN_LISTEN", &cfg->admin_listen,
                                 &cfg->has_admin_listen)) ||
        (st = read_addr(get, "TANDEM_ENROLMENT_ADDR", "127.0.0.1:50051", &cfg->enrolment_addr)) ||
        (st = read_addr(get, "TANDEM_MATCHING_ADDR", "127.0.0.1:50052", &cfg->matching_addr)) ||
        (st = read_addr(get, "TANDEM_FEEDBACK_ADDR", "127.0.0.1:50053", &cfg->feedback_addr)) ||
        (st = read_string(get, "TANDEM_BOOTSTRAP_KEY", &cfg->bootstrap_key)) ||
        (st = read_int(get, "TANDEM_RATE_LIMIT_RPS", DEFAULT_RATE_LIMIT_RPS, 1, MAX_RATE_LIMIT,
                       &cfg->rate_limit_rps)) ||
        (st = read_int(get, "TANDEM_RATE_LIMIT_BURST", DEFAULT_RATE_LIMIT_BURST, 1, MAX_RATE_LIMIT,
                       &cfg->rate_limit_burst)) ||
        (st = read_bool(get, "TANDEM_WEBHOOK_ALLOW_PRIVATE", false, &cfg->webhook_allow_private)) ||
        (st = read_int(get, "TANDEM_DRAIN_TIMEOUT_MS", DEFAULT_DRAIN_TIMEOUT_MS, 0,
                       MAX_DRAIN_TIMEOUT_MS, &cfg->drain_timeout_ms)) ||
        (st = read_bool(get, "TANDEM_REFLECTION", true, &cfg->reflection)) ||
        (st = read_string(get, "TANDEM_WEBHOOK_SECRET_KEY", &cfg->webhook_secret_key)) ||
        (st = read_string(get, "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS",
                          &cfg->webhook_secret_key_previous)) ||
        (st = read_int(get, "TANDEM_WEBHOOK_RETRY_BASE_MS", DEFAULT_WEBHOOK_RETRY_BASE_MS, 1,
                       DEFAULT_WEBHOOK_RETRY_BASE_MS, &cfg->webhook_retry_base_ms)) ||
        (st = read_int(get, "TANDEM_DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE, 1, MAX_DB_POOL_SIZE,
                       &cfg->db_pool_size)) ||
        (st = read_int(get, "TANDEM_OUTBOX_RETENTION_HOURS", DEFAULT_OUTBOX_RETENTION_HOURS, 1,
                       MAX_OUTBOX_RETENTION_HOURS, &cfg->outbox_retention_hours)) ||
        (st = read_int(get, "TANDEM_SEND_STALL_TIMEOUT_MS", DEFAULT_SEND_STALL_TIMEOUT_MS,
                       MIN_SEND_STALL_TIMEOUT_MS, MAX_SEND_STALL_TIMEOUT_MS,
                       &cfg->send_stall_timeout_ms)) ||
        (st = read_int(get, "TANDEM_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, 1,
                       MAX_CONNECTIONS_LIMIT, &cfg->max_connections)) ||
        (st = read_int(get, "TANDEM_MAX_CONNECTIONS_PER_ADDRESS", DEFAULT_MAX_CONNECTIONS_PER_IP, 1,
                       MAX_CONNECTIONS_LIMIT, &cfg->max_connections_per_address)) ||
        (st = read_int(get, "TANDEM_RUN_LEASE_MS", 120000, 1000, 3600000, &cfg->run_lease_ms)))
        return st;
    if (cfg->has_admin_listen && cfg->admin_listen.port != 0 &&
        cfg->admin_listen.port == cfg->listen.port)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_ADMIN_LISTEN uses the port of TANDEM_LISTEN (%d): the admin "
                              "port (metrics and probes) must be a port of its own",
                              cfg->listen.port);
    if (cfg->webhook_secret_key != NULL &&
        strlen(cfg->webhook_secret_key) < MIN_WEBHOOK_SECRET_KEY_CHARS)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_WEBHOOK_SECRET_KEY is too short: it must be at least %d "
                              "characters of high-entropy secret",
                              MIN_WEBHOOK_SECRET_KEY_CHARS);
    if (cfg->webhook_secret_key_previous != NULL &&
        strlen(cfg->webhook_secret_key_previous) < MIN_WEBHOOK_SECRET_KEY_CHARS)
        return tdm_status_new(
            TDM_INVALID_ARGUMENT,
            "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS is too short: it must be at least "
            "%d characters (the key being rotated out)",
            MIN_WEBHOOK_SECRET_KEY_CHARS);
    if (cfg->webhook_secret_key_previous != NULL && cfg->webhook_secret_key == NULL)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS is set without "
                              "TANDEM_WEBHOOK_SECRET_KEY: rotation needs the new key too");
    if (cfg->bootstrap_key != NULL && strlen(cfg->bootstrap_key) < 32)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_BOOTSTRAP_KEY is too short: it must be at least 32 "
                              "characters of high-entropy secret");
    return NULL;
}

void tdm_config_free(tdm_config *cfg)
{
    free(cfg->database_url);
    free(cfg->migration_database_url);
    free(cfg->bootstrap_key);
    free(cfg->webhook_secret_key);
    free(cfg->webhook_secret_key_previous);
    cfg->database_url = cfg->migration_database_url = cfg->bootstrap_key = NULL;
    cfg->webhook_secret_key = cfg->webhook_secret_key_previous = NULL;
}
