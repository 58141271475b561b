/*
 * test_pg_migrate.c - the migration runner against a real server: a fresh schema gets
 * every migration and the service role its grants; a re-run changes nothing; a
 * migration edited after it was applied, a failing migration and a service role that
 * bypasses row-level security are refused with nothing changed; two processes racing
 * apply the migrations exactly once; the asynchronous form reports on the loop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "pg_test_support.h"
#include "pgtest_migrations.h"
#include "tandem/migrate.h"

static tpg_db g_db;
static char g_service[TPG_CONNINFO_MAX];

static int group_setup(void **state)
{
    (void)state;
    tpg_db_create(&g_db, "migrate");
    tpg_db_role(&g_db, "tandem_enrolment", g_service);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tpg_db_drop(&g_db);
    return 0;
}

/* A schema of the owner's, as bootstrap.sql makes the services'. */
static void make_schema(const char *schema)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s AUTHORIZATION tandem_owner", schema);
    PQclear(tpg_exec(g_db.super, sql, PGRES_COMMAND_OK));
}

static long tables_in(const char *schema)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_tables WHERE schemaname = '%s'", schema);
    return tpg_scalar(g_db.super, sql);
}

static long migrations_recorded(const char *schema)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.schema_migrations", schema);
    return tpg_scalar(g_db.super, sql);
}

static void test_fresh_schema_gets_every_migration_and_a_rerun_changes_nothing(void **state)
{
    (void)state;
    make_schema("fresh");
    tdm_migrate_report report;
    tdm_status *st = tdm_migrate_run(g_db.owner, g_service, "fresh", pgtest_migrations,
                                     PGTEST_MIGRATIONS_COUNT, &report);
    assert_null(st);
    assert_int_equal(report.applied, 2);
    assert_int_equal(report.version, 2);
    assert_int_equal(migrations_recorded("fresh"), 2);
    char sum[65];
    tdm_migration_checksum(pgtest_migrations[0].sql, sum);
    char sql[300];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM fresh.schema_migrations WHERE version = 1 AND name = 'notes' "
             "AND checksum = '%s'",
             sum);
    assert_int_equal(tpg_scalar(g_db.super, sql), 1);
    /* Tables in the schema, owned by the owner; the grants each migration asked for. */
    assert_int_equal(tpg_scalar(g_db.super, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                                            "'fresh' AND tableowner = 'tandem_owner'"),
                     3);
    assert_int_equal(
        tpg_scalar(g_db.super, "SELECT count(*) FROM (VALUES "
                               "(has_table_privilege('tandem_enrolment', 'fresh.notes', 'UPDATE')),"
                               "(has_table_privilege('tandem_enrolment', 'fresh.note_tags', "
                               "'INSERT')),"
                               "(has_sequence_privilege('tandem_enrolment', 'fresh.notes_seq_seq', "
                               "'USAGE')),"
                               "(has_schema_privilege('tandem_enrolment', 'fresh', 'USAGE'))"
                               ") AS v(ok) WHERE ok"),
        4);
    assert_int_equal(tpg_scalar(g_db.super,
                                "SELECT count(*) FROM (VALUES "
                                "(has_table_privilege('tandem_enrolment', 'fresh.note_tags', "
                                "'UPDATE')),"
                                "(has_table_privilege('tandem_enrolment', "
                                "'fresh.schema_migrations', 'SELECT')),"
                                "(has_schema_privilege('tandem_enrolment', 'fresh', 'CREATE'))"
                                ") AS v(ok) WHERE ok"),
                     0);

    st = tdm_migrate_run(g_db.owner, g_service, "fresh", pgtest_migrations, PGTEST_MIGRATIONS_COUNT,
                         &report);
    assert_null(st);
    assert_int_equal(report.applied, 0);
    assert_int_equal(report.version, 2);
    assert_int_equal(migrations_recorded("fresh"), 2);
}

static void test_a_migration_changed_after_it_was_applied_is_refused(void **state)
{
    (void)state;
    make_schema("edited");
    assert_null(tdm_migrate_run(g_db.owner, g_service, "edited", pgtest_migrations, 1, NULL));
    tdm_migration edited[2] = {pgtest_migrations[0], pgtest_migrations[1]};
    edited[0].sql = "CREATE TABLE notes (tenant_id uuid, id integer, PRIMARY KEY (tenant_id, id))";
    tdm_status *st = tdm_migrate_run(g_db.owner, g_service, "edited", edited, 2, NULL);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_FAILED_PRECONDITION);
    assert_non_null(strstr(st->detail, "001_notes changed after it was applied"));
    tdm_status_free(st);
    /* Nothing of migration 002 happened. */
    assert_int_equal(tables_in("edited"), 2); /* notes and schema_migrations only */
}

static void test_a_failing_migration_rolls_the_whole_run_back(void **state)
{
    (void)state;
    make_schema("broken");
    tdm_migration broken[2] = {pgtest_migrations[0],
                               {2, "broken", "CREATE TABLE x (y nosuchtype)"}};
    tdm_status *st = tdm_migrate_run(g_db.owner, g_service, "broken", broken, 2, NULL);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_FAILED_PRECONDITION);
    assert_non_null(strstr(st->detail, "migration 002_broken"));
    assert_non_null(strstr(st->detail, "SQLSTATE 42704"));
    tdm_status_free(st);
    assert_int_equal(tables_in("broken"), 0);
}

static void test_a_service_role_that_bypasses_rls_is_refused(void **state)
{
    (void)state;
    make_schema("privileged");
    char super_as_service[TPG_CONNINFO_MAX];
    tpg_db_role(&g_db, "postgres", super_as_service);
    tdm_status *st = tdm_migrate_run(g_db.owner, super_as_service, "privileged", pgtest_migrations,
                                     PGTEST_MIGRATIONS_COUNT, NULL);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_FAILED_PRECONDITION);
    assert_non_null(strstr(st->message, "bypasses row-level security"));
    tdm_status_free(st);
    assert_int_equal(tables_in("privileged"), 0);
}

/* The race: each child applies a slow set; the lock makes one wait for the other. */
static const tdm_migration SLOW_MIGRATIONS[] = {
    {1, "slow_notes",
     "SELECT pg_sleep(0.5); CREATE TABLE notes (tenant_id uuid NOT NULL, id integer NOT NULL, "
     "PRIMARY KEY (tenant_id, id))"},
    {2, "slow_more", "SELECT pg_sleep(0.2); ALTER TABLE notes ADD COLUMN body text"},
};

static void test_two_processes_starting_at_once_apply_the_migrations_exactly_once(void **state)
{
    (void)state;
    make_schema("raced");
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            tdm_migrate_report report;
            tdm_status *st =
                tdm_migrate_run(g_db.owner, g_service, "raced", SLOW_MIGRATIONS, 2, &report);
            int code = st == NULL ? 10 + (int)report.applied : 1;
            if (st != NULL)
                fprintf(stderr, "child: %s (%s)\n", st->message, st->detail);
            tdm_status_free(st);
            _exit(code);
        }
    }
    int codes[2];
    for (int i = 0; i < 2; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        codes[i] = WEXITSTATUS(status);
    }
    /* One applied both, the other found them applied; neither failed. */
    assert_int_equal(codes[0] + codes[1], 10 + 12);
    assert_true(codes[0] == 10 || codes[0] == 12);
    assert_int_equal(migrations_recorded("raced"), 2);
}

typedef struct async_result {
    bool done;
    tdm_code code;
} async_result;

static void async_done(void *arg, tdm_status *st)
{
    async_result *r = arg;
    r->done = true;
    r->code = st != NULL ? st->code : TDM_OK;
    tdm_status_free(st);
}

static void test_the_work_pool_runner_reports_on_the_loop(void **state)
{
    (void)state;
    make_schema("async");
    uv_loop_t loop;
    uv_loop_init(&loop);
    async_result ok = {0}, down = {0};
    assert_int_equal(tdm_migrate_start(&loop, g_db.owner, g_service, "async", pgtest_migrations,
                                       PGTEST_MIGRATIONS_COUNT, async_done, &ok),
                     0);
    assert_true(tpg_run_until(&loop, &ok.done, 20000));
    assert_int_equal(ok.code, TDM_OK);
    assert_int_equal(migrations_recorded("async"), 2);
    /* Unreachable: UNAVAILABLE, which the runtime retries with backoff. */
    assert_int_equal(tdm_migrate_start(&loop, "host=127.0.0.1 port=1 user=x dbname=x", NULL,
                                       "async", pgtest_migrations, PGTEST_MIGRATIONS_COUNT,
                                       async_done, &down),
                     0);
    assert_true(tpg_run_until(&loop, &down.done, 20000));
    assert_int_equal(down.code, TDM_UNAVAILABLE);
    tpg_loop_finish(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_schema_gets_every_migration_and_a_rerun_changes_nothing),
        cmocka_unit_test(test_a_migration_changed_after_it_was_applied_is_refused),
        cmocka_unit_test(test_a_failing_migration_rolls_the_whole_run_back),
        cmocka_unit_test(test_a_service_role_that_bypasses_rls_is_refused),
        /* Before the work-pool test: fork while no libuv thread exists yet. */
        cmocka_unit_test(test_two_processes_starting_at_once_apply_the_migrations_exactly_once),
        cmocka_unit_test(test_the_work_pool_runner_reports_on_the_loop),
    };
    if (!tpg_available())
        return TPG_SKIPPED;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
