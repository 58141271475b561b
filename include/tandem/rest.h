/*
 * rest.h - REST routes onto gRPC methods, as google.api.http describes them.
 *
 * The route table is generated at build time from the descriptor set
 * (tools/codegen/gen_routes.py; `#include "tandem/rest_routes.h"`, target
 * tandem_rest_routes): one tdm_rest_route per method with a google.api.http option.
 * A router compiles the path templates once: literals, variables
 * ("/v1/programmes/{programme_id}/participants"), nested variables ("{programme.id}"),
 * custom verbs ("/v1/participants/{id}:withdraw") and the google.api.http wildcards (a
 * single-segment star, a trailing double star, "{name=shelves/<star>}" patterns). It
 * matches a method and path to a route with its variables percent-decoded, and builds the
 * request message the way grpc-gateway does: body first, then path variables, then query
 * parameters.
 */
#ifndef TANDEM_REST_H
#define TANDEM_REST_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "tandem/arena.h"
#include "tandem/status.h"

/* Bounds on what a request path or query string may hold; larger input is refused. */
#define TDM_REST_MAX_PATH_BYTES    2048u
#define TDM_REST_MAX_SEGMENTS      32u
#define TDM_REST_MAX_VARIABLES     8u
#define TDM_REST_MAX_QUERY_BYTES   8192u
#define TDM_REST_MAX_QUERY_PARAMS  64u
#define TDM_REST_MAX_REQUEST_BYTES (4u * 1024u * 1024u)
#define TDM_REST_MAX_BATCH_BYTES   (32u * 1024u * 1024u)

typedef struct tdm_rest_route {
    const char *http_method;   /* "GET", "POST", "PATCH", "PUT", "DELETE" */
    const char *path_template; /* "/v1/programmes/{programme_id}/participants:batchEnrol" */
    const char *grpc_path;     /* "/tandem.v1.EnrolmentService/BatchEnrol" */
    const ProtobufCServiceDescriptor *service;
    unsigned method_index; /* into service->methods */
    const char *body;      /* "" no body, "*" the whole request, or a field path */
    const char *scope;     /* "enrolment:read", "matching:write", "admin", "platform" */
    bool idempotency_key;  /* accepts Idempotency-Key (create/start/batch calls) */
    size_t max_request_bytes;
} tdm_rest_route;

typedef struct tdm_rest_router tdm_rest_router;

/* Compile the templates of `routes` (which must outlive the router). A malformed
 * template is INTERNAL naming it. */
tdm_status *tdm_rest_router_new(const tdm_rest_route *routes, size_t n_routes,
                                tdm_rest_router **out);
void tdm_rest_router_free(tdm_rest_router *router);

typedef struct tdm_rest_variable {
    const char *field_path; /* "programme.id" */
    const char *value;      /* percent-decoded, NUL-terminated, in the arena */
} tdm_rest_variable;

typedef struct tdm_rest_match {
    const tdm_rest_route *route;
    size_t n_variables;
    tdm_rest_variable variables[TDM_REST_MAX_VARIABLES];
    /* When the path matched only routes of other methods: their methods ("GET, POST"),
     * for the Allow header of a 405. NULL otherwise. */
    const char *allow;
} tdm_rest_match;

/* Match `method` and `path` (no query string) to a route. NULL on success with *out
 * filled. Otherwise: NOT_FOUND when no template matches the path; UNIMPLEMENTED with
 * out->allow set when templates match but not for this method (answer 405);
 * INVALID_ARGUMENT naming the field when a variable is malformed (bad
 * percent-encoding, a "/" inside a single-segment variable). */
tdm_status *tdm_rest_match_request(const tdm_rest_router *router, const char *method,
                                   const char *path, size_t path_len, tdm_arena *arena,
                                   tdm_rest_match *out);

typedef struct tdm_rest_param {
    const char *key;   /* percent-decoded, '+' as space */
    const char *value; /* "" for a key without '=' */
} tdm_rest_param;

/* Split a query string ("a=b&c=d", without the '?') into decoded parameters, in order,
 * repeated keys kept. INVALID_ARGUMENT beyond TDM_REST_MAX_QUERY_PARAMS or
 * TDM_REST_MAX_QUERY_BYTES, or on malformed percent-encoding. */
tdm_status *tdm_rest_parse_query(const char *query, size_t len, tdm_arena *arena,
                                 tdm_rest_param **out, size_t *n_out);

/* Percent-decode s[0..len) into the arena ('+' as space when plus_is_space); NULL on
 * malformed escapes, a decoded NUL, or out of memory. */
char *tdm_rest_percent_decode(const char *s, size_t len, bool plus_is_space, tdm_arena *arena);

/* The request message of a matched route: the JSON body into the route's body field
 * (an empty body counts as {}), then the path variables, then every query parameter
 * (a field path, lowerCamelCase or proto names; repeated keys append). Query
 * parameters may not name a field the body or the path already gives. Every refusal
 * is INVALID_ARGUMENT naming the field. The message lives in `arena`. */
tdm_status *tdm_rest_build_request(const tdm_rest_match *match, const char *query, size_t query_len,
                                   const char *body, size_t body_len, tdm_arena *arena,
                                   ProtobufCMessage **out);

#endif
