/*
 * grpc_context.c - the request context metadata (x-tandem-context-bin): a
 * tandem.internal.v1.RequestContext encoded with nanopb, so decoding it on every
 * call never allocates and its size is bounded at compile time
 * (tandem_internal_v1_RequestContext_size).
 */
#include <pb_decode.h>
#include <pb_encode.h>
#include <string.h>
#include <sys/time.h>

#include "tandem/internal/v1/context.pb.h"
#include "tandem/rpc_client.h"
#include "transport_internal.h"

int tdm_grpc_context_decode(tdm_arena *a, const uint8_t *data, size_t len, tdm_call_context *ctx)
{
    if (len > tandem_internal_v1_RequestContext_size)
        return -1;
    tandem_internal_v1_RequestContext rc = tandem_internal_v1_RequestContext_init_zero;
    pb_istream_t in = pb_istream_from_buffer(data, len);
    if (!pb_decode(&in, tandem_internal_v1_RequestContext_fields, &rc))
        return -1;
    ctx->tenant_id = tdm_arena_strdup(a, rc.tenant_id);
    ctx->principal_id = tdm_arena_strdup(a, rc.principal_id);
    ctx->principal_kind = (tdm_principal_kind)rc.principal_kind;
    ctx->scopes = rc.scopes;
    ctx->participant_id = NULL;
    ctx->participant_programme_id = NULL;
    if (ctx->principal_kind == TDM_PRINCIPAL_PARTICIPANT) {
        /* A participant principal without its person would act as no one: refused. */
        if (rc.participant_id[0] == '\0' || rc.participant_programme_id[0] == '\0')
            return -1;
        ctx->participant_id = tdm_arena_strdup(a, rc.participant_id);
        ctx->participant_programme_id = tdm_arena_strdup(a, rc.participant_programme_id);
        if (ctx->participant_id == NULL || ctx->participant_programme_id == NULL)
            return -1;
    }
    ctx->request_id =
        rc.request_id[0] != '\0' && tdm_request_id_acceptable(rc.request_id, strlen(rc.request_id))
            ? tdm_arena_strdup(a, rc.request_id)
            : NULL;
    if (ctx->tenant_id == NULL || ctx->principal_id == NULL)
        return -1;
    return 0;
}

static void copy_bounded(char *dst, size_t cap, const char *src)
{
    if (src == NULL || strlen(src) >= cap) {
        dst[0] = '\0';
        return;
    }
    memcpy(dst, src, strlen(src) + 1);
}

char *tdm_grpc_context_encode(tdm_arena *a, const tdm_call_context *ctx, int64_t remaining_ms)
{
    tandem_internal_v1_RequestContext rc = tandem_internal_v1_RequestContext_init_zero;
    copy_bounded(rc.tenant_id, sizeof(rc.tenant_id), ctx->tenant_id);
    copy_bounded(rc.principal_id, sizeof(rc.principal_id), ctx->principal_id);
    copy_bounded(rc.request_id, sizeof(rc.request_id), ctx->request_id);
    copy_bounded(rc.participant_id, sizeof(rc.participant_id), ctx->participant_id);
    copy_bounded(rc.participant_programme_id, sizeof(rc.participant_programme_id),
                 ctx->participant_programme_id);
    rc.principal_kind = (tandem_internal_v1_PrincipalKind)ctx->principal_kind;
    rc.scopes = ctx->scopes;
    if (remaining_ms >= 0) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        rc.deadline_unix_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + remaining_ms;
    }
    uint8_t buf[tandem_internal_v1_RequestContext_size];
    pb_ostream_t out = pb_ostream_from_buffer(buf, sizeof(buf));
    if (!pb_encode(&out, tandem_internal_v1_RequestContext_fields, &rc))
        return NULL;
    return tdm_base64_encode(a, buf, out.bytes_written);
}
