/*
 * grpc_status_details.c - field violations in grpc-status-details-bin, the way
 * Google APIs carry them: a google.rpc.Status whose details hold one
 * google.protobuf.Any of type google.rpc.BadRequest. The server encodes them from a
 * tdm_status; the client decodes them back into violations, so a gateway can render
 * API.md's JSON "details" from what a service refused.
 */
#include <string.h>

#include "google/rpc/error_details.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "transport_internal.h"

#define BAD_REQUEST_TYPE_URL "type.googleapis.com/google.rpc.BadRequest"

char *tdm_grpc_status_details_encode(tdm_arena *a, const tdm_status *st)
{
    if (st == NULL || st->n_violations == 0)
        return NULL;
    Google__Rpc__BadRequest br = GOOGLE__RPC__BAD_REQUEST__INIT;
    Google__Rpc__BadRequest__FieldViolation *fv =
        tdm_arena_calloc(a, st->n_violations, sizeof(*fv));
    Google__Rpc__BadRequest__FieldViolation **fvp =
        tdm_arena_calloc(a, st->n_violations, sizeof(*fvp));
    if (fv == NULL || fvp == NULL)
        return NULL;
    for (size_t i = 0; i < st->n_violations; i++) {
        google__rpc__bad_request__field_violation__init(&fv[i]);
        fv[i].field = st->violations[i].field != NULL ? st->violations[i].field : (char *)"";
        fv[i].description =
            st->violations[i].description != NULL ? st->violations[i].description : (char *)"";
        fvp[i] = &fv[i];
    }
    br.n_field_violations = st->n_violations;
    br.field_violations = fvp;
    size_t br_len = google__rpc__bad_request__get_packed_size(&br);
    uint8_t *br_buf = tdm_arena_alloc(a, br_len + 1);
    if (br_buf == NULL)
        return NULL;
    google__rpc__bad_request__pack(&br, br_buf);

    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = (char *)BAD_REQUEST_TYPE_URL;
    any.value.data = br_buf;
    any.value.len = br_len;
    Google__Protobuf__Any *anyp = &any;
    Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
    status.code = (int32_t)st->code;
    status.message = st->message != NULL ? st->message : (char *)"";
    status.n_details = 1;
    status.details = &anyp;
    size_t len = google__rpc__status__get_packed_size(&status);
    uint8_t *buf = tdm_arena_alloc(a, len + 1);
    if (buf == NULL)
        return NULL;
    google__rpc__status__pack(&status, buf);
    return tdm_base64_encode(a, buf, len);
}

void tdm_grpc_status_details_decode(tdm_status *st, const uint8_t *data, size_t len)
{
    Google__Rpc__Status *status = google__rpc__status__unpack(NULL, len, data);
    if (status == NULL)
        return;
    for (size_t i = 0; i < status->n_details; i++) {
        const Google__Protobuf__Any *any = status->details[i];
        if (any->type_url == NULL || strcmp(any->type_url, BAD_REQUEST_TYPE_URL) != 0)
            continue;
        Google__Rpc__BadRequest *br =
            google__rpc__bad_request__unpack(NULL, any->value.len, any->value.data);
        if (br == NULL)
            continue;
        for (size_t j = 0; j < br->n_field_violations; j++) {
            const Google__Rpc__BadRequest__FieldViolation *fv = br->field_violations[j];
            tdm_status_add_violation(st, fv->field != NULL ? fv->field : "", "%s",
                                     fv->description != NULL ? fv->description : "");
        }
        google__rpc__bad_request__free_unpacked(br, NULL);
    }
    google__rpc__status__free_unpacked(status, NULL);
}
