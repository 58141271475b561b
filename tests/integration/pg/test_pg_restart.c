/*
 * test_pg_restart.c - the database restarted under a running pool. While queries
 * keep arriving, `pg_ctl restart -m fast` stops the shared test cluster and starts it
 * again: a statement running at that moment and a transaction leased across it fail
 * with UNAVAILABLE, queries issued while the server is down fail with UNAVAILABLE
 * instead of hanging, every call gets exactly one answer, and the pool reconnects by
 * itself. Needs TANDEM_TEST_PGDATA and TANDEM_TEST_PGCTL (tests/run.sh exports them)
 * and runs alone (RUN_SERIAL): it takes the cluster away from everyone else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pg_test_support.h"
#include "tandem/pg.h"

#define MAX_TICKS 2000

static tpg_db g_db;

typedef struct tick_result {
    int calls;
    tdm_code code;
} tick_result;

typedef struct restart_case {
    uv_loop_t loop;
    tdm_pg_pool *pool;
    uv_timer_t ticker;
    uv_process_t restart;
    bool restarted;
    int64_t restart_status;
    tick_result ticks[MAX_TICKS];
    int n_ticks;
    bool stop_ticking;
    int ok_after_restart;
    tdm_pg_tx *held;
    bool held_done;
    bool sleeping_done;
    tdm_code sleeping_code;
    bool held_query_done;
    tdm_code held_query_code;
    bool held_end_done;
    bool closed;
} restart_case;

static void tick_done(void *arg, tdm_status *st, PGresult *res)
{
    tick_result *t = arg;
    (void)res;
    t->calls++;
    t->code = st != NULL ? st->code : TDM_OK;
    tdm_status_free(st);
}

static void on_tick(uv_timer_t *timer)
{
    restart_case *k = timer->data;
    if (k->stop_ticking || k->n_ticks >= MAX_TICKS)
        return;
    tick_result *t = &k->ticks[k->n_ticks++];
    assert_int_equal(tdm_pg_exec(k->pool, NULL, "SELECT 1", 0, NULL, tick_done, t), 0);
    if (k->restarted) {
        for (int i = 0; i < k->n_ticks; i++) {
            if (k->ticks[i].calls == 1 && k->ticks[i].code == TDM_OK && i > 0 &&
                k->ticks[i - 1].calls == 1 && k->restarted)
                k->ok_after_restart = 1;
        }
    }
}

static void on_restarted(uv_process_t *proc, int64_t status, int signal)
{
    restart_case *k = proc->data;
    (void)signal;
    k->restarted = true;
    k->restart_status = status;
    uv_close((uv_handle_t *)proc, NULL);
}

static void held_begun(void *arg, tdm_status *st, tdm_pg_tx *tx)
{
    restart_case *k = arg;
    assert_null(st);
    k->held = tx;
    k->held_done = true;
}

static void sleeping_done(void *arg, tdm_status *st, PGresult *res)
{
    restart_case *k = arg;
    (void)res;
    k->sleeping_done = true;
    k->sleeping_code = st != NULL ? st->code : TDM_OK;
    tdm_status_free(st);
}

static void held_query_done(void *arg, tdm_status *st, PGresult *res)
{
    restart_case *k = arg;
    (void)res;
    k->held_query_done = true;
    k->held_query_code = st != NULL ? st->code : TDM_OK;
    tdm_status_free(st);
}

static void held_ended(void *arg, tdm_status *st)
{
    restart_case *k = arg;
    k->held_end_done = true;
    tdm_status_free(st);
}

static void pool_closed(void *arg)
{
    ((restart_case *)arg)->closed = true;
}

static void test_pool_survives_a_database_restart_without_hanging(void **state)
{
    (void)state;
    static restart_case k;
    memset(&k, 0, sizeof(k));
    uv_loop_init(&k.loop);
    tdm_pg_pool_options opts = {.conninfo = g_db.owner, .size = 4, .queue_timeout_ms = 2000};
    k.pool = tdm_pg_pool_new(&k.loop, &opts);
    assert_non_null(k.pool);

    /* A transaction leased across the restart, and a statement running through it. */
    assert_int_equal(tdm_pg_tx_begin(k.pool, NULL, held_begun, &k), 0);
    assert_true(tpg_run_until(&k.loop, &k.held_done, 10000));
    assert_int_equal(tdm_pg_exec(k.pool, NULL, "SELECT pg_sleep(30)", 0, NULL, sleeping_done, &k),
                     0);
    uv_timer_init(&k.loop, &k.ticker);
    k.ticker.data = &k;
    uv_timer_start(&k.ticker, on_tick, 20, 20);
    bool never = false;
    tpg_run_until(&k.loop, &never, 300);

    char command[1024];
    const char *log = getenv("TANDEM_TEST_PGLOG");
    snprintf(command, sizeof(command), "%s restart -D '%s' -m fast -w -t 60 -l '%s' >/dev/null",
             getenv("TANDEM_TEST_PGCTL"), getenv("TANDEM_TEST_PGDATA"),
             log != NULL && log[0] != '\0' ? log : "/dev/null");
    char sh[] = "/bin/sh", dash_c[] = "-c";
    char *args[] = {sh, dash_c, command, NULL};
    uv_process_options_t popts = {.file = "/bin/sh", .args = args, .exit_cb = on_restarted};
    k.restart.data = &k;
    uint64_t start = uv_hrtime();
    assert_int_equal(uv_spawn(&k.loop, &k.restart, &popts), 0);

    /* The running statement fails at once with the server's shutdown. */
    assert_true(tpg_run_until(&k.loop, &k.sleeping_done, 30000));
    assert_int_equal(k.sleeping_code, TDM_UNAVAILABLE);
    assert_true(tpg_run_until(&k.loop, &k.restarted, 60000));
    assert_int_equal(k.restart_status, 0);
    /* Reconnected: fresh work succeeds again within a few backoff periods. */
    bool back = false;
    uint64_t end = uv_hrtime() + 20000000000ull;
    while (!back && uv_hrtime() < end) {
        uv_run(&k.loop, UV_RUN_ONCE);
        for (int i = k.n_ticks - 1; i >= 0 && !back; i--)
            back =
                k.ticks[i].calls == 1 && k.ticks[i].code == TDM_OK && tdm_pg_pool_connected(k.pool);
        back = back && k.ticks[k.n_ticks - 1].calls == 1 && k.ticks[k.n_ticks - 1].code == TDM_OK;
    }
    assert_true(back);
    assert_true(uv_hrtime() - start < 45000000000ull);
    k.stop_ticking = true;
    uv_timer_stop(&k.ticker);

    /* The leased transaction is dead: its next statement fails, its end frees it. */
    assert_int_equal(tdm_pg_tx_query(k.held, "SELECT 1", 0, NULL, held_query_done, &k), 0);
    assert_true(tpg_run_until(&k.loop, &k.held_query_done, 5000));
    assert_int_equal(k.held_query_code, TDM_UNAVAILABLE);
    assert_int_equal(tdm_pg_tx_end(k.held, false, held_ended, &k), 0);
    assert_true(tpg_run_until(&k.loop, &k.held_end_done, 5000));

    /* Every query got exactly one answer: OK, or UNAVAILABLE while the server was away. */
    bool all = false;
    end = uv_hrtime() + 10000000000ull;
    while (!all && uv_hrtime() < end) {
        uv_run(&k.loop, UV_RUN_NOWAIT);
        all = true;
        for (int i = 0; i < k.n_ticks; i++)
            all = all && k.ticks[i].calls == 1;
    }
    assert_true(all);
    int failed = 0;
    for (int i = 0; i < k.n_ticks; i++) {
        assert_int_equal(k.ticks[i].calls, 1);
        assert_true(k.ticks[i].code == TDM_OK || k.ticks[i].code == TDM_UNAVAILABLE);
        failed += k.ticks[i].code != TDM_OK;
    }
    fprintf(stderr, "%d queries during the restart, %d answered UNAVAILABLE\n", k.n_ticks, failed);

    uv_close((uv_handle_t *)&k.ticker, NULL);
    tdm_pg_pool_close(k.pool, pool_closed, &k);
    assert_true(tpg_run_until(&k.loop, &k.closed, 10000));
    tpg_loop_finish(&k.loop);
}

static int group_setup(void **state)
{
    (void)state;
    tpg_db_create(&g_db, "restart");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tpg_db_drop(&g_db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_survives_a_database_restart_without_hanging),
    };
    if (!tpg_available())
        return TPG_SKIPPED;
    const char *data = getenv("TANDEM_TEST_PGDATA"), *ctl = getenv("TANDEM_TEST_PGCTL");
    if (data == NULL || data[0] == '\0' || ctl == NULL || ctl[0] == '\0') {
        fprintf(stderr, "skipped: TANDEM_TEST_PGDATA and TANDEM_TEST_PGCTL are needed to restart "
                        "the test cluster (tests/run.sh exports them)\n");
        return TPG_SKIPPED;
    }
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
