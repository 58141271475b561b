/*
 * context.c - the request context the gateway attaches to every forwarded call
 * (x-tandem-context-bin), encoded by the runtime's encoder (tdm_grpc_context_encode:
 * nanopb into a fixed buffer, base64 as gRPC wants for "-bin" metadata), the one the
 * services use for their own peer calls. Built only from the authenticated key,
 * never from anything the client sent.
 */
#include <stdint.h>

#include "principal.h"
#include "tandem/rpc_client.h"

char *gw_context_metadata(tdm_arena *arena, const gw_principal *p, const char *request_id,
                          int64_t remaining_ms)
{
    /* A platform call that acts for no tenant (the template routes) carries the nil
     * tenant: services require a tenant in every context, and no tenant has that id,
     * so such a call can never reach a tenant's rows through row-level security. */
    const tdm_call_context ctx = {
        .tenant_id = p->tenant_id != NULL ? p->tenant_id : TDM_NIL_TENANT,
        .principal_id = p->key_id,
        .principal_kind = p->kind,
        .participant_id = p->participant_id,
        .participant_programme_id = p->participant_programme_id,
        .scopes = p->scopes,
        .request_id = request_id,
    };
    return tdm_grpc_context_encode(arena, &ctx, remaining_ms == INT64_MAX ? -1 : remaining_ms);
}
