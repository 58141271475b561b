/*
 * context.c - the request context the gateway attaches to every forwarded call
 * (x-tandem-context-bin): a tandem.internal.v1.RequestContext encoded with nanopb
 * into a fixed buffer (its size is a compile-time constant), base64 on the wire as
 * gRPC wants for "-bin" metadata. Built only from the authenticated key, never from
 * anything the client sent.
 */
#include <stdint.h>
#include <string.h>
#include <sys/time.h>

#include <openssl/evp.h>
#include <pb_encode.h>

#include "principal.h"
#include "tandem/internal/v1/context.pb.h"

static void copy_bounded(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;
    if (n >= cap)
        n = 0;
    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

char *gw_context_metadata(tdm_arena *arena, const gw_principal *p, const char *request_id,
                          int64_t remaining_ms)
{
    tandem_internal_v1_RequestContext rc = tandem_internal_v1_RequestContext_init_zero;
    /* A platform call that acts for no tenant (the template routes) carries the nil
     * tenant: services require a tenant in every context, and no tenant has that id,
     * so such a call can never reach a tenant's rows through row-level security. */
    copy_bounded(rc.tenant_id, sizeof(rc.tenant_id),
                 p->tenant_id != NULL ? p->tenant_id : TDM_NIL_TENANT);
    copy_bounded(rc.principal_id, sizeof(rc.principal_id), p->key_id);
    copy_bounded(rc.request_id, sizeof(rc.request_id), request_id);
    copy_bounded(rc.participant_id, sizeof(rc.participant_id), p->participant_id);
    copy_bounded(rc.participant_programme_id, sizeof(rc.participant_programme_id),
                 p->participant_programme_id);
    rc.principal_kind = (tandem_internal_v1_PrincipalKind)p->kind;
    rc.scopes = p->scopes;
    if (remaining_ms != INT64_MAX) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        rc.deadline_unix_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + remaining_ms;
    }
    uint8_t buf[tandem_internal_v1_RequestContext_size];
    pb_ostream_t out = pb_ostream_from_buffer(buf, sizeof(buf));
    if (!pb_encode(&out, tandem_internal_v1_RequestContext_fields, &rc))
        return NULL;
    char *b64 = tdm_arena_alloc(arena, 4 * ((out.bytes_written + 2) / 3) + 1);
    if (b64 == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)b64, buf, (int)out.bytes_written);
    return b64;
}
