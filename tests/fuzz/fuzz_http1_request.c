/*
 * fuzz_http1_request.c - HTTP/1.1 requests as the server reads them: a real
 * tdm_server on a libuv loop (server.c sniffing, http1.c with http-parser,
 * server_http.c), fed each input over a loopback TCP connection, bounded in time.
 * Inputs that open with the HTTP/2 preface reach h2_server.c the same way.
 *
 * The HTTP handler routes by path: /early* answers 401 from on_headers, /later*
 * answers from a timer (so the connection may close while the handler holds the
 * request), /echo* echoes method, query, a few headers and the body (limit 4 KiB, so
 * 413 is reachable), anything else goes to the default handler (/healthz, /readyz,
 * /metrics, 404).
 *
 * Input: the bytes the client sends, split into writes at the byte "\x00\xff" marker
 * pairs (each piece goes out after the loop ran, as a dripping client would).
 *
 * Asserts: whatever the server writes back on an HTTP/1.1 connection starts with
 * "HTTP/1.1 " and a 3-digit status; once the client closes, the server frees the
 * connection, every request and every in-flight count within a bounded number of
 * loop turns (no leaked connection or request); no memory errors or leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../services/common/transport_internal.h"
#include "tandem/log.h"

#define H1_FUZZ_MAX_INPUT_BYTES (256u * 1024u)
#define H1_FUZZ_MAX_TURNS       400
#define H1_FUZZ_BODY_LIMIT      4096u
#define H1_FUZZ_KEEP_BYTES      4096u

static uv_loop_t *loop;
static tdm_server *server;
static int server_port;

/* ---- The handler ---------------------------------------------------------------- */

typedef struct later {
    uv_timer_t timer;
    tdm_http_request *req;
} later;

static void later_closed(uv_handle_t *h)
{
    free(h->data);
}

static void later_fire(uv_timer_t *t)
{
    later *l = t->data;
    tdm_http_respond(l->req, 202, "text/plain", "later\n", 6, NULL, 0);
    uv_close((uv_handle_t *)&l->timer, later_closed);
}

static size_t fuzz_on_headers(tdm_http_request *req, void *user)
{
    const char *path = tdm_http_path(req);
    if (strncmp(path, "/early", 6) == 0) {
        static const tdm_http_header extra[] = {{"WWW-Authenticate", "Bearer"}};
        tdm_http_respond(req, 401, "application/json", "{}", 2, extra, 1);
        return 0;
    }
    return strncmp(path, "/echo", 5) == 0 || strncmp(path, "/later", 6) == 0 ? H1_FUZZ_BODY_LIMIT
                                                                             : 0;
}

static void fuzz_on_request(tdm_http_request *req, void *user)
{
    const char *path = tdm_http_path(req);
    if (strncmp(path, "/later", 6) == 0) {
        later *l = calloc(1, sizeof(*l));
        if (l == NULL)
            abort();
        l->req = req;
        uv_timer_init(tdm_http_loop(req), &l->timer);
        l->timer.data = l;
        uv_timer_start(&l->timer, later_fire, 0, 0);
        return;
    }
    if (strncmp(path, "/echo", 5) != 0) {
        tdm_server_default_http_request(req);
        return;
    }
    size_t len = 0;
    const uint8_t *body = tdm_http_body(req, &len);
    const char *ct = tdm_http_header_get(req, "content-type");
    const char *host = tdm_http_header_get(req, "HOST");
    char *text = tdm_arena_printf(
        tdm_http_arena(req), "%s %s?%s host=%s ct=%s id=%s v=%d len=%zu\n", tdm_http_method(req),
        path, tdm_http_query(req), host != NULL ? host : "-", ct != NULL ? ct : "-",
        tdm_http_request_id(req), tdm_http_version(req), len);
    size_t tlen = strlen(text);
    uint8_t *out = tdm_arena_alloc(tdm_http_arena(req), tlen + len + 1);
    memcpy(out, text, tlen);
    if (len > 0)
        memcpy(out + tlen, body, len);
    /* A header value from the request goes back out: it must not split the response. */
    tdm_http_header echo[] = {{"X-Echo-Content-Type", ct != NULL ? ct : "-"}};
    tdm_http_respond(req, 200, "text/plain", out, tlen + len, echo, 1);
}

static void start_server(void)
{
    /* As runtime.c does for every Tandem process: a peer that closes during a write
     * is an error on that connection, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    tdm_log_init("fuzz", TDM_LOG_ERROR);
    tdm_log_set_level(TDM_LOG_ERROR + 1);
    loop = uv_default_loop();
    tdm_server_options opts = {
        .service_name = "fuzz", .header_timeout_ms = 1000, .idle_timeout_ms = 2000};
    snprintf(opts.listen.host, sizeof(opts.listen.host), "127.0.0.1");
    opts.listen.port = 0;
    server = tdm_server_new(loop, &opts);
    static const tdm_http_handler handler = {fuzz_on_headers, fuzz_on_request, NULL};
    tdm_server_set_http_handler(server, &handler);
    tdm_status *st = tdm_server_start(server);
    if (st != NULL) {
        fprintf(stderr, "server start: %s\n", st->message);
        abort();
    }
    tdm_server_set_ready(server, true, NULL);
    server_port = tdm_server_port(server);
}

/* ---- The client ------------------------------------------------------------------- */

typedef struct client {
    int fd;
    bool closed_by_server;
    uint8_t got[H1_FUZZ_KEEP_BYTES];
    size_t got_len;
} client;

static void client_read(client *c)
{
    for (;;) {
        uint8_t buf[16384];
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            size_t keep = (size_t)n;
            if (keep > sizeof(c->got) - c->got_len)
                keep = sizeof(c->got) - c->got_len;
            memcpy(c->got + c->got_len, buf, keep);
            c->got_len += keep;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            c->closed_by_server = true;
        return;
    }
}

/* Let the server run: one non-blocking turn of the loop, then read its output. */
static void turn(client *c)
{
    uv_run(loop, UV_RUN_NOWAIT);
    if (c != NULL && !c->closed_by_server)
        client_read(c);
}

static void client_send(client *c, const uint8_t *data, size_t len)
{
    size_t off = 0;
    int turns = 0;
    while (off < len && !c->closed_by_server && turns++ < H1_FUZZ_MAX_TURNS) {
        ssize_t n = send(c->fd, data + off, len - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            c->closed_by_server = true;
        turn(c);
    }
}

static int client_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)server_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        abort();
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static void check_response(const client *c)
{
    if (c->got_len == 0)
        return;
    size_t n = c->got_len < 12 ? c->got_len : 12;
    const char *want = "HTTP/1.1 ddd";
    for (size_t i = 0; i < n; i++) {
        bool ok = want[i] == 'd' ? (c->got[i] >= '0' && c->got[i] <= '9') : c->got[i] == want[i];
        if (!ok) {
            fprintf(stderr, "response does not start with a status line: %.*s\n", (int)c->got_len,
                    (const char *)c->got);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > H1_FUZZ_MAX_INPUT_BYTES)
        return 0;
    if (server == NULL)
        start_server();
    bool h2 = size >= 3 && memcmp(data, "PRI", 3) == 0;
    size_t alive_before = server->alive, in_flight_before = server->in_flight;
    client c = {.fd = client_connect()};
    /* Accept before the first bytes, so the server sees the connection open. */
    turn(&c);
    size_t start = 0;
    for (size_t i = 0; i + 1 < size; i++) {
        if (data[i] == 0x00 && data[i + 1] == 0xff) {
            client_send(&c, data + start, i - start);
            turn(&c);
            start = i + 2;
            i++;
        }
    }
    if (start < size)
        client_send(&c, data + start, size - start);
    /* Let the server answer what it can, until it has been quiet for a few turns. */
    size_t seen = SIZE_MAX;
    for (int quiet = 0, t = 0; quiet < 3 && t < H1_FUZZ_MAX_TURNS && !c.closed_by_server; t++) {
        struct pollfd p = {.fd = c.fd, .events = POLLIN};
        poll(&p, 1, 0);
        turn(&c);
        quiet = c.got_len == seen ? quiet + 1 : 0;
        seen = c.got_len;
    }
    if (!h2)
        check_response(&c);
    close(c.fd);
    /* The server must let go of the connection and of every request. */
    int t = 0;
    while ((server->n_conns > 0 || server->alive > alive_before ||
            server->in_flight > in_flight_before) &&
           t++ < H1_FUZZ_MAX_TURNS) {
        struct pollfd none;
        poll(&none, 0, t < 10 ? 0 : 1);
        turn(NULL);
    }
    if (server->n_conns > 0) {
        fprintf(stderr, "after close: %zu connection(s) still open\n", server->n_conns);
        abort();
    }
    if (server->alive > alive_before || server->in_flight > in_flight_before) {
        fprintf(stderr, "after close: %zu request(s) alive, %zu in flight (before: %zu, %zu)\n",
                server->alive, server->in_flight, alive_before, in_flight_before);
        abort();
    }
    return 0;
}
