/*
 * scim_patch.h - SCIM 2.0 PATCH (RFC 7644 section 3.5.2) applied to a User resource in
 * its JSON form, and SCIM error bodies (section 3.12).
 *
 * scim_patch_apply takes a PatchOp request as identity providers send it - "op" in any
 * case ("Replace"), booleans as strings ("False"), a replace with no path whose value
 * is an object of attributes (dotted names and extension URNs among its keys), paths
 * with value filters (`emails[type eq "work"].value`) - and changes the resource in
 * place, or changes nothing and says why. It knows what RFC 7643 says of the User
 * schema's shape (which attributes are multi-valued, boolean, read-only); which
 * attributes Tandem keeps is the directory's business, after the patch.
 *
 * Contract: on success 0 and the resource holds the result; on failure -1, err filled
 * (status 400 and a scimType: invalidSyntax, invalidPath, noTarget, invalidValue,
 * mutability, invalidFilter) and the resource unchanged (operations are applied to a
 * copy, which replaces the resource only when every operation succeeded).
 * At most SCIM_PATCH_MAX_OPERATIONS operations per request.
 */
#ifndef TANDEM_GATEWAY_SCIM_PATCH_H
#define TANDEM_GATEWAY_SCIM_PATCH_H

#include <jansson.h>

#include "scim_filter.h"
#include "tandem/arena.h"

#define SCIM_PATCH_MAX_OPERATIONS 1000
#define SCIM_SCHEMA_PATCH_OP      "urn:ietf:params:scim:api:messages:2.0:PatchOp"
#define SCIM_SCHEMA_ERROR         "urn:ietf:params:scim:api:messages:2.0:Error"

typedef struct scim_error {
    int status;            /* HTTP status: 400, 404, 409, 412 ... */
    const char *scim_type; /* RFC 7644 table 9, or NULL */
    const char *detail;    /* for the client */
} scim_error;

/* Applies the PatchOp request to resource (a JSON object). See the contract above. */
int scim_patch_apply(tdm_arena *a, json_t *resource, const json_t *request, scim_error *err);

/* The SCIM error body for err (a new reference). */
json_t *scim_error_body(const scim_error *err);

#endif
