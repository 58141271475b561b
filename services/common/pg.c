/*
 * pg.c - the asynchronous PostgreSQL pool on the libuv loop (include/tandem/pg.h).
 *
 * Each connection is a state machine; its state says where it is held:
 *
 *   RESOLVING  uv_getaddrinfo in flight (c->gai), connect timer running
 *   CONNECTING PQconnectPoll steps, socket watched, connect timer running
 *   IDLE       on the pool's idle list, socket watched for the server going away
 *   BUSY       leased to a transaction (c->tx), or running the pool's own ROLLBACK
 *              (c->tx NULL); one operation (c->op) in flight at a time
 *   BACKOFF    broken, waiting on its timer to reconnect
 *   CLOSED     the pool is closing and this connection is finished
 *
 *   RESOLVING -> CONNECTING -> IDLE <-> BUSY;  any -> BACKOFF -> RESOLVING|CONNECTING
 *
 * Connections stay in libpq pipeline mode: every operation is a few statements sent
 * with PQsendQueryParams followed by one PQpipelineSync, so a transaction's BEGIN,
 * tenant and statement timeout cost one round trip, and tdm_pg_exec's BEGIN,
 * tenant, statement and COMMIT one as well. An operation is complete when the
 * PGRES_PIPELINE_SYNC result arrives; the first error is kept, later statements of
 * the same operation report PIPELINE_ABORTED and are ignored.
 *
 * Transactions wait FIFO on the pool's queue until a connection is idle. One timer
 * per pool serves the queue deadlines (queue_timeout_ms and the caller's deadline,
 * whichever first), the deferred completions, and closing. Completions that arise
 * inside an API call (a refused begin, a query on a dead transaction) are deferred
 * to that timer, so a callback never runs inside the call that started its work.
 *
 * Prepared statements: a statement sent through a *_prepared function is prepared once
 * per connection under a name of the connection's own ("tdm_<n>", numbered per session,
 * so a name is never reused within a session) and executed by name afterwards. The
 * first use pipelines the Parse right before the Execute, in the same operation, so it
 * costs no extra round trip. The cache belongs to the connection's session: it is
 * emptied whenever the connection is torn down (a new session knows no statements). An
 * entry is kept only once the server acknowledged its Parse. When the server no longer
 * knows a statement (26000: someone ran DEALLOCATE ALL or DISCARD ALL) the whole cache is
 * forgotten; when a DDL changed a statement's result type (0A000 "cached plan must not
 * change result type") that statement is. Either way a tdm_pg_exec_prepared call or a
 * transaction's BEGIN and settings are sent once more in a fresh transaction (nothing of
 * them took effect); a statement inside a caller's open transaction cannot be (the
 * transaction is aborted), so it fails and the next use prepares afresh. A forgotten
 * statement whose result type changed stays allocated on the server until the session
 * ends (a few per migration at most). Each connection keeps at most
 * MAX_PREPARED_PER_CONN texts; further ones run unnamed, so a caller that opts in with
 * varying texts costs parsing, never unbounded memory.
 *
 * The socket can change during PQconnectPoll (libpq tries the next address, or
 * retries without SSL), possibly under the same descriptor number, so while
 * connecting the uv_poll_t is closed and a new one opened on PQsocket() at every step.
 */
#include "tandem/pg.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/arena.h"
#include "tandem/log.h"
#include "tandem/metrics.h"

#define CONNECT_TIMEOUT_MS          10000
#define BACKOFF_FIRST_MS            100
#define BACKOFF_MAX_MS              5000
#define CLOSE_GRACE_MS              3000
#define DEFAULT_QUEUE_TIMEOUT_MS    5000
#define DEFAULT_MAX_QUEUE           10000
#define MAX_POOL_SIZE               256
#define MAX_QUERY_PARAMS            65535
#define UUID_TEXT_LEN               36
#define MAX_HOST_ADDRESSES          8       /* per host name */
#define MAX_TARGETS                 8       /* hosts in one connection string */
#define DEFAULT_TCP_USER_TIMEOUT_MS "30000" /* unacknowledged data: a dead peer, 30 s */
#define MAX_PREPARED_PER_CONN       128
#define MAX_OP_PREPARED             4 /* statements sent by name in one operation */
#define STMT_NAME_MAX               24

typedef enum conn_state {
    CONN_RESOLVING,
    CONN_CONNECTING,
    CONN_IDLE,
    CONN_BUSY,
    CONN_BACKOFF,
    CONN_CLOSED,
} conn_state;

static const char *const CONN_STATE_NAMES[] = {"resolving", "connecting", "idle",
                                               "busy",      "backoff",    "closed"};

typedef enum op_kind {
    OP_NONE,
    OP_BEGIN,    /* BEGIN; set_config(...) */
    OP_QUERY,    /* one statement of an open transaction */
    OP_END,      /* COMMIT or ROLLBACK */
    OP_EXEC,     /* BEGIN; set_config(...); statement; COMMIT */
    OP_ROLLBACK, /* the pool's own clean-up after a failed operation */
} op_kind;

typedef enum tx_state {
    TX_WAITING,   /* on the pool's queue */
    TX_BEGINNING, /* OP_BEGIN or OP_EXEC in flight */
    TX_OPEN,      /* leased, no statement running */
    TX_RUNNING,   /* OP_QUERY in flight */
    TX_ABORTED,   /* a statement failed: only tdm_pg_tx_end remains (a ROLLBACK) */
    TX_DEAD,      /* its connection was lost: only tdm_pg_tx_end remains */
    TX_ENDING,    /* OP_END in flight */
} tx_state;

typedef struct pg_conn pg_conn;

typedef struct pg_poll {
    uv_poll_t handle;
    pg_conn *conn;
} pg_poll;

/* One statement of the connection's session, prepared under name. */
typedef struct pg_stmt {
    char *sql; /* owned copy of the text */
    uint64_t hash;
    char name[STMT_NAME_MAX];
} pg_stmt;

/* A statement of an operation sent by name; parse_at >= 0 when its Parse went too. */
typedef struct op_named {
    int parse_at; /* index of the Parse among the operation's statements, or -1 */
    int exec_at;  /* index of the Execute */
    bool parsed;  /* the server acknowledged the Parse */
    char name[STMT_NAME_MAX];
} op_named;

typedef struct pg_op {
    op_kind kind;
    int n_stmts;      /* statements sent before the sync */
    int stmt;         /* index of the statement whose results are being read */
    int want;         /* index whose result the caller gets (-1: none) */
    PGresult *result; /* that statement's result */
    PGresult *error;  /* the first error of the operation */
    int error_at;     /* index of the statement that failed */
    op_named named[MAX_OP_PREPARED];
    int n_named;
    bool retried;  /* an OP_EXEC already re-sent after a stale prepared statement */
    bool flushing; /* PQflush has more to send */
    bool cancel_sent;
    uint64_t started_ns;
} pg_op;

/* One host of the connection string (several with failover: "host=a,b port=1,2"). */
typedef struct pg_target {
    char *host;   /* a name, a literal address, or a Unix socket directory */
    char *port;   /* "" for libpq's default */
    bool resolve; /* a name: resolved off the loop with uv_getaddrinfo before connecting */
    bool literal; /* a numeric address: passed as hostaddr as it is */
} pg_target;

struct pg_conn {
    tdm_pg_pool *pool;
    int index;
    conn_state state;
    PGconn *pg;
    pg_poll *poll; /* watcher of PQsocket(pg); NULL when there is no socket */
    int poll_events;
    uv_timer_t timer;        /* connect timeout (RESOLVING, CONNECTING), backoff (BACKOFF) */
    uv_getaddrinfo_t *gai;   /* the resolution this connection waits for, or NULL */
    int resolving;           /* the target gai resolves */
    char **resolved;         /* per target: its addresses found this attempt, comma-separated */
    char resolve_error[160]; /* why the last name of this attempt did not resolve */
    bool read_only_seen;     /* the server refused a write as read-only: reconnect */
    unsigned attempts;       /* failed attempts since the last success */
    pg_conn *next_idle;
    tdm_pg_tx *tx; /* the lessee (BUSY) */
    pg_op op;
    pg_stmt *stmts; /* the session's prepared statements (MAX_PREPARED_PER_CONN) */
    int n_stmts;
    unsigned stmt_seq; /* the number in the next statement's name */
};

struct tdm_pg_tx {
    tdm_pg_pool *pool;
    pg_conn *conn;
    tx_state state;
    tdm_arena *arena; /* the copies below live here */
    const char *tenant_id;
    const char *request_id;
    bool read_only;
    bool commit_requested;
    bool had_error;            /* a statement failed: the end is a ROLLBACK */
    bool queued;               /* on the pool's waiting queue */
    uint64_t deadline_ms;      /* absolute uv_now() ms; 0 = none */
    uint64_t wait_deadline_ms; /* when waiting on the queue ends */
    tdm_code cancel_code;      /* TDM_OK, or what a cancelled statement reports */
    tdm_pg_tx_cb begin_cb;
    tdm_pg_result_cb result_cb;
    tdm_pg_done_cb done_cb;
    void *arg;
    /* tdm_pg_exec: the statement, copied when it was queued */
    bool is_exec;
    bool exec_prepared; /* by name, through the connection's cache */
    bool exec_implicit; /* no BEGIN/COMMIT: the pipeline's implicit transaction */
    const char *exec_sql;
    int exec_nparams;
    const char **exec_values;
    tdm_pg_tx *prev, *next; /* the waiting queue */
    /* a completion deferred to the pool's timer (see the top of the file) */
    op_kind deferred_kind;
    tdm_status *deferred_st;
    tdm_pg_tx *next_deferred;
};

typedef struct pg_cancel {
    uv_work_t work;
    tdm_pg_pool *pool;
    PGcancel *cancel;
    int ok;
    char err[256];
} pg_cancel;

struct tdm_pg_pool {
    uv_loop_t *loop;
    char *conninfo;
    char *application_name;
    pg_target *targets; /* the conninfo's hosts, in order; NULL: libpq's defaults */
    int n_targets;
    const char *session_attrs;    /* target_session_attrs to ask for, or NULL (conninfo's) */
    const char *tcp_user_timeout; /* likewise tcp_user_timeout */
    int size;
    int queue_timeout_ms;
    int max_queue;
    pg_conn *conns;
    pg_conn *idle; /* IDLE connections, most recently used first */
    tdm_pg_tx *wait_head, *wait_tail;
    size_t n_waiting;
    tdm_pg_tx *deferred_head, *deferred_tail;
    size_t n_tx; /* transactions allocated, waiting ones included */
    int n_connected;
    bool down; /* nothing connected and the last attempt failed: waiting work fails */
    bool closing;
    bool finishing;
    uint64_t close_grace_at;
    void (*close_done)(void *arg);
    void *close_arg;
    uv_timer_t timer;
    int open_handles; /* timers and poll handles not yet closed */
    int pending_reqs; /* getaddrinfo and cancel requests not yet called back */
    tdm_metric *m_connections;
    tdm_metric *m_queries;
    tdm_metric *m_duration;
};

static void conn_start(pg_conn *c);
static void conn_broken(pg_conn *c, const char *why);
static void conn_on_poll(uv_poll_t *handle, int status, int events);
static void pool_dispatch(tdm_pg_pool *pool);
static void pool_arm(tdm_pg_pool *pool, uint64_t due_ms);

/* ---- small helpers ------------------------------------------------------------ */

static void pool_free(tdm_pg_pool *pool)
{
    for (int i = 0; pool->conns != NULL && i < pool->size; i++)
        free(pool->conns[i].resolved);
    for (int i = 0; i < pool->n_targets; i++) {
        free(pool->targets[i].host);
        free(pool->targets[i].port);
    }
    free(pool->targets);
    free(pool->conns);
    free(pool->conninfo);
    free(pool->application_name);
    free(pool);
}

static void pool_kick(tdm_pg_pool *pool)
{
    pool_arm(pool, uv_now(pool->loop));
}

static void handle_closed(tdm_pg_pool *pool)
{
    pool->open_handles--;
    if (pool->finishing && pool->open_handles == 0) {
        void (*done)(void *) = pool->close_done;
        void *arg = pool->close_arg;
        pool_free(pool);
        if (done != NULL)
            done(arg);
    }
}

static void poll_closed(uv_handle_t *h)
{
    pg_poll *p = h->data;
    tdm_pg_pool *pool = p->conn->pool;
    free(p);
    handle_closed(pool);
}

static void conn_timer_closed(uv_handle_t *h)
{
    pg_conn *c = h->data;
    handle_closed(c->pool);
}

static void pool_timer_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static bool uuid_text_ok(const char *s)
{
    if (strlen(s) != UUID_TEXT_LEN)
        return false;
    for (int i = 0; i < UUID_TEXT_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char ch = s[i];
        bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
        if (dash ? ch != '-' : !hex)
            return false;
    }
    return true;
}

static tdm_status *status_unavailable(const char *detail)
{
    tdm_status *st = tdm_status_new(TDM_UNAVAILABLE, "the database is unavailable; retry later");
    return tdm_status_set_detail(st, "%s", detail);
}

static void conn_set_state(pg_conn *c, conn_state s)
{
    if (c->state != CONN_CLOSED)
        tdm_metric_add(c->pool->m_connections, (const char *const[]){CONN_STATE_NAMES[c->state]},
                       -1);
    if (s != CONN_CLOSED)
        tdm_metric_add(c->pool->m_connections, (const char *const[]){CONN_STATE_NAMES[s]}, 1);
    c->state = s;
}

static void conn_log(tdm_log_level level, const pg_conn *c, const char *msg, const char *error)
{
    char index[16];
    snprintf(index, sizeof(index), "%d", c->index);
    tdm_log_fields(level, NULL, msg, "conn", index, "state", CONN_STATE_NAMES[c->state], "error",
                   error, NULL);
}

static void notice_receiver(void *arg, const PGresult *res)
{
    (void)arg;
    /* libpq prints notices to stderr by default, which would break the JSON lines. */
    tdm_log_fields(TDM_LOG_DEBUG, NULL, "database notice", "sqlstate", tdm_pg_sqlstate(res),
                   "message", PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), NULL);
}

/* ---- transactions: allocation, deferral, queue ---------------------------------- */

static tdm_pg_tx *tx_new(tdm_pg_pool *pool, const tdm_pg_tx_options *opts)
{
    tdm_pg_tx *tx = calloc(1, sizeof(*tx));
    if (tx == NULL)
        return NULL;
    tx->arena = tdm_arena_new(0);
    const char *tenant = opts != NULL && opts->tenant_id != NULL ? opts->tenant_id : "";
    const char *rid = opts != NULL && opts->request_id != NULL ? opts->request_id : "";
    if (tx->arena != NULL) {
        tx->tenant_id = tdm_arena_strdup(tx->arena, tenant);
        tx->request_id = tdm_arena_strdup(tx->arena, rid);
    }
    if (tx->tenant_id == NULL || tx->request_id == NULL) {
        tdm_arena_free(tx->arena);
        free(tx);
        return NULL;
    }
    tx->pool = pool;
    tx->read_only = opts != NULL && opts->read_only;
    tx->deadline_ms = opts != NULL ? opts->deadline_ms : 0;
    tx->wait_deadline_ms = uv_now(pool->loop) + (uint64_t)pool->queue_timeout_ms;
    if (tx->deadline_ms != 0 && tx->deadline_ms < tx->wait_deadline_ms)
        tx->wait_deadline_ms = tx->deadline_ms;
    tx->state = TX_WAITING;
    pool->n_tx++;
    return tx;
}

static void tx_free(tdm_pg_tx *tx)
{
    tx->pool->n_tx--;
    tdm_arena_free(tx->arena);
    free(tx);
}

static const char *tx_rid(const tdm_pg_tx *tx)
{
    return tx != NULL && tx->request_id[0] != '\0' ? tx->request_id : NULL;
}

/* Complete tx's current operation with st on the pool's next timer tick. */
static void tx_defer(tdm_pg_tx *tx, op_kind kind, tdm_status *st)
{
    tdm_pg_pool *pool = tx->pool;
    tx->deferred_kind = kind;
    tx->deferred_st = st;
    tx->next_deferred = NULL;
    if (pool->deferred_tail != NULL)
        pool->deferred_tail->next_deferred = tx;
    else
        pool->deferred_head = tx;
    pool->deferred_tail = tx;
    pool_kick(pool);
}

static void tx_run_deferred(tdm_pg_tx *tx)
{
    tdm_status *st = tx->deferred_st;
    void *arg = tx->arg;
    tx->deferred_st = NULL;
    switch (tx->deferred_kind) {
    case OP_BEGIN: {
        tdm_pg_tx_cb cb = tx->begin_cb;
        tx_free(tx);
        cb(arg, st, NULL);
        break;
    }
    case OP_EXEC: {
        tdm_pg_result_cb cb = tx->result_cb;
        tx_free(tx);
        cb(arg, st, NULL);
        break;
    }
    case OP_END: {
        tdm_pg_done_cb cb = tx->done_cb;
        tx_free(tx);
        cb(arg, st);
        break;
    }
    case OP_QUERY:
        tx->result_cb(arg, st, NULL);
        break;
    case OP_NONE:
    case OP_ROLLBACK:
        tdm_status_free(st);
        break;
    }
}

/* The operation a waiting or starting transaction completes with. */
static op_kind tx_start_kind(const tdm_pg_tx *tx)
{
    return tx->is_exec ? OP_EXEC : OP_BEGIN;
}

static void queue_push(tdm_pg_pool *pool, tdm_pg_tx *tx)
{
    tx->next = NULL;
    tx->prev = pool->wait_tail;
    if (pool->wait_tail != NULL)
        pool->wait_tail->next = tx;
    else
        pool->wait_head = tx;
    pool->wait_tail = tx;
    pool->n_waiting++;
    tx->queued = true;
}

static void queue_remove(tdm_pg_pool *pool, tdm_pg_tx *tx)
{
    if (tx->prev != NULL)
        tx->prev->next = tx->next;
    else
        pool->wait_head = tx->next;
    if (tx->next != NULL)
        tx->next->prev = tx->prev;
    else
        pool->wait_tail = tx->prev;
    tx->prev = tx->next = NULL;
    pool->n_waiting--;
    tx->queued = false;
}

/* The connection under tx is gone: fail what was running, the tx is dead. */
static void tx_lost(tdm_pg_tx *tx, op_kind running, const char *why)
{
    tx->conn = NULL;
    switch (running) {
    case OP_BEGIN:
    case OP_EXEC:
        tx_defer(tx, running, status_unavailable(why));
        break;
    case OP_END:
        /* A ROLLBACK is implied by the lost session; a COMMIT's outcome is unknown. */
        tx_defer(tx, OP_END, tx->commit_requested ? status_unavailable(why) : NULL);
        break;
    case OP_QUERY:
        tx->state = TX_DEAD;
        tx_defer(tx, OP_QUERY, status_unavailable(why));
        break;
    case OP_NONE:
    case OP_ROLLBACK:
        tx->state = TX_DEAD;
        break;
    }
}

/* ---- connections: sockets, connecting, backoff --------------------------------- */

static void conn_unwatch(pg_conn *c)
{
    if (c->poll == NULL)
        return;
    uv_close((uv_handle_t *)&c->poll->handle, poll_closed);
    c->poll = NULL;
    c->poll_events = 0;
}

static int conn_watch(pg_conn *c, int events)
{
    if (c->poll == NULL)
        return -1;
    if (c->poll_events == events)
        return 0;
    int rc = uv_poll_start(&c->poll->handle, events, conn_on_poll);
    if (rc == 0)
        c->poll_events = events;
    return rc;
}

/* Close the current watcher and watch PQsocket() afresh (see the top of the file). */
static int conn_watch_socket(pg_conn *c, int events)
{
    conn_unwatch(c);
    int fd = PQsocket(c->pg);
    if (fd < 0)
        return -1;
    pg_poll *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    if (uv_poll_init_socket(c->pool->loop, &p->handle, fd) != 0) {
        free(p);
        return -1;
    }
    p->conn = c;
    p->handle.data = p;
    c->pool->open_handles++;
    c->poll = p;
    return conn_watch(c, events);
}

static void conn_idle_remove(pg_conn *c)
{
    for (pg_conn **pp = &c->pool->idle; *pp != NULL; pp = &(*pp)->next_idle) {
        if (*pp == c) {
            *pp = c->next_idle;
            break;
        }
    }
    c->next_idle = NULL;
}

static void op_clear(pg_op *op)
{
    PQclear(op->result);
    PQclear(op->error);
    memset(op, 0, sizeof(*op));
}

/* ---- the session's prepared statements (see the top of the file) -------------- */

static uint64_t sql_hash(const char *sql)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sql; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

static pg_stmt *stmt_find(pg_conn *c, const char *sql, uint64_t hash)
{
    for (int i = 0; i < c->n_stmts; i++) {
        if (c->stmts[i].hash == hash && strcmp(c->stmts[i].sql, sql) == 0)
            return &c->stmts[i];
    }
    return NULL;
}

/* A new entry under a fresh name, or NULL when the cache is full or memory is short. */
static pg_stmt *stmt_add(pg_conn *c, const char *sql, uint64_t hash)
{
    if (c->n_stmts == MAX_PREPARED_PER_CONN)
        return NULL;
    if (c->stmts == NULL) {
        c->stmts = calloc(MAX_PREPARED_PER_CONN, sizeof(*c->stmts));
        if (c->stmts == NULL)
            return NULL;
    }
    pg_stmt *s = &c->stmts[c->n_stmts];
    s->sql = strdup(sql);
    if (s->sql == NULL)
        return NULL;
    s->hash = hash;
    snprintf(s->name, sizeof(s->name), "tdm_%u", c->stmt_seq++);
    c->n_stmts++;
    return s;
}

static void stmt_forget(pg_conn *c, const char *name)
{
    for (int i = 0; i < c->n_stmts; i++) {
        if (strcmp(c->stmts[i].name, name) == 0) {
            free(c->stmts[i].sql);
            c->stmts[i] = c->stmts[--c->n_stmts];
            return;
        }
    }
}

/* Forget every statement; the numbering goes on, so no name is reused in a session. */
static void stmts_forget_all(pg_conn *c)
{
    for (int i = 0; i < c->n_stmts; i++)
        free(c->stmts[i].sql);
    c->n_stmts = 0;
}

/* The session is gone, and its statements with it. */
static void stmts_clear(pg_conn *c)
{
    stmts_forget_all(c);
    free(c->stmts);
    c->stmts = NULL;
    c->stmt_seq = 0;
}

/* 26000: the server does not know a statement it acknowledged, so something ran
 * DEALLOCATE ALL or DISCARD ALL behind the pool's back - it may know none of them. */
static bool result_is_unknown_statement(const PGresult *err)
{
    return strcmp(tdm_pg_sqlstate(err), "26000") == 0;
}

/* 0A000 "cached plan must not change result type": a DDL changed what the statement
 * returns; this statement can never run again, the others are unaffected. */
static bool result_is_changed_statement(const PGresult *err)
{
    const char *msg = PQresultErrorField(err, PG_DIAG_MESSAGE_PRIMARY);
    return strcmp(tdm_pg_sqlstate(err), "0A000") == 0 && msg != NULL &&
           strstr(msg, "cached plan must not change result type") != NULL;
}

/* After an operation: forget the statements whose Parse the server did not
 * acknowledge, and those a stale-statement failure condemns; true when the operation
 * failed that way (and is worth running again once, preparing afresh). */
static bool stmts_settle(pg_conn *c, const pg_op *op)
{
    bool stale = false;
    for (int i = 0; i < op->n_named; i++) {
        const op_named *nm = &op->named[i];
        bool failed_here = op->error != NULL && op->error_at == nm->exec_at;
        if (failed_here && result_is_unknown_statement(op->error)) {
            stmts_forget_all(c);
            return true;
        }
        bool changed = failed_here && result_is_changed_statement(op->error);
        if ((nm->parse_at >= 0 && !nm->parsed) || changed)
            stmt_forget(c, nm->name);
        stale = stale || changed;
    }
    return stale;
}

/* A result of statement c->op.stmt arrived: note an acknowledged Parse. */
static void op_note_parsed(pg_conn *c, const PGresult *r)
{
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        return;
    for (int i = 0; i < c->op.n_named; i++) {
        if (c->op.named[i].parse_at == c->op.stmt)
            c->op.named[i].parsed = true;
    }
}

/* Release the socket, libpq's connection and any resolution; the state is the caller's. */
static void conn_teardown(pg_conn *c)
{
    uv_timer_stop(&c->timer);
    conn_unwatch(c);
    if (c->pg != NULL) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    if (c->gai != NULL) {
        /* The callback still comes (with UV_ECANCELED when this works) and frees it. */
        uv_cancel((uv_req_t *)c->gai);
        c->gai = NULL;
    }
    if (c->state == CONN_IDLE)
        conn_idle_remove(c);
    op_clear(&c->op);
    stmts_clear(c);
    for (int i = 0; c->resolved != NULL && i < c->pool->n_targets; i++) {
        free(c->resolved[i]);
        c->resolved[i] = NULL;
    }
    c->read_only_seen = false;
}

static void conn_timer_fired(uv_timer_t *timer)
{
    pg_conn *c = timer->data;
    if (c->state == CONN_BACKOFF)
        conn_start(c);
    else if (c->state == CONN_RESOLVING || c->state == CONN_CONNECTING)
        conn_broken(c, "timed out connecting to the database");
}

static void conn_schedule_backoff(pg_conn *c)
{
    unsigned shift = c->attempts < 6 ? c->attempts : 6;
    uint64_t delay = (uint64_t)BACKOFF_FIRST_MS << shift;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    /* Full-range jitter in [delay/2, delay]: replicas and connections spread out. */
    delay = delay / 2 + (uv_hrtime() >> 10) % (delay / 2 + 1);
    c->attempts++;
    conn_set_state(c, CONN_BACKOFF);
    uv_timer_start(&c->timer, conn_timer_fired, delay, 0);
    if (tdm_log_enabled(TDM_LOG_DEBUG)) {
        char ms[32];
        snprintf(ms, sizeof(ms), "%llu", (unsigned long long)delay);
        char index[16];
        snprintf(index, sizeof(index), "%d", c->index);
        tdm_log_fields(TDM_LOG_DEBUG, NULL, "database connection backing off", "conn", index,
                       "delay_ms", ms, NULL);
    }
}

static void conn_broken(pg_conn *c, const char *why_in)
{
    tdm_pg_pool *pool = c->pool;
    /* why_in is often PQerrorMessage(c->pg), which the teardown below frees. */
    char why[512];
    snprintf(why, sizeof(why), "%s", why_in != NULL && why_in[0] != '\0' ? why_in : "unknown");
    size_t len = strlen(why);
    while (len > 0 && (why[len - 1] == '\n' || why[len - 1] == ' '))
        why[--len] = '\0';
    bool was_up = c->state == CONN_IDLE || c->state == CONN_BUSY;
    /* The first failure is worth a warning; repeated failures while down are not. */
    conn_log(was_up || c->attempts == 0 ? TDM_LOG_WARN : TDM_LOG_DEBUG, c,
             was_up ? "database connection broken" : "database connection failed", why);
    op_kind running = c->op.kind;
    tdm_pg_tx *tx = c->tx;
    c->tx = NULL;
    conn_teardown(c);
    if (was_up)
        pool->n_connected--;
    if (tx != NULL)
        tx_lost(tx, running, why);
    if (pool->closing) {
        conn_set_state(c, CONN_CLOSED);
        pool_kick(pool);
        return;
    }
    conn_schedule_backoff(c);
    if (pool->n_connected == 0 && !pool->down) {
        pool->down = true;
        pool_kick(pool); /* fail the waiting work now rather than at its deadline */
    }
}

static void conn_close(pg_conn *c)
{
    conn_teardown(c);
    if (c->state == CONN_IDLE || c->state == CONN_BUSY)
        c->pool->n_connected--;
    conn_set_state(c, CONN_CLOSED);
}

static void conn_to_idle(pg_conn *c)
{
    tdm_pg_pool *pool = c->pool;
    c->tx = NULL;
    if (c->read_only_seen) {
        /* A failover demoted this server (or an operator made it read-only): the
         * session is of no use for writing. Reconnecting asks libpq for a read-write
         * server among the hosts, i.e. the new primary. */
        conn_broken(c, "the server is read-only (SQLSTATE 25006); reconnecting to the primary");
        return;
    }
    if (pool->closing) {
        conn_close(c);
        pool_kick(pool);
        return;
    }
    conn_set_state(c, CONN_IDLE);
    c->next_idle = pool->idle;
    pool->idle = c;
    if (conn_watch(c, UV_READABLE) != 0) {
        conn_broken(c, "could not watch the connection's socket");
        return;
    }
    pool_dispatch(pool);
}

static void conn_connected(pg_conn *c)
{
    tdm_pg_pool *pool = c->pool;
    uv_timer_stop(&c->timer);
    if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    if (conn_watch_socket(c, UV_READABLE) != 0) {
        conn_broken(c, "could not watch the connection's socket");
        return;
    }
    conn_log(TDM_LOG_INFO, c, "database connected", NULL);
    c->attempts = 0;
    pool->n_connected++;
    pool->down = false;
    conn_set_state(c, CONN_BUSY); /* counted as up; conn_to_idle files it */
    conn_to_idle(c);
}

static void conn_connect_step(pg_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_OK:
        conn_connected(c);
        return;
    case PGRES_POLLING_READING:
        if (conn_watch_socket(c, UV_READABLE) != 0)
            conn_broken(c, "could not watch the connection's socket");
        return;
    case PGRES_POLLING_WRITING:
        if (conn_watch_socket(c, UV_WRITABLE) != 0)
            conn_broken(c, "could not watch the connection's socket");
        return;
    case PGRES_POLLING_FAILED:
    case PGRES_POLLING_ACTIVE:
        break;
    }
    conn_broken(c, PQerrorMessage(c->pg));
}

/* hosts, hostaddrs, ports: NULL (the conninfo's own) or parallel comma-separated lists,
 * one entry per address to try, in order. libpq tries them in turn within
 * PQconnectPoll (this is where the socket changes under us) and, with
 * target_session_attrs=read-write, skips a server that is read-only: a standby, or a
 * primary being demoted. */
static void conn_connect(pg_conn *c, const char *hosts, const char *hostaddrs, const char *ports)
{
    tdm_pg_pool *pool = c->pool;
    /* Later keywords override what the expanded conninfo says; NULL values are skipped. */
    const char *keys[] = {"dbname",
                          "host",
                          "hostaddr",
                          "port",
                          "application_name",
                          "client_encoding",
                          "keepalives",
                          "keepalives_idle",
                          "keepalives_interval",
                          "keepalives_count",
                          "tcp_user_timeout",
                          "target_session_attrs",
                          NULL};
    const char *vals[] = {pool->conninfo,
                          hosts,
                          hostaddrs,
                          ports,
                          pool->application_name,
                          "UTF8",
                          "1",
                          "30",
                          "10",
                          "3",
                          pool->tcp_user_timeout,
                          pool->session_attrs,
                          NULL};
    conn_set_state(c, CONN_CONNECTING);
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (c->pg == NULL) {
        conn_broken(c, "out of memory");
        return;
    }
    PQsetNoticeReceiver(c->pg, notice_receiver, c);
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    /* PQconnectStart has queued the first write; PQconnectPoll takes it from there. */
    if (conn_watch_socket(c, UV_WRITABLE) != 0)
        conn_broken(c, "could not watch the connection's socket");
}

/* Appends "<sep>text" to a list being built in buf (capacity cap); false when full. */
static bool list_append(char *buf, size_t cap, size_t *used, const char *text)
{
    int n = snprintf(buf + *used, cap - *used, "%s%s", *used > 0 ? "," : "", text);
    if (n < 0 || (size_t)n >= cap - *used)
        return false;
    *used += (size_t)n;
    return true;
}

/* Every target resolved (or found unresolvable): connect to what there is, in the
 * conninfo's order, a name's addresses in the resolver's order. */
static void conn_connect_targets(pg_conn *c)
{
    tdm_pg_pool *pool = c->pool;
    if (pool->targets == NULL) {
        conn_connect(c, NULL, NULL, NULL);
        return;
    }
    size_t cap = 0;
    for (int i = 0; i < pool->n_targets; i++)
        cap += MAX_HOST_ADDRESSES *
               (strlen(pool->targets[i].host) + strlen(pool->targets[i].port) + 2);
    cap += MAX_HOST_ADDRESSES * (size_t)pool->n_targets * (INET6_ADDRSTRLEN + 1) + 1;
    char *hosts = malloc(cap), *addrs = malloc(cap), *ports = malloc(cap);
    size_t nh = 0, na = 0, np = 0;
    int entries = 0;
    bool ok = hosts != NULL && addrs != NULL && ports != NULL;
    for (int i = 0; ok && i < pool->n_targets; i++) {
        const pg_target *t = &pool->targets[i];
        if (!t->resolve) {
            /* A socket directory gets an empty hostaddr entry: libpq uses the host. */
            ok = list_append(hosts, cap, &nh, t->host) &&
                 list_append(addrs, cap, &na, t->literal ? t->host : "") &&
                 list_append(ports, cap, &np, t->port);
            entries++;
            continue;
        }
        if (c->resolved[i] == NULL)
            continue; /* could not be resolved this time; the others may do */
        char *save = NULL;
        for (char *ip = strtok_r(c->resolved[i], ",", &save); ok && ip != NULL;
             ip = strtok_r(NULL, ",", &save)) {
            ok = list_append(hosts, cap, &nh, t->host) && list_append(addrs, cap, &na, ip) &&
                 list_append(ports, cap, &np, t->port);
            entries++;
        }
    }
    if (!ok)
        conn_broken(c, "out of memory");
    else if (entries == 0)
        conn_broken(c, c->resolve_error[0] != '\0' ? c->resolve_error : "no usable address");
    else
        conn_connect(c, hosts, addrs, ports);
    free(hosts);
    free(addrs);
    free(ports);
}

static void conn_resolve_from(pg_conn *c, int from);

static void conn_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pg_conn *c = req->data;
    tdm_pg_pool *pool = c->pool;
    bool current = c->gai == req;
    free(req);
    pool->pending_reqs--;
    if (!current) {
        /* Abandoned (timeout, close): only the pool's bookkeeping cares. */
        uv_freeaddrinfo(res);
        pool_kick(pool);
        return;
    }
    c->gai = NULL;
    int i = c->resolving;
    const char *name = pool->targets[i].host;
    if (status != 0 || res == NULL) {
        uv_freeaddrinfo(res);
        snprintf(c->resolve_error, sizeof(c->resolve_error), "could not resolve %s: %s", name,
                 uv_strerror(status));
        conn_resolve_from(c, i + 1);
        return;
    }
    /* Every distinct address (up to MAX_HOST_ADDRESSES), for libpq to try in turn. */
    char *addrs = calloc(MAX_HOST_ADDRESSES, INET6_ADDRSTRLEN + 1);
    size_t used = 0;
    int n = 0;
    for (struct addrinfo *a = res; a != NULL && addrs != NULL && n < MAX_HOST_ADDRESSES;
         a = a->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        if (uv_ip_name(a->ai_addr, ip, sizeof(ip)) != 0 || strstr(addrs, ip) != NULL)
            continue;
        list_append(addrs, MAX_HOST_ADDRESSES * (INET6_ADDRSTRLEN + 1), &used, ip);
        n++;
    }
    uv_freeaddrinfo(res);
    if (addrs == NULL) {
        conn_broken(c, "out of memory");
        return;
    }
    if (n == 0) {
        free(addrs);
        snprintf(c->resolve_error, sizeof(c->resolve_error), "%s has no usable address", name);
    } else {
        c->resolved[i] = addrs;
    }
    conn_resolve_from(c, i + 1);
}

/* Resolves the next host name at or after target from, off the loop; connects when
 * there is none left. */
static void conn_resolve_from(pg_conn *c, int from)
{
    tdm_pg_pool *pool = c->pool;
    int i = from;
    while (i < pool->n_targets && !pool->targets[i].resolve)
        i++;
    if (i >= pool->n_targets) {
        conn_connect_targets(c);
        return;
    }
    conn_set_state(c, CONN_RESOLVING);
    uv_getaddrinfo_t *req = calloc(1, sizeof(*req));
    if (req == NULL) {
        conn_broken(c, "out of memory");
        return;
    }
    req->data = c;
    c->resolving = i;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(pool->loop, req, conn_resolved, pool->targets[i].host, NULL, &hints);
    if (rc != 0) {
        free(req);
        conn_broken(c, uv_strerror(rc));
        return;
    }
    c->gai = req;
    pool->pending_reqs++;
}

static void conn_start(pg_conn *c)
{
    uv_timer_start(&c->timer, conn_timer_fired, CONNECT_TIMEOUT_MS, 0);
    c->resolve_error[0] = '\0';
    conn_resolve_from(c, 0);
}

/* ---- operations: sending, reading, completing ---------------------------------- */

static void op_begin(pg_conn *c, op_kind kind, int want)
{
    op_clear(&c->op);
    c->op.kind = kind;
    c->op.want = want;
    c->op.started_ns = uv_hrtime();
}

static bool op_send(pg_conn *c, const char *sql, int n, const Oid *types, const char *const *values,
                    const int *lengths, const int *formats, int result_format)
{
    if (PQsendQueryParams(c->pg, sql, n, types, values, lengths, formats, result_format) != 1)
        return false;
    c->op.n_stmts++;
    return true;
}

/* Send one statement; with prepare, by name through the connection's cache (its Parse
 * pipelined first when the session does not know it yet). False when libpq failed. */
static bool op_send_stmt(pg_conn *c, bool prepare, const char *sql, int n, const Oid *types,
                         const char *const *values, const int *lengths, const int *formats,
                         int result_format)
{
    if (!prepare || c->op.n_named == MAX_OP_PREPARED)
        return op_send(c, sql, n, types, values, lengths, formats, result_format);
    uint64_t hash = sql_hash(sql);
    pg_stmt *s = stmt_find(c, sql, hash);
    op_named *nm = &c->op.named[c->op.n_named];
    nm->parse_at = -1;
    nm->parsed = false;
    if (s == NULL) {
        s = stmt_add(c, sql, hash);
        if (s == NULL) /* full: this text runs unnamed */
            return op_send(c, sql, n, types, values, lengths, formats, result_format);
        if (PQsendPrepare(c->pg, s->name, sql, n, types) != 1)
            return false;
        nm->parse_at = c->op.n_stmts++;
    }
    if (PQsendQueryPrepared(c->pg, s->name, n, values, lengths, formats, result_format) != 1)
        return false;
    nm->exec_at = c->op.n_stmts++;
    memcpy(nm->name, s->name, sizeof(nm->name));
    c->op.n_named++;
    return true;
}

/* Send the sync and start flushing; false when the connection failed. */
static bool op_commit(pg_conn *c)
{
    if (PQpipelineSync(c->pg) != 1)
        return false;
    int rc = PQflush(c->pg);
    if (rc < 0)
        return false;
    c->op.flushing = rc == 1;
    return conn_watch(c, UV_READABLE | (c->op.flushing ? UV_WRITABLE : 0)) == 0;
}

/* BEGIN and the transaction's settings, first in OP_BEGIN and OP_EXEC. The settings
 * are prepared statements: every transaction runs one of them. An implicit exec has no
 * BEGIN: its settings are local to the pipeline's implicit transaction, which ends at
 * the sync after its statement. app.tenant_id outside a transaction is always empty
 * (the pool sets it only locally), so one without a tenant that is not read-only needs
 * only its deadline. */
static bool op_send_prologue(pg_conn *c, tdm_pg_tx *tx)
{
    char timeout[32];
    if (tx->deadline_ms != 0) {
        uint64_t now = uv_now(c->pool->loop);
        uint64_t left = tx->deadline_ms > now ? tx->deadline_ms - now : 1;
        snprintf(timeout, sizeof(timeout), "%llu", (unsigned long long)left);
    }
    if (tx->is_exec && tx->exec_implicit && (tx->tenant_id[0] != '\0' || tx->read_only)) {
        const char *values[] = {tx->tenant_id, tx->deadline_ms != 0 ? timeout : NULL,
                                tx->read_only ? "on" : NULL};
        return op_send_stmt(
            c, true,
            "SELECT set_config('app.tenant_id', $1, true), set_config('statement_timeout', "
            "COALESCE($2, current_setting('statement_timeout')), true), set_config("
            "'transaction_read_only', COALESCE($3, current_setting('transaction_read_only')), "
            "true)",
            3, NULL, values, NULL, NULL, 0);
    }
    if (tx->is_exec && tx->exec_implicit) {
        const char *values[] = {timeout};
        return tx->deadline_ms == 0 ||
               op_send_stmt(c, true, "SELECT set_config('statement_timeout', $1, true)", 1, NULL,
                            values, NULL, NULL, 0);
    }
    if (!op_send(c, tx->read_only ? "BEGIN READ ONLY" : "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
        return false;
    if (tx->deadline_ms == 0) {
        const char *values[] = {tx->tenant_id};
        return op_send_stmt(c, true, "SELECT set_config('app.tenant_id', $1, true)", 1, NULL,
                            values, NULL, NULL, 0);
    }
    const char *values[] = {tx->tenant_id, timeout};
    return op_send_stmt(c, true,
                        "SELECT set_config('app.tenant_id', $1, true), "
                        "set_config('statement_timeout', $2, true)",
                        2, NULL, values, NULL, NULL, 0);
}

/* A transaction's first operation: BEGIN and its settings. A retry after a stale
 * prepared statement first ends the aborted transaction. */
static bool begin_send(pg_conn *c, tdm_pg_tx *tx, bool retry)
{
    op_begin(c, OP_BEGIN, -1);
    c->op.retried = retry;
    bool ok = !retry || op_send(c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
    return ok && op_send_prologue(c, tx) && op_commit(c);
}

/* tdm_pg_exec's operation: settings, the statement and COMMIT in one round trip. A
 * retry after a stale prepared statement first ends the aborted transaction. */
static bool exec_send(pg_conn *c, tdm_pg_tx *tx, bool retry)
{
    op_begin(c, OP_EXEC, -1);
    c->op.retried = retry;
    bool ok = true;
    if (retry && !tx->exec_implicit)
        ok = op_send(c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
    ok = ok && op_send_prologue(c, tx) &&
         op_send_stmt(c, tx->exec_prepared, tx->exec_sql, tx->exec_nparams, NULL, tx->exec_values,
                      NULL, NULL, 0);
    c->op.want = c->op.n_stmts - 1;
    if (ok && !tx->exec_implicit)
        ok = op_send(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0);
    return ok && op_commit(c);
}

/* Lease c to tx and send its first operation. */
static void tx_dispatch(tdm_pg_tx *tx, pg_conn *c)
{
    conn_idle_remove(c);
    conn_set_state(c, CONN_BUSY);
    c->tx = tx;
    tx->conn = c;
    tx->state = TX_BEGINNING;
    bool ok = tx->is_exec ? exec_send(c, tx, false) : begin_send(c, tx, false);
    if (!ok)
        conn_broken(c, PQerrorMessage(c->pg));
}

static void pool_dispatch(tdm_pg_pool *pool)
{
    uint64_t now = uv_now(pool->loop);
    while (pool->idle != NULL && pool->wait_head != NULL && !pool->closing) {
        tdm_pg_tx *tx = pool->wait_head;
        queue_remove(pool, tx);
        if (tx->deadline_ms != 0 && now >= tx->deadline_ms) {
            tx_defer(tx, tx_start_kind(tx),
                     tdm_status_new(TDM_DEADLINE_EXCEEDED,
                                    "the deadline passed before a database connection was free"));
            continue;
        }
        tx_dispatch(tx, pool->idle);
    }
}

/* Run the pool's own ROLLBACK on c (after a failure left a transaction open). */
static void conn_rollback(pg_conn *c)
{
    c->tx = NULL;
    op_begin(c, OP_ROLLBACK, -1);
    if (!op_send(c, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0) || !op_commit(c))
        conn_broken(c, PQerrorMessage(c->pg));
}

static tdm_status *op_status(const tdm_pg_tx *tx, const PGresult *err)
{
    tdm_status *st = tdm_pg_status_from_result(err);
    if (tx != NULL && tx->cancel_code != TDM_OK && strcmp(tdm_pg_sqlstate(err), "57014") == 0) {
        tdm_status *c = tdm_status_new(tx->cancel_code, tx->cancel_code == TDM_CANCELLED
                                                            ? "the operation was cancelled"
                                                            : "the database pool is shutting down");
        tdm_status_set_detail(c, "%s", st->detail != NULL ? st->detail : "");
        tdm_status_free(st);
        st = c;
    }
    tdm_log_fields(st->code == TDM_INTERNAL ? TDM_LOG_WARN : TDM_LOG_DEBUG, tx_rid(tx),
                   "database statement failed", "code", tdm_code_name(st->code), "detail",
                   st->detail, NULL);
    return st;
}

static void op_observe(tdm_pg_pool *pool, const pg_op *op, const tdm_status *st)
{
    double seconds = (double)(uv_hrtime() - op->started_ns) / 1e9;
    tdm_metric_observe(pool->m_duration, NULL, seconds);
    tdm_metric_inc(pool->m_queries,
                   (const char *const[]){tdm_code_name(st != NULL ? st->code : TDM_OK)});
}

/* A session met SQLSTATE 25006: its server no longer takes writes (a failover demoted
 * it, or an operator made it read-only), and neither do the pool's other sessions,
 * which share the server. Idle ones are dropped at once, busy ones when their work
 * ends (conn_to_idle); each reconnects asking for a read-write server, so the pool
 * finds the primary among the hosts, or is down - and the service not ready - while
 * there is none. */
static void pool_server_read_only(tdm_pg_pool *pool)
{
    for (int i = 0; i < pool->size; i++) {
        pg_conn *other = &pool->conns[i];
        if (other->state == CONN_BUSY)
            other->read_only_seen = true;
        else if (other->state == CONN_IDLE)
            conn_broken(other, "the server is read-only (SQLSTATE 25006); reconnecting");
    }
}

/* The operation's sync arrived: hand results over and move the connection on. */
static void conn_op_done(pg_conn *c)
{
    tdm_pg_pool *pool = c->pool;
    pg_op op = c->op;
    memset(&c->op, 0, sizeof(c->op));
    tdm_pg_tx *tx = c->tx;
    if (op.error != NULL && strcmp(tdm_pg_sqlstate(op.error), "25006") == 0)
        pool_server_read_only(pool);
    bool stale = stmts_settle(c, &op);
    if (stale && (op.kind == OP_EXEC || op.kind == OP_BEGIN) && !op.retried) {
        /* Nothing of it took effect: run it again, preparing afresh. */
        tdm_log_fields(TDM_LOG_DEBUG, tx_rid(tx), "prepared statement went stale; retrying",
                       "sqlstate", tdm_pg_sqlstate(op.error), NULL);
        PQclear(op.result);
        PQclear(op.error);
        bool ok = op.kind == OP_EXEC ? exec_send(c, tx, true) : begin_send(c, tx, true);
        if (!ok)
            conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    tdm_status *st = op.error != NULL ? op_status(tx, op.error) : NULL;
    switch (op.kind) {
    case OP_BEGIN:
        if (st != NULL) {
            conn_rollback(c);
            tx->conn = NULL;
            tdm_pg_tx_cb cb = tx->begin_cb;
            void *arg = tx->arg;
            tx_free(tx);
            cb(arg, st, NULL);
        } else {
            tx->state = TX_OPEN;
            tx->begin_cb(tx->arg, NULL, tx);
        }
        break;
    case OP_QUERY:
        op_observe(pool, &op, st);
        tx->state = st != NULL ? TX_ABORTED : TX_OPEN;
        tx->had_error = st != NULL;
        tx->result_cb(tx->arg, st, st != NULL ? op.error : op.result);
        break;
    case OP_END:
    case OP_EXEC: {
        if (op.kind == OP_EXEC)
            op_observe(pool, &op, st);
        if (op.kind == OP_END && st == NULL && tx->commit_requested && tx->had_error)
            st = tdm_status_new(TDM_ABORTED, "the transaction was rolled back after an error");
        tx->conn = NULL;
        /* An implicit transaction ended at the sync, failed or not. */
        if (op.error != NULL && !(tx->is_exec && tx->exec_implicit))
            conn_rollback(c);
        else
            conn_to_idle(c);
        void *arg = tx->arg;
        if (op.kind == OP_END) {
            tdm_pg_done_cb cb = tx->done_cb;
            tx_free(tx);
            cb(arg, st);
        } else {
            tdm_pg_result_cb cb = tx->result_cb;
            tx_free(tx);
            cb(arg, st, st != NULL ? op.error : op.result);
        }
        break;
    }
    case OP_ROLLBACK:
        tdm_status_free(st);
        if (op.error != NULL)
            conn_broken(c, "ROLLBACK failed");
        else
            conn_to_idle(c);
        break;
    case OP_NONE:
        tdm_status_free(st);
        break;
    }
    PQclear(op.result);
    PQclear(op.error);
}

static void conn_read(pg_conn *c)
{
    if (PQconsumeInput(c->pg) != 1) {
        conn_broken(c, PQerrorMessage(c->pg));
        return;
    }
    PGnotify *n;
    while ((n = PQnotifies(c->pg)) != NULL)
        PQfreemem(n);
    while (c->op.kind != OP_NONE && PQisBusy(c->pg) == 0) {
        PGresult *r = PQgetResult(c->pg);
        if (r == NULL) {
            /* The end of one statement's results. More ends than statements would
             * mean libpq and the pool disagree about the pipeline: start afresh. */
            if (++c->op.stmt > c->op.n_stmts) {
                conn_broken(c, "unexpected end of results in the pipeline");
                return;
            }
            continue;
        }
        switch (PQresultStatus(r)) {
        case PGRES_PIPELINE_SYNC:
            PQclear(r);
            conn_op_done(c);
            return; /* a callback may have started the next operation */
        case PGRES_FATAL_ERROR:
            if (c->op.error == NULL) {
                c->op.error = r;
                c->op.error_at = c->op.stmt;
            } else
                PQclear(r);
            break;
        case PGRES_COPY_IN:
        case PGRES_COPY_OUT:
        case PGRES_COPY_BOTH:
            PQclear(r);
            conn_broken(c, "COPY is not supported through the pool");
            return;
        default:
            op_note_parsed(c, r);
            if (c->op.stmt == c->op.want && c->op.result == NULL)
                c->op.result = r;
            else
                PQclear(r);
            break;
        }
    }
    if (PQstatus(c->pg) != CONNECTION_OK)
        conn_broken(c, PQerrorMessage(c->pg));
}

static void conn_on_poll(uv_poll_t *handle, int status, int events)
{
    pg_poll *p = handle->data;
    pg_conn *c = p->conn;
    if (status < 0) {
        /* libuv reports EPOLLERR as UV_EBADF and stops the handle. While connecting,
         * PQconnectPoll reads the real error (refused, reset) and may move on to the
         * next address; otherwise consuming input fetches libpq's own message. */
        if (c->state == CONN_CONNECTING) {
            conn_connect_step(c);
        } else if (c->pg != NULL && PQconsumeInput(c->pg) != 1) {
            conn_broken(c, PQerrorMessage(c->pg));
        } else {
            conn_broken(c, uv_strerror(status));
        }
        return;
    }
    switch (c->state) {
    case CONN_CONNECTING:
        conn_connect_step(c);
        break;
    case CONN_IDLE:
        /* Nothing is expected: this is the server closing the session (restart,
         * idle timeout, termination), seen now rather than at the next lease. */
        if (PQconsumeInput(c->pg) != 1 || PQstatus(c->pg) != CONNECTION_OK) {
            conn_broken(c, PQerrorMessage(c->pg));
            break;
        }
        PGnotify *n;
        while ((n = PQnotifies(c->pg)) != NULL)
            PQfreemem(n);
        break;
    case CONN_BUSY:
        if (c->op.flushing) {
            if ((events & UV_READABLE) && PQconsumeInput(c->pg) != 1) {
                conn_broken(c, PQerrorMessage(c->pg));
                break;
            }
            int rc = PQflush(c->pg);
            if (rc < 0) {
                conn_broken(c, PQerrorMessage(c->pg));
                break;
            }
            c->op.flushing = rc == 1;
            if (conn_watch(c, UV_READABLE | (c->op.flushing ? UV_WRITABLE : 0)) != 0) {
                conn_broken(c, "could not watch the connection's socket");
                break;
            }
        }
        if (events & UV_READABLE)
            conn_read(c);
        break;
    case CONN_RESOLVING:
    case CONN_BACKOFF:
    case CONN_CLOSED:
        break;
    }
}

/* ---- cancel on the work pool (libpq 15 has no non-blocking cancel) ------------- */

static void cancel_work(uv_work_t *work)
{
    pg_cancel *pc = work->data;
    pc->ok = PQcancel(pc->cancel, pc->err, (int)sizeof(pc->err));
}

static void cancel_after(uv_work_t *work, int status)
{
    pg_cancel *pc = work->data;
    if (status == 0 && !pc->ok)
        tdm_log_fields(TDM_LOG_DEBUG, NULL, "database cancel request failed", "error", pc->err,
                       NULL);
    PQfreeCancel(pc->cancel);
    pc->pool->pending_reqs--;
    pool_kick(pc->pool);
    free(pc);
}

static void conn_cancel(pg_conn *c)
{
    if (c->op.kind == OP_NONE || c->op.cancel_sent || c->pg == NULL)
        return;
    pg_cancel *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return;
    pc->pool = c->pool;
    pc->cancel = PQgetCancel(c->pg);
    pc->work.data = pc;
    if (pc->cancel == NULL ||
        uv_queue_work(c->pool->loop, &pc->work, cancel_work, cancel_after) != 0) {
        PQfreeCancel(pc->cancel);
        free(pc);
        return;
    }
    c->op.cancel_sent = true;
    c->pool->pending_reqs++;
}

/* ---- the pool's timer: deferred completions, deadlines, closing ---------------- */

static void pool_fail_waiters(tdm_pg_pool *pool, const char *why)
{
    while (pool->wait_head != NULL) {
        tdm_pg_tx *tx = pool->wait_head;
        queue_remove(pool, tx);
        tx_defer(tx, tx_start_kind(tx), status_unavailable(why));
    }
}

static void pool_expire_waiters(tdm_pg_pool *pool, uint64_t now)
{
    tdm_pg_tx *next;
    for (tdm_pg_tx *tx = pool->wait_head; tx != NULL; tx = next) {
        next = tx->next;
        if (now < tx->wait_deadline_ms)
            continue;
        queue_remove(pool, tx);
        tdm_status *st;
        if (tx->deadline_ms != 0 && now >= tx->deadline_ms)
            st = tdm_status_new(TDM_DEADLINE_EXCEEDED,
                                "the deadline passed before a database connection was free");
        else
            st = status_unavailable("no database connection became free in time");
        tx_defer(tx, tx_start_kind(tx), st);
    }
}

static bool pool_close_step(tdm_pg_pool *pool, uint64_t now)
{
    bool all_closed = true;
    for (int i = 0; i < pool->size; i++) {
        pg_conn *c = &pool->conns[i];
        switch (c->state) {
        case CONN_RESOLVING:
        case CONN_CONNECTING:
        case CONN_IDLE:
        case CONN_BACKOFF:
            conn_close(c);
            break;
        case CONN_BUSY:
            all_closed = false;
            if (now >= pool->close_grace_at) {
                conn_broken(c, "the pool closed before the transaction ended");
            } else if (c->tx != NULL && c->op.kind != OP_NONE && !c->op.cancel_sent) {
                c->tx->cancel_code = TDM_UNAVAILABLE;
                conn_cancel(c);
            }
            break;
        case CONN_CLOSED:
            break;
        }
    }
    return all_closed && pool->n_tx == 0 && pool->pending_reqs == 0 && pool->deferred_head == NULL;
}

static void pool_finish(tdm_pg_pool *pool)
{
    pool->finishing = true;
    uv_close((uv_handle_t *)&pool->timer, pool_timer_closed);
    for (int i = 0; i < pool->size; i++)
        uv_close((uv_handle_t *)&pool->conns[i].timer, conn_timer_closed);
}

static void pool_timer_fired(uv_timer_t *timer)
{
    tdm_pg_pool *pool = timer->data;
    uint64_t now = uv_now(pool->loop);
    /* Only the completions present now: a callback that starts new work which is
     * refused at once gets its answer on the next tick, not in this loop. */
    tdm_pg_tx *batch = pool->deferred_head;
    pool->deferred_head = pool->deferred_tail = NULL;
    while (batch != NULL) {
        tdm_pg_tx *tx = batch;
        batch = tx->next_deferred;
        tx_run_deferred(tx);
    }
    if (pool->closing)
        pool_fail_waiters(pool, "the database pool is shutting down");
    else if (pool->down)
        pool_fail_waiters(pool, "no database connection is up");
    else
        pool_expire_waiters(pool, now);

    if (pool->closing && pool_close_step(pool, now)) {
        pool_finish(pool);
        return;
    }
    uint64_t due = UINT64_MAX;
    for (tdm_pg_tx *tx = pool->wait_head; tx != NULL; tx = tx->next) {
        if (tx->wait_deadline_ms < due)
            due = tx->wait_deadline_ms;
    }
    if (pool->deferred_head != NULL)
        due = now;
    if (pool->closing && pool->close_grace_at < due)
        due = pool->close_grace_at;
    if (due != UINT64_MAX)
        pool_arm(pool, due);
}

static void pool_arm(tdm_pg_pool *pool, uint64_t due_ms)
{
    if (pool->finishing)
        return;
    uint64_t now = uv_now(pool->loop);
    uint64_t delay = due_ms > now ? due_ms - now : 0;
    /* Re-arm only to fire earlier than already planned. */
    if (uv_is_active((uv_handle_t *)&pool->timer) && uv_timer_get_due_in(&pool->timer) <= delay)
        return;
    uv_timer_start(&pool->timer, pool_timer_fired, delay, 0);
}

/* ---- the public API ------------------------------------------------------------ */

/* Splits a comma-separated libpq list ("a,b,c"; NULL or "" is one empty entry) into
 * at most max strdup'ed entries; returns how many, or -1 (too many, out of memory). */
static int split_list(const char *list, char **out, int max)
{
    const char *p = list != NULL ? list : "";
    int n = 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        if (n == max || (out[n] = strndup(p, len)) == NULL) {
            for (int i = 0; i < n; i++)
                free(out[i]);
            return -1;
        }
        n++;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

static bool target_is_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The hosts of the conninfo (with failover, several: "host=a,b port=5432,5433" or
 * "postgresql://a:5432,b:5433/db"), found once; names are resolved off the loop at each
 * connection attempt, since PQconnectStart's own DNS would block. The pool writes, so
 * unless the conninfo says otherwise it asks libpq for a read-write session
 * (target_session_attrs): after a failover it finds the new primary among the hosts,
 * and while there is none it does not connect (and the service is not ready). */
static bool pool_parse_target(tdm_pg_pool *pool)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(pool->conninfo, &err);
    if (opts == NULL) {
        tdm_log_fields(TDM_LOG_ERROR, NULL, "invalid database connection string", "error",
                       err != NULL ? err : "out of memory", NULL);
        PQfreemem(err);
        return false;
    }
    const char *host = NULL, *hostaddr = NULL, *port = NULL;
    bool has_user_timeout = false;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || o->val[0] == '\0')
            continue;
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "tcp_user_timeout") == 0)
            has_user_timeout = true;
    }
    pool->session_attrs = tdm_pg_write_session_attrs(pool->conninfo); /* one rule for all */
    pool->tcp_user_timeout = has_user_timeout ? NULL : DEFAULT_TCP_USER_TIMEOUT_MS;
    const char *why = NULL;
    char *hosts[MAX_TARGETS], *ports[MAX_TARGETS];
    int n_hosts = 0, n_ports = 0;
    if (hostaddr != NULL || host == NULL) {
        /* libpq does no DNS with hostaddr given, and none for its default socket. */
    } else if ((n_hosts = split_list(host, hosts, MAX_TARGETS)) < 0) {
        why = "too many hosts (at most 8)";
    } else if ((n_ports = split_list(port, ports, MAX_TARGETS)) < 0 ||
               (n_ports != 1 && n_ports != n_hosts)) {
        why = "give one port, or one port per host";
    } else if ((pool->targets = calloc((size_t)n_hosts, sizeof(*pool->targets))) == NULL) {
        why = "out of memory";
    } else {
        pool->n_targets = n_hosts;
        for (int i = 0; i < n_hosts; i++) {
            pg_target *t = &pool->targets[i];
            t->host = hosts[i];
            t->port = n_ports == n_hosts ? ports[i] : strdup(ports[0]);
            if (n_ports == n_hosts)
                ports[i] = NULL;
            t->literal = target_is_literal(t->host);
            t->resolve =
                !t->literal && t->host[0] != '\0' && t->host[0] != '/' && t->host[0] != '@';
            if (t->port == NULL)
                why = "out of memory";
        }
        n_hosts = 0; /* owned by the targets now */
    }
    for (int i = 0; i < n_hosts; i++)
        free(hosts[i]);
    for (int i = 0; i < n_ports; i++)
        free(ports[i]);
    PQconninfoFree(opts);
    if (why != NULL) {
        tdm_log_fields(TDM_LOG_ERROR, NULL, "invalid database connection string", "error", why,
                       NULL);
        return false;
    }
    return true;
}

tdm_pg_pool *tdm_pg_pool_new(uv_loop_t *loop, const tdm_pg_pool_options *opts)
{
    if (loop == NULL || opts == NULL || opts->conninfo == NULL || opts->size < 1 ||
        opts->size > MAX_POOL_SIZE || opts->queue_timeout_ms < 0 || opts->max_queue < 0)
        return NULL;
    tdm_pg_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->loop = loop;
    pool->size = opts->size;
    pool->queue_timeout_ms =
        opts->queue_timeout_ms > 0 ? opts->queue_timeout_ms : DEFAULT_QUEUE_TIMEOUT_MS;
    pool->max_queue = opts->max_queue > 0 ? opts->max_queue : DEFAULT_MAX_QUEUE;
    pool->conninfo = strdup(opts->conninfo);
    pool->application_name =
        strdup(opts->application_name != NULL ? opts->application_name : "tandem");
    pool->conns = calloc((size_t)opts->size, sizeof(*pool->conns));
    if (pool->conninfo == NULL || pool->application_name == NULL || pool->conns == NULL ||
        !pool_parse_target(pool)) {
        pool_free(pool);
        return NULL;
    }
    tdm_metrics *reg = tdm_metrics_global();
    pool->m_connections = tdm_metric_gauge(reg, "tandem_pg_pool_connections",
                                           "PostgreSQL pool connections by state", "state");
    pool->m_queries =
        tdm_metric_counter(reg, "tandem_pg_queries_total",
                           "PostgreSQL statements run by the pool, by result", "result");
    pool->m_duration = tdm_metric_histogram(
        reg, "tandem_pg_query_duration_seconds", "PostgreSQL statement duration in seconds", "",
        TDM_METRIC_LATENCY_BUCKETS, TDM_METRIC_LATENCY_BUCKETS_COUNT);

    for (int i = 0; i < pool->size && pool->n_targets > 0; i++) {
        pool->conns[i].resolved = calloc((size_t)pool->n_targets, sizeof(char *));
        if (pool->conns[i].resolved == NULL) {
            pool_free(pool);
            return NULL;
        }
    }
    uv_timer_init(loop, &pool->timer);
    pool->timer.data = pool;
    pool->open_handles = 1 + pool->size;
    for (int i = 0; i < pool->size; i++) {
        pg_conn *c = &pool->conns[i];
        c->pool = pool;
        c->index = i;
        c->state = CONN_CLOSED; /* conn_start moves it on, counting it */
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
    }
    for (int i = 0; i < pool->size; i++)
        conn_start(&pool->conns[i]);
    return pool;
}

const char *tdm_pg_write_session_attrs(const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo != NULL ? conninfo : "", &err);
    PQfreemem(err);
    bool given = false;
    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "target_session_attrs") == 0 && o->val != NULL && o->val[0] != '\0')
            given = true;
    }
    PQconninfoFree(opts);
    return given ? NULL : "read-write";
}

uint64_t tdm_pg_pool_now(const tdm_pg_pool *pool)
{
    return uv_now(pool->loop);
}

bool tdm_pg_pool_connected(const tdm_pg_pool *pool)
{
    return pool != NULL && pool->n_connected > 0 && !pool->closing;
}

void tdm_pg_pool_close(tdm_pg_pool *pool, void (*done)(void *arg), void *arg)
{
    if (pool == NULL) {
        if (done != NULL)
            done(arg);
        return;
    }
    if (pool->closing)
        return;
    pool->closing = true;
    pool->close_done = done;
    pool->close_arg = arg;
    pool->close_grace_at = uv_now(pool->loop) + CLOSE_GRACE_MS;
    pool_kick(pool);
}

/* Queue tx (or refuse it through the timer) and lease a connection if one is idle. */
static void pool_submit(tdm_pg_pool *pool, tdm_pg_tx *tx)
{
    if (pool->closing) {
        tx_defer(tx, tx_start_kind(tx), status_unavailable("the database pool is shutting down"));
    } else if (pool->down) {
        tx_defer(tx, tx_start_kind(tx), status_unavailable("no database connection is up"));
    } else if (pool->n_waiting >= (size_t)pool->max_queue) {
        tx_defer(tx, tx_start_kind(tx),
                 tdm_status_new(TDM_RESOURCE_EXHAUSTED, "too many database requests are waiting"));
    } else {
        queue_push(pool, tx);
        pool_dispatch(pool);
        if (tx->queued)
            pool_arm(pool, tx->wait_deadline_ms);
    }
}

static bool tx_options_ok(const tdm_pg_tx_options *opts)
{
    return opts == NULL || opts->tenant_id == NULL || opts->tenant_id[0] == '\0' ||
           uuid_text_ok(opts->tenant_id);
}

int tdm_pg_tx_begin(tdm_pg_pool *pool, const tdm_pg_tx_options *opts, tdm_pg_tx_cb cb, void *arg)
{
    if (pool == NULL || cb == NULL || !tx_options_ok(opts))
        return UV_EINVAL;
    tdm_pg_tx *tx = tx_new(pool, opts);
    if (tx == NULL)
        return UV_ENOMEM;
    tx->begin_cb = cb;
    tx->arg = arg;
    pool_submit(pool, tx);
    return 0;
}

static int exec_submit(tdm_pg_pool *pool, const tdm_pg_tx_options *opts, bool prepared,
                       const char *sql, int nparams, const char *const *values, tdm_pg_result_cb cb,
                       void *arg)
{
    if (pool == NULL || cb == NULL || sql == NULL || nparams < 0 || nparams > MAX_QUERY_PARAMS ||
        (nparams > 0 && values == NULL) || !tx_options_ok(opts))
        return UV_EINVAL;
    tdm_pg_tx *tx = tx_new(pool, opts);
    if (tx == NULL)
        return UV_ENOMEM;
    tx->is_exec = true;
    tx->exec_prepared = prepared;
    tx->exec_implicit = opts != NULL && opts->implicit_tx;
    tx->result_cb = cb;
    tx->arg = arg;
    tx->exec_nparams = nparams;
    /* The statement waits on the queue: copy what the caller may free on return. */
    tx->exec_sql = tdm_arena_strdup(tx->arena, sql);
    tx->exec_values = tdm_arena_calloc(tx->arena, (size_t)nparams + 1, sizeof(char *));
    bool ok = tx->exec_sql != NULL && tx->exec_values != NULL;
    for (int i = 0; ok && i < nparams; i++) {
        if (values[i] != NULL) {
            tx->exec_values[i] = tdm_arena_strdup(tx->arena, values[i]);
            ok = tx->exec_values[i] != NULL;
        }
    }
    if (!ok) {
        tx_free(tx);
        return UV_ENOMEM;
    }
    pool_submit(pool, tx);
    return 0;
}

int tdm_pg_exec(tdm_pg_pool *pool, const tdm_pg_tx_options *opts, const char *sql, int nparams,
                const char *const *values, tdm_pg_result_cb cb, void *arg)
{
    return exec_submit(pool, opts, false, sql, nparams, values, cb, arg);
}

int tdm_pg_exec_prepared(tdm_pg_pool *pool, const tdm_pg_tx_options *opts, const char *sql,
                         int nparams, const char *const *values, tdm_pg_result_cb cb, void *arg)
{
    return exec_submit(pool, opts, true, sql, nparams, values, cb, arg);
}

static int tx_query(tdm_pg_tx *tx, bool prepared, const char *sql, int nparams, const Oid *types,
                    const char *const *values, const int *lengths, const int *formats,
                    int result_format, tdm_pg_result_cb cb, void *arg)
{
    if (tx == NULL || sql == NULL || cb == NULL || nparams < 0 || nparams > MAX_QUERY_PARAMS ||
        (nparams > 0 && values == NULL))
        return UV_EINVAL;
    if (tx->state == TX_DEAD) {
        tx->result_cb = cb;
        tx->arg = arg;
        tx_defer(tx, OP_QUERY, status_unavailable("the transaction's connection was lost"));
        return 0;
    }
    if (tx->state != TX_OPEN)
        return UV_EINVAL; /* a statement in flight, aborted, or ending */
    pg_conn *c = tx->conn;
    tx->result_cb = cb;
    tx->arg = arg;
    tx->state = TX_RUNNING;
    op_begin(c, OP_QUERY, -1);
    bool ok =
        op_send_stmt(c, prepared, sql, nparams, types, values, lengths, formats, result_format);
    c->op.want = c->op.n_stmts - 1;
    if (!ok || !op_commit(c))
        conn_broken(c, PQerrorMessage(c->pg)); /* fails this query through the timer */
    return 0;
}

int tdm_pg_tx_query_params(tdm_pg_tx *tx, const char *sql, int nparams, const Oid *types,
                           const char *const *values, const int *lengths, const int *formats,
                           int result_format, tdm_pg_result_cb cb, void *arg)
{
    return tx_query(tx, false, sql, nparams, types, values, lengths, formats, result_format, cb,
                    arg);
}

int tdm_pg_tx_query(tdm_pg_tx *tx, const char *sql, int nparams, const char *const *values,
                    tdm_pg_result_cb cb, void *arg)
{
    return tx_query(tx, false, sql, nparams, NULL, values, NULL, NULL, 0, cb, arg);
}

int tdm_pg_tx_query_prepared(tdm_pg_tx *tx, const char *sql, int nparams, const char *const *values,
                             tdm_pg_result_cb cb, void *arg)
{
    return tx_query(tx, true, sql, nparams, NULL, values, NULL, NULL, 0, cb, arg);
}

int tdm_pg_tx_query_params_prepared(tdm_pg_tx *tx, const char *sql, int nparams, const Oid *types,
                                    const char *const *values, const int *lengths,
                                    const int *formats, int result_format, tdm_pg_result_cb cb,
                                    void *arg)
{
    return tx_query(tx, true, sql, nparams, types, values, lengths, formats, result_format, cb,
                    arg);
}

int tdm_pg_tx_end(tdm_pg_tx *tx, bool commit, tdm_pg_done_cb cb, void *arg)
{
    if (tx == NULL || cb == NULL)
        return UV_EINVAL;
    tx->done_cb = cb;
    tx->arg = arg;
    tx->commit_requested = commit;
    if (tx->state == TX_DEAD) {
        tx_defer(tx, OP_END,
                 commit ? status_unavailable("the transaction's connection was lost") : NULL);
        return 0;
    }
    if (tx->state != TX_OPEN && tx->state != TX_ABORTED)
        return UV_EINVAL;
    pg_conn *c = tx->conn;
    op_begin(c, OP_END, -1);
    tx->state = TX_ENDING;
    if (!op_send(c, commit && !tx->had_error ? "COMMIT" : "ROLLBACK", 0, NULL, NULL, NULL, NULL,
                 0) ||
        !op_commit(c))
        conn_broken(c, PQerrorMessage(c->pg));
    return 0;
}

void tdm_pg_tx_cancel(tdm_pg_tx *tx)
{
    if (tx != NULL && tx->state == TX_RUNNING && tx->conn != NULL) {
        tx->cancel_code = TDM_CANCELLED;
        conn_cancel(tx->conn);
    }
}
