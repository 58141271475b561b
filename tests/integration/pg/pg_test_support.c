/*
 * pg_test_support.c - scratch databases, connection strings and loop helpers for
 * the PostgreSQL runtime tests (pg_test_support.h).
 */
#include "pg_test_support.h"

#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

extern char **environ;

bool tpg_available(void)
{
    const char *url = getenv("TANDEM_TEST_DATABASE_URL");
    if (url == NULL || url[0] == '\0') {
        fprintf(stderr, "TANDEM_TEST_DATABASE_URL is not set: run through ./tests/run.sh\n");
        return false;
    }
    return true;
}

static void append_kv(char *out, size_t cap, const char *key, const char *value)
{
    size_t len = strlen(out);
    char quoted[TPG_CONNINFO_MAX];
    size_t q = 0;
    for (const char *p = value; *p != '\0' && q + 2 < sizeof(quoted); p++) {
        if (*p == '\'' || *p == '\\')
            quoted[q++] = '\\';
        quoted[q++] = *p;
    }
    quoted[q] = '\0';
    snprintf(out + len, cap - len, "%s%s='%s'", len > 0 ? " " : "", key, quoted);
}

/* host, port (and password, when the URL has one) of the test cluster. */
static void parse_super(tpg_db *db, char *password, size_t password_cap)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(getenv("TANDEM_TEST_DATABASE_URL"), &err);
    if (opts == NULL)
        fail_msg("TANDEM_TEST_DATABASE_URL does not parse: %s", err != NULL ? err : "");
    password[0] = '\0';
    snprintf(db->host, sizeof(db->host), "127.0.0.1");
    snprintf(db->port, sizeof(db->port), "5432");
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "host") == 0)
            snprintf(db->host, sizeof(db->host), "%s", o->val);
        else if (strcmp(o->keyword, "port") == 0)
            snprintf(db->port, sizeof(db->port), "%s", o->val);
        else if (strcmp(o->keyword, "password") == 0)
            snprintf(password, password_cap, "%s", o->val);
    }
    PQconninfoFree(opts);
}

void tpg_db_role(const tpg_db *db, const char *role, char out[TPG_CONNINFO_MAX])
{
    out[0] = '\0';
    append_kv(out, TPG_CONNINFO_MAX, "host", db->host);
    append_kv(out, TPG_CONNINFO_MAX, "port", db->port);
    append_kv(out, TPG_CONNINFO_MAX, "dbname", db->name);
    append_kv(out, TPG_CONNINFO_MAX, "user", role);
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

PGresult *tpg_exec(const char *conninfo, const char *sql, ExecStatusType expect)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK)
        fail_msg("connect %s: %s", conninfo, PQerrorMessage(pg));
    PQsetNoticeProcessor(pg, quiet_notice, NULL);
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != expect)
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    PQfinish(pg);
    return res;
}

long tpg_scalar(const char *conninfo, const char *sql)
{
    PGresult *res = tpg_exec(conninfo, sql, PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), 1);
    long v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static void run_psql(const char *conninfo, const char *dbname, const char *file)
{
    char dbvar[96];
    snprintf(dbvar, sizeof(dbvar), "dbname=%s", dbname);
    /* posix_spawn takes char *const argv[]: give it writable copies. */
    char psql[] = "psql", no_rc[] = "-X", quiet[] = "-q", var[] = "-v", stop[] = "ON_ERROR_STOP=1",
         dash_d[] = "-d", dash_f[] = "-f";
    char conn[TPG_CONNINFO_MAX], path[1024];
    snprintf(conn, sizeof(conn), "%s", conninfo);
    snprintf(path, sizeof(path), "%s", file);
    char *argv[] = {psql, no_rc, quiet, var, stop, dash_d, conn, var, dbvar, dash_f, path, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "psql", NULL, NULL, argv, environ) != 0)
        fail_msg("could not run psql");
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("psql -f %s failed", file);
}

void tpg_db_create(tpg_db *db, const char *tag)
{
    char password[128];
    memset(db, 0, sizeof(*db));
    parse_super(db, password, sizeof(password));
    snprintf(db->name, sizeof(db->name), "tandem_test_pg_%s_%ld", tag, (long)getpid());
    char sql[200];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    PQclear(tpg_exec(getenv("TANDEM_TEST_DATABASE_URL"), sql, PGRES_COMMAND_OK));
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db->name);
    PQclear(tpg_exec(getenv("TANDEM_TEST_DATABASE_URL"), sql, PGRES_COMMAND_OK));

    char super_user[64] = "postgres";
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(getenv("TANDEM_TEST_DATABASE_URL"), &err);
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "user") == 0 && o->val != NULL && o->val[0] != '\0')
            snprintf(super_user, sizeof(super_user), "%s", o->val);
    }
    PQconninfoFree(opts);
    tpg_db_role(db, super_user, db->super);
    if (password[0] != '\0')
        append_kv(db->super, sizeof(db->super), "password", password);
    tpg_db_role(db, "tandem_owner", db->owner);
    run_psql(db->super, db->name, TANDEM_SOURCE_DIR "/deploy/sql/bootstrap.sql");
}

void tpg_db_drop(tpg_db *db)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    PQclear(tpg_exec(getenv("TANDEM_TEST_DATABASE_URL"), sql, PGRES_COMMAND_OK));
}

static void wake(uv_timer_t *t)
{
    (void)t;
}

bool tpg_run_until(uv_loop_t *loop, const bool *done, uint64_t timeout_ms)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, wake, 10, 10);
    uint64_t end = uv_hrtime() + timeout_ms * 1000000ull;
    while (!*done && uv_hrtime() < end)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *done;
}

void tpg_loop_finish(uv_loop_t *loop)
{
    for (int i = 0; i < 1000 && uv_run(loop, UV_RUN_NOWAIT) != 0; i++)
        uv_sleep(5);
    assert_int_equal(uv_loop_close(loop), 0);
}
