/*
 * rest_routes.c - builds the REST route table from the google.api.http options in
 * the embedded descriptor set and matches requests against it (see rest_routes.h).
 * protobuf-c keeps method options it does not know as unknown fields; the HttpRule
 * (field 72295728 of MethodOptions) is unpacked from there.
 */
#include "rest_routes.h"

#include <stdlib.h>
#include <string.h>

#include "google/api/http.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "tandem/descriptor_set.h"
#include "tandem/v1/enrolment.pb-c.h"
#include "tandem/v1/feedback.pb-c.h"
#include "tandem/v1/matching.pb-c.h"
#include "tandem/v1/tenant.pb-c.h"

#define HTTP_RULE_FIELD 72295728u

static const ProtobufCServiceDescriptor *const SERVICES[] = {
    &tandem__v1__tenant_service__descriptor,
    &tandem__v1__enrolment_service__descriptor,
    &tandem__v1__matching_service__descriptor,
    &tandem__v1__feedback_service__descriptor,
};

static const ProtobufCServiceDescriptor *find_service(const char *full_name)
{
    for (size_t i = 0; i < sizeof(SERVICES) / sizeof(SERVICES[0]); i++) {
        if (strcmp(SERVICES[i]->name, full_name) == 0)
            return SERVICES[i];
    }
    return NULL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *gw_percent_decode(tdm_arena *arena, const char *s, size_t len, bool plus_is_space)
{
    char *out = tdm_arena_alloc(arena, len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return NULL;
            int hi = hex_digit(s[i + 1]);
            int lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return out;
}

/* "/v1/a/{x}/b:verb" into r's segments; -1 when the template is not one we serve. */
static int parse_template(gw_route *r, const char *tmpl)
{
    r->template_ = strdup(tmpl);
    if (r->template_ == NULL || tmpl[0] != '/')
        return -1;
    char *copy = strdup(tmpl + 1);
    if (copy == NULL)
        return -1;
    /* The verb follows the last ':' after the last '/' (not inside braces). */
    char *last = strrchr(copy, '/');
    char *colon = strrchr(last != NULL ? last : copy, ':');
    if (colon != NULL && strchr(colon, '}') == NULL) {
        *colon = '\0';
        r->verb = strdup(colon + 1);
    }
    char *save = NULL;
    for (char *seg = strtok_r(copy, "/", &save); seg != NULL; seg = strtok_r(NULL, "/", &save)) {
        if (r->n_segments >= GW_ROUTE_MAX_SEGMENTS) {
            free(copy);
            return -1;
        }
        size_t n = strlen(seg);
        if (seg[0] == '{' && seg[n - 1] == '}') {
            seg[n - 1] = '\0';
            char *eq = strchr(seg + 1, '=');
            if (eq != NULL)
                *eq = '\0'; /* {name=*}: still one segment */
            r->vars[r->n_segments] = strdup(seg + 1);
            r->segments[r->n_segments] = NULL;
        } else {
            r->segments[r->n_segments] = strdup(seg);
            r->vars[r->n_segments] = NULL;
        }
        r->n_segments++;
    }
    free(copy);
    return 0;
}

static void add_route(gw_routes *out, size_t *cap, const ProtobufCServiceDescriptor *sd,
                      const ProtobufCMethodDescriptor *md, const Google__Api__HttpRule *rule)
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
    if (*cap == out->n) {
        size_t ncap = *cap == 0 ? 64 : *cap * 2;
        gw_route *grown = realloc(out->routes, ncap * sizeof(*grown));
        if (grown == NULL)
            return;
        out->routes = grown;
        *cap = ncap;
    }
    gw_route *r = &out->routes[out->n];
    memset(r, 0, sizeof(*r));
    if (parse_template(r, tmpl) != 0) {
        free(r->template_);
        return;
    }
    r->http_method = strdup(verb);
    r->body = strdup(rule->body != NULL ? rule->body : "");
    r->service = sd;
    r->method = md;
    size_t plen = strlen(sd->name) + strlen(md->name) + 3;
    r->grpc_path = malloc(plen);
    if (r->grpc_path != NULL)
        snprintf(r->grpc_path, plen, "/%s/%s", sd->name, md->name);
    r->peer = gw_service_peer(sd->name);
    if (sd == &tandem__v1__tenant_service__descriptor) {
        const gw_route_auth *ra = gw_tenant_method_auth(md->name);
        if (ra != NULL)
            r->auth = *ra;
    } else {
        gw_service_method_auth(sd->name, md->name, strcmp(verb, "GET") == 0, &r->auth);
    }
    r->max_body_bytes =
        strcmp(md->name, "BatchEnrol") == 0 ? TDM_MAX_BATCH_MESSAGE_BYTES : TDM_MAX_MESSAGE_BYTES;
    out->n++;
}

tdm_status *gw_routes_load(gw_routes *out)
{
    memset(out, 0, sizeof(*out));
    Google__Protobuf__FileDescriptorSet *set = google__protobuf__file_descriptor_set__unpack(
        NULL, tdm_descriptor_set_len, tdm_descriptor_set);
    if (set == NULL)
        return tdm_status_new(TDM_INTERNAL, "the embedded descriptor set is unreadable");
    size_t cap = 0;
    for (size_t f = 0; f < set->n_file; f++) {
        const Google__Protobuf__FileDescriptorProto *file = set->file[f];
        for (size_t s = 0; s < file->n_service; s++) {
            const Google__Protobuf__ServiceDescriptorProto *svc = file->service[s];
            char full[256];
            snprintf(full, sizeof(full), "%s.%s", file->package != NULL ? file->package : "",
                     svc->name);
            const ProtobufCServiceDescriptor *sd = find_service(full);
            if (sd == NULL)
                continue;
            for (size_t m = 0; m < svc->n_method; m++) {
                const Google__Protobuf__MethodDescriptorProto *mp = svc->method[m];
                const ProtobufCMethodDescriptor *md =
                    protobuf_c_service_descriptor_get_method_by_name(sd, mp->name);
                if (md == NULL || mp->options == NULL)
                    continue;
                const ProtobufCMessage *opts = &mp->options->base;
                for (unsigned u = 0; u < opts->n_unknown_fields; u++) {
                    const ProtobufCMessageUnknownField *uf = &opts->unknown_fields[u];
                    if (uf->tag != HTTP_RULE_FIELD ||
                        uf->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
                        continue;
                    /* protobuf-c keeps a length-delimited unknown field with its
                     * varint length prefix: skip it. */
                    size_t off = 0;
                    while (off < uf->len && off < 10 && (uf->data[off] & 0x80) != 0)
                        off++;
                    off++;
                    if (off > uf->len)
                        continue;
                    Google__Api__HttpRule *rule =
                        google__api__http_rule__unpack(NULL, uf->len - off, uf->data + off);
                    if (rule == NULL)
                        continue;
                    add_route(out, &cap, sd, md, rule);
                    for (size_t b = 0; b < rule->n_additional_bindings; b++)
                        add_route(out, &cap, sd, md, rule->additional_bindings[b]);
                    google__api__http_rule__free_unpacked(rule, NULL);
                }
            }
        }
    }
    google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
    if (out->n == 0)
        return tdm_status_new(TDM_INTERNAL, "no REST bindings in the descriptor set");
    return NULL;
}

void gw_routes_free(gw_routes *r)
{
    for (size_t i = 0; i < r->n; i++) {
        gw_route *rt = &r->routes[i];
        for (size_t s = 0; s < rt->n_segments; s++) {
            free(rt->segments[s]);
            free(rt->vars[s]);
        }
        free(rt->http_method);
        free(rt->template_);
        free(rt->verb);
        free(rt->body);
        free(rt->grpc_path);
    }
    free(r->routes);
    memset(r, 0, sizeof(*r));
}

static bool route_matches(const gw_route *r, char **segs, size_t n, const char *verb)
{
    if (r->n_segments != n)
        return false;
    if ((r->verb == NULL) != (verb == NULL))
        return false;
    if (verb != NULL && strcmp(r->verb, verb) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (r->segments[i] != NULL ? strcmp(r->segments[i], segs[i]) != 0 : segs[i][0] == '\0')
            return false;
    }
    return true;
}

const gw_route *gw_routes_match(const gw_routes *r, const char *method, const char *path,
                                tdm_arena *arena, char ***values, bool *path_known)
{
    *path_known = false;
    if (path == NULL || path[0] != '/')
        return NULL;
    char *copy = tdm_arena_strdup(arena, path + 1);
    char **segs = tdm_arena_calloc(arena, GW_ROUTE_MAX_SEGMENTS, sizeof(char *));
    if (copy == NULL || segs == NULL)
        return NULL;
    size_t n = 0;
    char *p = copy;
    for (;;) {
        if (n >= GW_ROUTE_MAX_SEGMENTS)
            return NULL;
        segs[n++] = p;
        char *slash = strchr(p, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    /* A custom verb: the last segment's text after its last ':'. */
    char *last = segs[n - 1];
    char *colon = strrchr(last, ':');
    const gw_route *found = NULL;
    for (int pass = 0; pass < 2 && found == NULL; pass++) {
        const char *verb = NULL;
        if (pass == 1) {
            if (colon == NULL)
                break;
            *colon = '\0';
            verb = colon + 1;
        }
        for (size_t i = 0; i < r->n; i++) {
            if (!route_matches(&r->routes[i], segs, n, verb))
                continue;
            if (strcmp(r->routes[i].http_method, method) != 0) {
                *path_known = true;
                continue;
            }
            found = &r->routes[i];
            break;
        }
    }
    if (found == NULL)
        return NULL;
    char **vals = tdm_arena_calloc(arena, n, sizeof(char *));
    if (vals == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (found->vars[i] == NULL)
            continue;
        vals[i] = gw_percent_decode(arena, segs[i], strlen(segs[i]), false);
        if (vals[i] == NULL)
            return NULL;
    }
    *values = vals;
    return found;
}
