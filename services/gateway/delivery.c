/*
 * delivery.c - the webhook delivery worker: fan-out of every source outbox, claiming
 * due deliveries, and the POSTs themselves with libcurl's multi interface on the
 * gateway's libuv loop (curl_multi_socket_action driven by a uv_poll per socket and
 * one uv_timer).
 *
 * Wake-ups: LISTEN tandem_outbox on the gateway's LISTEN connection (listen.c), and
 * a tick every second as the fallback that alone would suffice. Each wake-up fans
 * out each source (one at a time per source) and claims due deliveries up to the
 * replica's in-flight limit, round-robin across tenants and at most
 * TANDEM_WEBHOOK_TENANT_IN_FLIGHT of one tenant at once, so a tenant whose endpoints
 * all hang holds that many slots for the 10 s timeout, never all of them.
 * Everything worth keeping is in PostgreSQL (webhook_store.c): an attempt in flight
 * when the process stops has a lease that expires, and is tried again - deliveries are
 * at least once, with a stable Tandem-Delivery id. An attempt's outcome is recorded
 * only while its claim id is still the delivery's (another replica may have taken it
 * over after the lease ran out).
 *
 * Each attempt: the body stored at fan-out (the exact bytes), Tandem-Event,
 * Tandem-Delivery, Tandem-Signature over "<t>.<body>"; 10 s timeout; redirects never
 * followed; no proxy; http(s) only; and the address curl is about to connect to is
 * checked (CURLOPT_OPENSOCKETFUNCTION) so a name that now resolves to a private
 * address is refused, unless TANDEM_WEBHOOK_ALLOW_PRIVATE=1.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "delivery.h"
#include "tandem/log.h"
#include "tandem/metrics.h"
#include "webhook.h"
#include "webhook_store.h"

#define TICK_MS              1000
#define FANOUT_BATCH         500
#define LEASE_MS             30000 /* > ATTEMPT_TIMEOUT_MS + time to record */
#define ATTEMPT_TIMEOUT_MS   10000
#define SOURCE_COUNT         3
#define RESPONSE_DISCARD_MAX (64 * 1024) /* read at most this much of an answer */
#define SOURCE_RETRY_MS      30000       /* an outbox not readable yet is tried this often */
#define PRUNE_EVERY_MS       3600000     /* outbox retention: a pass per source every hour */
#define PRUNE_FIRST_MS       5000        /* and the first one this long after start */
#define PRUNE_BATCH          5000

static const char *const SOURCE_NAMES[SOURCE_COUNT] = {"enrolment", "matching", "feedback"};

typedef struct transfer {
    struct transfer *prev, *next; /* D.transfers while curl runs it */
    tdm_arena *arena;
    CURL *easy;
    struct curl_slist *headers;
    char tenant_id[37];
    char id[37];
    char claim_id[37]; /* the fence: only this claim may record the outcome */
    char event_type[65];
    int attempt_count;
    size_t response_bytes;
    bool blocked;
    char blocked_addr[INET6_ADDRSTRLEN];
    char curl_error[CURL_ERROR_SIZE];
} transfer;

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
} sock_ctx;

/* A claim's loads, one per tenant; freed when the last one answered. */
typedef struct claim_batch {
    tdm_arena *arena;
    size_t pending;
} claim_batch;

static struct {
    gw_state *gw;
    uv_loop_t *loop;
    bool running;
    bool allow_private;
    int64_t retry_base_ms;
    uv_timer_t tick;
    uv_timer_t curl_timer;
    CURLM *multi;
    transfer *transfers;
    size_t in_flight; /* claimed and not yet recorded */
    gw_delivery_limits limits;
    bool fanning[SOURCE_COUNT];
    bool claiming, claim_again;
    bool source_warned[SOURCE_COUNT];
    uint64_t source_retry_at[SOURCE_COUNT]; /* loop time before which a source is skipped */
    int retention_hours;
    bool pruning[SOURCE_COUNT];
    uint64_t prune_at; /* loop time of the next retention pass */
    tdm_metric *m_deliveries;
} D;

static void claim(void);

static void count(const char *outcome)
{
    tdm_metric_inc(D.m_deliveries, (const char *const[]){outcome});
}

/* ---- record ------------------------------------------------------------------------------- */

static void transfer_free(transfer *t)
{
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    tdm_arena_free(t->arena);
    free(t);
}

static void recorded(void *arg, tdm_status *st, int status)
{
    transfer *t = arg;
    if (st != NULL) {
        /* The lease runs out and the attempt is made again: at least once. */
        tdm_log_fields(TDM_LOG_WARN, NULL, "webhook delivery outcome not recorded", "delivery_id",
                       t->id, "error", st->message, "detail", st->detail, NULL);
        tdm_status_free(st);
    } else if (status == -1) {
        /* Our lease ran out before the outcome was recorded and another replica holds
         * the delivery now: its attempt's outcome is the one that counts. */
        count("claim_lost");
        tdm_log_fields(TDM_LOG_WARN, NULL,
                       "webhook delivery outcome not recorded: the claim passed to another "
                       "replica",
                       "delivery_id", t->id, "tenant_id", t->tenant_id, NULL);
    } else if (status == 3) {
        count("expired");
        tdm_log_fields(TDM_LOG_WARN, NULL, "webhook delivery given up after 24 h", "delivery_id",
                       t->id, "tenant_id", t->tenant_id, NULL);
    }
    transfer_free(t);
    D.in_flight--;
    if (D.running)
        claim();
}

static void record(transfer *t, bool ok, int code, const char *error, const char *outcome)
{
    count(outcome);
    tdm_log_fields(ok ? TDM_LOG_DEBUG : TDM_LOG_INFO, NULL, "webhook delivery attempt",
                   "delivery_id", t->id, "tenant_id", t->tenant_id, "event_type", t->event_type,
                   "outcome", outcome, "error", error, NULL);
    int64_t delay = ok ? 0 : gw_webhook_retry_delay_ms(t->attempt_count + 1, D.retry_base_ms);
    tdm_pg_pool *pool = D.running ? tdm_runtime_pg(D.gw->rt) : NULL;
    if (pool == NULL ||
        gw_webhook_store_record(pool, t->arena, t->tenant_id, t->id, t->claim_id, ok, code, error,
                                delay, (int)D.limits.disable_after_hours, recorded, t) != 0) {
        transfer_free(t);
        D.in_flight--;
    }
}

/* ---- curl on the loop -------------------------------------------------------------------------
 */

static void unlink_transfer(transfer *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        D.transfers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

static void finished(transfer *t, CURLcode rc)
{
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(D.multi, t->easy);
    curl_easy_cleanup(t->easy);
    t->easy = NULL;
    unlink_transfer(t);
    char error[1024];
    if (t->blocked) {
        snprintf(error, sizeof(error), "refused: %s is a loopback, link-local or private address",
                 t->blocked_addr);
        record(t, false, 0, error, "blocked");
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(error, sizeof(error), "timeout after %d s", ATTEMPT_TIMEOUT_MS / 1000);
        record(t, false, 0, error, "timeout");
    } else if (rc != CURLE_OK && rc != CURLE_WRITE_ERROR) {
        snprintf(error, sizeof(error), "%s%s%s", curl_easy_strerror(rc),
                 t->curl_error[0] != '\0' ? ": " : "", t->curl_error);
        record(t, false, 0, error, "network_error");
    } else if (code >= 200 && code <= 299) {
        record(t, true, (int)code, "", "succeeded");
    } else {
        snprintf(error, sizeof(error), "HTTP %ld", code);
        record(t, false, (int)code, error, "http_error");
    }
}

static void check_done(void)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(D.multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        transfer *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        finished(t, msg->data.result);
    }
}

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx *c = h->data;
    int flags = 0, running = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(D.multi, c->fd, flags, &running);
    check_done();
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)userp;
    sock_ctx *c = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (c != NULL) {
            uv_poll_stop(&c->poll);
            uv_close((uv_handle_t *)&c->poll, sock_closed);
            curl_multi_assign(D.multi, s, NULL);
        }
        return 0;
    }
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL)
            return -1;
        c->fd = s;
        if (uv_poll_init_socket(D.loop, &c->poll, s) != 0) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        curl_multi_assign(D.multi, s, c);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&c->poll, ev, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *h)
{
    (void)h;
    int running = 0;
    curl_multi_socket_action(D.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    (void)userp;
    if (timeout_ms < 0)
        uv_timer_stop(&D.curl_timer);
    else
        uv_timer_start(&D.curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* The SSRF check on the address actually connected to, after curl's own DNS. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    transfer *t = clientp;
    (void)purpose;
    if (!D.allow_private && !gw_webhook_addr_public(&addr->addr)) {
        t->blocked = true;
        const void *raw = addr->family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)&addr->addr)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)&addr->addr)->sin_addr;
        if (inet_ntop(addr->family, raw, t->blocked_addr, sizeof(t->blocked_addr)) == NULL)
            snprintf(t->blocked_addr, sizeof(t->blocked_addr), "the address");
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* Answers are read and dropped (a receiver's body is of no use), up to a bound. */
static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    transfer *t = userdata;
    (void)ptr;
    t->response_bytes += size * nmemb;
    return t->response_bytes > RESPONSE_DISCARD_MAX ? 0 : size * nmemb;
}

static void attempt(transfer *t, const gw_attempt_row *r, const char *secret)
{
    char header[512], signature[128];
    int64_t now = (int64_t)time(NULL);
    size_t body_len = strlen(r->body);
    const char *body = tdm_arena_strdup(t->arena, r->body);
    const char *url = tdm_arena_strdup(t->arena, r->url);
    if (body == NULL || url == NULL ||
        gw_webhook_signature(secret, now, body, body_len, signature, sizeof(signature)) != 0) {
        record(t, false, 0, "could not sign the delivery", "network_error");
        return;
    }
    struct curl_slist *h = NULL;
    const char *fixed[] = {"Content-Type: application/json",
                           "Expect:", "User-Agent: Tandem-Webhooks/1"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        h = curl_slist_append(h, fixed[i]);
    snprintf(header, sizeof(header), "Tandem-Event: %s", t->event_type);
    h = curl_slist_append(h, header);
    snprintf(header, sizeof(header), "Tandem-Delivery: %s", t->id);
    h = curl_slist_append(h, header);
    snprintf(header, sizeof(header), "Tandem-Signature: %s", signature);
    h = curl_slist_append(h, header);
    t->headers = h;
    t->easy = curl_easy_init();
    if (h == NULL || t->easy == NULL) {
        record(t, false, 0, "out of memory", "network_error");
        return;
    }
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)ATTEMPT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, D.allow_private ? "http,https" : "https");
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    t->next = D.transfers;
    if (D.transfers != NULL)
        D.transfers->prev = t;
    D.transfers = t;
    if (curl_multi_add_handle(D.multi, e) != CURLM_OK) {
        unlink_transfer(t);
        record(t, false, 0, "could not start the request", "network_error");
    }
}

/* ---- claim and load
 * ------------------------------------------------------------------------------ */

static void batch_release(claim_batch *b)
{
    if (--b->pending > 0)
        return;
    tdm_arena_free(b->arena);
    free(b);
}

typedef struct load_op {
    claim_batch *batch;
    const char *tenant_id;
    const char **ids, **claim_ids; /* what was claimed, `claimed` of each */
    size_t claimed;
} load_op;

static const char *claim_of(const load_op *l, const char *delivery_id)
{
    for (size_t i = 0; i < l->claimed; i++) {
        if (strcmp(l->ids[i], delivery_id) == 0)
            return l->claim_ids[i];
    }
    return "";
}

static void loaded(void *arg, tdm_status *st, gw_attempt_row *rows, size_t n)
{
    load_op *l = arg;
    if (st != NULL) {
        tdm_log_fields(TDM_LOG_WARN, NULL, "webhook deliveries not loaded", "error", st->message,
                       "detail", st->detail, NULL);
        tdm_status_free(st);
        n = 0;
    }
    /* Claimed rows not loaded (deleted meanwhile) are no longer in flight. */
    D.in_flight -= l->claimed - n;
    for (size_t i = 0; i < n; i++) {
        transfer *t = calloc(1, sizeof(*t));
        tdm_arena *a = tdm_arena_new(0);
        char secret[GW_WEBHOOK_SECRET_LEN + 1];
        char *aad =
            a != NULL ? tdm_arena_printf(a, "%s:%s", l->tenant_id, rows[i].webhook_id) : NULL;
        if (t == NULL || aad == NULL) {
            free(t);
            tdm_arena_free(a);
            D.in_flight--;
            continue;
        }
        t->arena = a;
        snprintf(t->tenant_id, sizeof(t->tenant_id), "%s", l->tenant_id);
        snprintf(t->id, sizeof(t->id), "%s", rows[i].id);
        snprintf(t->claim_id, sizeof(t->claim_id), "%s", claim_of(l, rows[i].id));
        snprintf(t->event_type, sizeof(t->event_type), "%s", rows[i].event_type);
        t->attempt_count = rows[i].attempt_count;
        if (!D.running) {
            transfer_free(t);
            D.in_flight--;
            continue;
        }
        if (rows[i].sealed == NULL ||
            gw_webhook_secret_open(aad, rows[i].sealed, rows[i].sealed_len, secret, sizeof(secret),
                                   NULL) != 0) {
            record(t, false, 0, "the signing secret cannot be opened (TANDEM_WEBHOOK_SECRET_KEY)",
                   "network_error");
            continue;
        }
        attempt(t, &rows[i], secret);
        OPENSSL_cleanse(secret, sizeof(secret));
    }
    batch_release(l->batch);
}

static void claimed(void *arg, tdm_status *st, gw_claim_row *rows, size_t n)
{
    claim_batch *b = arg;
    D.claiming = false;
    if (st != NULL) {
        tdm_log_fields(TDM_LOG_WARN, NULL, "webhook deliveries not claimed", "error", st->message,
                       "detail", st->detail, NULL);
        tdm_status_free(st);
        n = 0;
    }
    D.in_flight += n;
    tdm_pg_pool *pool = D.running ? tdm_runtime_pg(D.gw->rt) : NULL;
    /* One load per tenant: its transaction is bound to that tenant (RLS). */
    bool *done = n > 0 ? tdm_arena_calloc(b->arena, n, sizeof(bool)) : NULL;
    for (size_t i = 0; i < n && done != NULL; i++) {
        if (done[i])
            continue;
        const char **ids = tdm_arena_calloc(b->arena, n, sizeof(char *));
        const char **claim_ids = tdm_arena_calloc(b->arena, n, sizeof(char *));
        load_op *l = tdm_arena_calloc(b->arena, 1, sizeof(*l));
        if (ids == NULL || claim_ids == NULL || l == NULL)
            break;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            if (!done[j] && strcmp(rows[j].tenant_id, rows[i].tenant_id) == 0) {
                ids[k] = rows[j].delivery_id;
                claim_ids[k++] = rows[j].claim_id;
                done[j] = true;
            }
        }
        l->ids = ids;
        l->claim_ids = claim_ids;
        l->batch = b;
        l->tenant_id = rows[i].tenant_id;
        l->claimed = k;
        b->pending++;
        if (pool == NULL ||
            gw_webhook_store_load(pool, b->arena, l->tenant_id, ids, k, loaded, l) != 0) {
            b->pending--;
            D.in_flight -= k;
        }
    }
    bool again = D.claim_again && n > 0;
    D.claim_again = false;
    batch_release(b);
    if (again && D.running)
        claim();
}

static void claim(void)
{
    if (!D.running)
        return;
    if (D.claiming) {
        D.claim_again = true;
        return;
    }
    if (D.in_flight >= D.limits.max_in_flight)
        return;
    claim_batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return;
    b->arena = tdm_arena_new(0);
    b->pending = 1;
    if (b->arena == NULL) {
        free(b);
        return;
    }
    D.claiming = true;
    if (gw_webhook_store_claim(tdm_runtime_pg(D.gw->rt), b->arena,
                               (int)(D.limits.max_in_flight - D.in_flight),
                               (int)D.limits.tenant_in_flight, LEASE_MS, claimed, b) != 0) {
        D.claiming = false;
        batch_release(b);
    }
}

/* ---- fan-out
 * ---------------------------------------------------------------------------------------- */

static void fanout(size_t source);

static void fanned_out(void *arg, tdm_status *st, size_t n_events)
{
    size_t source = (size_t)(uintptr_t)arg;
    D.fanning[source] = false;
    if (st != NULL) {
        /* A source whose service has not migrated yet is expected for a while. */
        bool expected = st->code == TDM_FAILED_PRECONDITION;
        tdm_log_fields(expected && D.source_warned[source] ? TDM_LOG_DEBUG : TDM_LOG_WARN, NULL,
                       "webhook fan-out failed", "source", SOURCE_NAMES[source], "error",
                       st->message, "detail", st->detail, NULL);
        D.source_warned[source] = expected;
        if (expected)
            D.source_retry_at[source] = uv_now(D.loop) + SOURCE_RETRY_MS;
        tdm_status_free(st);
        return;
    }
    D.source_warned[source] = false;
    if (!D.running)
        return;
    if (n_events > 0)
        claim();
    if (n_events == FANOUT_BATCH)
        fanout(source);
}

static void fanout(size_t source)
{
    if (!D.running || D.fanning[source] || !tdm_runtime_migrated(D.gw->rt) ||
        uv_now(D.loop) < D.source_retry_at[source])
        return;
    D.fanning[source] = true;
    if (gw_webhook_store_fanout(tdm_runtime_pg(D.gw->rt), SOURCE_NAMES[source], FANOUT_BATCH,
                                fanned_out, (void *)(uintptr_t)source) != 0)
        D.fanning[source] = false;
}

void gw_delivery_wake(void)
{
    if (!D.running)
        return;
    for (size_t s = 0; s < SOURCE_COUNT; s++)
        fanout(s);
    if (tdm_runtime_migrated(D.gw->rt))
        claim();
}

/* ---- outbox retention
 * ------------------------------------------------------------------------------- */

static void prune(size_t source);

static void prune_done(void *arg, tdm_status *st, size_t n_rows)
{
    size_t source = (size_t)(uintptr_t)arg;
    D.pruning[source] = false;
    if (st != NULL) {
        /* Not readable yet (service not migrated) is expected; the grant missing is
         * worth saying, once an hour. */
        tdm_log_fields(st->code == TDM_FAILED_PRECONDITION ? TDM_LOG_DEBUG : TDM_LOG_WARN, NULL,
                       "outbox retention pass failed", "source", SOURCE_NAMES[source], "error",
                       st->message, "detail", st->detail, NULL);
        tdm_status_free(st);
        return;
    }
    if (n_rows > 0) {
        char n[24];
        snprintf(n, sizeof(n), "%zu", n_rows);
        tdm_log_fields(TDM_LOG_INFO, NULL, "outbox rows past retention deleted", "source",
                       SOURCE_NAMES[source], "rows", n, NULL);
    }
    if (D.running && n_rows == PRUNE_BATCH)
        prune(source); /* more to do: go on at once, a batch at a time */
}

static void prune(size_t source)
{
    if (!D.running || D.pruning[source])
        return;
    D.pruning[source] = true;
    if (gw_webhook_store_prune(tdm_runtime_pg(D.gw->rt), SOURCE_NAMES[source], D.retention_hours,
                               PRUNE_BATCH, prune_done, (void *)(uintptr_t)source) != 0)
        D.pruning[source] = false;
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
    gw_delivery_wake();
    if (D.running && tdm_runtime_migrated(D.gw->rt) && uv_now(D.loop) >= D.prune_at) {
        D.prune_at = uv_now(D.loop) + PRUNE_EVERY_MS;
        for (size_t s = 0; s < SOURCE_COUNT; s++)
            prune(s);
    }
}

/* ---- start and stop
 * ------------------------------------------------------------------------------- */

tdm_status *gw_delivery_start(gw_state *gw, const gw_delivery_limits *limits)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return tdm_status_new(TDM_INTERNAL, "libcurl did not initialise");
    memset(&D, 0, sizeof(D));
    D.gw = gw;
    D.limits = *limits;
    D.loop = tdm_runtime_loop(gw->rt);
    D.allow_private = gw->cfg->webhook_allow_private;
    D.retry_base_ms = gw->cfg->webhook_retry_base_ms;
    D.retention_hours = gw->cfg->outbox_retention_hours;
    D.prune_at = uv_now(D.loop) + PRUNE_FIRST_MS;
    D.m_deliveries =
        tdm_metric_counter(tdm_metrics_global(), "tandem_webhook_deliveries_total",
                           "Webhook delivery attempts by outcome (succeeded, http_error, timeout, "
                           "network_error, blocked; expired: given up after 24 h; claim_lost: "
                           "not recorded, another replica had taken the delivery over)",
                           "outcome");
    D.multi = curl_multi_init();
    if (D.multi == NULL)
        return tdm_status_new(TDM_INTERNAL, "libcurl did not initialise");
    curl_multi_setopt(D.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(D.multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    uv_timer_init(D.loop, &D.tick);
    uv_timer_init(D.loop, &D.curl_timer);
    D.running = true;
    uv_timer_start(&D.tick, on_tick, TICK_MS, TICK_MS);
    if (D.allow_private)
        tdm_log(TDM_LOG_WARN, NULL,
                "TANDEM_WEBHOOK_ALLOW_PRIVATE=1: webhooks may reach loopback and private "
                "addresses");
    return NULL;
}

void gw_delivery_stop(void)
{
    if (!D.running)
        return;
    D.running = false;
    uv_timer_stop(&D.tick);
    uv_close((uv_handle_t *)&D.tick, NULL);
    /* Attempts in flight are abandoned: their leases expire and they are tried again. */
    while (D.transfers != NULL) {
        transfer *t = D.transfers;
        unlink_transfer(t);
        curl_multi_remove_handle(D.multi, t->easy);
        transfer_free(t);
    }
    curl_multi_cleanup(D.multi);
    D.multi = NULL;
    uv_timer_stop(&D.curl_timer);
    uv_close((uv_handle_t *)&D.curl_timer, NULL);
}
