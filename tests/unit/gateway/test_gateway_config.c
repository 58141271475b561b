/*
 * test_gateway_config.c - the gateway's own settings (services/gateway/config.c),
 * moved here from the runtime's configuration test: defaults, every variable read,
 * and a bad value refused with a message naming the variable. The variables are set
 * in this process's environment and read through getenv.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"

static const char *const VARIABLES[] = {
    "TANDEM_BOOTSTRAP_KEY",
    "TANDEM_RATE_LIMIT_RPS",
    "TANDEM_RATE_LIMIT_BURST",
    "TANDEM_WEBHOOK_ALLOW_PRIVATE",
    "TANDEM_WEBHOOK_SECRET_KEY",
    "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS",
    "TANDEM_WEBHOOK_RETRY_BASE_MS",
    "TANDEM_OUTBOX_RETENTION_HOURS",
    "TANDEM_AUTH_FAILURES_PER_ADDRESS",
    "TANDEM_AUTH_FAILURE_WINDOW_MS",
    "TANDEM_RATE_LIMIT_MODE",
    "TANDEM_KEY_CACHE_SIZE",
    "TANDEM_WEBHOOK_MAX_IN_FLIGHT",
    "TANDEM_WEBHOOK_TENANT_IN_FLIGHT",
    "TANDEM_WEBHOOK_DISABLE_AFTER_HOURS",
};

/* Exactly these NAME=value settings (NULL-terminated) of the gateway's variables. */
static tdm_status *load(gw_config *cfg, const char *const *env)
{
    for (size_t i = 0; i < sizeof(VARIABLES) / sizeof(VARIABLES[0]); i++)
        unsetenv(VARIABLES[i]);
    for (const char *const *e = env; *e != NULL; e++)
        putenv((char *)*e);
    return gw_config_load(cfg, NULL);
}

static void defaults_follow_the_contract(void **state)
{
    (void)state;
    gw_config cfg;
    const char *env[] = {NULL};
    assert_null(load(&cfg, env));
    assert_int_equal(cfg.rate_limit_rps, 200);
    assert_int_equal(cfg.rate_limit_burst, 400);
    assert_false(cfg.webhook_allow_private);
    assert_int_equal(cfg.webhook_retry_base_ms, 5000);
    assert_int_equal(cfg.outbox_retention_hours, 168);
    assert_null(cfg.webhook_secret_key_previous);
    assert_null(cfg.webhook_secret_key);
    assert_null(cfg.bootstrap_key);
    assert_int_equal(cfg.auth_failures_per_address, 20);
    assert_int_equal(cfg.auth_failure_window_ms, 10000);
    assert_true(cfg.rate_limit_shared);
    gw_config_free(&cfg);
}

static void every_variable_is_read(void **state)
{
    (void)state;
    gw_config cfg;
    const char *env[] = {"TANDEM_BOOTSTRAP_KEY=0123456789abcdef0123456789abcdef",
                         "TANDEM_RATE_LIMIT_RPS=5",
                         "TANDEM_RATE_LIMIT_BURST=10",
                         "TANDEM_RATE_LIMIT_MODE=replica",
                         "TANDEM_WEBHOOK_ALLOW_PRIVATE=1",
                         "TANDEM_WEBHOOK_SECRET_KEY=0123456789abcdef",
                         "TANDEM_WEBHOOK_RETRY_BASE_MS=200",
                         "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS=fedcba9876543210",
                         "TANDEM_OUTBOX_RETENTION_HOURS=24",
                         "TANDEM_KEY_CACHE_SIZE=7",
                         "TANDEM_WEBHOOK_MAX_IN_FLIGHT=9",
                         "TANDEM_WEBHOOK_TENANT_IN_FLIGHT=3",
                         "TANDEM_WEBHOOK_DISABLE_AFTER_HOURS=12",
                         NULL};
    assert_null(load(&cfg, env));
    assert_string_equal(cfg.webhook_secret_key_previous, "fedcba9876543210");
    assert_int_equal(cfg.outbox_retention_hours, 24);
    assert_string_equal(cfg.bootstrap_key, "0123456789abcdef0123456789abcdef");
    assert_int_equal(cfg.rate_limit_rps, 5);
    assert_int_equal(cfg.rate_limit_burst, 10);
    assert_false(cfg.rate_limit_shared);
    assert_true(cfg.webhook_allow_private);
    assert_string_equal(cfg.webhook_secret_key, "0123456789abcdef");
    assert_int_equal(cfg.webhook_retry_base_ms, 200);
    assert_int_equal(cfg.key_cache_size, 7);
    assert_int_equal(cfg.webhook_max_in_flight, 9);
    assert_int_equal(cfg.webhook_tenant_in_flight, 3);
    assert_int_equal(cfg.webhook_disable_after_hours, 12);
    gw_config_free(&cfg);
}

/* setting alone is refused with INVALID_ARGUMENT, and the message names `name`. */
static void refused(const char *setting, const char *name)
{
    gw_config cfg;
    const char *env[] = {setting, NULL};
    tdm_status *st = load(&cfg, env);
    gw_config_free(&cfg);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_non_null(strstr(st->message, name));
    tdm_status_free(st);
}

static void bad_values_name_their_variable(void **state)
{
    (void)state;
    refused("TANDEM_RATE_LIMIT_RPS=0", "TANDEM_RATE_LIMIT_RPS");
    refused("TANDEM_RATE_LIMIT_BURST=1000001", "TANDEM_RATE_LIMIT_BURST");
    refused("TANDEM_RATE_LIMIT_RPS=12abc", "TANDEM_RATE_LIMIT_RPS");
    refused("TANDEM_WEBHOOK_ALLOW_PRIVATE=yes", "TANDEM_WEBHOOK_ALLOW_PRIVATE");
    refused("TANDEM_BOOTSTRAP_KEY=short", "TANDEM_BOOTSTRAP_KEY");
    refused("TANDEM_WEBHOOK_SECRET_KEY=short", "TANDEM_WEBHOOK_SECRET_KEY");
    refused("TANDEM_WEBHOOK_RETRY_BASE_MS=5001", "TANDEM_WEBHOOK_RETRY_BASE_MS");
    /* The previous key without the new one. */
    refused("TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS=0123456789abcdef",
            "TANDEM_WEBHOOK_SECRET_KEY_PREVIOUS");
    refused("TANDEM_OUTBOX_RETENTION_HOURS=0", "TANDEM_OUTBOX_RETENTION_HOURS");
    refused("TANDEM_OUTBOX_RETENTION_HOURS=8761", "TANDEM_OUTBOX_RETENTION_HOURS");
    refused("TANDEM_AUTH_FAILURES_PER_ADDRESS=0", "TANDEM_AUTH_FAILURES_PER_ADDRESS");
    refused("TANDEM_AUTH_FAILURE_WINDOW_MS=99", "TANDEM_AUTH_FAILURE_WINDOW_MS");
    refused("TANDEM_RATE_LIMIT_MODE=global", "TANDEM_RATE_LIMIT_MODE");
    refused("TANDEM_KEY_CACHE_SIZE=-1", "TANDEM_KEY_CACHE_SIZE");
    refused("TANDEM_WEBHOOK_MAX_IN_FLIGHT=0", "TANDEM_WEBHOOK_MAX_IN_FLIGHT");
    refused("TANDEM_WEBHOOK_TENANT_IN_FLIGHT=10001", "TANDEM_WEBHOOK_TENANT_IN_FLIGHT");
    refused("TANDEM_WEBHOOK_DISABLE_AFTER_HOURS=0", "TANDEM_WEBHOOK_DISABLE_AFTER_HOURS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_follow_the_contract),
        cmocka_unit_test(every_variable_is_read),
        cmocka_unit_test(bad_values_name_their_variable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
