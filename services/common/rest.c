/*
 * rest.c - matching REST requests to gRPC methods by google.api.http path templates,
 * and building the request message from body, path variables and query string.
 *
 * Templates are compiled once into segments (literal, "*", "**") with variables over
 * ranges of them and an optional custom verb (":withdraw"). Matching is a linear scan
 * of the routes - there are a few dozen - comparing raw path segments; when several
 * routes match, the one with more literal segments wins, and a route with a custom
 * verb beats one whose last variable would swallow the ":verb". Variables are
 * percent-decoded only after matching, so an encoded "/" can never change which route
 * matches, and a "/" inside a single-segment variable is refused.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_internal.h"
#include "tandem/json.h"
#include "tandem/rest.h"

/* Longest template the router accepts (ours are under 80 bytes). */
#define TEMPLATE_MAX_BYTES 512
/* Paths and keys quoted back in messages are cut to this many bytes. */
#define QUOTE_MAX_BYTES 200

typedef enum segment_kind { SEGMENT_LITERAL, SEGMENT_STAR, SEGMENT_DOUBLE_STAR } segment_kind;

typedef struct template_segment {
    segment_kind kind;
    const char *text; /* literal text, inside compiled_route.storage */
    size_t len;
} template_segment;

typedef struct template_variable {
    const char *field_path; /* NUL-terminated, inside compiled_route.storage */
    size_t first_segment;
    size_t n_segments;
} template_variable;

typedef struct compiled_route {
    const tdm_rest_route *route;
    char *storage; /* a copy of the template, cut into NUL-terminated pieces */
    template_segment segments[TDM_REST_MAX_SEGMENTS];
    size_t n_segments;
    template_variable variables[TDM_REST_MAX_VARIABLES];
    size_t n_variables;
    const char *verb; /* NULL when the template has none */
    size_t verb_len;
    int specificity;
} compiled_route;

struct tdm_rest_router {
    compiled_route *routes;
    size_t n_routes;
};

typedef struct path_segment {
    const char *text;
    size_t len;
} path_segment;

/* ---- templates ------------------------------------------------------------------ */

static bool add_segment(compiled_route *cr, const char *text, size_t len)
{
    if (cr->n_segments == TDM_REST_MAX_SEGMENTS || len == 0)
        return false;
    template_segment *seg = &cr->segments[cr->n_segments++];
    seg->text = text;
    seg->len = len;
    if (len == 1 && text[0] == '*')
        seg->kind = SEGMENT_STAR;
    else if (len == 2 && text[0] == '*' && text[1] == '*')
        seg->kind = SEGMENT_DOUBLE_STAR;
    else
        seg->kind = SEGMENT_LITERAL;
    for (size_t i = 0; seg->kind == SEGMENT_LITERAL && i < len; i++)
        if (strchr("{}*=?#%", text[i]) != NULL)
            return false;
    return true;
}

static bool valid_field_path(const char *s)
{
    if (s[0] == '\0' || s[0] == '.')
        return false;
    for (const char *c = s; *c != '\0'; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.')
            return false;
    return s[strlen(s) - 1] != '.' && strstr(s, "..") == NULL;
}

/* "{field.path}" or "{field.path=pattern}" (segments of literals, "*" and a final "**");
 * s points past '{', end at the closing '}'. */
static bool parse_variable(compiled_route *cr, char *s, char *end)
{
    if (cr->n_variables == TDM_REST_MAX_VARIABLES)
        return false;
    template_variable *var = &cr->variables[cr->n_variables++];
    *end = '\0';
    char *eq = strchr(s, '=');
    var->first_segment = cr->n_segments;
    if (eq == NULL) {
        if (!add_segment(cr, "*", 1))
            return false;
    } else {
        *eq = '\0';
        for (char *seg = eq + 1; seg <= end;) {
            char *slash = memchr(seg, '/', (size_t)(end - seg));
            char *seg_end = slash != NULL ? slash : end;
            if (!add_segment(cr, seg, (size_t)(seg_end - seg)))
                return false;
            seg = seg_end + 1;
        }
    }
    var->field_path = s;
    var->n_segments = cr->n_segments - var->first_segment;
    return valid_field_path(s);
}

static bool compile_template(compiled_route *cr)
{
    const char *tpl = cr->route->path_template;
    size_t len = strlen(tpl);
    if (len == 0 || len > TEMPLATE_MAX_BYTES || tpl[0] != '/')
        return false;
    cr->storage = malloc(len + 1);
    if (cr->storage == NULL)
        return false;
    memcpy(cr->storage, tpl, len + 1);
    char *s = cr->storage;
    /* The verb: a ':' outside braces after the last '/'. */
    int depth = 0;
    char *colon = NULL;
    for (char *c = s; *c != '\0'; c++) {
        if (*c == '{')
            depth++;
        else if (*c == '}')
            depth--;
        else if (*c == '/' && depth == 0)
            colon = NULL;
        else if (*c == ':' && depth == 0)
            colon = c;
    }
    char *path_end = s + len;
    if (colon != NULL) {
        *colon = '\0';
        cr->verb = colon + 1;
        cr->verb_len = strlen(cr->verb);
        path_end = colon;
        if (cr->verb_len == 0)
            return false;
    }
    for (char *p = s + 1; p < path_end;) {
        char *next;
        if (*p == '{') {
            char *close = memchr(p, '}', (size_t)(path_end - p));
            if (close == NULL || !parse_variable(cr, p + 1, close))
                return false;
            next = close + 1;
        } else {
            char *slash = memchr(p, '/', (size_t)(path_end - p));
            next = slash != NULL ? slash : path_end;
            if (!add_segment(cr, p, (size_t)(next - p)))
                return false;
        }
        if (next < path_end && *next != '/')
            return false;
        if (next < path_end)
            *next++ = '\0';
        else
            *next = '\0';
        p = next;
    }
    int literals = 0;
    for (size_t i = 0; i < cr->n_segments; i++) {
        if (cr->segments[i].kind == SEGMENT_DOUBLE_STAR && i + 1 != cr->n_segments)
            return false; /* "**" only at the end, as google.api.http requires */
        literals += cr->segments[i].kind == SEGMENT_LITERAL;
    }
    cr->specificity = literals * 4 + (cr->verb != NULL ? 2 : 0);
    return cr->n_segments > 0;
}

tdm_status *tdm_rest_router_new(const tdm_rest_route *routes, size_t n_routes,
                                tdm_rest_router **out)
{
    tdm_rest_router *router = calloc(1, sizeof *router);
    if (router == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    router->routes = calloc(n_routes > 0 ? n_routes : 1, sizeof *router->routes);
    if (router->routes == NULL) {
        free(router);
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    }
    router->n_routes = n_routes;
    for (size_t i = 0; i < n_routes; i++) {
        router->routes[i].route = &routes[i];
        if (!compile_template(&router->routes[i])) {
            tdm_status *st = tdm_status_new(TDM_INTERNAL, "malformed REST route");
            tdm_status_set_detail(st, "template \"%s\" of %s", routes[i].path_template,
                                  routes[i].grpc_path);
            tdm_rest_router_free(router);
            return st;
        }
    }
    *out = router;
    return NULL;
}

void tdm_rest_router_free(tdm_rest_router *router)
{
    if (router == NULL)
        return;
    for (size_t i = 0; i < router->n_routes; i++)
        free(router->routes[i].storage);
    free(router->routes);
    free(router);
}

/* ---- matching ------------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *tdm_rest_percent_decode(const char *s, size_t len, bool plus_is_space, tdm_arena *arena)
{
    char *out = tdm_arena_alloc(arena, len + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return NULL;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (s[i] == '\0') {
            return NULL;
        } else {
            out[o++] = plus_is_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static bool segments_match(const compiled_route *cr, const path_segment *segs, size_t n)
{
    bool open_ended =
        cr->n_segments > 0 && cr->segments[cr->n_segments - 1].kind == SEGMENT_DOUBLE_STAR;
    if (open_ended ? n < cr->n_segments - 1 : n != cr->n_segments)
        return false;
    for (size_t i = 0; i < cr->n_segments; i++) {
        const template_segment *t = &cr->segments[i];
        if (t->kind == SEGMENT_DOUBLE_STAR)
            return true;
        if (t->kind == SEGMENT_STAR && segs[i].len == 0)
            return false;
        if (t->kind == SEGMENT_LITERAL &&
            (segs[i].len != t->len || memcmp(segs[i].text, t->text, t->len) != 0))
            return false;
    }
    return true;
}

/* Whether the route matches the path; segs[n-1] may be cut short of its ":verb". */
static bool route_matches(const compiled_route *cr, path_segment *segs, size_t n,
                          path_segment *matched_last)
{
    path_segment last = segs[n - 1];
    if (cr->verb != NULL) {
        if (last.len < cr->verb_len + 1 ||
            memcmp(last.text + last.len - cr->verb_len, cr->verb, cr->verb_len) != 0 ||
            last.text[last.len - cr->verb_len - 1] != ':')
            return false;
        segs[n - 1].len = last.len - cr->verb_len - 1;
    }
    bool ok = segments_match(cr, segs, n);
    *matched_last = segs[n - 1];
    segs[n - 1] = last;
    return ok;
}

static tdm_status *extract_variables(const compiled_route *cr, path_segment *segs, size_t n,
                                     tdm_arena *arena, tdm_rest_match *out)
{
    out->n_variables = 0;
    for (size_t v = 0; v < cr->n_variables; v++) {
        const template_variable *var = &cr->variables[v];
        const char *start, *end;
        bool open_ended =
            cr->segments[var->first_segment + var->n_segments - 1].kind == SEGMENT_DOUBLE_STAR;
        size_t last = open_ended ? n - 1 : var->first_segment + var->n_segments - 1;
        if (var->first_segment >= n) { /* "**" matching nothing */
            start = end = "";
        } else {
            start = segs[var->first_segment].text;
            end = segs[last].text + segs[last].len;
        }
        char *value = tdm_rest_percent_decode(start, (size_t)(end - start), false, arena);
        if (value == NULL) {
            tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT,
                                            "invalid %s: malformed "
                                            "percent-encoding in the path",
                                            var->field_path);
            return tdm_status_add_violation(st, var->field_path, "malformed percent-encoding");
        }
        bool single = var->n_segments == 1 && !open_ended;
        if (single && strchr(value, '/') != NULL) {
            tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT,
                                            "invalid %s: must not contain "
                                            "\"/\"",
                                            var->field_path);
            return tdm_status_add_violation(st, var->field_path, "must not contain \"/\"");
        }
        out->variables[out->n_variables].field_path = var->field_path;
        out->variables[out->n_variables++].value = value;
    }
    return NULL;
}

static const char *allowed_methods(const tdm_rest_router *router, const bool *path_match,
                                   tdm_arena *arena)
{
    char list[128];
    size_t o = 0;
    list[0] = '\0';
    for (size_t i = 0; i < router->n_routes; i++) {
        const char *m = router->routes[i].route->http_method;
        if (!path_match[i])
            continue;
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= path_match[j] && strcmp(router->routes[j].route->http_method, m) == 0;
        if (!seen && o + strlen(m) + 3 < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o > 0 ? ", " : "", m);
    }
    return tdm_arena_strdup(arena, list);
}

tdm_status *tdm_rest_match_request(const tdm_rest_router *router, const char *method,
                                   const char *path, size_t path_len, tdm_arena *arena,
                                   tdm_rest_match *out)
{
    memset(out, 0, sizeof *out);
    int quoted = (int)(path_len < QUOTE_MAX_BYTES ? path_len : QUOTE_MAX_BYTES);
    path_segment segs[TDM_REST_MAX_SEGMENTS + 1];
    size_t n = 0;
    bool too_long = path_len > TDM_REST_MAX_PATH_BYTES || path_len == 0 || path[0] != '/';
    for (size_t i = 1; !too_long && i <= path_len; n++) {
        if (n == TDM_REST_MAX_SEGMENTS + 1) {
            too_long = true;
            break;
        }
        const char *slash = memchr(path + i, '/', path_len - i);
        size_t end = slash != NULL ? (size_t)(slash - path) : path_len;
        segs[n] = (path_segment){.text = path + i, .len = end - i};
        i = end + 1;
    }
    if (too_long || n == 0)
        return tdm_status_new(TDM_NOT_FOUND, "no route for %s %.*s", method, quoted, path);

    bool *path_match = tdm_arena_calloc(arena, router->n_routes + 1, sizeof *path_match);
    if (path_match == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    bool verb_route_matched = false;
    for (size_t i = 0; i < router->n_routes; i++) {
        path_segment ignored;
        path_match[i] = route_matches(&router->routes[i], segs, n, &ignored);
        verb_route_matched |= path_match[i] && router->routes[i].verb != NULL;
    }
    const compiled_route *best = NULL;
    bool any = false;
    for (size_t i = 0; i < router->n_routes; i++) {
        const compiled_route *cr = &router->routes[i];
        /* "/participants/{id}" must not read "x:withdraw" as an id when a route with
         * that verb exists for the path. */
        if (verb_route_matched && cr->verb == NULL)
            path_match[i] = false;
        if (!path_match[i])
            continue;
        any = true;
        if (strcmp(cr->route->http_method, method) == 0 &&
            (best == NULL || cr->specificity > best->specificity))
            best = cr;
    }
    if (best == NULL && any) {
        out->allow = allowed_methods(router, path_match, arena);
        return tdm_status_new(TDM_UNIMPLEMENTED, "method %s is not allowed for %.*s", method,
                              quoted, path);
    }
    if (best == NULL)
        return tdm_status_new(TDM_NOT_FOUND, "no route for %s %.*s", method, quoted, path);
    path_segment last;
    route_matches(best, segs, n, &last);
    segs[n - 1] = last;
    out->route = best->route;
    return extract_variables(best, segs, n, arena, out);
}

/* ---- query strings -------------------------------------------------------------- */

tdm_status *tdm_rest_parse_query(const char *query, size_t len, tdm_arena *arena,
                                 tdm_rest_param **out, size_t *n_out)
{
    *out = NULL;
    *n_out = 0;
    if (len > TDM_REST_MAX_QUERY_BYTES)
        return tdm_status_new(TDM_INVALID_ARGUMENT, "query string longer than %u bytes",
                              TDM_REST_MAX_QUERY_BYTES);
    tdm_rest_param *params = tdm_arena_calloc(arena, TDM_REST_MAX_QUERY_PARAMS, sizeof *params);
    if (params == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(query + i, '&', len - i);
        size_t end = amp != NULL ? (size_t)(amp - query) : len;
        if (end > i) {
            if (n == TDM_REST_MAX_QUERY_PARAMS)
                return tdm_status_new(TDM_INVALID_ARGUMENT, "more than %u query parameters",
                                      TDM_REST_MAX_QUERY_PARAMS);
            const char *eq = memchr(query + i, '=', end - i);
            size_t key_end = eq != NULL ? (size_t)(eq - query) : end;
            char *key = tdm_rest_percent_decode(query + i, key_end - i, true, arena);
            char *value = eq != NULL
                              ? tdm_rest_percent_decode(eq + 1, end - key_end - 1, true, arena)
                              : tdm_arena_strdup(arena, "");
            if (key == NULL || value == NULL) {
                int quoted = (int)(key_end - i < 64 ? key_end - i : 64);
                tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT,
                                                "malformed percent-encoding in query parameter "
                                                "\"%.*s\"",
                                                quoted, query + i);
                return tdm_status_add_violation(st, key != NULL ? key : "",
                                                "malformed percent-encoding");
            }
            params[n].key = key;
            params[n++].value = value;
        }
        i = end + 1;
    }
    *out = params;
    *n_out = n;
    return NULL;
}

/* ---- building the request ------------------------------------------------------- */

/* The dotted path in proto names ("programme.id" for "programme.id" or
 * "Programme.id"...), into buf; false when a segment names no field. */
static bool proto_path(const ProtobufCMessageDescriptor *desc, const char *dotted, char *buf,
                       size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (const char *seg = dotted; desc != NULL;) {
        const char *dot = strchr(seg, '.');
        size_t len = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
        const ProtobufCFieldDescriptor *f = tdm_json_find_field(desc, seg, len);
        if (f == NULL)
            return false;
        int w = snprintf(buf + o, cap - o, "%s%s", o > 0 ? "." : "", f->name);
        if (w < 0 || (size_t)w >= cap - o)
            return false;
        o += (size_t)w;
        if (dot == NULL)
            return true;
        desc = f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL;
        seg = dot + 1;
    }
    return false;
}

/* Whether `path` is `prefix` or lies inside it ("programme.name" in "programme"). */
static bool path_within(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(path, prefix, n) == 0 && (path[n] == '\0' || path[n] == '.');
}

static bool only_whitespace(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

static tdm_status *merge_body(const tdm_rest_route *route, ProtobufCMessage *msg, const char *body,
                              size_t body_len, tdm_arena *arena)
{
    if (body_len > route->max_request_bytes && route->max_request_bytes > 0)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "request body larger than %zu bytes",
                              route->max_request_bytes);
    if (body == NULL || only_whitespace(body, body_len))
        return NULL; /* an empty body is {} */
    return tdm_json_merge_text(body, body_len, msg, route->body, arena);
}

static tdm_status *apply_query(const tdm_rest_match *match, ProtobufCMessage *msg,
                               const tdm_rest_param *params, size_t n, tdm_arena *arena)
{
    const tdm_rest_route *route = match->route;
    for (size_t i = 0; i < n; i++) {
        const char *key = params[i].key;
        char resolved[TDM_JSON_MAX_PATH_BYTES];
        if (strcmp(route->body, "*") == 0)
            return tdm_json_refusal(key, "not accepted in the query string: this call takes "
                                         "its fields from the body");
        if (proto_path(msg->descriptor, key, resolved, sizeof resolved)) {
            char bound[TDM_JSON_MAX_PATH_BYTES];
            if (route->body[0] != '\0' &&
                proto_path(msg->descriptor, route->body, bound, sizeof bound) &&
                path_within(resolved, bound))
                return tdm_json_refusal(resolved, "given by the request body, not the query");
            for (size_t v = 0; v < match->n_variables; v++)
                if (proto_path(msg->descriptor, match->variables[v].field_path, bound,
                               sizeof bound) &&
                    path_within(resolved, bound))
                    return tdm_json_refusal(resolved, "given by the path, not the query");
        }
        tdm_status *st = tdm_json_set_field_path(msg, key, params[i].value, arena);
        if (st != NULL)
            return st;
    }
    return NULL;
}

tdm_status *tdm_rest_build_request(const tdm_rest_match *match, const char *query, size_t query_len,
                                   const char *body, size_t body_len, tdm_arena *arena,
                                   ProtobufCMessage **out)
{
    const tdm_rest_route *route = match->route;
    const ProtobufCMethodDescriptor *md = &route->service->methods[route->method_index];
    ProtobufCMessage *msg = tdm_json_message_new(md->input, arena);
    if (msg == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    tdm_status *st = NULL;
    if (route->body[0] != '\0')
        st = merge_body(route, msg, body, body_len, arena);
    for (size_t v = 0; st == NULL && v < match->n_variables; v++)
        st = tdm_json_set_field_path(msg, match->variables[v].field_path, match->variables[v].value,
                                     arena);
    if (st == NULL && query != NULL && query_len > 0) {
        tdm_rest_param *params;
        size_t n;
        st = tdm_rest_parse_query(query, query_len, arena, &params, &n);
        if (st == NULL)
            st = apply_query(match, msg, params, n, arena);
    }
    if (st == NULL)
        *out = msg;
    return st;
}
