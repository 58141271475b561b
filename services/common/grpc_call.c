/*
 * grpc_call.c - a gRPC call of a registered service: header validation (deadline,
 * request context, request id), unpacking the request through the method's
 * protobuf-c descriptor into the call arena, running the handler, completing
 * (respond/fail), deadlines and cancellation, and the per-method metrics.
 *
 * The call lives in its stream's arena. Completion and the stream's end may come in
 * either order; the record is released by whichever is last (transport_internal.h).
 * A deadline or a client reset cancels the call: the client gets its status at once,
 * the on_cancel hook runs (e.g. to cancel a query), and the handler's later completion
 * is dropped.
 *
 * A service with an admit hook gets its calls when the headers are complete: the hook
 * decides from the metadata (the gateway checks the key) while the message is still
 * arriving, its buffering bounded by h2_server.c; the handler runs once the call is
 * admitted and the message complete, whichever comes last. Request messages are
 * decoded within a budget (protobuf.h): a refusal is RESOURCE_EXHAUSTED.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tandem/log.h"
#include "tandem/protobuf.h"
#include "tandem/uuid.h"
#include "transport_internal.h"

/* ---- Metrics ---------------------------------------------------------------------------- */

void tdm_call_metrics(tdm_server *srv, const char *service, const char *method, tdm_code code,
                      uint64_t start_ns)
{
    const char *svc = service != NULL ? service : "unknown";
    const char *mth = method != NULL ? method : "unknown";
    if (srv->m_calls != NULL)
        tdm_metric_inc(srv->m_calls, (const char *const[]){svc, mth, tdm_code_name(code)});
    if (srv->m_duration != NULL)
        tdm_metric_observe(srv->m_duration, (const char *const[]){svc, mth},
                           (double)(tdm_now_ns() - start_ns) / 1e9);
}

void tdm_call_metrics_in_flight(tdm_server *srv, const char *service, int delta)
{
    if (srv->m_in_flight != NULL)
        tdm_metric_add(srv->m_in_flight, (const char *const[]){service}, (double)delta);
}

/* ---- Headers ------------------------------------------------------------------------------ */

static const tdm_http_header *stream_header(const tdm_h2_stream *s, const char *name)
{
    for (size_t i = 0; i < s->n_headers; i++) {
        if (strcmp(s->headers[i].name, name) == 0)
            return &s->headers[i];
    }
    return NULL;
}

tdm_status *tdm_call_check_headers(tdm_h2_stream *s)
{
    tdm_server *srv = s->srv;
    if (s->timeout != NULL) {
        uint64_t ms;
        if (tdm_grpc_timeout_parse(s->timeout, strlen(s->timeout), &ms) != 0)
            return tdm_status_new(TDM_INVALID_ARGUMENT, "malformed grpc-timeout");
        /* A zero timeout is already over; 0 means "none" in deadline_ms. */
        s->ctx.deadline_ms = uv_now(srv->loop) + (ms > 0 ? ms : 0);
        if (ms == 0)
            return tdm_status_new(TDM_DEADLINE_EXCEEDED, "deadline exceeded");
    }
    const tdm_http_header *h = stream_header(s, TDM_CONTEXT_METADATA_KEY);
    bool have_ctx = false;
    if (h != NULL) {
        size_t len = 0;
        uint8_t *bytes = tdm_base64_decode(s->arena, h->value, strlen(h->value), &len);
        uint64_t deadline = s->ctx.deadline_ms;
        if (bytes != NULL && tdm_grpc_context_decode(s->arena, bytes, len, &s->ctx) == 0 &&
            s->ctx.tenant_id != NULL && s->ctx.tenant_id[0] != '\0')
            have_ctx = true;
        else
            memset(&s->ctx, 0, sizeof(s->ctx));
        /* The remaining deadline travels in grpc-timeout, never in the context. */
        s->ctx.deadline_ms = deadline;
    }
    if (!have_ctx) {
        s->ctx.tenant_id = NULL;
        if (s->svc->def->require_context)
            return tdm_status_new(TDM_UNAUTHENTICATED, "missing request context");
    }
    if (s->ctx.request_id == NULL || s->ctx.request_id[0] == '\0') {
        const tdm_http_header *rid = stream_header(s, "x-request-id");
        if (rid != NULL && tdm_request_id_acceptable(rid->value, strlen(rid->value))) {
            s->ctx.request_id = rid->value;
        } else {
            char *id = tdm_arena_alloc(s->arena, 37);
            if (id == NULL)
                return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
            tdm_uuid_text(id);
            s->ctx.request_id = id;
        }
    }
    return NULL;
}

/* ---- Completion ---------------------------------------------------------------------------- */

static void on_deadline_timer_closed(uv_handle_t *h)
{
    tdm_call *call = h->data;
    tdm_h2_stream_release(call->stream);
}

/* The handler is done with the call: metrics, then the record may go. */
static void call_complete(tdm_call *call, tdm_code code)
{
    tdm_server *srv = call->srv;
    call->state = TDM_CALL_COMPLETED;
    if (call->stream->conn != NULL)
        tdm_h2_release_read(call->stream);
    srv->in_flight--;
    const char *svc = call->svc->def->descriptor->name;
    tdm_call_metrics_in_flight(srv, svc, -1);
    tdm_call_metrics(srv, svc, call->method->desc->name, call->cancelled ? call->cancel_code : code,
                     call->start_ns);
    if (call->timer_open) {
        call->timer_open = false;
        uv_close((uv_handle_t *)&call->deadline_timer, on_deadline_timer_closed);
        return;
    }
    tdm_h2_stream_release(call->stream);
}

static bool call_attached(const tdm_call *call)
{
    return call->stream->conn != NULL && !call->cancelled;
}

/* Answer with `response` packed into the arena, or with `bytes` as they are (copied). */
static void call_answer(tdm_call *call, const ProtobufCMessage *response, const uint8_t *bytes,
                        size_t len)
{
    if (call->state != TDM_CALL_RUNNING) {
        tdm_log(TDM_LOG_ERROR, call->ctx.request_id, "call %s completed twice", call->method->path);
        return;
    }
    tdm_code code = TDM_OK;
    if (call_attached(call)) {
        tdm_h2_stream *s = call->stream;
        size_t size = response != NULL ? protobuf_c_message_get_packed_size(response) : len;
        uint8_t *packed = NULL;
        if (response != NULL && size <= call->method->max_request_bytes) {
            packed = tdm_arena_alloc(call->arena, size + 1);
            if (packed != NULL)
                protobuf_c_message_pack(response, packed);
        }
        if (size > call->method->max_request_bytes || (response != NULL && packed == NULL)) {
            code = TDM_RESOURCE_EXHAUSTED;
            tdm_log(TDM_LOG_WARN, call->ctx.request_id, "response of %s too large (%zu bytes)",
                    call->method->path, size);
            tdm_h2_grpc_finish(s, code, "response message too large", NULL);
        } else if (tdm_h2_grpc_append(s, packed != NULL ? packed : bytes, size, packed != NULL) !=
                   0) {
            code = TDM_INTERNAL;
            tdm_h2_grpc_finish(s, code, "internal error", NULL);
        } else {
            tdm_h2_grpc_finish(s, TDM_OK, NULL, NULL);
        }
        tdm_h2_after_submit(s);
    }
    call_complete(call, code);
}

void tdm_call_respond(tdm_call *call, const ProtobufCMessage *response)
{
    call_answer(call, response, NULL, 0);
}

void tdm_call_respond_bytes(tdm_call *call, const uint8_t *message, size_t len)
{
    call_answer(call, NULL, message, len);
}

void tdm_call_fail(tdm_call *call, tdm_status *st)
{
    if (call->state != TDM_CALL_RUNNING) {
        tdm_log(TDM_LOG_ERROR, call->ctx.request_id, "call %s completed twice", call->method->path);
        tdm_status_free(st);
        return;
    }
    if (st == NULL)
        st = tdm_status_new(TDM_INTERNAL, "internal error");
    if (st->code == TDM_INTERNAL || st->code == TDM_UNKNOWN || st->code == TDM_DATA_LOSS ||
        st->detail != NULL)
        tdm_log_fields(st->code == TDM_INTERNAL ? TDM_LOG_ERROR : TDM_LOG_INFO,
                       call->ctx.request_id, "call failed", "method", call->method->path, "code",
                       tdm_code_name(st->code), "message", st->message, "detail", st->detail, NULL);
    tdm_code code = st->code;
    if (call_attached(call)) {
        tdm_h2_grpc_finish_status(call->stream, st);
        tdm_h2_after_submit(call->stream);
    }
    tdm_status_free(st);
    call_complete(call, code);
}

/* ---- Cancellation --------------------------------------------------------------------------- */

static void call_run_cancel_hook(tdm_call *call)
{
    void (*fn)(void *) = call->cancel_fn;
    call->cancel_fn = NULL;
    if (fn != NULL)
        fn(call->cancel_arg);
}

/* After a cancellation: the hook, and a call that was admitted but whose message
 * never completed has no handler that will ever complete it, so it ends here. */
static void call_cancelled(tdm_call *call)
{
    call_run_cancel_hook(call);
    if (call->state == TDM_CALL_RUNNING && call->admission == TDM_ADMISSION_ADMITTED &&
        !call->dispatched)
        tdm_call_fail(call, tdm_status_new(call->cancel_code, "call cancelled"));
}

void tdm_call_stream_closed(tdm_call *call)
{
    if (call->state != TDM_CALL_RUNNING || call->cancelled)
        return;
    call->cancelled = true;
    call->cancel_code = TDM_CANCELLED;
    call_cancelled(call);
}

/* The deadline passed while the handler was still working: the client is told
 * DEADLINE_EXCEEDED in trailers and the handler's work is cancelled. */
static void on_deadline(uv_timer_t *t)
{
    tdm_call *call = t->data;
    if (call->state != TDM_CALL_RUNNING || call->cancelled)
        return;
    tdm_h2_stream *s = call->stream;
    call->cancelled = true;
    call->cancel_code = TDM_DEADLINE_EXCEEDED;
    if (s->conn != NULL) {
        /* Trailers only: a RST_STREAM(CANCEL) right behind them races them at the
         * client (grpcio may report CANCELLED instead of DEADLINE_EXCEEDED). A client
         * still sending its request is reset with NO_ERROR once the trailers are out
         * (h2_server.c on_frame_send), as RFC 9113 section 8.1 prescribes. */
        tdm_h2_grpc_finish(s, TDM_DEADLINE_EXCEEDED, "deadline exceeded", NULL);
        tdm_h2_after_submit(s);
    }
    call_cancelled(call);
}

/* ---- Start ------------------------------------------------------------------------------ */

/* The call record of a stream, with its deadline timer. NULL when the call is already
 * over (out of memory, or its deadline passed: the client has its status). */
static tdm_call *call_create(tdm_h2_stream *s)
{
    tdm_server *srv = s->srv;
    tdm_call *call = tdm_arena_calloc(s->arena, 1, sizeof(*call));
    if (call == NULL) {
        tdm_h2_grpc_finish(s, TDM_RESOURCE_EXHAUSTED, "out of memory", NULL);
        return NULL;
    }
    call->srv = srv;
    call->stream = s;
    call->arena = s->arena;
    call->svc = s->svc;
    call->method = s->rpc;
    call->ctx = s->ctx;
    call->start_ns = s->start_ns;
    call->state = TDM_CALL_RUNNING;
    s->call = call;
    s->owner_done = false;
    srv->in_flight++;
    tdm_call_metrics_in_flight(srv, s->svc->def->descriptor->name, 1);

    if (call->ctx.deadline_ms != 0) {
        uint64_t now = uv_now(srv->loop);
        if (call->ctx.deadline_ms <= now) {
            tdm_call_fail(call, tdm_status_new(TDM_DEADLINE_EXCEEDED, "deadline exceeded"));
            return NULL;
        }
        uv_timer_init(srv->loop, &call->deadline_timer);
        call->deadline_timer.data = call;
        call->timer_open = true;
        uv_timer_start(&call->deadline_timer, on_deadline, call->ctx.deadline_ms - now, 0);
    }
    return call;
}

/* The message is complete and the call admitted (or needs no admission): decode it,
 * unless the method takes its bytes, and run the handler. */
static void call_dispatch(tdm_call *call)
{
    call->dispatched = true;
    const tdm_h2_stream *s = call->stream;
    if (call->svc->def->raw_requests) {
        call->method->def->handler(call, NULL, call->svc->def->service_data);
        return;
    }
    tdm_status *st = NULL;
    ProtobufCMessage *req =
        tdm_protobuf_unpack(call->method->desc->input, call->arena, s->msg, s->msg_len, &st);
    if (req == NULL) {
        tdm_call_fail(call, st);
        return;
    }
    call->method->def->handler(call, req, call->svc->def->service_data);
}

void tdm_call_start(tdm_h2_stream *s)
{
    tdm_call *call = s->call;
    if (call != NULL) {
        /* Admission began with the headers: dispatch once it has admitted the call. */
        call->message_ready = true;
        if (call->state == TDM_CALL_RUNNING && !call->cancelled &&
            call->admission == TDM_ADMISSION_ADMITTED)
            call_dispatch(call);
        return;
    }
    call = call_create(s);
    if (call != NULL) {
        call->message_ready = true;
        call_dispatch(call);
    }
}

void tdm_call_begin_admission(tdm_h2_stream *s)
{
    tdm_call *call = call_create(s);
    if (call == NULL)
        return;
    call->admission = TDM_ADMISSION_PENDING;
    call->svc->def->admit(call, call->svc->def->service_data);
}

void tdm_call_admit(tdm_call *call)
{
    if (call->state != TDM_CALL_RUNNING || call->admission != TDM_ADMISSION_PENDING) {
        tdm_log(TDM_LOG_ERROR, call->ctx.request_id, "call %s admitted twice or after completion",
                call->method->path);
        return;
    }
    call->admission = TDM_ADMISSION_ADMITTED;
    if (call->stream->conn != NULL)
        tdm_h2_release_read(call->stream);
    if (call->cancelled) {
        /* The client is gone, was refused or ran out of time: nothing to run. */
        tdm_call_fail(call, tdm_status_new(call->cancel_code, "call cancelled"));
        return;
    }
    if (call->message_ready)
        call_dispatch(call);
}

void tdm_call_refuse(tdm_call *call, tdm_code code, const char *message)
{
    if (call->state != TDM_CALL_RUNNING || call->cancelled)
        return;
    call->cancelled = true;
    call->cancel_code = code;
    if (call->stream->conn != NULL) {
        tdm_h2_grpc_finish(call->stream, code, message, NULL);
        tdm_h2_after_submit(call->stream);
    }
    call_cancelled(call);
}

/* ---- Accessors --------------------------------------------------------------------------------
 */

const tdm_call_context *tdm_call_ctx(const tdm_call *call)
{
    return &call->ctx;
}

tdm_arena *tdm_call_arena(tdm_call *call)
{
    return call->arena;
}

uv_loop_t *tdm_call_loop(tdm_call *call)
{
    return call->srv->loop;
}

tdm_server *tdm_call_server(tdm_call *call)
{
    return call->srv;
}

const char *tdm_call_metadata(const tdm_call *call, const char *key, size_t *len)
{
    const tdm_h2_stream *s = call->stream;
    const tdm_http_header *h = stream_header(s, key);
    if (h == NULL)
        return NULL;
    size_t klen = strlen(key);
    if (klen > 4 && strcmp(key + klen - 4, "-bin") == 0) {
        size_t n = 0;
        uint8_t *bytes = tdm_base64_decode(call->arena, h->value, strlen(h->value), &n);
        if (bytes == NULL)
            return NULL;
        bytes[n] = 0;
        if (len != NULL)
            *len = n;
        return (const char *)bytes;
    }
    if (len != NULL)
        *len = strlen(h->value);
    return h->value;
}

const char *tdm_call_path(const tdm_call *call)
{
    return call->method->path;
}

int64_t tdm_call_remaining_ms(const tdm_call *call)
{
    if (call->ctx.deadline_ms == 0)
        return INT64_MAX;
    return (int64_t)call->ctx.deadline_ms - (int64_t)uv_now(call->srv->loop);
}

bool tdm_call_is_cancelled(const tdm_call *call)
{
    return call->cancelled;
}

void tdm_call_on_cancel(tdm_call *call, void (*fn)(void *arg), void *arg)
{
    call->cancel_fn = fn;
    call->cancel_arg = arg;
    /* Registered after the fact: run it now, still on the loop, exactly once. */
    if (call->cancelled && call->state == TDM_CALL_RUNNING)
        call_run_cancel_hook(call);
}

const uint8_t *tdm_call_request_bytes(const tdm_call *call, size_t *len)
{
    const tdm_h2_stream *s = call->stream;
    if (!call->message_ready || s->msg == NULL) {
        *len = 0;
        return NULL;
    }
    *len = s->msg_len;
    return s->msg;
}

void tdm_call_set_user(tdm_call *call, void *user)
{
    call->user = user;
}

void *tdm_call_user(const tdm_call *call)
{
    return call->user;
}

int tdm_call_set_response_metadata(tdm_call *call, const char *key, const char *value)
{
    tdm_h2_stream *s = call->stream;
    if (s->n_response_md >= TDM_RESPONSE_METADATA_MAX)
        return -1;
    for (const char *c = key; *c != '\0'; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' ||
              *c == '.'))
            return -1;
    }
    for (const char *c = value; *c != '\0'; c++) {
        if (*c < 0x20 || *c > 0x7e)
            return -1;
    }
    if (s->response_md == NULL)
        s->response_md =
            tdm_arena_calloc(call->arena, TDM_RESPONSE_METADATA_MAX, sizeof(*s->response_md));
    char *k = tdm_arena_strdup(call->arena, key);
    char *v = tdm_arena_strdup(call->arena, value);
    if (s->response_md == NULL || k == NULL || v == NULL)
        return -1;
    s->response_md[s->n_response_md++] = (tdm_http_header){k, v};
    return 0;
}

const char *tdm_call_peer_address(const tdm_call *call)
{
    const tdm_conn *conn = call->stream->conn;
    return conn != NULL ? conn->peer : "";
}
