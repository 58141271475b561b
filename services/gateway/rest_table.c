/*
 * rest_table.c - builds the gateway's REST route table from the google.api.http
 * options in the embedded descriptor set (see rest_table.h), and an OpenAPI 3.1
 * document of it. protobuf-c keeps method options it does not know as unknown
 * fields; the HttpRule (field 72295728 of MethodOptions) is unpacked from there.
 */
#include "rest_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "google/api/http.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "tandem/descriptor_set.h"
#include "tandem/server.h"
#include "tandem/v1/enrolment.pb-c.h"
#include "tandem/v1/feedback.pb-c.h"
#include "tandem/v1/matching.pb-c.h"
#include "tandem/v1/tenant.pb-c.h"

#define HTTP_RULE_FIELD  72295728u
#define VARINT_MAX_BYTES 10

static const struct {
    const ProtobufCServiceDescriptor *service;
    const char *read_scope, *write_scope;
} SERVICES[] = {
    {&tandem__v1__tenant_service__descriptor, "platform", "platform"},
    {&tandem__v1__enrolment_service__descriptor, "enrolment:read", "enrolment:write"},
    {&tandem__v1__matching_service__descriptor, "matching:read", "matching:write"},
    {&tandem__v1__feedback_service__descriptor, "feedback:read", "feedback:write"},
};

static int find_service(const char *full_name)
{
    for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++) {
        if (strcmp(SERVICES[i].service->name, full_name) == 0)
            return (int)i;
    }
    return -1;
}

static bool idempotent_method(const char *name)
{
    return strncmp(name, "Create", 6) == 0 || strncmp(name, "Start", 5) == 0 ||
           strncmp(name, "Batch", 5) == 0 || strcmp(name, "Enrol") == 0 ||
           strcmp(name, "RecordCheckIn") == 0 || strcmp(name, "SubmitSurveyResponse") == 0;
}

static void add_route(gw_rest_table *out, size_t *cap, int svc, unsigned method_index,
                      const Google__Api__HttpRule *rule)
{
    const char *verb = NULL, *tmpl = NULL;
    switch (rule->pattern_case) {
    case GOOGLE__API__HTTP_RULE__PATTERN_GET:
        verb = "GET", tmpl = rule->get;
        break;
    case GOOGLE__API__HTTP_RULE__PATTERN_POST:
        verb = "POST", tmpl = rule->post;
        break;
    case GOOGLE__API__HTTP_RULE__PATTERN_PUT:
        verb = "PUT", tmpl = rule->put;
        break;
    case GOOGLE__API__HTTP_RULE__PATTERN_DELETE:
        verb = "DELETE", tmpl = rule->delete_;
        break;
    case GOOGLE__API__HTTP_RULE__PATTERN_PATCH:
        verb = "PATCH", tmpl = rule->patch;
        break;
    default:
        return;
    }
    if (tmpl == NULL)
        return;
    if (*cap == out->n) {
        size_t ncap = *cap == 0 ? 64 : *cap * 2;
        tdm_rest_route *grown = realloc(out->routes, ncap * sizeof(*grown));
        if (grown == NULL)
            return;
        out->routes = grown;
        *cap = ncap;
    }
    const ProtobufCServiceDescriptor *sd = SERVICES[svc].service;
    const ProtobufCMethodDescriptor *md = &sd->methods[method_index];
    size_t plen = strlen(sd->name) + strlen(md->name) + 3;
    char *grpc_path = malloc(plen);
    char *tmpl_copy = strdup(tmpl);
    char *body = strdup(rule->body != NULL ? rule->body : "");
    if (grpc_path == NULL || tmpl_copy == NULL || body == NULL) {
        free(grpc_path);
        free(tmpl_copy);
        free(body);
        return;
    }
    snprintf(grpc_path, plen, "/%s/%s", sd->name, md->name);
    bool read = strcmp(verb, "GET") == 0;
    const char *scope = read ? SERVICES[svc].read_scope : SERVICES[svc].write_scope;
    if (strcmp(md->name, "ExportPerson") == 0 || strcmp(md->name, "ErasePerson") == 0)
        scope = "admin";
    out->routes[out->n++] = (tdm_rest_route){
        .http_method = verb,
        .path_template = tmpl_copy,
        .grpc_path = grpc_path,
        .service = sd,
        .method_index = method_index,
        .body = body,
        .scope = scope,
        .idempotency_key = idempotent_method(md->name),
        .max_request_bytes = strcmp(md->name, "BatchEnrol") == 0 ? TDM_MAX_BATCH_MESSAGE_BYTES
                                                                 : TDM_MAX_MESSAGE_BYTES,
    };
}

/* The HttpRule of one method's options, or NULL. protobuf-c keeps a length-delimited
 * unknown field with its varint length prefix, which is skipped here. */
static Google__Api__HttpRule *http_rule(const Google__Protobuf__MethodOptions *opts)
{
    if (opts == NULL)
        return NULL;
    for (unsigned u = 0; u < opts->base.n_unknown_fields; u++) {
        const ProtobufCMessageUnknownField *uf = &opts->base.unknown_fields[u];
        if (uf->tag != HTTP_RULE_FIELD || uf->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
            continue;
        size_t off = 0;
        while (off < uf->len && off < VARINT_MAX_BYTES && (uf->data[off] & 0x80) != 0)
            off++;
        off++;
        if (off > uf->len)
            return NULL;
        return google__api__http_rule__unpack(NULL, uf->len - off, uf->data + off);
    }
    return NULL;
}

static void add_service_routes(gw_rest_table *out, size_t *cap,
                               const Google__Protobuf__FileDescriptorProto *file,
                               const Google__Protobuf__ServiceDescriptorProto *svc)
{
    char full[256];
    snprintf(full, sizeof(full), "%s.%s", file->package != NULL ? file->package : "", svc->name);
    int s = find_service(full);
    if (s < 0)
        return;
    const ProtobufCServiceDescriptor *sd = SERVICES[s].service;
    for (size_t m = 0; m < svc->n_method; m++) {
        const ProtobufCMethodDescriptor *md =
            protobuf_c_service_descriptor_get_method_by_name(sd, svc->method[m]->name);
        Google__Api__HttpRule *rule = md != NULL ? http_rule(svc->method[m]->options) : NULL;
        if (rule == NULL)
            continue;
        unsigned index = (unsigned)(md - sd->methods);
        add_route(out, cap, s, index, rule);
        for (size_t b = 0; b < rule->n_additional_bindings; b++)
            add_route(out, cap, s, index, rule->additional_bindings[b]);
        google__api__http_rule__free_unpacked(rule, NULL);
    }
}

/* ---- OpenAPI ----------------------------------------------------------------------------- */

static json_t *openapi_skeleton(void)
{
    return json_pack("{s:s, s:{s:s, s:s}, s:{s:{s:{s:s, s:s}}, s:{s:{s:s, s:{s:{s:s}, s:{s:s}, "
                     "s:{s:s, s:{s:s, s:{s:{s:s}, s:{s:s}}}}}}}}, s:[{s:[]}], s:{}}",
                     "openapi", "3.1.0", "info", "title", "Tandem API", "version", "v1",
                     "components", "securitySchemes", "bearer", "type", "http", "scheme", "bearer",
                     "schemas", "Error", "type", "object", "properties", "code", "type", "integer",
                     "message", "type", "string", "details", "type", "array", "items", "type",
                     "object", "properties", "field", "type", "string", "description", "type",
                     "string", "security", "bearer", "paths");
}

/* The path variables of a template ("{programme.id}" -> "programme.id"). */
static json_t *path_parameters(const char *tmpl)
{
    json_t *params = json_array();
    for (const char *p = strchr(tmpl, '{'); p != NULL && params != NULL; p = strchr(p + 1, '{')) {
        size_t n = strcspn(p + 1, "=}");
        char name[128];
        if (n >= sizeof(name))
            continue;
        memcpy(name, p + 1, n);
        name[n] = '\0';
        json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in",
                                                "path", "required", 1, "schema", "type", "string"));
    }
    return params;
}

static char *openapi_document(const gw_rest_table *t, size_t *len)
{
    json_t *doc = openapi_skeleton();
    json_t *paths = doc != NULL ? json_object_get(doc, "paths") : NULL;
    for (size_t i = 0; paths != NULL && i < t->n; i++) {
        const tdm_rest_route *r = &t->routes[i];
        json_t *item = json_object_get(paths, r->path_template);
        if (item == NULL) {
            item = json_object();
            json_object_set_new(paths, r->path_template, item);
        }
        char method[8] = {0}, op_id[200];
        for (size_t c = 0; c < sizeof(method) - 1 && r->http_method[c] != '\0'; c++)
            method[c] = (char)(r->http_method[c] | 0x20);
        const ProtobufCMethodDescriptor *md = &r->service->methods[r->method_index];
        const char *tag = r->service->short_name;
        snprintf(op_id, sizeof(op_id), "%s_%s", tag, md->name);
        json_t *op = json_pack(
            "{s:s, s:[s], s:o, s:{s:{s:s}, s:{s:s, s:{s:{s:{s:s}}}}}, "
            "s:s}",
            "operationId", op_id, "tags", tag, "parameters", path_parameters(r->path_template),
            "responses", "200", "description", "OK", "default", "description",
            "Error (gRPC code, message, field violations)", "content", "application/json", "schema",
            "$ref", "#/components/schemas/Error", "x-tandem-scope", r->scope);
        if (op != NULL && r->body[0] != '\0')
            json_object_set_new(op, "requestBody",
                                json_pack("{s:b, s:{s:{s:{s:s}}}}", "required", 1, "content",
                                          "application/json", "schema", "type", "object"));
        if (op != NULL)
            json_object_set_new(item, method, op);
    }
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(doc);
    if (text != NULL)
        *len = strlen(text);
    return text;
}

tdm_status *gw_rest_table_load(gw_rest_table *out)
{
    memset(out, 0, sizeof(*out));
    Google__Protobuf__FileDescriptorSet *set = google__protobuf__file_descriptor_set__unpack(
        NULL, tdm_descriptor_set_len, tdm_descriptor_set);
    if (set == NULL)
        return tdm_status_new(TDM_INTERNAL, "the embedded descriptor set is unreadable");
    size_t cap = 0;
    for (size_t f = 0; f < set->n_file; f++) {
        for (size_t s = 0; s < set->file[f]->n_service; s++)
            add_service_routes(out, &cap, set->file[f], set->file[f]->service[s]);
    }
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    if (out->n == 0)
        return tdm_status_new(TDM_INTERNAL, "no REST bindings in the descriptor set");
    out->openapi_json = openapi_document(out, &out->openapi_len);
    if (out->openapi_json == NULL) {
        gw_rest_table_free(out);
        return tdm_status_new(TDM_INTERNAL, "could not build the OpenAPI document");
    }
    return NULL;
}

void gw_rest_table_free(gw_rest_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free((char *)t->routes[i].path_template);
        free((char *)t->routes[i].grpc_path);
        free((char *)t->routes[i].body);
    }
    free(t->routes);
    free(t->openapi_json);
    memset(t, 0, sizeof(*t));
}
