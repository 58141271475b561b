/*
 * rest_routes.h - the REST route table of the gateway, read at start-up from the
 * google.api.http bindings in the embedded descriptor set (tdm_descriptor_set), so
 * the REST surface is exactly what the .proto files declare.
 *
 * A template is grpc-gateway's: literal segments, `{field.path}` variables (one
 * segment each) and an optional trailing `:verb`. Matching is by HTTP method and
 * segment count, literals first in declaration order.
 */
#ifndef TANDEM_GATEWAY_REST_ROUTES_H
#define TANDEM_GATEWAY_REST_ROUTES_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#include "gateway.h"
#include "tandem/arena.h"
#include "tandem/status.h"

#define GW_ROUTE_MAX_SEGMENTS 16

typedef struct gw_route {
    char *http_method; /* "GET" */
    char *template_;   /* "/v1/programmes/{programme_id}/participants:batchEnrol" (metrics) */
    size_t n_segments;
    char *segments[GW_ROUTE_MAX_SEGMENTS]; /* literal text, or NULL for a variable */
    char *vars[GW_ROUTE_MAX_SEGMENTS];     /* the field path of a variable segment */
    char *verb;                            /* NULL when none */
    char *body;                            /* "" none, "*" the whole request, else a field */
    const ProtobufCServiceDescriptor *service;
    const ProtobufCMethodDescriptor *method;
    char *grpc_path;  /* "/tandem.v1.EnrolmentService/Enrol" */
    const char *peer; /* owning service, NULL for the gateway's own TenantService */
    gw_route_auth auth;
    size_t max_body_bytes;
} gw_route;

typedef struct gw_routes {
    gw_route *routes;
    size_t n;
} gw_routes;

/* Build the table; INTERNAL when the descriptor set cannot be read. */
tdm_status *gw_routes_load(gw_routes *out);
void gw_routes_free(gw_routes *r);

/* The route of (method, path) and its variables' percent-decoded values (in arena,
 * one per route segment, NULL for literals). NULL when none matches; *path_known is
 * set when some route has this path under another method. */
const gw_route *gw_routes_match(const gw_routes *r, const char *method, const char *path,
                                tdm_arena *arena, char ***values, bool *path_known);

/* Percent-decode s[0..len) into arena; plus_is_space for query strings. NULL when
 * malformed (bad escape, NUL byte). */
char *gw_percent_decode(tdm_arena *arena, const char *s, size_t len, bool plus_is_space);

#endif
