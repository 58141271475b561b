/*
 * runtime.h - the life of a Tandem process on one libuv loop.
 *
 * A service's main() fills a tdm_service_spec and calls tdm_runtime_main(), which:
 *   1. reads the configuration (a bad variable: a message naming it, exit status 2);
 *   2. starts the server at once, so /healthz answers while the rest comes up, and
 *      /readyz (and grpc.health.v1) says NOT_SERVING until the service is ready;
 *   3. opens the PostgreSQL pool as the service role and applies the service's
 *      migrations as the owner role, retrying with backoff while the database is
 *      unreachable;
 *   4. calls spec->init to register the gRPC services and start background work;
 *   5. marks the service ready while the database is reachable, migrations are
 *      applied and spec->ready_check (if any) agrees - re-checked every second;
 *   6. on SIGTERM or SIGINT: not ready, stop accepting, GOAWAY, drain in-flight
 *      calls up to TANDEM_DRAIN_TIMEOUT_MS, spec->shutdown, wait for its holds
 *      (tdm_runtime_hold), close peers and the pool, close every handle, exit 0.
 */
#ifndef TANDEM_RUNTIME_H
#define TANDEM_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "tandem/config.h"
#include "tandem/migrate.h"
#include "tandem/pg.h"
#include "tandem/rpc_client.h"
#include "tandem/server.h"
#include "tandem/status.h"

typedef struct tdm_runtime tdm_runtime;

typedef struct tdm_service_spec {
    const char *name;   /* "enrolment": logs, metrics, application_name */
    int default_port;   /* API.md "Ports" */
    const char *schema; /* the PostgreSQL schema the service owns */
    const tdm_migration *migrations;
    size_t n_migrations;
    /* Read the service's own settings (tandem/config.h's readers), after the runtime's:
     * a status is an invalid configuration (exit 2). May be NULL. */
    tdm_status *(*load_config)(void);
    /* Register gRPC services, the HTTP handler, background work. Runs once, before
     * the database is necessarily reachable. A status stops the process (exit 1). */
    tdm_status *(*init)(tdm_runtime *rt);
    /* Stop background work; in-flight calls have drained. May be NULL. */
    void (*shutdown)(tdm_runtime *rt);
    /* Extra readiness condition (the gateway: every service reachable). May be NULL. */
    bool (*ready_check)(tdm_runtime *rt, const char **reason);
} tdm_service_spec;

/* Run the process; returns the exit status for main(). */
int tdm_runtime_main(const tdm_service_spec *spec);

uv_loop_t *tdm_runtime_loop(tdm_runtime *rt);
const tdm_config *tdm_runtime_config(const tdm_runtime *rt);
tdm_pg_pool *tdm_runtime_pg(tdm_runtime *rt);
tdm_server *tdm_runtime_server(tdm_runtime *rt);
/* How a service registers: the methods of descriptor from a method table in static
 * storage (its length counted here), each handler given data, on the runtime's
 * server (tdm_server_add_methods). */
#define TDM_RUNTIME_SERVE(rt, descriptor, methods, data)                                           \
    tdm_server_add_methods(tdm_runtime_server(rt), (descriptor), (methods),                        \
                           sizeof(methods) / sizeof((methods)[0]), (data))
/* True once the service's migrations are applied. */
bool tdm_runtime_migrated(const tdm_runtime *rt);
/* True once shutdown has begun (background work should stop taking new jobs). */
bool tdm_runtime_stopping(const tdm_runtime *rt);
/* Work that must reach the database during shutdown (handing a claimed job back):
 * hold before starting it, from spec->shutdown at the latest, and unhold when it has
 * completed; the pool and the peers close once every hold is released. The work is
 * bounded by the pool's own timeouts (a database that does not answer fails it). */
void tdm_runtime_hold(tdm_runtime *rt);
void tdm_runtime_unhold(tdm_runtime *rt);

/* The client of a peer service ("enrolment", "matching", "feedback"), created on
 * first use from TANDEM_<PEER>_ADDR and closed at shutdown. NULL for unknown names. */
tdm_rpc_client *tdm_runtime_peer(tdm_runtime *rt, const char *peer);

/* Service-owned state. */
void tdm_runtime_set_user(tdm_runtime *rt, void *user);
void *tdm_runtime_user(tdm_runtime *rt);

#endif
