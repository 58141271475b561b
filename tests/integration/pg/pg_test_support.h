/*
 * pg_test_support.h - what the PostgreSQL runtime tests share: a scratch database per
 * test binary in the cluster named by TANDEM_TEST_DATABASE_URL (a superuser), with
 * Tandem's roles and schemas from deploy/sql/bootstrap.sql applied by psql exactly as
 * the deployment scripts do; connection strings for the superuser, the owner and the
 * service roles; blocking helpers for set-up and assertions; a loop runner that stops
 * on a condition or a time limit.
 */
#ifndef TANDEM_PG_TEST_SUPPORT_H
#define TANDEM_PG_TEST_SUPPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <uv.h>

#define TPG_CONNINFO_MAX 512
/* The exit status ctest reads as "skipped" (SKIP_RETURN_CODE in CMakeLists.txt). */
#define TPG_SKIPPED 77

typedef struct tpg_db {
    char name[64];
    char super[TPG_CONNINFO_MAX]; /* superuser, scratch database */
    char owner[TPG_CONNINFO_MAX]; /* tandem_owner */
    char host[128];
    char port[16];
} tpg_db;

/* False (and a message saying why) when TANDEM_TEST_DATABASE_URL is unset. */
bool tpg_available(void);
/* Create tandem_test_pg_<tag>_<pid> and bootstrap it; aborts the test binary on failure. */
void tpg_db_create(tpg_db *db, const char *tag);
void tpg_db_drop(tpg_db *db);
/* The connection string of `role` on the scratch database. */
void tpg_db_role(const tpg_db *db, const char *role, char out[TPG_CONNINFO_MAX]);

/* Run sql (simple protocol) on conninfo; returns the result (caller clears) and fails
 * the test when the status is not `expect` (PGRES_COMMAND_OK or PGRES_TUPLES_OK). */
PGresult *tpg_exec(const char *conninfo, const char *sql, ExecStatusType expect);
/* The single value of a one-row, one-column query, as a long. */
long tpg_scalar(const char *conninfo, const char *sql);

/* Run the loop until *done or timeout_ms passed; returns *done. */
bool tpg_run_until(uv_loop_t *loop, const bool *done, uint64_t timeout_ms);
/* Run the loop until it has nothing left to do, then close it (fails on leaks of handles). */
void tpg_loop_finish(uv_loop_t *loop);

#endif
