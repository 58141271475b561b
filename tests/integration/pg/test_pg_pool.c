/*
 * test_pg_pool.c - the asynchronous PostgreSQL pool against a real server: many
 * concurrent queries on a few connections, SQLSTATEs surfaced as statuses, deadlines
 * and cancellation bounding running statements, bounded waits when the server cannot
 * be reached or every connection is busy, host names resolved off the loop, and a
 * graceful close with work in flight.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg_test_support.h"
#include "tandem/metrics.h"
#include "tandem/pg.h"

static tpg_db g_db;

static int group_setup(void **state)
{
    (void)state;
    tpg_db_create(&g_db, "pool");
    PQclear(tpg_exec(g_db.super,
                     "CREATE TABLE public.items (id integer PRIMARY KEY, "
                     "qty integer NOT NULL CHECK (qty >= 0))",
                     PGRES_COMMAND_OK));
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tpg_db_drop(&g_db);
    return 0;
}

typedef struct pool_fixture {
    uv_loop_t loop;
    tdm_pg_pool *pool;
    bool closed;
} pool_fixture;

static void pool_closed(void *arg)
{
    ((pool_fixture *)arg)->closed = true;
}

static void fixture_open(pool_fixture *f, const char *conninfo, int size, int queue_timeout_ms)
{
    memset(f, 0, sizeof(*f));
    uv_loop_init(&f->loop);
    tdm_pg_pool_options opts = {
        .conninfo = conninfo,
        .size = size,
        .application_name = "tandem-test-pool",
        .queue_timeout_ms = queue_timeout_ms,
    };
    f->pool = tdm_pg_pool_new(&f->loop, &opts);
    assert_non_null(f->pool);
}

static void fixture_close(pool_fixture *f)
{
    tdm_pg_pool_close(f->pool, pool_closed, f);
    assert_true(tpg_run_until(&f->loop, &f->closed, 10000));
    tpg_loop_finish(&f->loop);
}

/* ---- many concurrent queries ---------------------------------------------------- */

#define CONCURRENT_EXECS 400
#define CONCURRENT_TXS   100

typedef struct exec_call {
    int input;
    int output;
    int calls;
    tdm_code code;
} exec_call;

static void exec_done(void *arg, tdm_status *st, PGresult *res)
{
    exec_call *c = arg;
    c->calls++;
    c->code = st != NULL ? st->code : TDM_OK;
    if (st == NULL)
        c->output = atoi(PQgetvalue(res, 0, 0));
    tdm_status_free(st);
}

typedef struct tx_flow {
    int id;
    int step;
    int calls_done;
    tdm_code code;
    bool finished;
} tx_flow;

static void flow_ended(void *arg, tdm_status *st)
{
    tx_flow *f = arg;
    f->code = st != NULL ? st->code : TDM_OK;
    f->finished = true;
    f->calls_done++;
    tdm_status_free(st);
}

static void flow_selected(void *arg, tdm_status *st, PGresult *res);

static void flow_inserted(void *arg, tdm_status *st, PGresult *res)
{
    tx_flow *f = arg;
    (void)res;
    assert_null(st);
    f->step = 2;
}

static tdm_pg_tx *g_flow_tx[CONCURRENT_TXS];

static void flow_begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    tx_flow *f = arg;
    assert_null(st);
    g_flow_tx[f->id] = tx;
    char id[16], qty[16];
    snprintf(id, sizeof(id), "%d", 1000 + f->id);
    snprintf(qty, sizeof(qty), "%d", f->id);
    const char *values[] = {id, qty};
    assert_int_equal(tdm_pg_tx_query(tx, "INSERT INTO public.items (id, qty) VALUES ($1, $2)", 2,
                                     values, flow_inserted, f),
                     0);
    f->step = 1;
}

static void flow_selected(void *arg, tdm_status *st, PGresult *res)
{
    tx_flow *f = arg;
    assert_null(st);
    assert_int_equal(atoi(PQgetvalue(res, 0, 0)), f->id);
    assert_int_equal(tdm_pg_tx_end(g_flow_tx[f->id], true, flow_ended, f), 0);
}

static void test_pool_serves_many_concurrent_queries_on_few_connections(void **state)
{
    (void)state;
    pool_fixture f;
    fixture_open(&f, g_db.super, 4, 20000);
    static exec_call calls[CONCURRENT_EXECS];
    static tx_flow flows[CONCURRENT_TXS];
    memset(calls, 0, sizeof(calls));
    memset(flows, 0, sizeof(flows));
    char value[16];
    for (int i = 0; i < CONCURRENT_EXECS; i++) {
        calls[i].input = i;
        snprintf(value, sizeof(value), "%d", i);
        const char *values[] = {value}; /* copied by the pool: this buffer is reused */
        assert_int_equal(
            tdm_pg_exec(f.pool, NULL, "SELECT $1::int * 2", 1, values, exec_done, &calls[i]), 0);
    }
    for (int i = 0; i < CONCURRENT_TXS; i++) {
        flows[i].id = i;
        assert_int_equal(tdm_pg_tx_begin(f.pool, NULL, flow_begun, &flows[i]), 0);
    }
    /* Drive the transactions' middle step from here: insert, then read back. */
    bool all = false;
    uint64_t end = uv_hrtime() + 30000000000ull;
    while (!all && uv_hrtime() < end) {
        uv_run(&f.loop, UV_RUN_ONCE);
        all = true;
        for (int i = 0; i < CONCURRENT_TXS; i++) {
            if (flows[i].step == 2) {
                flows[i].step = 3;
                char id[16];
                snprintf(id, sizeof(id), "%d", 1000 + i);
                const char *values[] = {id};
                assert_int_equal(tdm_pg_tx_query(g_flow_tx[i],
                                                 "SELECT qty FROM public.items WHERE id = $1", 1,
                                                 values, flow_selected, &flows[i]),
                                 0);
            }
            all = all && flows[i].finished;
        }
        for (int i = 0; all && i < CONCURRENT_EXECS; i++)
            all = calls[i].calls == 1;
    }
    assert_true(all);
    for (int i = 0; i < CONCURRENT_EXECS; i++) {
        assert_int_equal(calls[i].calls, 1);
        assert_int_equal(calls[i].code, TDM_OK);
        assert_int_equal(calls[i].output, 2 * i);
    }
    for (int i = 0; i < CONCURRENT_TXS; i++) {
        assert_int_equal(flows[i].calls_done, 1);
        assert_int_equal(flows[i].code, TDM_OK);
    }
    assert_int_equal(tpg_scalar(g_db.super, "SELECT count(*) FROM public.items WHERE id >= 1000"),
                     CONCURRENT_TXS);
    /* Never more connections than the pool's size. */
    assert_true(tpg_scalar(g_db.super, "SELECT count(*) FROM pg_stat_activity "
                                       "WHERE application_name = 'tandem-test-pool' "
                                       "AND datname = current_database()") <= 4);
    fixture_close(&f);
    PQclear(tpg_exec(g_db.super, "DELETE FROM public.items", PGRES_COMMAND_OK));
}

/* ---- errors --------------------------------------------------------------------- */

typedef struct result_capture {
    bool done;
    int calls;
    tdm_code code;
    char sqlstate[6];
    char message[256];
    char detail[512];
    int rows;
} result_capture;

static void capture_result(void *arg, tdm_status *st, PGresult *res)
{
    result_capture *c = arg;
    c->done = true;
    c->calls++;
    c->code = st != NULL ? st->code : TDM_OK;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", tdm_pg_sqlstate(res));
    if (st != NULL) {
        snprintf(c->message, sizeof(c->message), "%s", st->message);
        snprintf(c->detail, sizeof(c->detail), "%s", st->detail != NULL ? st->detail : "");
    }
    c->rows = res != NULL ? PQntuples(res) : -1;
    tdm_status_free(st);
}

static void expect_exec(pool_fixture *f, const char *sql, tdm_code code, const char *sqlstate,
                        result_capture *c)
{
    memset(c, 0, sizeof(*c));
    assert_int_equal(tdm_pg_exec(f->pool, NULL, sql, 0, NULL, capture_result, c), 0);
    assert_true(tpg_run_until(&f->loop, &c->done, 10000));
    assert_int_equal(c->calls, 1);
    assert_int_equal(c->code, code);
    assert_string_equal(c->sqlstate, sqlstate);
}

static void test_query_errors_surface_their_sqlstate_without_sql_text(void **state)
{
    (void)state;
    pool_fixture f;
    fixture_open(&f, g_db.super, 2, 5000);
    result_capture c;
    expect_exec(&f, "INSERT INTO public.items VALUES (1, 1)", TDM_OK, "", &c);
    expect_exec(&f, "INSERT INTO public.items VALUES (1, 1)", TDM_ALREADY_EXISTS, "23505", &c);
    assert_non_null(strstr(c.detail, "SQLSTATE 23505"));
    assert_non_null(strstr(c.detail, "items_pkey"));
    assert_null(strstr(c.message, "INSERT"));
    assert_null(strstr(c.message, "items"));
    expect_exec(&f, "INSERT INTO public.items VALUES (2, -1)", TDM_INVALID_ARGUMENT, "23514", &c);
    expect_exec(&f, "SELECT 'x'::int", TDM_INVALID_ARGUMENT, "22P02", &c);
    expect_exec(&f, "SELEC 1", TDM_INTERNAL, "42601", &c);
    assert_null(strstr(c.message, "SELEC"));
    expect_exec(&f, "SELECT * FROM public.nowhere", TDM_INTERNAL, "42P01", &c);
    /* The failed statements rolled back and left the connections usable. */
    expect_exec(&f, "SELECT id FROM public.items", TDM_OK, "", &c);
    assert_int_equal(c.rows, 1);
    fixture_close(&f);
    PQclear(tpg_exec(g_db.super, "DELETE FROM public.items", PGRES_COMMAND_OK));
}

typedef struct tx_capture {
    bool done;
    tdm_code code;
    tdm_pg_tx *tx;
} tx_capture;

static void capture_tx(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    tx_capture *c = arg;
    c->done = true;
    c->code = st != NULL ? st->code : TDM_OK;
    c->tx = tx;
    tdm_status_free(st);
}

typedef struct done_capture {
    bool done;
    int calls;
    tdm_code code;
} done_capture;

static void capture_done(void *arg, tdm_status *st)
{
    done_capture *c = arg;
    c->done = true;
    c->calls++;
    c->code = st != NULL ? st->code : TDM_OK;
    tdm_status_free(st);
}

static void test_a_failed_statement_aborts_its_transaction_and_nothing_commits(void **state)
{
    (void)state;
    pool_fixture f;
    fixture_open(&f, g_db.super, 1, 5000);
    tx_capture t = {0};
    assert_int_equal(tdm_pg_tx_begin(f.pool, NULL, capture_tx, &t), 0);
    assert_true(tpg_run_until(&f.loop, &t.done, 10000));
    assert_int_equal(t.code, TDM_OK);
    result_capture c = {0};
    assert_int_equal(tdm_pg_tx_query(t.tx, "INSERT INTO public.items VALUES (7, 7)", 0, NULL,
                                     capture_result, &c),
                     0);
    assert_true(tpg_run_until(&f.loop, &c.done, 10000));
    assert_int_equal(c.code, TDM_OK);
    memset(&c, 0, sizeof(c));
    assert_int_equal(tdm_pg_tx_query(t.tx, "INSERT INTO public.items VALUES (7, 7)", 0, NULL,
                                     capture_result, &c),
                     0);
    assert_true(tpg_run_until(&f.loop, &c.done, 10000));
    assert_int_equal(c.code, TDM_ALREADY_EXISTS);
    /* Only the end remains; asking to commit reports that nothing was. */
    assert_int_not_equal(tdm_pg_tx_query(t.tx, "SELECT 1", 0, NULL, capture_result, &c), 0);
    done_capture d = {0};
    assert_int_equal(tdm_pg_tx_end(t.tx, true, capture_done, &d), 0);
    assert_true(tpg_run_until(&f.loop, &d.done, 10000));
    assert_int_equal(d.code, TDM_ABORTED);
    assert_int_equal(tpg_scalar(g_db.super, "SELECT count(*) FROM public.items"), 0);
    fixture_close(&f);
}

/* ---- deadlines, cancellation, bounded waits ------------------------------------- */

static void test_the_call_deadline_bounds_a_running_statement(void **state)
{
    (void)state;
    pool_fixture f;
    fixture_open(&f, g_db.super, 1, 5000);
    tdm_pg_tx_options opts = {.deadline_ms = uv_now(&f.loop) + 300};
    result_capture c = {0};
    uint64_t start = uv_hrtime();
    assert_int_equal(tdm_pg_exec(f.pool, &opts, "SELECT pg_sleep(20)", 0, NULL, capture_result, &c),
                     0);
    assert_true(tpg_run_until(&f.loop, &c.done, 10000));
    assert_int_equal(c.code, TDM_DEADLINE_EXCEEDED);
    assert_string_equal(c.sqlstate, "57014");
    assert_true(uv_hrtime() - start < 3000000000ull);
    /* SET LOCAL: the next transaction on the same connection has no such limit. */
    expect_exec(&f, "SELECT current_setting('statement_timeout')", TDM_OK, "", &c);
    fixture_close(&f);
}

static void test_cancel_stops_a_running_statement_with_cancelled(void **state)
{
    (void)state;
    pool_fixture f;
    fixture_open(&f, g_db.super, 1, 5000);
    tx_capture t = {0};
    assert_int_equal(tdm_pg_tx_begin(f.pool, NULL, capture_tx, &t), 0);
    assert_true(tpg_run_until(&f.loop, &t.done, 10000));
    result_capture c = {0};
    uint64_t start = uv_hrtime();
    assert_int_equal(tdm_pg_tx_query(t.tx, "SELECT pg_sleep(20)", 0, NULL, capture_result, &c), 0);
    bool never = false;
    tpg_run_until(&f.loop, &never, 200);
    tdm_pg_tx_cancel(t.tx);
    assert_true(tpg_run_until(&f.loop, &c.done, 10000));
    assert_int_equal(c.code, TDM_CANCELLED);
    assert_true(uv_hrtime() - start < 3000000000ull);
    done_capture d = {0};
    assert_int_equal(tdm_pg_tx_end(t.tx, false, capture_done, &d), 0);
    assert_true(tpg_run_until(&f.loop, &d.done, 10000));
    assert_int_equal(d.code, TDM_OK);
    fixture_close(&f);
}

static void test_unreachable_server_fails_waiting_work_with_unavailable_quickly(void **state)
{
    (void)state;
    /* A port nobody listens on: bind one, note it, close it. */
    uv_loop_t probe;
    uv_loop_init(&probe);
    uv_tcp_t tcp;
    uv_tcp_init(&probe, &tcp);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_bind(&tcp, (const struct sockaddr *)&addr, 0);
    struct sockaddr_in bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(&tcp, (struct sockaddr *)&bound, &len);
    uv_close((uv_handle_t *)&tcp, NULL);
    uv_run(&probe, UV_RUN_DEFAULT);
    uv_loop_close(&probe);
    char conninfo[200];
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%d dbname=x user=x",
             ntohs(bound.sin_port));

    pool_fixture f;
    fixture_open(&f, conninfo, 2, 1500);
    result_capture c = {0};
    uint64_t start = uv_hrtime();
    assert_int_equal(tdm_pg_exec(f.pool, NULL, "SELECT 1", 0, NULL, capture_result, &c), 0);
    assert_true(tpg_run_until(&f.loop, &c.done, 5000));
    assert_int_equal(c.code, TDM_UNAVAILABLE);
    assert_true(uv_hrtime() - start <= 1600000000ull);
    assert_false(tdm_pg_pool_connected(f.pool));
    /* Once it is known to be down, new work is refused at once. */
    memset(&c, 0, sizeof(c));
    start = uv_hrtime();
    assert_int_equal(tdm_pg_exec(f.pool, NULL, "SELECT 1", 0, NULL, capture_result, &c), 0);
    assert_true(tpg_run_until(&f.loop, &c.done, 5000));
    assert_int_equal(c.code, TDM_UNAVAILABLE);
    assert_true(uv_hrtime() - start < 200000000ull);
    fixture_close(&f);
}

static void test_waiting_for_a_busy_pool_is_bounded_by_queue_timeout_and_deadline(void **state)
{
    (void)state;
    pool_fixture f;
    fixture_open(&f, g_db.super, 1, 400);
    tx_capture held = {0};
    assert_int_equal(tdm_pg_tx_begin(f.pool, NULL, capture_tx, &held), 0);
    assert_true(tpg_run_until(&f.loop, &held.done, 10000));
    /* The only connection is leased: one waiter times out, one hits its deadline first. */
    tx_capture queued = {0}, hurried = {0};
    uint64_t start = uv_hrtime();
    assert_int_equal(tdm_pg_tx_begin(f.pool, NULL, capture_tx, &queued), 0);
    tdm_pg_tx_options opts = {.deadline_ms = uv_now(&f.loop) + 100};
    assert_int_equal(tdm_pg_tx_begin(f.pool, &opts, capture_tx, &hurried), 0);
    assert_true(tpg_run_until(&f.loop, &hurried.done, 5000));
    assert_int_equal(hurried.code, TDM_DEADLINE_EXCEEDED);
    assert_false(queued.done);
    assert_true(tpg_run_until(&f.loop, &queued.done, 5000));
    assert_int_equal(queued.code, TDM_UNAVAILABLE);
    uint64_t waited = uv_hrtime() - start;
    assert_true(waited >= 350000000ull && waited < 1500000000ull);
    done_capture d = {0};
    assert_int_equal(tdm_pg_tx_end(held.tx, true, capture_done, &d), 0);
    assert_true(tpg_run_until(&f.loop, &d.done, 5000));
    fixture_close(&f);
}

static void test_host_names_are_resolved_before_connecting(void **state)
{
    (void)state;
    if (strcmp(g_db.host, "127.0.0.1") != 0 && strcmp(g_db.host, "localhost") != 0) {
        skip();
    }
    char conninfo[TPG_CONNINFO_MAX];
    snprintf(conninfo, sizeof(conninfo), "host=localhost port=%s dbname=%s user=tandem_owner",
             g_db.port, g_db.name);
    pool_fixture f;
    fixture_open(&f, conninfo, 1, 5000);
    result_capture c;
    expect_exec(&f, "SELECT current_user", TDM_OK, "", &c);
    assert_int_equal(c.rows, 1);
    fixture_close(&f);
}

/* Several hosts, as after a failover: a name that does not resolve and a port nobody
 * listens on are passed over, and the pool connects to the server that takes writes. */
static void test_several_hosts_are_tried_in_turn_for_a_writable_server(void **state)
{
    (void)state;
    if (strcmp(g_db.host, "127.0.0.1") != 0 && strcmp(g_db.host, "localhost") != 0) {
        skip();
    }
    char conninfo[TPG_CONNINFO_MAX];
    snprintf(conninfo, sizeof(conninfo),
             "host=tandem-no-such-host.invalid,127.0.0.1,localhost port=%s,1,%s dbname=%s "
             "user=tandem_owner",
             g_db.port, g_db.port, g_db.name);
    pool_fixture f;
    fixture_open(&f, conninfo, 1, 5000);
    result_capture c;
    expect_exec(&f, "SELECT current_setting('transaction_read_only')", TDM_OK, "", &c);
    assert_int_equal(c.rows, 1);
    fixture_close(&f);
}

static void test_a_port_list_that_fits_no_host_list_is_refused(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    const char *bad[] = {
        "host=127.0.0.1,127.0.0.2 port=5432,5433,5434 dbname=x",
        "host=a,b,c,d,e,f,g,h,i dbname=x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tdm_pg_pool_options opts = {.conninfo = bad[i], .size = 1};
        assert_null(tdm_pg_pool_new(&loop, &opts));
    }
    tpg_loop_finish(&loop);
}

/* A server that stops taking writes (SQLSTATE 25006: default_transaction_read_only, as a
 * demoted primary) is left: the write fails UNAVAILABLE (retryable) and the pool, asking
 * for a read-write session, has no connection until the server takes writes again. */
static void test_a_read_only_server_is_left_until_it_takes_writes(void **state)
{
    (void)state;
    char set[256], reset[256];
    snprintf(set, sizeof(set), "ALTER DATABASE %s SET default_transaction_read_only = on",
             g_db.name);
    /* Sessions of the database start read-only now: this one asks for read-write. */
    snprintf(reset, sizeof(reset),
             "BEGIN READ WRITE; ALTER DATABASE %s RESET default_transaction_read_only; COMMIT",
             g_db.name);
    pool_fixture f;
    fixture_open(&f, g_db.super, 1, 1000);
    result_capture c;
    expect_exec(&f, "INSERT INTO public.items VALUES (90001, 1)", TDM_OK, "", &c);
    /* New sessions of this database start read-only; the pool's one is open already, so
     * make it read-only the way a demotion makes every session. */
    PQclear(tpg_exec(g_db.super, set, PGRES_COMMAND_OK));
    expect_exec(&f, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", TDM_OK, "", &c);
    expect_exec(&f, "INSERT INTO public.items VALUES (90002, 1)", TDM_UNAVAILABLE, "25006", &c);
    /* Dropped, and not connected again while the server refuses writes. */
    bool never = false;
    tpg_run_until(&f.loop, &never, 1500);
    assert_false(tdm_pg_pool_connected(f.pool));
    PQclear(tpg_exec(g_db.super, reset, PGRES_COMMAND_OK));
    uint64_t until = uv_now(&f.loop) + 15000;
    while (!tdm_pg_pool_connected(f.pool) && uv_now(&f.loop) < until)
        uv_run(&f.loop, UV_RUN_ONCE);
    assert_true(tdm_pg_pool_connected(f.pool));
    expect_exec(&f, "INSERT INTO public.items VALUES (90002, 1)", TDM_OK, "", &c);
    expect_exec(&f, "DELETE FROM public.items WHERE id IN (90001, 90002)", TDM_OK, "", &c);
    fixture_close(&f);
}

/* ---- closing with work in flight ------------------------------------------------ */

#define CLOSE_RUNNING 2
#define CLOSE_WAITING 5

typedef struct close_case {
    tx_capture begun[CLOSE_RUNNING];
    result_capture running[CLOSE_RUNNING];
    done_capture ended[CLOSE_RUNNING];
    bool end_asked[CLOSE_RUNNING];
    tx_capture waiting[CLOSE_WAITING];
} close_case;

static void test_close_fails_waiters_cancels_running_work_and_frees_everything(void **state)
{
    (void)state;
    pool_fixture f;
    fixture_open(&f, g_db.super, CLOSE_RUNNING, 20000);
    close_case k;
    memset(&k, 0, sizeof(k));
    for (int i = 0; i < CLOSE_RUNNING; i++) {
        assert_int_equal(tdm_pg_tx_begin(f.pool, NULL, capture_tx, &k.begun[i]), 0);
        assert_true(tpg_run_until(&f.loop, &k.begun[i].done, 10000));
        assert_int_equal(tdm_pg_tx_query(k.begun[i].tx, "SELECT pg_sleep(30)", 0, NULL,
                                         capture_result, &k.running[i]),
                         0);
    }
    for (int i = 0; i < CLOSE_WAITING; i++)
        assert_int_equal(tdm_pg_tx_begin(f.pool, NULL, capture_tx, &k.waiting[i]), 0);
    bool never = false;
    tpg_run_until(&f.loop, &never, 100);
    uint64_t start = uv_hrtime();
    tdm_pg_pool_close(f.pool, pool_closed, &f);
    /* Work arriving during the close is refused through its callback. */
    result_capture late = {0};
    assert_int_equal(tdm_pg_exec(f.pool, NULL, "SELECT 1", 0, NULL, capture_result, &late), 0);
    bool all = false;
    uint64_t end = uv_hrtime() + 10000000000ull;
    while (!all && uv_hrtime() < end) {
        uv_run(&f.loop, UV_RUN_ONCE);
        all = late.done;
        for (int i = 0; i < CLOSE_RUNNING; i++) {
            /* The caller's part: end the transaction once its statement failed. */
            if (k.running[i].done && !k.end_asked[i]) {
                k.end_asked[i] = true;
                assert_int_equal(tdm_pg_tx_end(k.begun[i].tx, true, capture_done, &k.ended[i]), 0);
            }
            all = all && k.ended[i].done;
        }
        for (int i = 0; i < CLOSE_WAITING; i++)
            all = all && k.waiting[i].done;
    }
    assert_true(all);
    assert_int_equal(late.code, TDM_UNAVAILABLE);
    for (int i = 0; i < CLOSE_WAITING; i++)
        assert_int_equal(k.waiting[i].code, TDM_UNAVAILABLE);
    for (int i = 0; i < CLOSE_RUNNING; i++) {
        assert_int_equal(k.running[i].calls, 1);
        assert_int_equal(k.running[i].code, TDM_UNAVAILABLE);
        assert_int_equal(k.ended[i].calls, 1);
        assert_int_equal(k.ended[i].code, TDM_ABORTED);
    }
    assert_true(tpg_run_until(&f.loop, &f.closed, 10000));
    assert_true(uv_hrtime() - start < 5000000000ull);
    tpg_loop_finish(&f.loop);
}

static void test_pool_metrics_are_exported(void **state)
{
    (void)state;
    char *text = tdm_metrics_render(tdm_metrics_global(), NULL);
    assert_non_null(text);
    assert_non_null(strstr(text, "tandem_pg_queries_total{result=\"OK\"}"));
    assert_non_null(strstr(text, "tandem_pg_queries_total{result=\"ALREADY_EXISTS\"}"));
    assert_non_null(strstr(text, "tandem_pg_query_duration_seconds_bucket"));
    assert_non_null(strstr(text, "tandem_pg_pool_connections{state=\"idle\"}"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_serves_many_concurrent_queries_on_few_connections),
        cmocka_unit_test(test_query_errors_surface_their_sqlstate_without_sql_text),
        cmocka_unit_test(test_a_failed_statement_aborts_its_transaction_and_nothing_commits),
        cmocka_unit_test(test_the_call_deadline_bounds_a_running_statement),
        cmocka_unit_test(test_cancel_stops_a_running_statement_with_cancelled),
        cmocka_unit_test(test_unreachable_server_fails_waiting_work_with_unavailable_quickly),
        cmocka_unit_test(test_waiting_for_a_busy_pool_is_bounded_by_queue_timeout_and_deadline),
        cmocka_unit_test(test_host_names_are_resolved_before_connecting),
        cmocka_unit_test(test_several_hosts_are_tried_in_turn_for_a_writable_server),
        cmocka_unit_test(test_a_port_list_that_fits_no_host_list_is_refused),
        cmocka_unit_test(test_a_read_only_server_is_left_until_it_takes_writes),
        cmocka_unit_test(test_close_fails_waiters_cancels_running_work_and_frees_everything),
        cmocka_unit_test(test_pool_metrics_are_exported),
    };
    if (!tpg_available())
        return TPG_SKIPPED;
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
