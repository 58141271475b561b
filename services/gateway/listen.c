/*
 * listen.c - the gateway's LISTEN connection (listen.h), driven by the loop.
 *
 * States: resolving (uv_getaddrinfo, since PQconnectStart's own DNS would block) ->
 * connecting (PQconnectPoll, re-checking PQsocket at every step) -> listening
 * (PQconsumeInput + PQnotifies on readable; one command in flight at a time: the
 * LISTENs, then a ping every GW_LISTEN_PING_MS). Any failure closes the connection,
 * tells the handlers, and tries again after GW_LISTEN_RECONNECT_MS.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "listen.h"
#include "tandem/log.h"
#include "tandem/pg.h"

typedef enum listen_state { L_IDLE, L_RESOLVING, L_CONNECTING, L_LISTENING } listen_state;
typedef enum in_flight { F_NONE, F_LISTEN, F_PING } in_flight;

static struct {
    uv_loop_t *loop;
    char *conninfo;
    bool running;
    listen_state state;
    PGconn *conn;
    uv_poll_t *poll; /* heap: closed asynchronously when the socket changes */
    int fd;
    uv_timer_t retry;
    uv_timer_t ping;
    uv_getaddrinfo_t gai;
    bool gai_pending;
    char hostaddr[INET6_ADDRSTRLEN];
    gw_listen_handler handlers[GW_LISTEN_MAX_CHANNELS];
    size_t n_handlers;
    in_flight flight;
    uint64_t sent_ms; /* when the command in flight was sent */
    uint64_t fresh_until;
} L;

static void begin(void);
static void on_poll(uv_poll_t *h, int status, int events);

static void poll_closed(uv_handle_t *h)
{
    free(h);
}

static void unwatch(void)
{
    if (L.poll != NULL) {
        uv_poll_stop(L.poll);
        uv_close((uv_handle_t *)L.poll, poll_closed);
        L.poll = NULL;
    }
    L.fd = -1;
}

static int watch(int events)
{
    int fd = PQsocket(L.conn);
    if (fd < 0)
        return -1;
    if (L.poll != NULL && fd != L.fd)
        unwatch();
    if (L.poll == NULL) {
        L.poll = calloc(1, sizeof(*L.poll));
        if (L.poll == NULL || uv_poll_init_socket(L.loop, L.poll, fd) != 0) {
            free(L.poll);
            L.poll = NULL;
            return -1;
        }
        L.fd = fd;
    }
    return uv_poll_start(L.poll, events, on_poll);
}

static void on_retry(uv_timer_t *h)
{
    (void)h;
    begin();
}

static void fail(const char *why)
{
    bool was_listening = L.state == L_LISTENING;
    tdm_log_fields(was_listening ? TDM_LOG_WARN : TDM_LOG_DEBUG, NULL,
                   "LISTEN connection lost; reconnecting", "reason", why, "error",
                   L.conn != NULL ? PQerrorMessage(L.conn) : "", NULL);
    unwatch();
    if (L.conn != NULL)
        PQfinish(L.conn);
    L.conn = NULL;
    L.state = L_IDLE;
    L.flight = F_NONE;
    L.fresh_until = 0;
    uv_timer_stop(&L.ping);
    for (size_t i = 0; i < L.n_handlers; i++)
        if (L.handlers[i].down != NULL)
            L.handlers[i].down(L.handlers[i].arg);
    if (L.running)
        uv_timer_start(&L.retry, on_retry, GW_LISTEN_RECONNECT_MS, 0);
}

static int send_command(const char *sql, in_flight what)
{
    if (PQsendQuery(L.conn, sql) == 0)
        return -1;
    L.flight = what;
    L.sent_ms = uv_now(L.loop);
    return watch(PQflush(L.conn) == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE);
}

static void on_ping(uv_timer_t *h)
{
    (void)h;
    if (L.state != L_LISTENING || L.flight != F_NONE)
        return; /* the previous ping is still unanswered: freshness runs out on its own */
    if (send_command("SELECT 1", F_PING) != 0)
        fail("ping");
}

/* The command in flight has ended (its last result read). */
static void command_done(void)
{
    in_flight what = L.flight;
    L.flight = F_NONE;
    if (what == F_LISTEN) {
        tdm_log(TDM_LOG_DEBUG, NULL, "LISTEN connection established");
        for (size_t i = 0; i < L.n_handlers; i++)
            if (L.handlers[i].up != NULL)
                L.handlers[i].up(L.handlers[i].arg);
        on_ping(&L.ping); /* freshness starts with the first ping after the LISTENs */
    } else if (what == F_PING) {
        L.fresh_until = L.sent_ms + GW_LISTEN_FRESH_MS;
    }
}

static void dispatch(const PGnotify *n)
{
    for (size_t i = 0; i < L.n_handlers; i++)
        if (strcmp(L.handlers[i].channel, n->relname) == 0)
            L.handlers[i].notify(L.handlers[i].arg, n->extra != NULL ? n->extra : "");
}

static void listening_io(int events)
{
    if ((events & UV_WRITABLE) && PQflush(L.conn) < 0) {
        fail("flush");
        return;
    }
    if (PQconsumeInput(L.conn) == 0) {
        fail("read");
        return;
    }
    /* Notifications first: those that came before a ping's answer count for it. */
    PGnotify *n;
    while ((n = PQnotifies(L.conn)) != NULL) {
        dispatch(n);
        PQfreemem(n);
    }
    while (L.flight != F_NONE && !PQisBusy(L.conn)) {
        PGresult *res = PQgetResult(L.conn);
        if (res == NULL) {
            command_done();
            if (L.state != L_LISTENING)
                return;
            continue;
        }
        ExecStatusType s = PQresultStatus(res);
        PQclear(res);
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
            fail(L.flight == F_LISTEN ? "LISTEN refused" : "ping refused");
            return;
        }
    }
    if (watch(PQflush(L.conn) == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0)
        fail("poll");
}

static void connect_step(void)
{
    PostgresPollingStatusType s = PQconnectPoll(L.conn);
    if (s == PGRES_POLLING_FAILED) {
        fail("connect");
        return;
    }
    if (s == PGRES_POLLING_OK) {
        /* One simple query: "LISTEN a; LISTEN b" (fixed identifiers). */
        char sql[256] = "";
        for (size_t i = 0; i < L.n_handlers; i++) {
            size_t used = strlen(sql);
            snprintf(sql + used, sizeof(sql) - used, "LISTEN %s;", L.handlers[i].channel);
        }
        L.state = L_LISTENING;
        if (PQsetnonblocking(L.conn, 1) != 0 || send_command(sql, F_LISTEN) != 0) {
            fail("LISTEN");
            return;
        }
        uv_timer_start(&L.ping, on_ping, GW_LISTEN_PING_MS, GW_LISTEN_PING_MS);
        return;
    }
    if (watch(s == PGRES_POLLING_WRITING ? UV_WRITABLE : UV_READABLE) != 0)
        fail("poll");
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)h;
    if (!L.running)
        return;
    if (status < 0 && L.state == L_LISTENING) {
        fail("socket error");
        return;
    }
    if (L.state == L_CONNECTING)
        connect_step();
    else if (L.state == L_LISTENING)
        listening_io(events);
}

static void connect_now(const char *hostaddr)
{
    /* LISTEN needs the primary (a standby refuses it during recovery). */
    const char *keys[] = {"dbname", "application_name", "target_session_attrs",
                          hostaddr != NULL ? "hostaddr" : NULL, NULL};
    const char *values[] = {L.conninfo, "tandem-gateway-listen",
                            tdm_pg_write_session_attrs(L.conninfo), hostaddr, NULL};
    L.conn = PQconnectStartParams(keys, values, 1);
    if (L.conn == NULL || PQstatus(L.conn) == CONNECTION_BAD) {
        fail("connect");
        return;
    }
    L.state = L_CONNECTING;
    connect_step();
}

static void resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    (void)req;
    L.gai_pending = false;
    if (!L.running) {
        uv_freeaddrinfo(res);
        return;
    }
    bool ok = status == 0 && res != NULL;
    if (ok) {
        const void *raw = res->ai_family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
        ok = inet_ntop(res->ai_family, raw, L.hostaddr, sizeof(L.hostaddr)) != NULL;
    }
    uv_freeaddrinfo(res);
    if (!ok) {
        fail("resolve");
        return;
    }
    connect_now(L.hostaddr);
}

/* The host to resolve first, or NULL when libpq will not resolve anything itself
 * (a socket directory, a literal address, hostaddr given, or several hosts). */
static char *host_to_resolve(void)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(L.conninfo, &err);
    PQfreemem(err);
    if (opts == NULL)
        return NULL;
    const char *host = NULL, *hostaddr = NULL;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
    }
    char *out = NULL;
    unsigned char buf[sizeof(struct in6_addr)];
    if (host != NULL && host[0] != '\0' && host[0] != '/' && strchr(host, ',') == NULL &&
        (hostaddr == NULL || hostaddr[0] == '\0') && inet_pton(AF_INET, host, buf) != 1 &&
        inet_pton(AF_INET6, host, buf) != 1)
        out = strdup(host);
    PQconninfoFree(opts);
    return out;
}

static void begin(void)
{
    if (!L.running)
        return;
    char *host = host_to_resolve();
    if (host == NULL) {
        connect_now(NULL);
        return;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    L.state = L_RESOLVING;
    L.gai_pending = uv_getaddrinfo(L.loop, &L.gai, resolved, host, NULL, &hints) == 0;
    free(host);
    if (!L.gai_pending)
        fail("resolve");
}

void gw_listen_start(uv_loop_t *loop, const char *conninfo, const gw_listen_handler *handlers,
                     size_t n)
{
    memset(&L, 0, sizeof(L));
    L.loop = loop;
    L.fd = -1;
    L.n_handlers = n < GW_LISTEN_MAX_CHANNELS ? n : GW_LISTEN_MAX_CHANNELS;
    memcpy(L.handlers, handlers, L.n_handlers * sizeof(*handlers));
    L.conninfo = conninfo != NULL ? strdup(conninfo) : NULL;
    if (L.conninfo == NULL)
        return;
    uv_timer_init(loop, &L.retry);
    uv_timer_init(loop, &L.ping);
    L.running = true;
    begin();
}

void gw_listen_stop(void)
{
    if (!L.running)
        return;
    L.running = false;
    if (L.gai_pending)
        uv_cancel((uv_req_t *)&L.gai);
    unwatch();
    if (L.conn != NULL)
        PQfinish(L.conn);
    L.conn = NULL;
    L.fresh_until = 0;
    for (size_t i = 0; i < L.n_handlers; i++)
        if (L.handlers[i].down != NULL)
            L.handlers[i].down(L.handlers[i].arg);
    uv_timer_stop(&L.retry);
    uv_close((uv_handle_t *)&L.retry, NULL);
    uv_timer_stop(&L.ping);
    uv_close((uv_handle_t *)&L.ping, NULL);
    free(L.conninfo);
    L.conninfo = NULL;
}

uint64_t gw_listen_fresh_until(void)
{
    return L.fresh_until;
}
