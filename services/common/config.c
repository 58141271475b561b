/*
 * config.c - read and validate the environment (API.md, "Configuration").
 */
#include "tandem/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

tdm_status *tdm_config_int(tdm_getenv_fn get, const char *name, int dflt, int min, int max,
                           int *out)
{
    const char *v = (get != NULL ? get : env_getenv)(name);
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

tdm_status *tdm_config_bool(tdm_getenv_fn get, const char *name, bool dflt, bool *out)
{
    const char *v = (get != NULL ? get : env_getenv)(name);
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

tdm_status *tdm_config_string(tdm_getenv_fn get, const char *name, char **out)
{
    const char *v = (get != NULL ? get : env_getenv)(name);
    *out = NULL;
    if (v == NULL || v[0] == '\0')
        return NULL;
    *out = strdup(v);
    if (*out == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory reading %s", name);
    return NULL;
}

tdm_status *tdm_config_secret(tdm_getenv_fn get, const char *name, size_t min_chars,
                              const char *what, char **out)
{
    tdm_status *st = tdm_config_string(get, name, out);
    if (st == NULL && *out != NULL && strlen(*out) < min_chars)
        st = tdm_status_new(TDM_INVALID_ARGUMENT,
                            "%s is too short: it must be at least %zu characters %s", name,
                            min_chars, what);
    return st;
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
    if ((st = tdm_config_string(get, "TANDEM_DATABASE_URL", &cfg->database_url)) != NULL)
        return st;
    if (cfg->database_url == NULL)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_DATABASE_URL is not set: give a libpq connection "
                              "string, e.g. postgresql://tandem_%s@localhost/tandem",
                              service);
    if ((st =
             tdm_config_string(get, "TANDEM_MIGRATION_DATABASE_URL", &cfg->migration_database_url)))
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
        (st = tdm_config_int(get, "TANDEM_DRAIN_TIMEOUT_MS", DEFAULT_DRAIN_TIMEOUT_MS, 0,
                             MAX_DRAIN_TIMEOUT_MS, &cfg->drain_timeout_ms)) ||
        (st = tdm_config_bool(get, "TANDEM_REFLECTION", true, &cfg->reflection)) ||
        (st = tdm_config_int(get, "TANDEM_DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE, 1, MAX_DB_POOL_SIZE,
                             &cfg->db_pool_size)) ||
        (st = tdm_config_int(get, "TANDEM_SEND_STALL_TIMEOUT_MS", DEFAULT_SEND_STALL_TIMEOUT_MS,
                             MIN_SEND_STALL_TIMEOUT_MS, MAX_SEND_STALL_TIMEOUT_MS,
                             &cfg->send_stall_timeout_ms)) ||
        (st = tdm_config_int(get, "TANDEM_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS, 1,
                             MAX_CONNECTIONS_LIMIT, &cfg->max_connections)) ||
        (st = tdm_config_int(get, "TANDEM_MAX_CONNECTIONS_PER_ADDRESS",
                             DEFAULT_MAX_CONNECTIONS_PER_IP, 1, MAX_CONNECTIONS_LIMIT,
                             &cfg->max_connections_per_address)))
        return st;
    if (cfg->has_admin_listen && cfg->admin_listen.port != 0 &&
        cfg->admin_listen.port == cfg->listen.port)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_ADMIN_LISTEN uses the port of TANDEM_LISTEN (%d): the admin "
                              "port (metrics and probes) must be a port of its own",
                              cfg->listen.port);
    return NULL;
}

void tdm_config_free(tdm_config *cfg)
{
    free(cfg->database_url);
    free(cfg->migration_database_url);
    cfg->database_url = cfg->migration_database_url = NULL;
}
