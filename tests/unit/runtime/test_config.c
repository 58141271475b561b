/*
 * test_config.c - configuration from the environment: defaults, every variable
 * read, and a bad value refused with a message naming the variable. (The gateway's
 * own settings moved to tests/unit/gateway/test_gateway_config.c.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/config.h"

/* A fake environment: NAME=value strings, NULL-terminated. */
static const char *const *fake_env;

static const char *fake_getenv(const char *name)
{
    size_t n = strlen(name);
    for (const char *const *e = fake_env; *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    return NULL;
}

static tdm_status *load(tdm_config *cfg, const char *const *env)
{
    fake_env = env;
    return tdm_config_load(cfg, "enrolment", TDM_PORT_ENROLMENT, fake_getenv);
}

static void defaults_follow_the_contract(void **state)
{
    (void)state;
    tdm_config cfg;
    const char *env[] = {"TANDEM_DATABASE_URL=postgresql://u@h/db", NULL};
    assert_null(load(&cfg, env));
    assert_string_equal(cfg.listen.host, "0.0.0.0");
    assert_int_equal(cfg.listen.port, 50051);
    assert_int_equal(cfg.matching_addr.port, 50052);
    assert_int_equal(cfg.feedback_addr.port, 50053);
    assert_int_equal(cfg.log_level, TDM_LOG_INFO);
    assert_true(cfg.reflection);
    assert_int_equal(cfg.drain_timeout_ms, 15000);
    assert_int_equal(cfg.send_stall_timeout_ms, 20000);
    /* Without an owner URL, migrations use the service's own connection. */
    assert_string_equal(cfg.migration_database_url, "postgresql://u@h/db");
    assert_false(cfg.has_admin_listen); /* metrics on the public port unless asked */
    tdm_config_free(&cfg);
}

static void every_variable_is_read(void **state)
{
    (void)state;
    tdm_config cfg;
    const char *env[] = {"TANDEM_DATABASE_URL=host=/tmp dbname=t",
                         "TANDEM_MIGRATION_DATABASE_URL=host=/tmp dbname=t user=owner",
                         "TANDEM_LISTEN=[::1]:7000",
                         "TANDEM_ENROLMENT_ADDR=enrolment:1",
                         "TANDEM_MATCHING_ADDR=matching:2",
                         "TANDEM_FEEDBACK_ADDR=feedback:3",
                         "TANDEM_LOG_LEVEL=debug",
                         "TANDEM_DRAIN_TIMEOUT_MS=2500",
                         "TANDEM_REFLECTION=0",
                         "TANDEM_DB_POOL_SIZE=3",
                         "TANDEM_SEND_STALL_TIMEOUT_MS=5000",
                         "TANDEM_ADMIN_LISTEN=0.0.0.0:9090",
                         NULL};
    assert_null(load(&cfg, env));
    assert_true(cfg.has_admin_listen);
    assert_string_equal(cfg.admin_listen.host, "0.0.0.0");
    assert_int_equal(cfg.admin_listen.port, 9090);
    assert_int_equal(cfg.send_stall_timeout_ms, 5000);
    assert_string_equal(cfg.listen.host, "::1");
    assert_int_equal(cfg.listen.port, 7000);
    assert_string_equal(cfg.enrolment_addr.host, "enrolment");
    assert_int_equal(cfg.feedback_addr.port, 3);
    assert_string_equal(cfg.migration_database_url, "host=/tmp dbname=t user=owner");
    assert_int_equal(cfg.log_level, TDM_LOG_DEBUG);
    assert_int_equal(cfg.drain_timeout_ms, 2500);
    assert_false(cfg.reflection);
    assert_int_equal(cfg.db_pool_size, 3);
    tdm_config_free(&cfg);
}

/* Each bad value is refused, and the message names the variable. */
static void bad_values_name_their_variable(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"TANDEM_LOG_LEVEL=loud", "TANDEM_LOG_LEVEL"},
        {"TANDEM_LISTEN=localhost", "TANDEM_LISTEN"},
        {"TANDEM_LISTEN=:80", "TANDEM_LISTEN"},
        {"TANDEM_MATCHING_ADDR=m:99999", "TANDEM_MATCHING_ADDR"},
        {"TANDEM_DRAIN_TIMEOUT_MS=-1", "TANDEM_DRAIN_TIMEOUT_MS"},
        {"TANDEM_DB_POOL_SIZE=0", "TANDEM_DB_POOL_SIZE"},
        {"TANDEM_SEND_STALL_TIMEOUT_MS=999", "TANDEM_SEND_STALL_TIMEOUT_MS"},
        {"TANDEM_SEND_STALL_TIMEOUT_MS=600001", "TANDEM_SEND_STALL_TIMEOUT_MS"},
        {"TANDEM_ADMIN_LISTEN=9090", "TANDEM_ADMIN_LISTEN"},
        {"TANDEM_ADMIN_LISTEN=0.0.0.0:50051", "TANDEM_ADMIN_LISTEN"}, /* the public port */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tdm_config cfg;
        const char *env[] = {"TANDEM_DATABASE_URL=postgresql://u@h/db", cases[i][0], NULL};
        tdm_status *st = load(&cfg, env);
        assert_non_null(st);
        assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
        if (strstr(st->message, cases[i][1]) == NULL)
            fail_msg("message for %s does not name it: %s", cases[i][0], st->message);
        tdm_status_free(st);
        tdm_config_free(&cfg);
    }
}

static void a_missing_database_url_is_refused(void **state)
{
    (void)state;
    tdm_config cfg;
    const char *env[] = {NULL};
    tdm_status *st = load(&cfg, env);
    assert_non_null(st);
    assert_non_null(strstr(st->message, "TANDEM_DATABASE_URL"));
    tdm_status_free(st);
    tdm_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_follow_the_contract),
        cmocka_unit_test(every_variable_is_read),
        cmocka_unit_test(bad_values_name_their_variable),
        cmocka_unit_test(a_missing_database_url_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
