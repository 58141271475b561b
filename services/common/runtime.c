/*
 * runtime.c - start-up, readiness and graceful shutdown of a Tandem process.
 * See include/tandem/runtime.h for the sequence; this file is its state machine:
 *
 *   STARTING --init ok--> RUNNING --SIGTERM--> DRAINING --calls done--> CLOSING --> exit 0
 *
 * Readiness is separate from the state: while RUNNING, a one-second timer marks the
 * server ready only when the pool has a live connection, migrations are applied and
 * the service's own check agrees.
 *
 * With TANDEM_ADMIN_LISTEN a second server, the admin server, answers /healthz,
 * /readyz and /metrics on a port of its own (probes and Prometheus go there, so the
 * public port need not serve metrics, and does not). It registers no gRPC service
 * and no reflection, follows the main server's readiness, keeps answering the
 * liveness probe while the main server drains, and is closed once it has drained.
 */
#include "tandem/runtime.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/log.h"
#include "tandem/metrics.h"

#define READINESS_INTERVAL_MS    1000
#define MIGRATION_RETRY_FIRST_MS 250
#define MIGRATION_RETRY_MAX_MS   10000

typedef enum runtime_state {
    RT_STARTING,
    RT_RUNNING,
    RT_DRAINING,
    RT_CLOSING,
} runtime_state;

typedef struct runtime_peer {
    const char *name;
    tdm_rpc_client *client;
} runtime_peer;

struct tdm_runtime {
    const tdm_service_spec *spec;
    tdm_config cfg;
    uv_loop_t loop;
    runtime_state state;
    tdm_server *server;
    tdm_server *admin; /* TANDEM_ADMIN_LISTEN's server, or NULL */
    tdm_pg_pool *pg;
    bool migrated;
    bool migrating;
    uint64_t migration_retry_ms;
    uv_timer_t migration_timer;
    uv_timer_t readiness_timer;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    runtime_peer peers[3];
    int pending_closes; /* peers and pool still closing */
    int holds;          /* tdm_runtime_hold: shutdown work the pool must outlive */
    bool close_waiting; /* shutdown returned with holds: close when they are released */
    void *user;
    tdm_metric *up_gauge;
};

uv_loop_t *tdm_runtime_loop(tdm_runtime *rt)
{
    return &rt->loop;
}

const tdm_config *tdm_runtime_config(const tdm_runtime *rt)
{
    return &rt->cfg;
}

tdm_pg_pool *tdm_runtime_pg(tdm_runtime *rt)
{
    return rt->pg;
}

tdm_server *tdm_runtime_server(tdm_runtime *rt)
{
    return rt->server;
}

bool tdm_runtime_migrated(const tdm_runtime *rt)
{
    return rt->migrated;
}

bool tdm_runtime_stopping(const tdm_runtime *rt)
{
    return rt->state >= RT_DRAINING;
}

void tdm_runtime_set_user(tdm_runtime *rt, void *user)
{
    rt->user = user;
}

void *tdm_runtime_user(tdm_runtime *rt)
{
    return rt->user;
}

tdm_rpc_client *tdm_runtime_peer(tdm_runtime *rt, const char *peer)
{
    static const char *const names[3] = {"enrolment", "matching", "feedback"};
    const tdm_addr *addrs[3] = {&rt->cfg.enrolment_addr, &rt->cfg.matching_addr,
                                &rt->cfg.feedback_addr};
    for (int i = 0; i < 3; i++) {
        if (strcmp(peer, names[i]) != 0)
            continue;
        if (rt->peers[i].client == NULL && rt->state < RT_CLOSING) {
            rt->peers[i].name = names[i];
            rt->peers[i].client = tdm_rpc_client_new(&rt->loop, addrs[i], names[i]);
        }
        return rt->peers[i].client;
    }
    return NULL;
}

/* ---- readiness ------------------------------------------------------------------ */

static void set_ready(tdm_runtime *rt, bool ready, const char *reason)
{
    tdm_server_set_ready(rt->server, ready, reason);
    if (rt->admin != NULL)
        tdm_server_set_ready(rt->admin, ready, reason);
}

static void readiness_check(uv_timer_t *timer)
{
    tdm_runtime *rt = timer->data;
    if (rt->state != RT_RUNNING)
        return;
    const char *reason = NULL;
    bool ready = false;
    if (!tdm_pg_pool_connected(rt->pg))
        reason = "database unreachable";
    else if (!rt->migrated)
        reason = "migrations not applied";
    else if (rt->spec->ready_check != NULL && !rt->spec->ready_check(rt, &reason))
        ready = false;
    else
        ready = true;
    bool was_ready = tdm_server_is_ready(rt->server);
    if (ready != was_ready) {
        tdm_log_fields(ready ? TDM_LOG_INFO : TDM_LOG_WARN, NULL,
                       ready ? "service ready" : "service not ready", "reason", reason, NULL);
    }
    set_ready(rt, ready, ready ? NULL : reason);
    tdm_metric_set(rt->up_gauge, (const char *const[]){rt->spec->name}, ready ? 1 : 0);
}

/* ---- migrations ----------------------------------------------------------------- */

static void migration_start(tdm_runtime *rt);

static void migration_retry(uv_timer_t *timer)
{
    migration_start(timer->data);
}

static void migration_done(void *arg, tdm_status *st)
{
    tdm_runtime *rt = arg;
    rt->migrating = false;
    if (rt->state >= RT_DRAINING) {
        tdm_status_free(st);
        return;
    }
    if (st == NULL) {
        rt->migrated = true;
        tdm_log_fields(TDM_LOG_INFO, NULL, "migrations applied", "schema", rt->spec->schema, NULL);
        readiness_check(&rt->readiness_timer);
        return;
    }
    char delay[32];
    snprintf(delay, sizeof(delay), "%llu", (unsigned long long)rt->migration_retry_ms);
    tdm_log_fields(TDM_LOG_WARN, NULL, "migrations not applied; retrying", "code",
                   tdm_code_name(st->code), "error", st->message, "detail", st->detail, "retry_ms",
                   delay, NULL);
    /* A changed checksum or a broken migration will not heal by retrying, but the
     * database being down will; retrying both keeps the process alive and visible
     * (/readyz says why) instead of crash-looping. */
    tdm_status_free(st);
    uv_timer_start(&rt->migration_timer, migration_retry, rt->migration_retry_ms, 0);
    rt->migration_retry_ms *= 2;
    if (rt->migration_retry_ms > MIGRATION_RETRY_MAX_MS)
        rt->migration_retry_ms = MIGRATION_RETRY_MAX_MS;
}

static void migration_start(tdm_runtime *rt)
{
    if (rt->state >= RT_DRAINING || rt->migrating)
        return;
    rt->migrating = true;
    int rc = tdm_migrate_start(&rt->loop, rt->cfg.migration_database_url, rt->cfg.database_url,
                               rt->spec->schema, rt->spec->migrations, rt->spec->n_migrations,
                               migration_done, rt);
    if (rc != 0)
        migration_done(rt, tdm_status_new(TDM_INTERNAL, "could not start the migration runner"));
}

/* ---- shutdown ------------------------------------------------------------------- */

static void close_walk_cb(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

static void runtime_closed_one(void *arg)
{
    tdm_runtime *rt = arg;
    if (--rt->pending_closes > 0)
        return;
    /* Everything Tandem opened is closed; close what is left (timers, signals) so the
     * loop runs out of handles and uv_run returns. */
    uv_walk(&rt->loop, close_walk_cb, NULL);
    tdm_log(TDM_LOG_INFO, NULL, "stopped");
}

static void close_peers_and_pool(tdm_runtime *rt);

static void servers_drained(tdm_runtime *rt);

static void admin_drained(void *arg)
{
    tdm_runtime *rt = arg;
    rt->admin = NULL; /* freed by the server after this callback */
    servers_drained(rt);
}

static void server_drained(void *arg)
{
    tdm_runtime *rt = arg;
    rt->state = RT_CLOSING;
    rt->server = NULL; /* freed by the server after this callback */
    if (rt->admin != NULL) {
        /* Probes were answered while the public port drained; nothing is in flight on
         * the admin port for long (its three routes answer at once). */
        tdm_server_shutdown(rt->admin, 0, admin_drained, rt);
        return;
    }
    servers_drained(rt);
}

static void servers_drained(tdm_runtime *rt)
{
    if (rt->spec->shutdown != NULL)
        rt->spec->shutdown(rt);
    if (rt->holds > 0) {
        rt->close_waiting = true; /* tdm_runtime_unhold closes */
        return;
    }
    close_peers_and_pool(rt);
}

void tdm_runtime_hold(tdm_runtime *rt)
{
    rt->holds++;
}

void tdm_runtime_unhold(tdm_runtime *rt)
{
    if (--rt->holds == 0 && rt->close_waiting) {
        rt->close_waiting = false;
        close_peers_and_pool(rt);
    }
}

static void close_peers_and_pool(tdm_runtime *rt)
{
    rt->pending_closes = 1; /* the pool */
    for (int i = 0; i < 3; i++) {
        if (rt->peers[i].client != NULL)
            rt->pending_closes++;
    }
    for (int i = 0; i < 3; i++) {
        if (rt->peers[i].client != NULL) {
            tdm_rpc_client_close(rt->peers[i].client, runtime_closed_one, rt);
            rt->peers[i].client = NULL;
        }
    }
    tdm_pg_pool_close(rt->pg, runtime_closed_one, rt);
    rt->pg = NULL;
}

static void begin_shutdown(tdm_runtime *rt, const char *why)
{
    if (rt->state >= RT_DRAINING) {
        tdm_log(TDM_LOG_INFO, NULL, "%s during shutdown: already draining", why);
        return;
    }
    tdm_log_fields(TDM_LOG_INFO, NULL, "shutting down", "signal", why, NULL);
    rt->state = RT_DRAINING;
    uv_timer_stop(&rt->readiness_timer);
    uv_timer_stop(&rt->migration_timer);
    set_ready(rt, false, "shutting down");
    tdm_server_shutdown(rt->server, (uint32_t)rt->cfg.drain_timeout_ms, server_drained, rt);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    begin_shutdown(handle->data, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

/* ---- main ----------------------------------------------------------------------- */

static int runtime_run(tdm_runtime *rt, const tdm_service_spec *spec)
{
    tdm_status *st = tdm_config_load(&rt->cfg, spec->name, spec->default_port, NULL);
    if (st == NULL && spec->load_config != NULL)
        st = spec->load_config();
    if (st != NULL) {
        tdm_log_init(spec->name, TDM_LOG_INFO);
        tdm_log_fields(TDM_LOG_ERROR, NULL, "invalid configuration", "error", st->message, NULL);
        tdm_status_free(st);
        return 2;
    }
    tdm_log_init(spec->name, rt->cfg.log_level);
    rt->up_gauge = tdm_metric_gauge(tdm_metrics_global(), "tandem_up",
                                    "1 when the service is ready to serve", "service");
    tdm_metric_set(rt->up_gauge, (const char *const[]){spec->name}, 0);

    tdm_server_options sopts = {
        .listen = rt->cfg.listen,
        .service_name = spec->name,
        .reflection = rt->cfg.reflection,
        .send_stall_timeout_ms = (uint32_t)rt->cfg.send_stall_timeout_ms,
        .max_connections = (uint32_t)rt->cfg.max_connections,
        .max_connections_per_address = (uint32_t)rt->cfg.max_connections_per_address,
        .metrics_elsewhere = rt->cfg.has_admin_listen,
    };
    rt->server = tdm_server_new(&rt->loop, &sopts);
    if (rt->server == NULL) {
        tdm_log(TDM_LOG_ERROR, NULL, "could not create the server");
        return 1;
    }
    if (rt->cfg.has_admin_listen) {
        char admin_name[64];
        snprintf(admin_name, sizeof(admin_name), "%s-admin", spec->name);
        tdm_server_options aopts = sopts;
        aopts.listen = rt->cfg.admin_listen;
        aopts.service_name = admin_name;
        aopts.reflection = false;
        aopts.metrics_elsewhere = false;
        if ((rt->admin = tdm_server_new(&rt->loop, &aopts)) == NULL) {
            tdm_log(TDM_LOG_ERROR, NULL, "could not create the admin server");
            return 1;
        }
    }
    set_ready(rt, false, "starting");

    char appname[64];
    snprintf(appname, sizeof(appname), "tandem-%s", spec->name);
    tdm_pg_pool_options popts = {
        .conninfo = rt->cfg.database_url,
        .size = rt->cfg.db_pool_size,
        .application_name = appname,
    };
    rt->pg = tdm_pg_pool_new(&rt->loop, &popts);
    if (rt->pg == NULL) {
        tdm_log(TDM_LOG_ERROR, NULL, "could not create the database pool");
        return 1;
    }
    if ((st = spec->init(rt)) != NULL) {
        tdm_log_fields(TDM_LOG_ERROR, NULL, "service initialisation failed", "error", st->message,
                       "detail", st->detail, NULL);
        tdm_status_free(st);
        return 1;
    }
    if ((st = tdm_server_start(rt->server)) != NULL) {
        tdm_log_fields(TDM_LOG_ERROR, NULL, "could not listen", "error", st->message, "detail",
                       st->detail, NULL);
        tdm_status_free(st);
        return 1;
    }
    char listen[300];
    snprintf(listen, sizeof(listen), "%s:%d", rt->cfg.listen.host, tdm_server_port(rt->server));
    tdm_log_fields(TDM_LOG_INFO, NULL, "listening", "address", listen, NULL);
    if (rt->admin != NULL) {
        if ((st = tdm_server_start(rt->admin)) != NULL) {
            tdm_log_fields(TDM_LOG_ERROR, NULL, "could not listen on TANDEM_ADMIN_LISTEN", "error",
                           st->message, "detail", st->detail, NULL);
            tdm_status_free(st);
            return 1;
        }
        snprintf(listen, sizeof(listen), "%s:%d", rt->cfg.admin_listen.host,
                 tdm_server_port(rt->admin));
        tdm_log_fields(TDM_LOG_INFO, NULL, "admin port listening (metrics and probes)", "address",
                       listen, NULL);
    }

    rt->state = RT_RUNNING;
    rt->migration_retry_ms = MIGRATION_RETRY_FIRST_MS;
    migration_start(rt);
    uv_timer_start(&rt->readiness_timer, readiness_check, READINESS_INTERVAL_MS,
                   READINESS_INTERVAL_MS);
    uv_signal_start(&rt->sigterm, on_signal, SIGTERM);
    uv_signal_start(&rt->sigint, on_signal, SIGINT);
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    return 0;
}

/* Memory a call frees is kept for the next one (up to RETAINED_HEAP_BYTES) instead of
 * going back to the kernel at once: on virtual machines a page faulted in again costs
 * microseconds, and a call's arena is megabytes - a programme report of 10,000 people
 * spent 40 of its 57 ms of CPU faulting its arena's pages in (bench/RESULTS.md).
 * Blocks from LARGE_ALLOC_BYTES up are still mapped and returned alone. An operator's
 * GLIBC_TUNABLES naming malloc settings wins. */
#define RETAINED_HEAP_BYTES (16 << 20)
#define LARGE_ALLOC_BYTES   (4 << 20)

static void keep_freed_memory(void)
{
    const char *tunables = getenv("GLIBC_TUNABLES");
    if (tunables != NULL && strstr(tunables, "glibc.malloc.") != NULL)
        return;
    mallopt(M_MMAP_THRESHOLD, LARGE_ALLOC_BYTES);
    mallopt(M_TRIM_THRESHOLD, RETAINED_HEAP_BYTES);
}

int tdm_runtime_main(const tdm_service_spec *spec)
{
    signal(SIGPIPE, SIG_IGN);
    keep_freed_memory();
    tdm_runtime *rt = calloc(1, sizeof(*rt));
    if (rt == NULL)
        return 1;
    rt->spec = spec;
    if (uv_loop_init(&rt->loop) != 0) {
        free(rt);
        return 1;
    }
    uv_timer_init(&rt->loop, &rt->migration_timer);
    uv_timer_init(&rt->loop, &rt->readiness_timer);
    uv_signal_init(&rt->loop, &rt->sigterm);
    uv_signal_init(&rt->loop, &rt->sigint);
    rt->migration_timer.data = rt->readiness_timer.data = rt;
    rt->sigterm.data = rt->sigint.data = rt;

    int status = runtime_run(rt, spec);
    if (status != 0) {
        /* Start-up failed: close what was opened, without draining. */
        if (rt->server != NULL)
            tdm_server_shutdown(rt->server, 0, NULL, NULL);
        if (rt->admin != NULL)
            tdm_server_shutdown(rt->admin, 0, NULL, NULL);
        if (rt->pg != NULL)
            tdm_pg_pool_close(rt->pg, NULL, NULL);
        uv_walk(&rt->loop, close_walk_cb, NULL);
        uv_run(&rt->loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&rt->loop);
    tdm_config_free(&rt->cfg);
    free(rt);
    return status;
}
