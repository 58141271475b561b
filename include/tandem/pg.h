/*
 * pg.h - an asynchronous PostgreSQL pool on the libuv loop.
 *
 * Connections use libpq's non-blocking API only (PQconnectStart/PQconnectPoll,
 * PQsendQueryParams, PQconsumeInput, PQisBusy, PQflush), each socket watched by a
 * uv_poll_t, so a query never blocks the loop. Host names are resolved with
 * uv_getaddrinfo before connecting (PQconnectStart's own DNS would block).
 *
 * Work is leased per transaction: tdm_pg_tx_begin() queues until a connection is
 * idle, then runs BEGIN, sets the tenant with set_config('app.tenant_id', $1, true)
 * and the statement timeout from the call's deadline (SET LOCAL statement_timeout),
 * and hands the transaction to the caller, who runs queries and ends it. Row-level
 * security keys on app.tenant_id, so a transaction sees only its tenant's rows.
 *
 * When the server goes away every connection reconnects with exponential backoff;
 * work queued meanwhile fails after a bounded wait with UNAVAILABLE instead of
 * hanging, and queries in flight fail with UNAVAILABLE.
 *
 * Callbacks: every async function that returns 0 calls its callback exactly once,
 * never from inside the call itself; one that returns non-zero (a negative libuv
 * error: UV_EINVAL for a programmer error such as a malformed tenant id or a second
 * statement while one is running, UV_ENOMEM) never calls it. A status passed to a callback belongs
 * to the callback. A PGresult passed to a callback is cleared after it returns. SQLSTATEs are
 * mapped to status codes in one place (tdm_pg_status_from_result).
 *
 * Prepared statements: tdm_pg_tx_query_prepared and tdm_pg_exec_prepared take the same
 * arguments as their unnamed forms and opt a statement into a per-connection cache: the
 * first use on a pooled connection prepares it (in the same round trip), later uses
 * execute it by name, skipping the server's parsing and planning. Use them only for SQL
 * whose text is fixed in the code (parameters in $n, never spliced values): each
 * connection keeps at most 128 texts, and texts past that run unnamed. The cache
 * follows the session: empty after a reconnect; a statement the server no longer knows
 * (SQLSTATE 26000) or whose result type a DDL changed (0A000) is forgotten, and
 * tdm_pg_exec_prepared retries once transparently, while tdm_pg_tx_query_prepared
 * reports the error (its transaction is aborted) and the next use prepares afresh.
 */
#ifndef TANDEM_PG_H
#define TANDEM_PG_H

#include <stdbool.h>
#include <stdint.h>
#include <libpq-fe.h>
#include <uv.h>

#include "tandem/arena.h"
#include "tandem/status.h"

typedef struct tdm_pg_pool tdm_pg_pool;
typedef struct tdm_pg_tx tdm_pg_tx;

typedef struct tdm_pg_pool_options {
    const char *conninfo;         /* libpq connection string or URI */
    int size;                     /* connections, >= 1 */
    const char *application_name; /* shown in pg_stat_activity, e.g. "tandem-enrolment" */
    int queue_timeout_ms;         /* max wait for a connection before UNAVAILABLE (default 5000) */
    int max_queue; /* max waiting transactions before RESOURCE_EXHAUSTED (default 10000) */
} tdm_pg_pool_options;

/* Starts connecting in the background; returns NULL only on bad options/allocation. */
tdm_pg_pool *tdm_pg_pool_new(uv_loop_t *loop, const tdm_pg_pool_options *opts);
/* Fails queued work with UNAVAILABLE, waits for leased transactions to end (they
 * are cancelled), closes every connection, then calls done(arg) and frees the pool. */
void tdm_pg_pool_close(tdm_pg_pool *pool, void (*done)(void *arg), void *arg);
/* True when at least one connection is established. Connections are to a server that
 * accepts writes: unless the conninfo sets target_session_attrs, the pool asks for
 * "read-write", and a session that meets SQLSTATE 25006 (the server became read-only,
 * e.g. demoted by a failover) is dropped and connected again, to the primary among the
 * conninfo's hosts ("host=a,b port=5432,5433" or "postgresql://a:5432,b:5433/db"). */
bool tdm_pg_pool_connected(const tdm_pg_pool *pool);
/* The pool's loop's clock (uv_now, milliseconds): the clock of tdm_pg_tx_options'
 * deadline_ms. */
uint64_t tdm_pg_pool_now(const tdm_pg_pool *pool);
/* For connections made outside the pool that must write (migrations, LISTEN): the
 * target_session_attrs value to pass to libpq, "read-write", or NULL when the conninfo
 * sets its own. */
const char *tdm_pg_write_session_attrs(const char *conninfo);

typedef struct tdm_pg_tx_options {
    const char *tenant_id; /* UUID text, or NULL for work that is not tenant-scoped */
    uint64_t deadline_ms;  /* absolute, in uv_now() milliseconds; 0 = none */
    bool read_only;
    const char *request_id; /* for logs */
    /* tdm_pg_exec* only: run the statement in the implicit transaction of its
     * pipeline (no BEGIN/COMMIT, a single statement's own atomicity and snapshot): one
     * round trip of the settings (tenant, deadline, read-only, all local to that
     * transaction, which ends at the pipeline's sync) and the statement. */
    bool implicit_tx;
} tdm_pg_tx_options;

/* The SQL expression of the transaction's tenant (app.tenant_id, which the pool sets
 * per transaction from tdm_pg_tx_options.tenant_id); NULL when the transaction has
 * none, so a tenant table's row-level security then matches nothing. Every
 * statement names its tenant with it: "WHERE tenant_id = " TDM_SQL_TENANT. */
#define TDM_SQL_TENANT "NULLIF(current_setting('app.tenant_id', true), '')::uuid"

/* The text of a uuid[] parameter, "{id,id,...}", in arena a, of the ids among ids[0..n)
 * that are UUIDs (tdm_uuid_valid; any other is left out, never copied); "{}" when
 * none is. NULL when out of memory. */
char *tdm_pg_uuid_array(const char *const *ids, size_t n, tdm_arena *a);
/* The text of an array parameter, "{a,b,...}", in arena a, of values[0..n) that need
 * no quoting (UUIDs, dates, numbers, names of [a-z_:.]); a NULL value is SQL NULL.
 * NULL when out of memory. */
char *tdm_pg_array_literal(const char *const *values, size_t n, tdm_arena *a);

typedef void (*tdm_pg_tx_cb)(void *arg, tdm_status *st, tdm_pg_tx *tx);
typedef void (*tdm_pg_result_cb)(void *arg, tdm_status *st, PGresult *res);
typedef void (*tdm_pg_done_cb)(void *arg, tdm_status *st);

/* Lease a connection and open a transaction. On success cb gets (NULL, tx); on
 * failure (unavailable, deadline, queue full) cb gets (status, NULL). */
int tdm_pg_tx_begin(tdm_pg_pool *pool, const tdm_pg_tx_options *opts, tdm_pg_tx_cb cb, void *arg);

/* One parameterised statement in tx; values are text format (NULL = SQL NULL).
 * On a server error cb gets (status, res) - res carries the SQLSTATE and fields -
 * and the transaction is aborted: only tdm_pg_tx_end(tx, false, ...) remains. */
int tdm_pg_tx_query(tdm_pg_tx *tx, const char *sql, int nparams, const char *const *values,
                    tdm_pg_result_cb cb, void *arg);
/* The general form: explicit lengths and formats (1 = binary) per parameter. */
int tdm_pg_tx_query_params(tdm_pg_tx *tx, const char *sql, int nparams, const Oid *types,
                           const char *const *values, const int *lengths, const int *formats,
                           int result_format, tdm_pg_result_cb cb, void *arg);

/* tdm_pg_tx_query, through the connection's prepared-statement cache (top of file). */
int tdm_pg_tx_query_prepared(tdm_pg_tx *tx, const char *sql, int nparams, const char *const *values,
                             tdm_pg_result_cb cb, void *arg);
/* tdm_pg_tx_query_params, through the same cache. The cache is keyed by the text
 * alone: types are sent with the statement's first use on a connection only, so every
 * call with one text must pass the same types (or leave them all to the SQL's casts). */
int tdm_pg_tx_query_params_prepared(tdm_pg_tx *tx, const char *sql, int nparams, const Oid *types,
                                    const char *const *values, const int *lengths,
                                    const int *formats, int result_format, tdm_pg_result_cb cb,
                                    void *arg);

/* COMMIT (commit=true, after no error) or ROLLBACK, then the connection returns to
 * the pool. cb gets NULL or the commit's error (e.g. serialization failure). */
int tdm_pg_tx_end(tdm_pg_tx *tx, bool commit, tdm_pg_done_cb cb, void *arg);

/* Ask the server to cancel the statement running in tx (a no-op when none runs) (client went away,
 * deadline passed). libpq 15 has no non-blocking cancel, so PQcancel runs on the work pool. The
 * running query's callback then reports CANCELLED/DEADLINE_EXCEEDED. */
void tdm_pg_tx_cancel(tdm_pg_tx *tx);

/* One statement in its own transaction (BEGIN, tenant, statement, COMMIT). */
int tdm_pg_exec(tdm_pg_pool *pool, const tdm_pg_tx_options *opts, const char *sql, int nparams,
                const char *const *values, tdm_pg_result_cb cb, void *arg);

/* tdm_pg_exec, through the connection's prepared-statement cache (top of file). */
int tdm_pg_exec_prepared(tdm_pg_pool *pool, const tdm_pg_tx_options *opts, const char *sql,
                         int nparams, const char *const *values, tdm_pg_result_cb cb, void *arg);

/* The status for a failed result: SQLSTATE class mapped to a gRPC code
 * (23505 unique_violation -> ALREADY_EXISTS, 23503 -> FAILED_PRECONDITION,
 * 23514/22xxx -> INVALID_ARGUMENT, 40001/40P01 -> ABORTED, 57014 -> DEADLINE_EXCEEDED,
 * 08xxx/57P0x -> UNAVAILABLE, anything else INTERNAL). The user message never holds
 * SQL text; the detail holds "SQLSTATE xxxxx: <server message>" for the operator. */
tdm_status *tdm_pg_status_from_result(const PGresult *res);
/* The SQLSTATE of a failed result ("" when none). */
const char *tdm_pg_sqlstate(const PGresult *res);
/* Whether a read of another service's table failed because that service is not ready
 * for it yet: its schema, table or column is not there (not migrated, 3F000, 42P01,
 * 42703) or its grant to this role is missing (42501). False for NULL. */
bool tdm_pg_peer_not_ready(const PGresult *res);

/* The status of a database call that did not start (an async function of this header
 * returned rc != 0, so its callback never runs): RESOURCE_EXHAUSTED for UV_ENOMEM,
 * else INTERNAL - a bug such as a malformed tenant id - never UNAVAILABLE, which tells
 * clients to retry what cannot succeed. `what` says which call ("begin a transaction"),
 * for the operator (in the detail). */
tdm_status *tdm_pg_not_started(int rc, const char *what);

#endif
