/*
 * server.c - the listening socket, connections and their writes, service
 * registration, readiness and graceful shutdown (server.h).
 *
 * Every accepted connection starts SNIFFING: its first bytes are compared with the
 * 24-byte HTTP/2 client preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"). As soon as
 * a byte differs it is HTTP/1.1 (http1.c); once all 24 match it is h2c
 * (h2_server.c). Both protocols write through tdm_conn_write(), which copies into
 * pooled buffers and counts the backlog: above TDM_WRITE_HIGH_WATER_BYTES the
 * connection stops reading until the peer has drained it, so a client that does not
 * read cannot make the process buffer without bound. The connection's timer also
 * watches for send stalls (send_stall_timeout_ms): a backlog that does not move
 * closes the connection, and HTTP/2 responses held back by the peer's window are
 * reset (h2_server.c), so what such a client pins is freed within the timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tandem/log.h"
#include "transport_internal.h"

static const uint8_t H2_PREFACE[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

typedef struct tdm_wreq {
    uv_write_t req;
    tdm_conn *conn;
    size_t cap, len;
    uint8_t data[];
} tdm_wreq;

uint64_t tdm_now_ns(void)
{
    return uv_hrtime();
}

/* ---- Writes --------------------------------------------------------------------------- */

static tdm_wreq *wreq_get(tdm_server *srv, size_t need)
{
    if (need <= TDM_WRITE_CHUNK_BYTES && srv->write_pool_n > 0) {
        tdm_wreq *w = srv->write_pool[--srv->write_pool_n];
        w->len = 0;
        return w;
    }
    size_t cap = need < TDM_WRITE_CHUNK_BYTES ? TDM_WRITE_CHUNK_BYTES : need;
    tdm_wreq *w = malloc(sizeof(*w) + cap);
    if (w == NULL)
        return NULL;
    w->cap = cap;
    w->len = 0;
    return w;
}

static void wreq_put(tdm_server *srv, tdm_wreq *w)
{
    if (w->cap == TDM_WRITE_CHUNK_BYTES && srv->write_pool_n < TDM_WRITE_POOL_MAX)
        srv->write_pool[srv->write_pool_n++] = w;
    else
        free(w);
}

static void conn_maybe_resume(tdm_conn *conn);
static void on_conn_timer(uv_timer_t *t);

static void on_write(uv_write_t *req, int status)
{
    tdm_wreq *w = (tdm_wreq *)req;
    tdm_conn *conn = w->conn;
    conn->write_pending -= w->len;
    wreq_put(conn->srv, w);
    if (conn->state == TDM_CONN_CLOSING)
        return;
    if (status < 0) {
        tdm_conn_close(conn);
        return;
    }
    conn->write_progress_ms = uv_now(conn->srv->loop);
    conn_maybe_resume(conn);
}

static int wreq_send(tdm_conn *conn, tdm_wreq *w)
{
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->len);
    w->conn = conn;
    if (conn->write_pending == 0) {
        conn->write_progress_ms = uv_now(conn->srv->loop);
        tdm_conn_watch_output(conn);
    }
    conn->write_pending += w->len;
    if (uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, on_write) != 0) {
        conn->write_pending -= w->len;
        wreq_put(conn->srv, w);
        return -1;
    }
    return 0;
}

int tdm_conn_write(tdm_conn *conn, const void *data, size_t len)
{
    if (conn->state == TDM_CONN_CLOSING)
        return -1;
    if (len == 0)
        return 0;
    tdm_wreq *w = wreq_get(conn->srv, len);
    if (w == NULL)
        return -1;
    memcpy(w->data, data, len);
    w->len = len;
    if (wreq_send(conn, w) != 0) {
        tdm_conn_close(conn);
        return -1;
    }
    return 0;
}

/* HTTP/2 output: nghttp2_session_mem_send hands out frames in its own buffer, valid
 * only until the next call, so they are copied into write buffers, coalescing many
 * small frames into one uv_write. Stops at the backlog bound; on_write resumes. */
void tdm_h2_flush(tdm_conn *conn)
{
    if (conn->busy > 0 || conn->state == TDM_CONN_CLOSING || conn->h2 == NULL)
        return;
    conn->busy++;
    tdm_wreq *w = NULL;
    while (conn->write_pending + (w != NULL ? w->len : 0) < TDM_WRITE_HIGH_WATER_BYTES) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(conn->h2, &data);
        if (n < 0) {
            tdm_log(TDM_LOG_WARN, NULL, "http2 send failed: %s", nghttp2_strerror((int)n));
            if (w != NULL)
                wreq_put(conn->srv, w);
            conn->busy--;
            tdm_conn_close(conn);
            return;
        }
        if (n == 0)
            break;
        if (w != NULL && w->cap - w->len < (size_t)n) {
            if (wreq_send(conn, w) != 0) {
                conn->busy--;
                tdm_conn_close(conn);
                return;
            }
            w = NULL;
        }
        if (w == NULL) {
            w = wreq_get(conn->srv, (size_t)n);
            if (w == NULL) {
                conn->busy--;
                tdm_conn_close(conn);
                return;
            }
        }
        memcpy(w->data + w->len, data, (size_t)n);
        w->len += (size_t)n;
    }
    if (w != NULL && w->len > 0 && wreq_send(conn, w) != 0) {
        conn->busy--;
        tdm_conn_close(conn);
        return;
    }
    if (w != NULL && w->len == 0)
        wreq_put(conn->srv, w);
    conn->busy--;
    if (conn->close_requested) {
        tdm_conn_close(conn);
        return;
    }
    if (conn->write_pending >= TDM_WRITE_HIGH_WATER_BYTES) {
        tdm_conn_pause_read(conn);
        return;
    }
    /* Nothing left to read or write (GOAWAY done, or terminated): close. */
    if (!nghttp2_session_want_read(conn->h2) && !nghttp2_session_want_write(conn->h2) &&
        conn->write_pending == 0)
        tdm_conn_close(conn);
}

/* ---- Reading ---------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    tdm_conn *conn = h->data;
    tdm_server *srv = conn->srv;
    /* One read buffer per server: read callbacks consume their bytes before
     * returning (nghttp2 and http-parser copy what they keep). */
    *buf = uv_buf_init((char *)srv->read_buf, sizeof(srv->read_buf));
}

static void conn_dispatch_bytes(tdm_conn *conn, const uint8_t *data, size_t len)
{
    if (conn->proto == TDM_CONN_SNIFFING) {
        size_t take = sizeof(H2_PREFACE) - conn->sniff_len;
        if (take > len)
            take = len;
        memcpy(conn->sniff + conn->sniff_len, data, take);
        size_t prev = conn->sniff_len;
        conn->sniff_len += take;
        if (memcmp(conn->sniff, H2_PREFACE, conn->sniff_len) != 0) {
            /* Not the preface: HTTP/1.1 gets every byte read so far. */
            conn->proto = TDM_CONN_HTTP1;
            if (tdm_h1_conn_start(conn) != 0) {
                tdm_conn_close(conn);
                return;
            }
            if (prev > 0 && tdm_h1_conn_read(conn, conn->sniff, prev) != 0)
                return;
            tdm_h1_conn_read(conn, data, len);
            return;
        }
        if (conn->sniff_len < sizeof(H2_PREFACE))
            return;
        conn->proto = TDM_CONN_H2;
        if (tdm_h2_conn_start(conn, conn->sniff, conn->sniff_len) != 0) {
            tdm_conn_close(conn);
            return;
        }
        if (len > take)
            tdm_h2_conn_read(conn, data + take, len - take);
        return;
    }
    if (conn->proto == TDM_CONN_H2)
        tdm_h2_conn_read(conn, data, len);
    else
        tdm_h1_conn_read(conn, data, len);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    tdm_conn *conn = stream->data;
    tdm_server *srv = conn->srv;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* EOF or error: whatever is in flight is cancelled with the connection. */
        tdm_conn_close(conn);
        return;
    }
    conn->last_activity_ms = uv_now(srv->loop);
    conn_dispatch_bytes(conn, (const uint8_t *)buf->base, (size_t)nread);
}

void tdm_conn_pause_read(tdm_conn *conn)
{
    if (conn->reading) {
        uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = false;
    }
    conn->read_paused = true;
}

void tdm_conn_hold_read(tdm_conn *conn)
{
    conn->read_holds++;
    tdm_conn_pause_read(conn);
}

void tdm_conn_release_read(tdm_conn *conn)
{
    conn->read_holds--;
    if (conn->read_holds == 0 && conn->state != TDM_CONN_CLOSING)
        tdm_conn_resume_read(conn);
}

void tdm_conn_resume_read(tdm_conn *conn)
{
    if (conn->read_holds > 0)
        return; /* an admission is pending (tdm_conn_hold_read) */
    conn->read_paused = false;
    if (conn->state == TDM_CONN_CLOSING || conn->reading)
        return;
    if (conn->write_pending >= TDM_WRITE_HIGH_WATER_BYTES)
        return;
    if (uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) == 0)
        conn->reading = true;
}

static void conn_maybe_resume(tdm_conn *conn)
{
    if (conn->proto == TDM_CONN_H2) {
        if (conn->write_pending < TDM_WRITE_LOW_WATER_BYTES) {
            tdm_h2_flush(conn);
            if (conn->state != TDM_CONN_CLOSING &&
                conn->write_pending < TDM_WRITE_LOW_WATER_BYTES && !conn->reading)
                tdm_conn_resume_read(conn);
        }
        return;
    }
    if (conn->state == TDM_CONN_DRAINING && conn->write_pending == 0) {
        tdm_conn_close(conn);
        return;
    }
    /* HTTP/1.1 resumes reading itself when a response completes a request; pipelined
     * requests held back by the backlog (http1.c h1_pump) go on from here. */
    if (conn->proto == TDM_CONN_HTTP1 && conn->write_pending < TDM_WRITE_LOW_WATER_BYTES)
        tdm_h1_resume(conn);
}

void tdm_conn_close_after_write(tdm_conn *conn)
{
    if (conn->state == TDM_CONN_CLOSING)
        return;
    conn->state = TDM_CONN_DRAINING;
    tdm_conn_pause_read(conn);
    if (conn->write_pending == 0)
        tdm_conn_close(conn);
}

/* ---- Connections per address ------------------------------------------------------------ */

/* Connections are counted per client address in a small chained hash table whose
 * entries live exactly as long as a connection from their address: at most one per
 * open connection, so a flood of addresses is bounded by max_connections. */
static tdm_address_count **address_slot(tdm_server *srv, const char *address)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = address; *c != '\0'; c++) {
        h ^= (uint8_t)*c;
        h *= 1099511628211ull;
    }
    tdm_address_count **slot = &srv->addresses[h % TDM_ADDRESS_BUCKETS];
    while (*slot != NULL && strcmp((*slot)->address, address) != 0)
        slot = &(*slot)->next;
    return slot;
}

static void connections_metric(tdm_server *srv)
{
    if (srv->m_connections != NULL)
        tdm_metric_set(srv->m_connections, (const char *const[]){srv->service_name},
                       (double)srv->n_conns);
}

/* Whether a connection just accepted may stay: under max_connections in all and
 * max_connections_per_address from its address. A refused one is counted in
 * tandem_server_connections_refused_total and closed by the caller. */
static bool conn_admit(tdm_server *srv, tdm_conn *conn)
{
    const char *reason = NULL;
    tdm_address_count **slot = NULL;
    if (srv->n_conns > srv->opts.max_connections) {
        reason = "total";
    } else if (conn->peer[0] != '\0') {
        slot = address_slot(srv, conn->peer);
        if (*slot != NULL && (*slot)->connections >= srv->opts.max_connections_per_address)
            reason = "per_address";
    }
    if (reason != NULL) {
        if (srv->m_connections_refused != NULL)
            tdm_metric_inc(srv->m_connections_refused,
                           (const char *const[]){srv->service_name, reason});
        tdm_log_fields(TDM_LOG_DEBUG, NULL, "connection refused", "reason", reason, "address",
                       conn->peer, NULL);
        return false;
    }
    if (slot != NULL) {
        if (*slot == NULL) {
            /* Out of memory: the connection goes uncounted rather than refused. */
            tdm_address_count *entry = calloc(1, sizeof(*entry));
            if (entry == NULL)
                return true;
            memcpy(entry->address, conn->peer, sizeof(entry->address));
            *slot = entry;
        }
        (*slot)->connections++;
        conn->address = *slot;
    }
    return true;
}

static void conn_release_address(tdm_conn *conn)
{
    tdm_address_count *entry = conn->address;
    conn->address = NULL;
    if (entry == NULL || --entry->connections > 0)
        return;
    tdm_address_count **slot = address_slot(conn->srv, entry->address);
    *slot = entry->next;
    free(entry);
}

/* ---- Connection lifetime ----------------------------------------------------------------- */

static void conn_free(tdm_conn *conn)
{
    tdm_server *srv = conn->srv;
    conn_release_address(conn);
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    srv->n_conns--;
    connections_metric(srv);
    free(conn);
    tdm_server_check_drained(srv);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
    tdm_conn *conn = h->data;
    if (--conn->handles_open == 0)
        conn_free(conn);
}

void tdm_conn_close(tdm_conn *conn)
{
    if (conn->state == TDM_CONN_CLOSING)
        return;
    if (conn->busy > 0) {
        /* Inside nghttp2 or http-parser: their state must survive until they return. */
        conn->close_requested = true;
        return;
    }
    conn->state = TDM_CONN_CLOSING;
    conn->reading = false;
    /* Streams and requests learn that the connection is gone (handlers of calls in
     * flight see it as a cancellation); their memory stays with their owners. */
    if (conn->proto == TDM_CONN_H2)
        tdm_h2_conn_free(conn);
    else if (conn->proto == TDM_CONN_HTTP1)
        tdm_h1_conn_free(conn);
    uv_close((uv_handle_t *)&conn->tcp, on_conn_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, on_conn_handle_closed);
}

/* Send stalls (see send_stall_timeout_ms in server.h). A backlog in the socket that
 * has not moved for the timeout means a client that does not read: nothing more can
 * reach it, not even a GOAWAY, so the connection is closed. HTTP/2 streams whose
 * response the peer's flow control holds back are reset one by one. Returns false
 * when the connection was closed, else lowers *next to when to look again. */
static bool conn_check_stalls(tdm_conn *conn, uint64_t now, uint64_t *next)
{
    uint64_t stall = conn->srv->opts.send_stall_timeout_ms;
    if (conn->write_pending > 0) {
        uint64_t waited = now - conn->write_progress_ms;
        if (waited >= stall) {
            char bytes[32];
            snprintf(bytes, sizeof(bytes), "%zu", conn->write_pending);
            tdm_log_fields(TDM_LOG_INFO, NULL, "closing a connection that does not read",
                           "pending_bytes", bytes, NULL);
            tdm_conn_close(conn);
            return false;
        }
        if (stall - waited < *next)
            *next = stall - waited;
    }
    if (conn->proto == TDM_CONN_H2 && conn->h2 != NULL) {
        uint64_t left = tdm_h2_check_stalls(conn, now, stall);
        if (conn->state == TDM_CONN_CLOSING)
            return false; /* the flush after the resets found nothing left to do */
        if (left < *next)
            *next = left;
    }
    /* While anything is in progress, look again within a quarter of the timeout, so
     * a stall is seen at most 1.25 timeouts after it began (new output brings the
     * timer forward through tdm_conn_watch_output). */
    bool busy =
        conn->write_pending > 0 || (conn->proto == TDM_CONN_H2      ? !tdm_h2_conn_idle(conn)
                                    : conn->proto == TDM_CONN_HTTP1 ? !tdm_h1_conn_idle(conn)
                                                                    : false);
    if (busy && stall / 4 < *next)
        *next = stall / 4 > 0 ? stall / 4 : 1;
    return true;
}

void tdm_conn_look_within(tdm_conn *conn, uint64_t ms)
{
    if (conn->state == TDM_CONN_CLOSING || uv_timer_get_due_in(&conn->timer) <= ms)
        return;
    uv_timer_start(&conn->timer, on_conn_timer, ms > 0 ? ms : 1, 0);
}

void tdm_conn_watch_output(tdm_conn *conn)
{
    tdm_conn_look_within(conn, conn->srv->opts.send_stall_timeout_ms / 4);
}

/* One timer per connection: the HTTP/1.1 header timeout while a request's headers
 * arrive, the send-stall timeout while output is pending, otherwise the idle timeout
 * (no stream or request in progress). */
static void on_conn_timer(uv_timer_t *t)
{
    tdm_conn *conn = t->data;
    tdm_server *srv = conn->srv;
    uint64_t now = uv_now(srv->loop);
    uint64_t idle = srv->opts.idle_timeout_ms;
    uint64_t next = idle;
    if (conn->state == TDM_CONN_CLOSING)
        return;
    if (!conn_check_stalls(conn, now, &next))
        return;
    if (conn->proto == TDM_CONN_HTTP1 || conn->proto == TDM_CONN_SNIFFING) {
        int64_t started = conn->proto == TDM_CONN_HTTP1 ? tdm_h1_header_started_ms(conn) : -1;
        /* Until the protocol is known, the header timeout counts from the accept:
         * a client dripping the preface a byte at a time gets no more time. */
        if (conn->proto == TDM_CONN_SNIFFING)
            started = (int64_t)(now - conn->accept_ms);
        uint64_t header = srv->opts.header_timeout_ms;
        if (started >= 0) {
            if ((uint64_t)started >= header) {
                tdm_log(TDM_LOG_DEBUG, NULL, "closing a slow HTTP client (header timeout)");
                tdm_conn_close(conn);
                return;
            }
            next = header - (uint64_t)started;
        }
        int64_t linger = conn->proto == TDM_CONN_HTTP1 ? tdm_h1_linger_left_ms(conn) : -1;
        if (linger == 0) {
            tdm_conn_close(conn);
            return;
        }
        if (linger > 0 && (uint64_t)linger < next)
            next = (uint64_t)linger;
    }
    bool idle_now = conn->proto == TDM_CONN_H2      ? tdm_h2_conn_idle(conn)
                    : conn->proto == TDM_CONN_HTTP1 ? tdm_h1_conn_idle(conn)
                                                    : true;
    if (idle_now) {
        uint64_t quiet = now - conn->last_activity_ms;
        if (quiet >= idle) {
            if (conn->proto == TDM_CONN_H2 && conn->state == TDM_CONN_OPEN) {
                /* Tell the client before closing so it does not retry into a dead
                 * socket; flush closes once GOAWAY is out. */
                tdm_h2_goaway(conn);
                uv_timer_start(&conn->timer, on_conn_timer, 1000, 0);
                conn->last_activity_ms = now - idle;
                return;
            }
            tdm_conn_close(conn);
            return;
        }
        if (idle - quiet < next)
            next = idle - quiet;
    }
    uv_timer_start(&conn->timer, on_conn_timer, next > 0 ? next : 1, 0);
}

static void on_connection(uv_stream_t *listener, int status)
{
    tdm_server *srv = listener->data;
    if (status < 0) {
        tdm_log(TDM_LOG_WARN, NULL, "accept failed: %s", uv_strerror(status));
        return;
    }
    tdm_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return;
    conn->srv = srv;
    uv_tcp_init(srv->loop, &conn->tcp);
    conn->tcp.data = conn;
    uv_timer_init(srv->loop, &conn->timer);
    conn->timer.data = conn;
    conn->handles_open = 2;
    conn->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = conn;
    srv->conns = conn;
    srv->n_conns++;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        tdm_conn_close(conn);
        return;
    }
    /* Small gRPC responses must not wait for Nagle. */
    uv_tcp_nodelay(&conn->tcp, 1);
    struct sockaddr_storage peer;
    int plen = sizeof(peer);
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&peer, &plen) == 0) {
        if (peer.ss_family == AF_INET6)
            uv_ip6_name((const struct sockaddr_in6 *)&peer, conn->peer, sizeof(conn->peer));
        else if (peer.ss_family == AF_INET)
            uv_ip4_name((const struct sockaddr_in *)&peer, conn->peer, sizeof(conn->peer));
    }
    connections_metric(srv);
    if (!conn_admit(srv, conn)) {
        tdm_conn_close(conn);
        return;
    }
    conn->last_activity_ms = conn->accept_ms = uv_now(srv->loop);
    uint32_t first = srv->opts.header_timeout_ms < srv->opts.idle_timeout_ms
                         ? srv->opts.header_timeout_ms
                         : srv->opts.idle_timeout_ms;
    if (srv->opts.send_stall_timeout_ms / 4 < first)
        first = srv->opts.send_stall_timeout_ms / 4 > 0 ? srv->opts.send_stall_timeout_ms / 4 : 1;
    uv_timer_start(&conn->timer, on_conn_timer, first, 0);
    tdm_conn_resume_read(conn);
}

/* ---- The server --------------------------------------------------------------------------- */

tdm_server *tdm_server_new(uv_loop_t *loop, const tdm_server_options *opts)
{
    tdm_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->loop = loop;
    srv->opts = *opts;
    srv->service_name = strdup(opts->service_name != NULL ? opts->service_name : "tandem");
    if (srv->service_name == NULL) {
        free(srv);
        return NULL;
    }
    srv->opts.service_name = srv->service_name;
    if (srv->opts.idle_timeout_ms == 0)
        srv->opts.idle_timeout_ms = TDM_IDLE_TIMEOUT_MS_DEFAULT;
    if (srv->opts.header_timeout_ms == 0)
        srv->opts.header_timeout_ms = TDM_HEADER_TIMEOUT_MS_DEFAULT;
    if (srv->opts.send_stall_timeout_ms == 0)
        srv->opts.send_stall_timeout_ms = TDM_SEND_STALL_TIMEOUT_MS_DEFAULT;
    if (srv->opts.max_connections == 0)
        srv->opts.max_connections = TDM_MAX_CONNECTIONS_DEFAULT;
    if (srv->opts.max_connections_per_address == 0)
        srv->opts.max_connections_per_address = TDM_MAX_CONNECTIONS_PER_ADDRESS_DEFAULT;
    srv->ready = false;
    srv->not_ready_reason = strdup("starting");
    tdm_metrics *reg = tdm_metrics_global();
    srv->m_calls =
        tdm_metric_counter(reg, "tandem_rpc_server_calls_total",
                           "gRPC calls served, by method and status code", "service,method,code");
    srv->m_duration = tdm_metric_histogram(
        reg, "tandem_rpc_server_call_duration_seconds", "gRPC call duration, by method",
        "service,method", TDM_METRIC_LATENCY_BUCKETS, TDM_METRIC_LATENCY_BUCKETS_COUNT);
    srv->m_in_flight = tdm_metric_gauge(reg, "tandem_rpc_server_in_flight",
                                        "gRPC calls in progress, by service", "service");
    srv->m_http = tdm_metric_counter(reg, "tandem_http_requests_total",
                                     "HTTP requests served, by route, method and status",
                                     "route,method,status");
    srv->m_connections = tdm_metric_gauge(reg, "tandem_server_connections",
                                          "Client connections open, by service", "service");
    srv->m_connections_refused = tdm_metric_counter(
        reg, "tandem_server_connections_refused_total",
        "Client connections closed at accept: too many in all or from one address",
        "service,reason");
    return srv;
}

static void methods_free(tdm_srv_service *svc)
{
    for (size_t i = 0; i < svc->n_methods; i++)
        free(svc->methods[i].path);
    free(svc->methods);
    free(svc->owned_def);
}

tdm_status *tdm_server_add_service(tdm_server *srv, const tdm_rpc_service_def *def)
{
    if (srv->state != TDM_SERVER_NEW)
        return tdm_status_new(TDM_FAILED_PRECONDITION, "services are registered before start");
    if (def == NULL || def->descriptor == NULL)
        return tdm_status_new(TDM_INVALID_ARGUMENT, "service definition without descriptor");
    const ProtobufCServiceDescriptor *d = def->descriptor;
    for (size_t i = 0; i < srv->n_services; i++) {
        if (strcmp(srv->services[i].def->descriptor->name, d->name) == 0)
            return tdm_status_new(TDM_ALREADY_EXISTS, "service %s registered twice", d->name);
    }
    tdm_srv_service svc = {.def = def, .n_methods = d->n_methods};
    svc.methods = calloc(d->n_methods > 0 ? d->n_methods : 1, sizeof(*svc.methods));
    if (svc.methods == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    for (unsigned i = 0; i < d->n_methods; i++) {
        tdm_srv_method *m = &svc.methods[i];
        m->desc = &d->methods[i];
        for (size_t j = 0; j < def->n_methods; j++) {
            if (def->methods[j].name != NULL && strcmp(def->methods[j].name, m->desc->name) == 0)
                m->def = &def->methods[j];
        }
        if (m->def == NULL || m->def->handler == NULL) {
            methods_free(&svc);
            return tdm_status_new(TDM_INVALID_ARGUMENT, "service %s: method %s has no handler",
                                  d->name, d->methods[i].name);
        }
        m->max_request_bytes =
            m->def->max_request_bytes > 0 ? m->def->max_request_bytes : TDM_MAX_MESSAGE_BYTES;
        size_t n = strlen(d->name) + strlen(m->desc->name) + 3;
        m->path = malloc(n);
        if (m->path == NULL) {
            methods_free(&svc);
            return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
        }
        snprintf(m->path, n, "/%s/%s", d->name, m->desc->name);
    }
    for (size_t j = 0; j < def->n_methods; j++) {
        if (protobuf_c_service_descriptor_get_method_by_name(d, def->methods[j].name) == NULL) {
            methods_free(&svc);
            return tdm_status_new(TDM_INVALID_ARGUMENT, "service %s has no method %s", d->name,
                                  def->methods[j].name);
        }
    }
    tdm_srv_service *grown = realloc(srv->services, (srv->n_services + 1) * sizeof(*grown));
    if (grown == NULL) {
        methods_free(&svc);
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    }
    srv->services = grown;
    srv->services[srv->n_services++] = svc;
    return NULL;
}

tdm_status *tdm_server_add_methods(tdm_server *srv, const ProtobufCServiceDescriptor *descriptor,
                                   const tdm_rpc_method_def *methods, size_t n_methods,
                                   void *service_data)
{
    tdm_rpc_service_def *def = calloc(1, sizeof(*def));
    if (def == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    *def = (tdm_rpc_service_def){.descriptor = descriptor,
                                 .methods = methods,
                                 .n_methods = n_methods,
                                 .require_context = true,
                                 .service_data = service_data};
    tdm_status *st = tdm_server_add_service(srv, def);
    if (st != NULL)
        free(def);
    else
        srv->services[srv->n_services - 1].owned_def = def;
    return st;
}

const tdm_srv_method *tdm_server_find_method(const tdm_server *srv, const char *path,
                                             const tdm_srv_service **svc)
{
    *svc = NULL;
    if (path == NULL || path[0] != '/')
        return NULL;
    const char *slash = strchr(path + 1, '/');
    if (slash == NULL)
        return NULL;
    size_t svc_len = (size_t)(slash - path - 1);
    for (size_t i = 0; i < srv->n_services; i++) {
        const char *name = srv->services[i].def->descriptor->name;
        if (strncmp(name, path + 1, svc_len) != 0 || name[svc_len] != '\0')
            continue;
        *svc = &srv->services[i];
        for (size_t j = 0; j < srv->services[i].n_methods; j++) {
            if (strcmp(srv->services[i].methods[j].desc->name, slash + 1) == 0)
                return &srv->services[i].methods[j];
        }
        return NULL;
    }
    return NULL;
}

void tdm_server_set_http_handler(tdm_server *srv, const tdm_http_handler *handler)
{
    if (handler == NULL)
        memset(&srv->http, 0, sizeof(srv->http));
    else
        srv->http = *handler;
}

tdm_status *tdm_server_start(tdm_server *srv)
{
    if (srv->state != TDM_SERVER_NEW)
        return tdm_status_new(TDM_FAILED_PRECONDITION, "server already started");
    struct sockaddr_storage ss;
    const char *host = srv->opts.listen.host[0] != '\0' ? srv->opts.listen.host : "0.0.0.0";
    int port = srv->opts.listen.port;
    if (port < 0 || port > 65535)
        return tdm_status_new(TDM_INVALID_ARGUMENT, "listen port %d out of range", port);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return tdm_status_new(TDM_INVALID_ARGUMENT, "listen host %s is not an IP address", host);
    uv_tcp_init(srv->loop, &srv->listener);
    srv->listener.data = srv;
    srv->listener_open = true;
    int rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&srv->listener, 1024, on_connection);
    if (rc != 0) {
        tdm_status *st = tdm_status_new(TDM_UNAVAILABLE, "cannot listen on %s:%d: %s", host, port,
                                        uv_strerror(rc));
        srv->state = TDM_SERVER_RUNNING;
        return st;
    }
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&bound, &blen) == 0) {
        if (bound.ss_family == AF_INET)
            srv->bound_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        else
            srv->bound_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    }
    srv->state = TDM_SERVER_RUNNING;
    return NULL;
}

int tdm_server_port(const tdm_server *srv)
{
    return srv->bound_port;
}

void tdm_server_set_ready(tdm_server *srv, bool ready, const char *reason)
{
    /* Once draining, only "not ready" is accepted: the load balancer must move on. */
    if (srv->state >= TDM_SERVER_DRAINING)
        ready = false;
    bool changed = srv->ready != ready;
    srv->ready = ready;
    char *copy = strdup(reason != NULL ? reason : (ready ? "ready" : "not ready"));
    if (copy != NULL) {
        free(srv->not_ready_reason);
        srv->not_ready_reason = copy;
    }
    if (changed)
        tdm_health_notify(srv);
}

bool tdm_server_is_ready(const tdm_server *srv)
{
    return srv->ready;
}

size_t tdm_server_in_flight(const tdm_server *srv)
{
    return srv->in_flight;
}

/* ---- Shutdown ------------------------------------------------------------------------------ */

static void server_free(tdm_server *srv)
{
    for (size_t i = 0; i < srv->n_services; i++)
        methods_free(&srv->services[i]);
    free(srv->services);
    for (size_t i = 0; i < srv->write_pool_n; i++)
        free(srv->write_pool[i]);
    free(srv->not_ready_reason);
    free(srv->service_name);
    free(srv);
}

void tdm_server_release(tdm_server *srv)
{
    srv->alive--;
    if (srv->state == TDM_SERVER_STOPPED && srv->alive == 0)
        server_free(srv);
    else if (srv->state == TDM_SERVER_DRAINING)
        tdm_server_check_drained(srv);
}

static void server_finish(tdm_server *srv)
{
    srv->state = TDM_SERVER_STOPPED;
    void (*done)(void *) = srv->shutdown_done;
    void *arg = srv->shutdown_arg;
    if (srv->alive == 0)
        server_free(srv);
    if (done != NULL)
        done(arg);
}

static void on_drain_timer_closed(uv_handle_t *h)
{
    tdm_server *srv = h->data;
    srv->drain_timer_open = false;
    tdm_server_check_drained(srv);
}

static void on_listener_closed(uv_handle_t *h)
{
    tdm_server *srv = h->data;
    srv->listener_open = false;
    tdm_server_check_drained(srv);
}

void tdm_server_check_drained(tdm_server *srv)
{
    if (srv->state != TDM_SERVER_DRAINING)
        return;
    if (srv->n_conns > 0 || srv->listener_open)
        return;
    if (srv->drain_timer_open) {
        if (!uv_is_closing((uv_handle_t *)&srv->drain_timer))
            uv_close((uv_handle_t *)&srv->drain_timer, on_drain_timer_closed);
        return;
    }
    server_finish(srv);
}

/* Drain deadline: whatever is still running is cancelled with its connection. */
static void on_drain_timeout(uv_timer_t *t)
{
    tdm_server *srv = t->data;
    if (srv->in_flight > 0)
        tdm_log_fields(TDM_LOG_WARN, NULL, "drain deadline passed, cancelling calls", NULL);
    tdm_conn *c = srv->conns;
    while (c != NULL) {
        tdm_conn *next = c->next;
        tdm_conn_close(c);
        c = next;
    }
    tdm_server_check_drained(srv);
}

void tdm_server_shutdown(tdm_server *srv, uint32_t drain_timeout_ms, void (*done)(void *arg),
                         void *arg)
{
    if (srv->state >= TDM_SERVER_DRAINING)
        return;
    tdm_server_set_ready(srv, false, "shutting down");
    srv->shutdown_done = done;
    srv->shutdown_arg = arg;
    tdm_server_state was = srv->state;
    srv->state = TDM_SERVER_DRAINING;
    tdm_health_end_watchers(srv);
    if (was == TDM_SERVER_NEW) {
        tdm_server_check_drained(srv);
        return;
    }
    if (srv->listener_open)
        uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
    uv_timer_init(srv->loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    srv->drain_timer_open = true;
    uv_timer_start(&srv->drain_timer, on_drain_timeout, drain_timeout_ms, 0);
    tdm_conn *c = srv->conns;
    while (c != NULL) {
        tdm_conn *next = c->next;
        if (c->proto == TDM_CONN_H2)
            tdm_h2_goaway(c);
        else if (c->proto == TDM_CONN_HTTP1)
            tdm_h1_drain(c);
        else
            tdm_conn_close(c);
        c = next;
    }
    tdm_server_check_drained(srv);
}

/* ---- Built-in services -------------------------------------------------------------------- */

const tdm_builtin_method *tdm_builtin_find(const tdm_server *srv, const char *path)
{
    if (path == NULL)
        return NULL;
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(tdm_health_methods[i].path, path) == 0)
            return &tdm_health_methods[i];
    }
    if (!srv->opts.reflection)
        return NULL;
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(tdm_reflection_methods[i].path, path) == 0)
            return &tdm_reflection_methods[i];
    }
    return NULL;
}

size_t tdm_builtin_service_names(const tdm_server *srv, const char **names, size_t max)
{
    size_t n = 0;
    if (n < max)
        names[n++] = tdm_health_methods[0].service;
    for (size_t i = 0; srv->opts.reflection && i < 2 && n < max; i++)
        names[n++] = tdm_reflection_methods[i].service;
    return n;
}

const char *tdm_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}
