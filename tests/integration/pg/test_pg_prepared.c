/*
 * test_pg_prepared.c - the pool's per-connection prepared-statement cache against a
 * real server: a statement is parsed once per connection and executed by name after
 * that (what pg_prepared_statements of that very session shows), the cache recovers
 * when the server terminates the backend, when a DDL changes a statement's result
 * type, and when the statements are deallocated behind the pool's back; the cache
 * stays bounded; an implicit-transaction exec keeps its deadline, tenant and read-only
 * setting without leaking them to the session. Leaks are AddressSanitizer's to find
 * (the tests run under it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "pg_test_support.h"
#include "tandem/pg.h"

#define WAIT_MS     10000
#define CACHE_LIMIT 128 /* MAX_PREPARED_PER_CONN in pg.c */
#define SQL_ADD_ONE "SELECT $1::int + 1"
#define SQL_SHAPE   "SELECT * FROM public.shape ORDER BY a"
#define SQL_COUNT_PREPARED                                                                         \
    "SELECT count(*), coalesce(sum(generic_plans + custom_plans), 0) "                             \
    "FROM pg_prepared_statements WHERE statement = $1"

static tpg_db g_db;

static int group_setup(void **state)
{
    (void)state;
    tpg_db_create(&g_db, "prepared");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tpg_db_drop(&g_db);
    return 0;
}

typedef struct fixture {
    uv_loop_t loop;
    tdm_pg_pool *pool;
    bool closed;
} fixture;

static void pool_closed(void *arg)
{
    ((fixture *)arg)->closed = true;
}

/* One connection, so every statement below runs in the same session. */
static void open_pool(fixture *f)
{
    memset(f, 0, sizeof(*f));
    uv_loop_init(&f->loop);
    tdm_pg_pool_options opts = {.conninfo = g_db.super, .size = 1, .queue_timeout_ms = 5000};
    f->pool = tdm_pg_pool_new(&f->loop, &opts);
    assert_non_null(f->pool);
}

static void close_pool(fixture *f)
{
    tdm_pg_pool_close(f->pool, pool_closed, f);
    assert_true(tpg_run_until(&f->loop, &f->closed, WAIT_MS));
    tpg_loop_finish(&f->loop);
}

typedef struct capture {
    bool done;
    tdm_code code;
    char sqlstate[6];
    int rows, cols;
    char first[64];  /* row 0, column 0 */
    char second[64]; /* row 0, column 1 */
} capture;

static void capture_result(void *arg, tdm_status *st, PGresult *res)
{
    capture *c = arg;
    c->done = true;
    c->code = st != NULL ? st->code : TDM_OK;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", res != NULL ? tdm_pg_sqlstate(res) : "");
    if (st == NULL && res != NULL) {
        c->rows = PQntuples(res);
        c->cols = PQnfields(res);
        if (c->rows > 0 && c->cols > 0)
            snprintf(c->first, sizeof(c->first), "%s", PQgetvalue(res, 0, 0));
        if (c->rows > 0 && c->cols > 1)
            snprintf(c->second, sizeof(c->second), "%s", PQgetvalue(res, 0, 1));
    }
    tdm_status_free(st);
}

/* Run one exec (prepared or not) to completion; the captured outcome. */
static capture run_exec(fixture *f, bool prepared, const tdm_pg_tx_options *opts, const char *sql,
                        int n, const char *const *values)
{
    capture c = {0};
    int rc = prepared ? tdm_pg_exec_prepared(f->pool, opts, sql, n, values, capture_result, &c)
                      : tdm_pg_exec(f->pool, opts, sql, n, values, capture_result, &c);
    assert_int_equal(rc, 0);
    assert_true(tpg_run_until(&f->loop, &c.done, WAIT_MS));
    return c;
}

/* How many statements of this text the pool's session holds, and their executions. */
static void count_prepared(fixture *f, const char *sql, long *count, long *executions)
{
    const char *v[] = {sql};
    capture c = run_exec(f, false, NULL, SQL_COUNT_PREPARED, 1, v);
    assert_int_equal(c.code, TDM_OK);
    *count = atol(c.first);
    *executions = atol(c.second);
}

static long backend_pid(fixture *f)
{
    capture c = run_exec(f, false, NULL, "SELECT pg_backend_pid()", 0, NULL);
    assert_int_equal(c.code, TDM_OK);
    return atol(c.first);
}

/* A transaction of one prepared statement, ended with commit or rollback. */
typedef struct tx_run {
    bool begun, ended;
    tdm_code begin_code, end_code;
    tdm_pg_tx *tx;
} tx_run;

static void tx_begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    tx_run *r = arg;
    r->begun = true;
    r->begin_code = st != NULL ? st->code : TDM_OK;
    r->tx = tx;
    tdm_status_free(st);
}

static void tx_ended(void *arg, tdm_status *st)
{
    tx_run *r = arg;
    r->ended = true;
    r->end_code = st != NULL ? st->code : TDM_OK;
    tdm_status_free(st);
}

static capture run_tx_prepared(fixture *f, const char *sql, int n, const char *const *values,
                               bool commit)
{
    tx_run r = {0};
    assert_int_equal(tdm_pg_tx_begin(f->pool, NULL, tx_begun, &r), 0);
    assert_true(tpg_run_until(&f->loop, &r.begun, WAIT_MS));
    assert_int_equal(r.begin_code, TDM_OK);
    capture c = {0};
    assert_int_equal(tdm_pg_tx_query_prepared(r.tx, sql, n, values, capture_result, &c), 0);
    assert_true(tpg_run_until(&f->loop, &c.done, WAIT_MS));
    assert_int_equal(tdm_pg_tx_end(r.tx, commit, tx_ended, &r), 0);
    assert_true(tpg_run_until(&f->loop, &r.ended, WAIT_MS));
    return c;
}

static void test_a_statement_is_prepared_once_per_connection_and_then_run_by_name(void **state)
{
    (void)state;
    fixture f;
    open_pool(&f);
    const char *v[] = {"41"};
    for (int i = 0; i < 3; i++) {
        capture c = run_exec(&f, true, NULL, SQL_ADD_ONE, 1, v);
        assert_int_equal(c.code, TDM_OK);
        assert_string_equal(c.first, "42");
    }
    /* Inside transactions too, even one rolled back: prepared statements are not
     * transactional, the session keeps them. */
    assert_string_equal(run_tx_prepared(&f, SQL_ADD_ONE, 1, v, false).first, "42");
    assert_string_equal(run_tx_prepared(&f, SQL_ADD_ONE, 1, v, true).first, "42");
    long count = 0, executions = 0;
    count_prepared(&f, SQL_ADD_ONE, &count, &executions);
    assert_int_equal(count, 1);
    assert_int_equal(executions, 5);
    /* The transactions' own settings statement is prepared once as well. */
    count_prepared(&f, "SELECT set_config('app.tenant_id', $1, true)", &count, &executions);
    assert_int_equal(count, 1);
    assert_true(executions >= 5);
    /* An unnamed statement leaves nothing behind. */
    assert_int_equal(run_exec(&f, false, NULL, "SELECT 7", 0, NULL).code, TDM_OK);
    count_prepared(&f, "SELECT 7", &count, &executions);
    assert_int_equal(count, 0);
    close_pool(&f);
}

static void test_a_terminated_backend_is_replaced_and_statements_are_prepared_afresh(void **state)
{
    (void)state;
    fixture f;
    open_pool(&f);
    const char *v[] = {"1"};
    assert_int_equal(run_exec(&f, true, NULL, SQL_ADD_ONE, 1, v).code, TDM_OK);
    long old_pid = backend_pid(&f);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%ld)", old_pid);
    PQclear(tpg_exec(g_db.super, sql, PGRES_TUPLES_OK));
    /* The pool reconnects by itself; until then calls fail fast with UNAVAILABLE. */
    capture c = {0};
    uint64_t give_up = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;
    do {
        c = run_exec(&f, true, NULL, SQL_ADD_ONE, 1, v);
        if (c.code != TDM_OK) {
            assert_int_equal(c.code, TDM_UNAVAILABLE);
            bool never = false;
            tpg_run_until(&f.loop, &never, 50);
        }
    } while (c.code != TDM_OK && uv_hrtime() < give_up);
    assert_int_equal(c.code, TDM_OK);
    assert_string_equal(c.first, "2");
    assert_true(backend_pid(&f) != old_pid);
    long count = 0, executions = 0;
    count_prepared(&f, SQL_ADD_ONE, &count, &executions);
    assert_int_equal(count, 1);
    assert_int_equal(executions, 1);
    close_pool(&f);
}

static void test_a_ddl_changing_the_result_type_is_recovered(void **state)
{
    (void)state;
    PQclear(tpg_exec(g_db.super,
                     "CREATE TABLE public.shape (a integer); "
                     "INSERT INTO public.shape VALUES (1)",
                     PGRES_COMMAND_OK));
    fixture f;
    open_pool(&f);
    assert_int_equal(run_exec(&f, true, NULL, SQL_SHAPE, 0, NULL).cols, 1);
    assert_int_equal(run_tx_prepared(&f, SQL_SHAPE " LIMIT 1", 0, NULL, true).cols, 1);

    PQclear(tpg_exec(g_db.super, "ALTER TABLE public.shape ADD COLUMN b integer DEFAULT 7",
                     PGRES_COMMAND_OK));
    /* An exec is retried in a fresh transaction, prepared afresh: the caller sees
     * only the new shape. */
    capture c = run_exec(&f, true, NULL, SQL_SHAPE, 0, NULL);
    assert_int_equal(c.code, TDM_OK);
    assert_int_equal(c.cols, 2);
    assert_string_equal(c.second, "7");
    /* Inside a caller's transaction the statement fails (the transaction is aborted
     * and cannot be retried), and the next use prepares it afresh. */
    c = run_tx_prepared(&f, SQL_SHAPE " LIMIT 1", 0, NULL, false);
    assert_int_not_equal(c.code, TDM_OK);
    assert_string_equal(c.sqlstate, "0A000");
    c = run_tx_prepared(&f, SQL_SHAPE " LIMIT 1", 0, NULL, true);
    assert_int_equal(c.code, TDM_OK);
    assert_int_equal(c.cols, 2);
    close_pool(&f);
    PQclear(tpg_exec(g_db.super, "DROP TABLE public.shape", PGRES_COMMAND_OK));
}

static void test_statements_deallocated_behind_the_pool_are_prepared_again(void **state)
{
    (void)state;
    fixture f;
    open_pool(&f);
    const char *v[] = {"9"};
    assert_int_equal(run_exec(&f, true, NULL, SQL_ADD_ONE, 1, v).code, TDM_OK);
    assert_string_equal(run_tx_prepared(&f, SQL_ADD_ONE, 1, v, true).first, "10");
    /* What a connection pooler's DISCARD ALL or a stray DEALLOCATE ALL does. */
    assert_int_equal(run_exec(&f, false, NULL, "DEALLOCATE ALL", 0, NULL).code, TDM_OK);
    capture c = run_exec(&f, true, NULL, SQL_ADD_ONE, 1, v);
    assert_int_equal(c.code, TDM_OK);
    assert_string_equal(c.first, "10");
    assert_int_equal(run_exec(&f, false, NULL, "DEALLOCATE ALL", 0, NULL).code, TDM_OK);
    /* A transaction's BEGIN and settings are retried the same way. */
    assert_string_equal(run_tx_prepared(&f, SQL_ADD_ONE, 1, v, true).first, "10");
    long count = 0, executions = 0;
    count_prepared(&f, SQL_ADD_ONE, &count, &executions);
    assert_int_equal(count, 1);
    close_pool(&f);
}

static void test_the_cache_is_bounded_and_texts_past_it_still_run(void **state)
{
    (void)state;
    fixture f;
    open_pool(&f);
    for (int i = 0; i < CACHE_LIMIT + 20; i++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SELECT %d + $1::int", i);
        const char *v[] = {"1"};
        capture c = run_exec(&f, true, NULL, sql, 1, v);
        assert_int_equal(c.code, TDM_OK);
        assert_int_equal(atoi(c.first), i + 1);
    }
    capture c = run_exec(&f, false, NULL, "SELECT count(*) FROM pg_prepared_statements", 0, NULL);
    assert_int_equal(c.code, TDM_OK);
    assert_int_equal(atol(c.first), CACHE_LIMIT);
    close_pool(&f);
}

static void test_an_implicit_exec_keeps_its_deadline_without_leaking_the_setting(void **state)
{
    (void)state;
    fixture f;
    open_pool(&f);
    tdm_pg_tx_options opts = {.deadline_ms = uv_now(&f.loop) + 300, .implicit_tx = true};
    capture c = run_exec(&f, true, &opts, "SELECT pg_sleep(5)", 0, NULL);
    assert_int_equal(c.code, TDM_DEADLINE_EXCEEDED);
    opts.deadline_ms = uv_now(&f.loop) + 5000;
    const char *v[] = {"1"};
    c = run_exec(&f, true, &opts, SQL_ADD_ONE, 1, v);
    assert_int_equal(c.code, TDM_OK);
    assert_string_equal(c.first, "2");
    /* The timeout was local to the implicit transaction: the session is untouched. */
    c = run_exec(&f, false, NULL, "SHOW statement_timeout", 0, NULL);
    assert_string_equal(c.first, "0");
    c = run_exec(&f, false, NULL, "SELECT coalesce(current_setting('app.tenant_id', true), '')", 0,
                 NULL);
    assert_string_equal(c.first, "");
    close_pool(&f);
}

static void test_an_implicit_exec_with_a_tenant_sees_it_read_only_without_leaking_it(void **state)
{
    (void)state;
    fixture f;
    open_pool(&f);
    const char *tenant = "0b5f4c1e-6d1a-4c55-9a35-3f2c1a7e9d01";
    tdm_pg_tx_options opts = {.tenant_id = tenant,
                              .read_only = true,
                              .deadline_ms = uv_now(&f.loop) + 5000,
                              .implicit_tx = true};
    /* The settings and the statement share the pipeline's implicit transaction. */
    capture c = run_exec(&f, true, &opts,
                         "SELECT current_setting('app.tenant_id'), "
                         "current_setting('transaction_read_only')",
                         0, NULL);
    assert_int_equal(c.code, TDM_OK);
    assert_string_equal(c.first, tenant);
    assert_string_equal(c.second, "on");
    /* (A write is not tried here: its 25006 reads as a demoted server to the pool.) */
    /* A tenant without read-only nor deadline. */
    tdm_pg_tx_options rw = {.tenant_id = tenant, .implicit_tx = true};
    c = run_exec(
        &f, true, &rw,
        "SELECT current_setting('app.tenant_id'), current_setting('transaction_read_only')", 0,
        NULL);
    assert_int_equal(c.code, TDM_OK);
    assert_string_equal(c.first, tenant);
    assert_string_equal(c.second, "off");
    /* Nothing outlives the implicit transaction. */
    c = run_exec(&f, false, NULL,
                 "SELECT coalesce(current_setting('app.tenant_id', true), ''), "
                 "current_setting('transaction_read_only')",
                 0, NULL);
    assert_string_equal(c.first, "");
    assert_string_equal(c.second, "off");
    close_pool(&f);
}

/* Binary parameters with explicit types, as the feedback report binds its arrays:
 * prepared on first use with those types, executed by name after, same answers. */
static void test_binary_typed_parameters_run_prepared_by_name(void **state)
{
    (void)state;
    fixture f;
    open_pool(&f);
    static const char sql[] = "SELECT $1 + 1, $2::text";
    const Oid types[] = {23 /* int4 */, 25 /* text */};
    const int formats[] = {1, 0};
    for (int i = 0; i < 3; i++) {
        uint32_t be = htonl((uint32_t)(40 + i));
        const char *values[] = {(const char *)&be, "x"};
        const int lengths[] = {(int)sizeof(be), 0};
        tx_run r = {0};
        assert_int_equal(tdm_pg_tx_begin(f.pool, NULL, tx_begun, &r), 0);
        assert_true(tpg_run_until(&f.loop, &r.begun, WAIT_MS));
        assert_int_equal(r.begin_code, TDM_OK);
        capture c = {0};
        assert_int_equal(tdm_pg_tx_query_params_prepared(r.tx, sql, 2, types, values, lengths,
                                                         formats, 0, capture_result, &c),
                         0);
        assert_true(tpg_run_until(&f.loop, &c.done, WAIT_MS));
        assert_int_equal(c.code, TDM_OK);
        assert_int_equal(atoi(c.first), 41 + i);
        assert_string_equal(c.second, "x");
        assert_int_equal(tdm_pg_tx_end(r.tx, true, tx_ended, &r), 0);
        assert_true(tpg_run_until(&f.loop, &r.ended, WAIT_MS));
    }
    long count = 0, executions = 0;
    count_prepared(&f, sql, &count, &executions);
    assert_int_equal(count, 1);
    assert_int_equal(executions, 3);
    close_pool(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_statement_is_prepared_once_per_connection_and_then_run_by_name),
        cmocka_unit_test(test_a_terminated_backend_is_replaced_and_statements_are_prepared_afresh),
        cmocka_unit_test(test_a_ddl_changing_the_result_type_is_recovered),
        cmocka_unit_test(test_statements_deallocated_behind_the_pool_are_prepared_again),
        cmocka_unit_test(test_the_cache_is_bounded_and_texts_past_it_still_run),
        cmocka_unit_test(test_an_implicit_exec_keeps_its_deadline_without_leaking_the_setting),
        cmocka_unit_test(test_an_implicit_exec_with_a_tenant_sees_it_read_only_without_leaking_it),
        cmocka_unit_test(test_binary_typed_parameters_run_prepared_by_name),
    };
    if (!tpg_available())
        return TPG_SKIPPED;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
