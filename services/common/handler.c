/*
 * handler.c - the scaffolding every service's handlers share (see tandem/handler.h).
 */
#include "tandem/handler.h"

#include <string.h>

bool tdm_scope_allows(uint32_t held, uint32_t needed)
{
    return (held & needed) == needed || (held & TDM_SCOPE_ADMIN) != 0;
}

uint32_t tdm_scope_pick(const tdm_call *call, const uint32_t *choices, size_t n)
{
    uint32_t held = tdm_call_ctx(call)->scopes;
    for (size_t i = 0; i < n; i++) {
        if (tdm_scope_allows(held, choices[i]))
            return choices[i];
    }
    return choices[0];
}

tdm_status *tdm_handler_init(tdm_store_req *r, tdm_runtime *rt, tdm_call *call, uint32_t scope)
{
    const tdm_call_context *ctx = tdm_call_ctx(call);
    memset(r, 0, sizeof(*r));
    r->pool = tdm_runtime_pg(rt);
    r->arena = tdm_call_arena(call);
    r->ctx = ctx;
    if (ctx->principal_kind == TDM_PRINCIPAL_PARTICIPANT && (scope & TDM_SCOPE_AS_PERSON) == 0)
        return tdm_status_new(TDM_PERMISSION_DENIED, "a participant token may not make this call");
    scope &= ~TDM_SCOPE_AS_PERSON;
    if (!tdm_scope_allows(ctx->scopes, scope))
        return tdm_status_new(TDM_PERMISSION_DENIED, "the API key lacks the scope this call needs");
    return NULL;
}

tdm_status *tdm_handler_person(const tdm_call *call, char **field, const char *name)
{
    const tdm_call_context *ctx = tdm_call_ctx(call);
    if (ctx->principal_kind != TDM_PRINCIPAL_PARTICIPANT)
        return NULL;
    if (*field == NULL || (*field)[0] == '\0') {
        *field = (char *)ctx->participant_id;
        return NULL;
    }
    if (strcmp(*field, ctx->participant_id) == 0)
        return NULL;
    return tdm_status_add_violation(
        tdm_status_new(TDM_PERMISSION_DENIED, "a participant token acts only as its participant"),
        name, "may only be omitted or name the token's own participant");
}

const char *tdm_handler_acting_person(const tdm_call_context *ctx)
{
    return ctx->principal_kind == TDM_PRINCIPAL_PARTICIPANT ? ctx->participant_id : NULL;
}

tdm_status *tdm_handler_idempotency(tdm_call *call, const char *method,
                                    const ProtobufCMessage *request, const tdm_idem_key **out)
{
    *out = NULL;
    const char *key = tdm_call_metadata(call, TDM_IDEM_METADATA_KEY, NULL);
    if (key == NULL)
        return NULL;
    tdm_idem_key *k = tdm_arena_alloc(tdm_call_arena(call), sizeof(*k));
    if (k == NULL)
        return tdm_store_oom();
    tdm_status *st = tdm_idem_prepare(k, method, key, request);
    if (st == NULL)
        *out = k;
    return st;
}

void tdm_handler_reply(void *call, tdm_status *st, ProtobufCMessage *msg)
{
    if (st != NULL)
        tdm_call_fail(call, st);
    else
        tdm_call_respond(call, msg);
}

bool tdm_handler_fail(tdm_call *call, tdm_status *st)
{
    if (st == NULL)
        return false;
    tdm_call_fail(call, st);
    return true;
}
