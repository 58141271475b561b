/*
 * test_pg_rls.c - tenant isolation as the services see it. Through the pool, as a
 * service role (no SUPERUSER, no BYPASSRLS, owning nothing): tenant A cannot see,
 * insert, update or delete tenant B's rows, and with no tenant set every query sees
 * zero rows and writes nothing; a service cannot read another service's tables. Then
 * a catalog check over every service's real migrations: each table with tenant_id
 * has it leading its primary key, RLS enabled and forced with the app.tenant_id
 * policy, service roles own nothing, and there are no SECURITY DEFINER functions and
 * no views that would run with their owner's rights.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "enrolment_migrations.h"
#include "feedback_migrations.h"
#include "gateway_migrations.h"
#include "matching_migrations.h"
#include "pg_test_support.h"
#include "pgtest_migrations.h"
#include "tandem/migrate.h"
#include "tandem/pg.h"

#define TENANT_A "aaaaaaaa-0000-4000-8000-000000000001"
#define TENANT_B "bbbbbbbb-0000-4000-8000-000000000002"

static tpg_db g_db;
static char g_service[TPG_CONNINFO_MAX];

static void migrate_as(const char *schema, const char *role, const tdm_migration *m, size_t n)
{
    char service[TPG_CONNINFO_MAX];
    tpg_db_role(&g_db, role, service);
    tdm_status *st = tdm_migrate_run(g_db.owner, service, schema, m, n, NULL);
    if (st != NULL)
        fail_msg("migrating %s: %s (%s)", schema, st->message, st->detail);
}

static int group_setup(void **state)
{
    (void)state;
    tpg_db_create(&g_db, "rls");
    tpg_db_role(&g_db, "tandem_enrolment", g_service);
    PQclear(
        tpg_exec(g_db.super, "CREATE SCHEMA pgtest AUTHORIZATION tandem_owner", PGRES_COMMAND_OK));
    migrate_as("pgtest", "tandem_enrolment", pgtest_migrations, PGTEST_MIGRATIONS_COUNT);
    migrate_as("gateway", "tandem_gateway", gateway_migrations, GATEWAY_MIGRATIONS_COUNT);
    migrate_as("enrolment", "tandem_enrolment", enrolment_migrations, ENROLMENT_MIGRATIONS_COUNT);
    migrate_as("matching", "tandem_matching", matching_migrations, MATCHING_MIGRATIONS_COUNT);
    migrate_as("feedback", "tandem_feedback", feedback_migrations, FEEDBACK_MIGRATIONS_COUNT);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tpg_db_drop(&g_db);
    return 0;
}

/* ---- through the pool, as the service role -------------------------------------- */

typedef struct exec_result {
    bool done;
    tdm_code code;
    char sqlstate[6];
    long rows;     /* tuples returned */
    long affected; /* rows inserted/updated/deleted */
    char first[64];
} exec_result;

static void exec_done(void *arg, tdm_status *st, PGresult *res)
{
    exec_result *r = arg;
    r->done = true;
    r->code = st != NULL ? st->code : TDM_OK;
    snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", tdm_pg_sqlstate(res));
    r->rows = res != NULL ? PQntuples(res) : -1;
    r->affected = res != NULL && PQcmdTuples(res)[0] != '\0' ? atol(PQcmdTuples(res)) : -1;
    snprintf(r->first, sizeof(r->first), "%s",
             res != NULL && PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    tdm_status_free(st);
}

typedef struct service_pool {
    uv_loop_t loop;
    tdm_pg_pool *pool;
    bool closed;
} service_pool;

static void pool_closed(void *arg)
{
    ((service_pool *)arg)->closed = true;
}

static void open_pool(service_pool *p, const char *conninfo)
{
    memset(p, 0, sizeof(*p));
    uv_loop_init(&p->loop);
    tdm_pg_pool_options opts = {.conninfo = conninfo, .size = 2, .queue_timeout_ms = 5000};
    p->pool = tdm_pg_pool_new(&p->loop, &opts);
    assert_non_null(p->pool);
}

static void close_pool(service_pool *p)
{
    tdm_pg_pool_close(p->pool, pool_closed, p);
    assert_true(tpg_run_until(&p->loop, &p->closed, 10000));
    tpg_loop_finish(&p->loop);
}

static exec_result run(service_pool *p, const char *tenant, const char *sql, int n,
                       const char *const *values)
{
    exec_result r = {0};
    tdm_pg_tx_options opts = {.tenant_id = tenant};
    assert_int_equal(tdm_pg_exec(p->pool, &opts, sql, n, values, exec_done, &r), 0);
    assert_true(tpg_run_until(&p->loop, &r.done, 10000));
    return r;
}

static void test_tenant_a_cannot_see_insert_or_update_tenant_b_rows(void **state)
{
    (void)state;
    service_pool p;
    open_pool(&p, g_service);
    const char *a_note[] = {TENANT_A, "alpha"};
    const char *b_note[] = {TENANT_B, "bravo"};
    const char *insert = "INSERT INTO pgtest.notes (tenant_id, id, body) VALUES ($1, 1, $2)";
    assert_int_equal(run(&p, TENANT_A, insert, 2, a_note).code, TDM_OK);
    assert_int_equal(run(&p, TENANT_B, insert, 2, b_note).code, TDM_OK);

    /* Reads: A sees its own row only, even without a WHERE. */
    exec_result r = run(&p, TENANT_A, "SELECT body FROM pgtest.notes", 0, NULL);
    assert_int_equal(r.rows, 1);
    assert_string_equal(r.first, "alpha");
    const char *b_only[] = {TENANT_B};
    r = run(&p, TENANT_A, "SELECT body FROM pgtest.notes WHERE tenant_id = $1", 1, b_only);
    assert_int_equal(r.rows, 0);

    /* Inserting a row of B's while acting for A violates the policy's WITH CHECK. */
    const char *forged[] = {TENANT_B, "forged"};
    r = run(&p, TENANT_A, "INSERT INTO pgtest.notes (tenant_id, id, body) VALUES ($1, 2, $2)", 2,
            forged);
    assert_int_not_equal(r.code, TDM_OK);
    assert_string_equal(r.sqlstate, "42501");

    /* Updates and deletes of B's rows touch nothing; moving A's row to B is refused. */
    r = run(&p, TENANT_A, "UPDATE pgtest.notes SET body = 'x' WHERE tenant_id = $1", 1, b_only);
    assert_int_equal(r.code, TDM_OK);
    assert_int_equal(r.affected, 0);
    r = run(&p, TENANT_A, "DELETE FROM pgtest.notes WHERE tenant_id = $1", 1, b_only);
    assert_int_equal(r.affected, 0);
    r = run(&p, TENANT_A, "UPDATE pgtest.notes SET tenant_id = $1", 1, b_only);
    assert_string_equal(r.sqlstate, "42501");

    assert_int_equal(tpg_scalar(g_db.super,
                                "SELECT count(*) FROM pgtest.notes WHERE tenant_id = '" TENANT_B
                                "' AND body = 'bravo'"),
                     1);
    assert_int_equal(tpg_scalar(g_db.super, "SELECT count(*) FROM pgtest.notes"), 2);
    close_pool(&p);
}

static void test_with_no_tenant_set_every_query_sees_zero_rows(void **state)
{
    (void)state;
    assert_true(tpg_scalar(g_db.super, "SELECT count(*) FROM pgtest.notes") > 0);
    service_pool p;
    open_pool(&p, g_service);
    exec_result r = run(&p, NULL, "SELECT count(*) FROM pgtest.notes", 0, NULL);
    assert_int_equal(r.code, TDM_OK);
    assert_string_equal(r.first, "0");
    r = run(&p, NULL, "SELECT count(*) FROM pgtest.note_tags", 0, NULL);
    assert_string_equal(r.first, "0");
    r = run(&p, NULL, "UPDATE pgtest.notes SET body = 'x'", 0, NULL);
    assert_int_equal(r.affected, 0);
    const char *row[] = {TENANT_A};
    r = run(&p, NULL, "INSERT INTO pgtest.notes (tenant_id, id, body) VALUES ($1, 9, 'n')", 1, row);
    assert_string_equal(r.sqlstate, "42501");
    close_pool(&p);
}

static void test_a_service_cannot_read_another_services_tables_or_the_history(void **state)
{
    (void)state;
    service_pool p;
    open_pool(&p, g_service);
    exec_result r = run(&p, TENANT_A, "SELECT count(*) FROM gateway.tenants", 0, NULL);
    assert_string_equal(r.sqlstate, "42501");
    r = run(&p, TENANT_A, "SELECT count(*) FROM matching.matches", 0, NULL);
    assert_string_equal(r.sqlstate, "42501");
    r = run(&p, TENANT_A, "SELECT count(*) FROM pgtest.schema_migrations", 0, NULL);
    assert_string_equal(r.sqlstate, "42501");
    r = run(&p, TENANT_A, "CREATE TABLE pgtest.mine (x int)", 0, NULL);
    assert_string_equal(r.sqlstate, "42501");
    r = run(&p, TENANT_A, "CREATE TEMP TABLE mine (x int)", 0, NULL);
    assert_string_equal(r.sqlstate, "42501");
    close_pool(&p);
}

/* ---- the catalog ---------------------------------------------------------------- */

/* Rows of a query that lists violations; fails with them when there are any. */
static void expect_none(const char *what, const char *sql)
{
    PGresult *res = tpg_exec(g_db.super, sql, PGRES_TUPLES_OK);
    for (int i = 0; i < PQntuples(res); i++)
        fprintf(stderr, "%s: %s\n", what, PQgetvalue(res, i, 0));
    int n = PQntuples(res);
    PQclear(res);
    if (n != 0)
        fail_msg("%d violation(s) of: %s", n, what);
}

#define USER_SCHEMAS                                                                               \
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'"

static void test_catalog_every_tenant_table_is_protected_and_services_own_nothing(void **state)
{
    (void)state;
    /* Documented exceptions, each explained in its migration:
     *  - gateway.api_keys is the tenant directory: a key is found by its hash before
     *    any tenant is known, so it has no RLS at all;
     *  - matching.run_queue holds ids only (tenant, run, lease) for replicas to claim
     *    runs across tenants: RLS enabled and forced, with a cross-tenant policy;
     *  - gateway.webhook_queue likewise holds ids, ordering keys and times only, for
     *    the delivery worker to claim due deliveries across tenants (each delivery is
     *    then read and updated in its own tenant's transaction);
     *  - gateway.usage_api_calls holds counts of API calls per tenant, month and scope,
     *    added for many tenants in one statement by each gateway's usage flush. */
    const char *directory = "'gateway.api_keys'";
    const char *cross_tenant = "'gateway.api_keys', 'matching.run_queue', 'gateway.webhook_queue', "
                               "'gateway.usage_api_calls'";
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
             "c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = "
             "'tenant_id' AND NOT a.attisdropped WHERE c.relkind IN ('r', 'p') AND " USER_SCHEMAS
             " AND c.oid::regclass::text NOT IN (%s) AND NOT (c.relrowsecurity AND "
             "c.relforcerowsecurity)",
             directory);
    expect_none("table with tenant_id without RLS enabled and forced", sql);
    snprintf(sql, sizeof(sql),
             "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
             "c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = "
             "'tenant_id' WHERE c.relkind IN ('r', 'p') AND " USER_SCHEMAS
             " AND c.oid::regclass::text NOT IN (%s) AND NOT EXISTS (SELECT 1 FROM pg_index i "
             "WHERE i.indrelid = c.oid AND i.indisprimary AND i.indkey[0] = a.attnum)",
             directory);
    expect_none("table with tenant_id not leading its primary key", sql);
    snprintf(sql, sizeof(sql),
             "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
             "c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = "
             "'tenant_id' WHERE c.relkind IN ('r', 'p') AND " USER_SCHEMAS
             " AND c.oid::regclass::text NOT IN (%s) AND NOT EXISTS (SELECT 1 FROM pg_policies p "
             "WHERE p.schemaname = n.nspname AND p.tablename = c.relname AND p.cmd = 'ALL' AND "
             "p.permissive = 'PERMISSIVE' AND p.qual LIKE '%%current_setting(''app.tenant_id''::"
             "text, true)%%' AND p.with_check LIKE '%%current_setting(''app.tenant_id''::text, "
             "true)%%')",
             cross_tenant);
    expect_none("table with tenant_id without the app.tenant_id policy in USING and WITH CHECK",
                sql);
    expect_none("role that bypasses RLS or holds powers",
                "SELECT rolname FROM pg_roles WHERE rolname LIKE 'tandem\\_%' AND (rolsuper OR "
                "rolbypassrls OR rolcreatedb OR rolcreaterole OR rolreplication)");
    expect_none("object owned by a service role",
                "SELECT kind || ' ' || name FROM ("
                "SELECT 'relation' AS kind, oid::regclass::text AS name, relowner AS owner "
                "FROM pg_class UNION ALL "
                "SELECT 'function', oid::regprocedure::text, proowner FROM pg_proc UNION ALL "
                "SELECT 'schema', nspname, nspowner FROM pg_namespace UNION ALL "
                "SELECT 'type', oid::regtype::text, typowner FROM pg_type UNION ALL "
                "SELECT 'database', datname, datdba FROM pg_database) o "
                "JOIN pg_roles r ON r.oid = o.owner WHERE r.rolname IN ('tandem_gateway', "
                "'tandem_enrolment', 'tandem_matching', 'tandem_feedback')");
    expect_none("SECURITY DEFINER function",
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = "
                "p.pronamespace WHERE p.prosecdef AND " USER_SCHEMAS);
    expect_none("view running with its owner's rights (bypassing the caller's RLS)",
                "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
                "c.relnamespace WHERE " USER_SCHEMAS " AND (c.relkind = 'm' OR (c.relkind = 'v' "
                "AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false) AND NOT "
                "coalesce('security_invoker=on' = ANY(c.reloptions), false)))");
    /* The services' tables really were created by their migrations. */
    assert_true(tpg_scalar(g_db.super, "SELECT count(*) FROM pg_tables WHERE schemaname IN "
                                       "('enrolment', 'matching', 'feedback') AND "
                                       "tableowner = 'tandem_owner'") >= 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_a_cannot_see_insert_or_update_tenant_b_rows),
        cmocka_unit_test(test_with_no_tenant_set_every_query_sees_zero_rows),
        cmocka_unit_test(test_a_service_cannot_read_another_services_tables_or_the_history),
        cmocka_unit_test(test_catalog_every_tenant_table_is_protected_and_services_own_nothing),
    };
    if (!tpg_available())
        return TPG_SKIPPED;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
