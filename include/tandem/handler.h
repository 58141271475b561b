/*
 * handler.h - the scaffolding of an RPC handler, written once for every service:
 * the store request of a call under the one scope rule, the Idempotency-Key front,
 * and the reply that completes a call from a store callback.
 *
 * A handler reads straight through: scope -> field checks -> [key] -> store -> reply.
 *
 *     static void handle_get_survey(tdm_call *call, const ProtobufCMessage *msg, void *data)
 *     {
 *         const Tandem__V1__GetSurveyRequest *req = (const void *)msg;
 *         tdm_store_req r;
 *         tdm_status *st = tdm_handler_init(&r, rt, call, TDM_SCOPE_FEEDBACK_READ);
 *         if (st == NULL)
 *             st = tdm_check_uuid(req->id, "id");
 *         if (st != NULL) {
 *             tdm_call_fail(call, st);
 *             return;
 *         }
 *         fb_store_get_survey(&r, req->id, tdm_handler_reply, call);
 *     }
 *
 * The scope rule: a call needs every bit of its scope, or admin. The gateway gives
 * an admin key every scope bit as well, so the two agree; a service still admits
 * admin itself, so a peer calling with an admin context is not refused.
 */
#ifndef TANDEM_HANDLER_H
#define TANDEM_HANDLER_H

#include <stdbool.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/idempotency.h"
#include "tandem/runtime.h"
#include "tandem/server.h"
#include "tandem/status.h"
#include "tandem/store.h"

/* OR'ed into tdm_handler_init's scope by the handlers of the calls a participant
 * token may make (API.md "Acting as a person"). Every other call refuses a
 * participant principal (PERMISSION_DENIED), whatever scope bits it holds, so a call
 * added later is closed to tokens until its handler says otherwise. */
#define TDM_SCOPE_AS_PERSON (1u << 31)

/* Whether scopes held admit a call that needs `needed` (the rule above). */
bool tdm_scope_allows(uint32_t held, uint32_t needed);

/* For a call that answers a narrower view to a narrower scope (API.md "Least
 * privilege in every answer"): the first of the n scopes the caller's scopes admit,
 * or choices[0] when none does (tdm_handler_init then refuses with it). */
uint32_t tdm_scope_pick(const tdm_call *call, const uint32_t *choices, size_t n);

/* Fill r for the call (the runtime's pool, the call's arena and context, no key);
 * NULL, or PERMISSION_DENIED when the caller's scopes do not admit `scope`. */
tdm_status *tdm_handler_init(tdm_store_req *r, tdm_runtime *rt, tdm_call *call, uint32_t scope);

/* The participant named by a request's field (`name`, e.g. "participant_id"), under
 * the rule for participant tokens: a token's call may leave it empty (*field
 * becomes the token's participant) or name its own participant; any other value is
 * PERMISSION_DENIED. For other principals *field is left as it is. The request
 * message belongs to the call (its arena), so the handler may set the field. */
tdm_status *tdm_handler_person(const tdm_call *call, char **field, const char *name);

/* The participant a participant token acts as, NULL for any other principal. */
const char *tdm_handler_acting_person(const tdm_call_context *ctx);

/* The Idempotency-Key front of a create/start/batch call: when the call carries
 * `idempotency-key` metadata, hash the request under `method` into a key in the
 * call's arena and set *out (which the store then claims); otherwise *out stays
 * NULL. NULL, or INVALID_ARGUMENT for a malformed key, RESOURCE_EXHAUSTED. */
tdm_status *tdm_handler_idempotency(tdm_call *call, const char *method,
                                    const ProtobufCMessage *request, const tdm_idem_key **out);

/* A store callback (tdm_store_cb) that completes the call passed as arg: responds
 * with msg, or fails with st (which it takes). */
void tdm_handler_reply(void *call, tdm_status *st, ProtobufCMessage *msg);

/* Fail the call with st when st is set (taking it): true when it did. */
bool tdm_handler_fail(tdm_call *call, tdm_status *st);

#endif
