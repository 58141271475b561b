/*
 * scim_front.c - /scim/v2 on the gateway: SCIM 2.0 (RFC 7643, RFC 7644) over the
 * tenant's people directory, which tandem-enrolment keeps (DirectoryService).
 *
 *   HTTP request -> route (Users, Users/{id}, ServiceProviderConfig, ResourceTypes,
 *   Schemas) -> key with scope `scim` (or admin), tenant, rate limit, checked before
 *   the body is read -> SCIM JSON <-> Person (scim_user.c), filters (scim_filter.c),
 *   PATCH (scim_patch.c) -> DirectoryService over gRPC -> application/scim+json.
 *
 * SCIM follows its RFCs rather than API.md's REST conventions: 201 on create, 204 on
 * delete, errors as urn:ietf:params:scim:api:messages:2.0:Error with scimType,
 * meta.version as a weak ETag, If-Match honoured (412 when stale). A PATCH reads the
 * person, applies the operations to its SCIM form and replaces it with the version it
 * read, so a concurrent change makes it retry (or, with If-Match, fail 412) instead
 * of being overwritten.
 *
 * Lists: a filter `userName eq "..."` or `externalId eq "..."` (what identity
 * providers send to find a user before creating it) is answered from the directory's
 * index; any other filter, and sortBy, read the tenant's people in pages of
 * SCIM_LIST_PAGE and match them here, up to SCIM_LIST_MAX_SCAN people (beyond that
 * 400 tooMany, docs/integrations.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "gateway.h"
#include "scim.h"
#include "scim_filter.h"
#include "scim_patch.h"
#include "scim_user.h"
#include "tandem/json.h"
#include "tandem/log.h"
#include "tandem/rest.h"

#define SCIM_PREFIX         "/scim/v2"
#define SCIM_CONTENT_TYPE   "application/scim+json"
#define SCIM_SCHEMA_LIST    "urn:ietf:params:scim:api:messages:2.0:ListResponse"
#define SCIM_MAX_BODY_BYTES (1024u * 1024u) /* ServiceProviderConfig maxPayloadSize */
#define SCIM_TIMEOUT_MS     30000
#define SCIM_LIST_PAGE      500
#define SCIM_LIST_MAX_SCAN  20000 /* people read to answer one filtered or sorted list */
#define SCIM_DEFAULT_COUNT  100
#define SCIM_MAX_COUNT      500 /* ServiceProviderConfig filter.maxResults */
#define SCIM_PATCH_ATTEMPTS 3   /* a PATCH that lost a race re-reads and re-applies */
#define DIRECTORY           "/tandem.internal.v1.DirectoryService/"

typedef enum scim_route {
    SCIM_ROUTE_USERS,   /* /Users */
    SCIM_ROUTE_USER,    /* /Users/{id} */
    SCIM_ROUTE_SPC,     /* /ServiceProviderConfig */
    SCIM_ROUTE_TYPES,   /* /ResourceTypes[/User] */
    SCIM_ROUTE_SCHEMAS, /* /Schemas[/{urn}] */
} scim_route;

typedef struct scim_call scim_call;
typedef void (*directory_cb)(scim_call *op, tdm_status *st, ProtobufCMessage *msg);

struct scim_call {
    gw_state *gw;
    tdm_http_request *req;
    tdm_arena *a;
    scim_route route;
    const char *id;    /* Users/{id}, ResourceTypes/{x}, Schemas/{x} */
    const char *label; /* metrics route label */
    uint64_t start_ms, deadline_ms;
    const char *request_id;
    const gw_principal *principal;
    const char *users_url; /* ".../scim/v2/Users" as the client reached it */
    int64_t if_match;      /* 0: none */
    json_t *body;          /* the request's JSON, owned (freed with the arena) */
    /* the directory call in flight */
    const ProtobufCMessageDescriptor *out_desc;
    directory_cb next;
    /* lists */
    const scim_filter *filter;
    const char *sort_by;
    scim_attr_path sort_path;
    bool descending;
    long start_index, count;
    json_t *matches; /* owned */
    size_t scanned;
    Tandem__Internal__V1__ListPeopleRequest list;
    /* PATCH */
    int attempts;
};

static const gw_route_auth SCIM_AUTH = {.scope = TDM_SCOPE_SCIM, .tenant_scoped = true};

/* ---- answers ------------------------------------------------------------------------------ */

static void respond_json(scim_call *op, int status, json_t *doc, const char *etag,
                         const char *location)
{
    tdm_http_header headers[2];
    size_t n = 0;
    if (etag != NULL)
        headers[n++] = (tdm_http_header){"ETag", etag};
    if (location != NULL)
        headers[n++] = (tdm_http_header){"Location", location};
    size_t len = 0;
    char *text = doc != NULL ? tdm_json_dump(doc, op->a, &len) : NULL;
    json_decref(doc);
    if (text == NULL) {
        static const char FALLBACK[] = "{\"schemas\":[\"" SCIM_SCHEMA_ERROR
                                       "\"],\"status\":\"500\",\"detail\":\"out of memory\"}";
        status = 500;
        text = (char *)FALLBACK;
        len = sizeof(FALLBACK) - 1;
        n = 0;
    }
    gw_http_observe(op->req, op->label, status, op->start_ms, op->principal);
    tdm_http_respond(op->req, status, SCIM_CONTENT_TYPE, text, len, headers, n);
}

static void respond_scim_error(scim_call *op, const scim_error *err)
{
    respond_json(op, err->status, scim_error_body(err), NULL, NULL);
}

static void respond_error(scim_call *op, int status, const char *scim_type, const char *detail)
{
    scim_error err = {.status = status, .scim_type = scim_type, .detail = detail};
    respond_scim_error(op, &err);
}

/* A status from the directory (or the gateway) as a SCIM error; takes st. */
static void respond_status(scim_call *op, tdm_status *st)
{
    scim_error err = {.status = tdm_code_http_status(st->code)};
    const char *detail = st->message != NULL ? st->message : "error";
    if (st->n_violations > 0)
        detail = tdm_arena_printf(op->a, "%s: %s %s", detail, st->violations[0].field,
                                  st->violations[0].description);
    switch (st->code) {
    case TDM_INVALID_ARGUMENT:
    case TDM_FAILED_PRECONDITION:
        err.status = 400;
        err.scim_type = "invalidValue";
        break;
    case TDM_ALREADY_EXISTS:
        err.status = 409;
        err.scim_type = "uniqueness";
        break;
    case TDM_ABORTED:
        /* A stale version (If-Match, or the version a PATCH read) is 412; any other
         * conflict (two changes that deadlocked) is 409, to be retried. */
        err.status =
            st->n_violations > 0 && strcmp(st->violations[0].field, "if_version") == 0 ? 412 : 409;
        break;
    default:
        break;
    }
    err.detail = detail != NULL ? detail : "error";
    if (err.status >= 500 && st->detail != NULL)
        tdm_log_fields(TDM_LOG_WARN, op->request_id, "scim request failed", "code",
                       tdm_code_name(st->code), "detail", st->detail, NULL);
    respond_scim_error(op, &err);
    tdm_status_free(st);
}

static void respond_user(scim_call *op, int status, const Tandem__Internal__V1__Person *p)
{
    json_t *u = scim_user_from_person(p, op->users_url);
    const char *location =
        status == 201 ? tdm_arena_printf(op->a, "%s/%s", op->users_url, p->id) : NULL;
    respond_json(op, status, u, scim_etag(p->version, op->a), location);
}

/* ---- DirectoryService --------------------------------------------------------------------- */

static void directory_done(void *arg, tdm_status *st, const uint8_t *response, size_t len)
{
    scim_call *op = arg;
    if (st != NULL) {
        op->next(op, st, NULL);
        return;
    }
    ProtobufCMessage *m =
        protobuf_c_message_unpack(op->out_desc, tdm_arena_protobuf_allocator(op->a), len, response);
    if (m == NULL) {
        op->next(op, tdm_status_new(TDM_INTERNAL, "the directory answered garbage"), NULL);
        return;
    }
    op->next(op, NULL, m);
}

static void directory_call(scim_call *op, const char *method, const ProtobufCMessage *msg,
                           const ProtobufCMessageDescriptor *out, directory_cb next)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = tdm_arena_alloc(op->a, len + 1);
    const char *path = tdm_arena_printf(op->a, DIRECTORY "%s", method);
    if (buf == NULL || path == NULL) {
        respond_error(op, 500, NULL, "out of memory");
        return;
    }
    protobuf_c_message_pack(msg, buf);
    op->out_desc = out;
    op->next = next;
    gw_forward(op->gw, "enrolment", path, buf, len, op->principal, op->request_id, NULL,
               op->deadline_ms, op->a, directory_done, op);
}

static void get_person(scim_call *op, directory_cb next)
{
    Tandem__Internal__V1__GetPersonRequest *q = tdm_arena_alloc(op->a, sizeof(*q));
    if (q == NULL) {
        respond_error(op, 500, NULL, "out of memory");
        return;
    }
    tandem__internal__v1__get_person_request__init(q);
    q->id = (char *)op->id;
    directory_call(op, "GetPerson", &q->base, &tandem__internal__v1__person__descriptor, next);
}

/* ---- GET /Users/{id} ------------------------------------------------------------------------ */

static void user_read(scim_call *op, tdm_status *st, ProtobufCMessage *msg)
{
    if (st != NULL) {
        respond_status(op, st);
        return;
    }
    respond_user(op, 200, (Tandem__Internal__V1__Person *)msg);
}

/* ---- POST /Users and PUT /Users/{id} --------------------------------------------------------- */

static void user_created(scim_call *op, tdm_status *st, ProtobufCMessage *msg)
{
    if (st != NULL) {
        respond_status(op, st);
        return;
    }
    respond_user(op, 201, (Tandem__Internal__V1__Person *)msg);
}

/* The Person of a body, or NULL (answered). */
static Tandem__Internal__V1__Person *person_of(scim_call *op, const json_t *user)
{
    scim_error err = {0};
    Tandem__Internal__V1__Person *p = NULL;
    if (scim_user_to_person(user, op->a, &p, &err) != 0) {
        respond_scim_error(op, &err);
        return NULL;
    }
    return p;
}

static void create_user(scim_call *op)
{
    Tandem__Internal__V1__Person *p = person_of(op, op->body);
    if (p == NULL)
        return;
    Tandem__Internal__V1__CreatePersonRequest *q = tdm_arena_alloc(op->a, sizeof(*q));
    if (q == NULL) {
        respond_error(op, 500, NULL, "out of memory");
        return;
    }
    tandem__internal__v1__create_person_request__init(q);
    q->person = p;
    directory_call(op, "CreatePerson", &q->base, &tandem__internal__v1__person__descriptor,
                   user_created);
}

/* id in a body must be the path's (RFC 7643 3.1: id is readOnly). */
static bool id_unchanged(scim_call *op, const json_t *user)
{
    scim_attr_path path = {.name = "id"};
    const json_t *id = scim_attr_lookup(user, &path);
    if (id == NULL || json_is_null(id) ||
        (json_is_string(id) && strcmp(json_string_value(id), op->id) == 0))
        return true;
    respond_error(op, 400, "mutability", "id is read-only and cannot be changed");
    return false;
}

static void replace_person(scim_call *op, Tandem__Internal__V1__Person *p, int64_t version,
                           directory_cb next)
{
    Tandem__Internal__V1__ReplacePersonRequest *q = tdm_arena_alloc(op->a, sizeof(*q));
    if (q == NULL) {
        respond_error(op, 500, NULL, "out of memory");
        return;
    }
    tandem__internal__v1__replace_person_request__init(q);
    p->id = (char *)op->id;
    q->person = p;
    q->if_version = version;
    directory_call(op, "ReplacePerson", &q->base, &tandem__internal__v1__person__descriptor, next);
}

static void replace_user(scim_call *op)
{
    if (!id_unchanged(op, op->body))
        return;
    Tandem__Internal__V1__Person *p = person_of(op, op->body);
    if (p != NULL)
        replace_person(op, p, op->if_match, user_read);
}

/* ---- PATCH /Users/{id} -------------------------------------------------------------------- */

static void patch_read(scim_call *op, tdm_status *st, ProtobufCMessage *msg);

static void patch_written(scim_call *op, tdm_status *st, ProtobufCMessage *msg)
{
    if (st != NULL && st->code == TDM_ABORTED && op->if_match == 0 &&
        op->attempts < SCIM_PATCH_ATTEMPTS) {
        /* Someone changed the person between our read and write: read again. */
        tdm_status_free(st);
        get_person(op, patch_read);
        return;
    }
    user_read(op, st, msg);
}

static void patch_read(scim_call *op, tdm_status *st, ProtobufCMessage *msg)
{
    if (st != NULL) {
        respond_status(op, st);
        return;
    }
    const Tandem__Internal__V1__Person *current = (const void *)msg;
    if (op->if_match != 0 && current->version != op->if_match) {
        respond_error(op, 412, NULL, "the user has changed since the version in If-Match");
        return;
    }
    op->attempts++;
    json_t *user = scim_user_from_person(current, op->users_url);
    scim_error err = {0};
    if (user == NULL) {
        respond_error(op, 500, NULL, "out of memory");
        return;
    }
    if (scim_patch_apply(op->a, user, op->body, &err) != 0) {
        json_decref(user);
        respond_scim_error(op, &err);
        return;
    }
    Tandem__Internal__V1__Person *next = NULL;
    if (scim_user_to_person(user, op->a, &next, &err) != 0) {
        json_decref(user);
        respond_scim_error(op, &err);
        return;
    }
    json_decref(user);
    replace_person(op, next, current->version, patch_written);
}

/* ---- DELETE /Users/{id} -------------------------------------------------------------------- */

static void user_deleted(scim_call *op, tdm_status *st, ProtobufCMessage *msg)
{
    (void)msg;
    if (st != NULL) {
        respond_status(op, st);
        return;
    }
    gw_http_observe(op->req, op->label, 204, op->start_ms, op->principal);
    tdm_http_respond(op->req, 204, NULL, "", 0, NULL, 0);
}

static void delete_user(scim_call *op)
{
    Tandem__Internal__V1__DeletePersonRequest *q = tdm_arena_alloc(op->a, sizeof(*q));
    if (q == NULL) {
        respond_error(op, 500, NULL, "out of memory");
        return;
    }
    tandem__internal__v1__delete_person_request__init(q);
    q->id = (char *)op->id;
    q->if_version = op->if_match;
    directory_call(op, "DeletePerson", &q->base, &google__protobuf__empty__descriptor,
                   user_deleted);
}

/* ---- GET /Users ------------------------------------------------------------------------------ */

static int compare_sort(const json_t *a, const json_t *b, const scim_call *op)
{
    scim_attr_path path = op->sort_path;
    const json_t *va = scim_attr_lookup(a, &path), *vb = scim_attr_lookup(b, &path);
    if (path.sub != NULL) {
        scim_attr_path sub = {.name = path.sub};
        va = scim_attr_lookup(va, &sub);
        vb = scim_attr_lookup(vb, &sub);
    }
    /* RFC 7644 3.4.2.3: resources without the attribute sort last, either order. */
    if (va == NULL || vb == NULL)
        return (va == NULL) - (vb == NULL);
    int c = 0;
    if (json_is_string(va) && json_is_string(vb))
        c = strcasecmp(json_string_value(va), json_string_value(vb));
    else if (json_is_number(va) && json_is_number(vb))
        c = json_number_value(va) < json_number_value(vb)   ? -1
            : json_number_value(va) > json_number_value(vb) ? 1
                                                            : 0;
    return op->descending ? -c : c;
}

/* Insertion sort on the (bounded) matches: stable, and lists are small. */
static void sort_matches(scim_call *op)
{
    size_t n = json_array_size(op->matches);
    json_t **v = tdm_arena_calloc(op->a, n > 0 ? n : 1, sizeof(*v));
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(op->matches, i));
    for (size_t i = 1; i < n; i++) {
        json_t *x = v[i];
        size_t j = i;
        while (j > 0 && compare_sort(v[j - 1], x, op) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    json_array_clear(op->matches);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(op->matches, v[i]);
}

static void list_answer(scim_call *op)
{
    if (op->sort_by != NULL)
        sort_matches(op);
    size_t total = json_array_size(op->matches);
    json_t *resources = json_array();
    for (size_t i = (size_t)op->start_index - 1;
         i < total && (long)json_array_size(resources) < op->count; i++)
        json_array_append(resources, json_array_get(op->matches, i));
    json_t *doc = json_object();
    json_t *schemas = json_array();
    json_array_append_new(schemas, json_string(SCIM_SCHEMA_LIST));
    json_object_set_new(doc, "schemas", schemas);
    json_object_set_new(doc, "totalResults", json_integer((json_int_t)total));
    json_object_set_new(doc, "startIndex", json_integer(op->start_index));
    json_object_set_new(doc, "itemsPerPage", json_integer((json_int_t)json_array_size(resources)));
    json_object_set_new(doc, "Resources", resources);
    respond_json(op, 200, doc, NULL, NULL);
}

static void list_page(scim_call *op, tdm_status *st, ProtobufCMessage *msg)
{
    if (st != NULL) {
        respond_status(op, st);
        return;
    }
    const Tandem__Internal__V1__ListPeopleResponse *page = (const void *)msg;
    for (size_t i = 0; i < page->n_people; i++) {
        json_t *u = scim_user_from_person(page->people[i], op->users_url);
        if (u == NULL) {
            respond_error(op, 500, NULL, "out of memory");
            return;
        }
        if (op->filter == NULL || scim_filter_match(op->filter, u))
            json_array_append(op->matches, u);
        json_decref(u);
    }
    op->scanned += page->n_people;
    if (page->next_page_token == NULL || page->next_page_token[0] == '\0') {
        list_answer(op);
        return;
    }
    if (op->scanned >= SCIM_LIST_MAX_SCAN) {
        respond_error(op, 400, "tooMany",
                      "the directory holds more users than one filtered or sorted list reads; "
                      "filter on userName or externalId with eq");
        return;
    }
    op->list.page_token = page->next_page_token;
    directory_call(op, "ListPeople", &op->list.base,
                   &tandem__internal__v1__list_people_response__descriptor, list_page);
}

/* A filter an index answers: userName or externalId eq a string. */
static void index_lookup(scim_call *op)
{
    const scim_filter *f = op->filter;
    if (f == NULL || f->kind != SCIM_NODE_COMPARE || f->op != SCIM_OP_EQ ||
        f->value.kind != SCIM_VALUE_STRING || f->attr.sub != NULL ||
        (f->attr.schema != NULL && !scim_name_eq(f->attr.schema, SCIM_SCHEMA_USER)))
        return;
    if (scim_name_eq(f->attr.name, "userName"))
        op->list.user_name = (char *)f->value.str;
    else if (scim_name_eq(f->attr.name, "externalId"))
        op->list.external_id = (char *)f->value.str;
}

static long query_long(const char *v, long fallback, bool *ok)
{
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (end == v || *end != '\0') {
        *ok = false;
        return fallback;
    }
    return n;
}

static void list_users(scim_call *op)
{
    const char *q = tdm_http_query(op->req);
    tdm_rest_param *params = NULL;
    size_t n = 0;
    tdm_status *st = tdm_rest_parse_query(q, strlen(q), op->a, &params, &n);
    if (st != NULL) {
        tdm_status_free(st);
        respond_error(op, 400, "invalidValue", "malformed query string");
        return;
    }
    op->start_index = 1;
    op->count = SCIM_DEFAULT_COUNT;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const char *k = params[i].key, *v = params[i].value;
        if (strcasecmp(k, "filter") == 0) {
            const char *err = NULL;
            op->filter = scim_filter_parse(op->a, v, strlen(v), &err);
            if (op->filter == NULL) {
                respond_error(op, 400, "invalidFilter", err != NULL ? err : "invalid filter");
                return;
            }
        } else if (strcasecmp(k, "startIndex") == 0) {
            op->start_index = query_long(v, 1, &ok);
        } else if (strcasecmp(k, "count") == 0) {
            op->count = query_long(v, SCIM_DEFAULT_COUNT, &ok);
        } else if (strcasecmp(k, "sortBy") == 0) {
            op->sort_by = v;
        } else if (strcasecmp(k, "sortOrder") == 0) {
            op->descending = strcasecmp(v, "descending") == 0;
        }
    }
    if (!ok) {
        respond_error(op, 400, "invalidValue", "startIndex and count must be integers");
        return;
    }
    /* RFC 7644 3.4.2.4: startIndex below 1 is 1; a negative count is 0. */
    if (op->start_index < 1)
        op->start_index = 1;
    if (op->count < 0)
        op->count = 0;
    if (op->count > SCIM_MAX_COUNT)
        op->count = SCIM_MAX_COUNT;
    if (op->sort_by != NULL) {
        const char *err = NULL;
        scim_patch_path pp;
        if (scim_patch_path_parse(op->a, op->sort_by, strlen(op->sort_by), &pp, &err) != 0 ||
            pp.value_filter != NULL) {
            respond_error(op, 400, "invalidValue", "sortBy must name an attribute");
            return;
        }
        op->sort_path = pp.attr;
    }
    op->matches = json_array();
    tandem__internal__v1__list_people_request__init(&op->list);
    op->list.page_size = SCIM_LIST_PAGE;
    index_lookup(op);
    directory_call(op, "ListPeople", &op->list.base,
                   &tandem__internal__v1__list_people_response__descriptor, list_page);
}

/* ---- discovery ------------------------------------------------------------------------------ */

static void discovery(scim_call *op)
{
    const char *text = NULL;
    if (op->route == SCIM_ROUTE_SPC)
        text = scim_service_provider_config();
    else if (op->route == SCIM_ROUTE_TYPES)
        text = scim_resource_types(op->id);
    else
        text = scim_schemas(op->id);
    if (text == NULL) {
        respond_error(op, 404, NULL, "no such resource");
        return;
    }
    json_t *doc = json_loads(text, 0, NULL);
    respond_json(op, 200, doc, NULL, NULL);
}

/* ---- the request ---------------------------------------------------------------------------- */

static void dispatch(scim_call *op)
{
    const char *m = tdm_http_method(op->req);
    if (op->if_match < 0) {
        respond_error(op, 412, NULL, "If-Match names no version of this user");
        return;
    }
    if (op->route == SCIM_ROUTE_SPC || op->route == SCIM_ROUTE_TYPES ||
        op->route == SCIM_ROUTE_SCHEMAS) {
        discovery(op);
        return;
    }
    if (strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
        size_t len = 0;
        const uint8_t *body = tdm_http_body(op->req, &len);
        json_error_t jerr;
        tdm_status *too_big = NULL;
        op->body =
            tdm_json_load_bounded((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr, &too_big);
        if (too_big != NULL) {
            respond_status(op, too_big);
            return;
        }
        if (op->body == NULL || !json_is_object(op->body)) {
            respond_error(op, 400, "invalidSyntax", "the body must be a JSON object");
            return;
        }
    }
    if (op->route == SCIM_ROUTE_USERS) {
        if (strcmp(m, "POST") == 0)
            create_user(op);
        else
            list_users(op);
        return;
    }
    if (strcmp(m, "GET") == 0)
        get_person(op, user_read);
    else if (strcmp(m, "PUT") == 0)
        replace_user(op);
    else if (strcmp(m, "PATCH") == 0)
        get_person(op, patch_read);
    else
        delete_user(op);
}

static void free_op_json(void *arg)
{
    scim_call *op = arg;
    json_decref(op->body);
    json_decref(op->matches);
}

/* The route of a path under SCIM_PREFIX, and the methods it allows; false when none. */
static bool route_of(scim_call *op, const char *path, const char **allow)
{
    const char *rest = path + strlen(SCIM_PREFIX);
    const char *sub = NULL;
    if (strncmp(rest, "/Users", 6) == 0 && (rest[6] == '\0' || rest[6] == '/')) {
        sub = rest[6] == '/' ? rest + 7 : NULL;
        op->route = sub != NULL ? SCIM_ROUTE_USER : SCIM_ROUTE_USERS;
        op->label = sub != NULL ? SCIM_PREFIX "/Users/{id}" : SCIM_PREFIX "/Users";
        *allow = sub != NULL ? "GET, PUT, PATCH, DELETE" : "GET, POST";
    } else if (strcmp(rest, "/ServiceProviderConfig") == 0) {
        op->route = SCIM_ROUTE_SPC;
        op->label = SCIM_PREFIX "/ServiceProviderConfig";
        *allow = "GET";
    } else if (strncmp(rest, "/ResourceTypes", 14) == 0 && (rest[14] == '\0' || rest[14] == '/')) {
        sub = rest[14] == '/' ? rest + 15 : NULL;
        op->route = SCIM_ROUTE_TYPES;
        op->label = SCIM_PREFIX "/ResourceTypes";
        *allow = "GET";
    } else if (strncmp(rest, "/Schemas", 8) == 0 && (rest[8] == '\0' || rest[8] == '/')) {
        sub = rest[8] == '/' ? rest + 9 : NULL;
        op->route = SCIM_ROUTE_SCHEMAS;
        op->label = SCIM_PREFIX "/Schemas";
        *allow = "GET";
    } else {
        return false;
    }
    if (sub != NULL) {
        op->id = tdm_rest_percent_decode(sub, strlen(sub), false, op->a);
        if (op->id == NULL || op->id[0] == '\0' || strchr(op->id, '/') != NULL)
            return false;
    }
    return true;
}

static bool method_allowed(const char *allow, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)) != NULL; p += n) {
        if ((p == allow || p[-1] == ' ') && (p[n] == '\0' || p[n] == ','))
            return true;
    }
    return false;
}

static void scim_authed(void *arg, tdm_status *st, const gw_principal *p, uint32_t retry_after_s)
{
    scim_call *op = arg;
    if (st != NULL) {
        if (st->code == TDM_RESOURCE_EXHAUSTED && retry_after_s > 0) {
            char retry[16];
            snprintf(retry, sizeof(retry), "%u", retry_after_s);
            tdm_http_header h = {"Retry-After", retry};
            scim_error err = {.status = 429, .detail = st->message};
            json_t *doc = scim_error_body(&err);
            size_t len = 0;
            char *text = tdm_json_dump(doc, op->a, &len);
            json_decref(doc);
            tdm_status_free(st);
            gw_http_observe(op->req, op->label, 429, op->start_ms, NULL);
            tdm_http_respond(op->req, 429, SCIM_CONTENT_TYPE, text != NULL ? text : "",
                             text != NULL ? len : 0, &h, 1);
            return;
        }
        respond_status(op, st);
        return;
    }
    op->principal = tdm_arena_memdup(op->a, p, sizeof(*p));
    if (op->principal == NULL) {
        respond_error(op, 500, NULL, "out of memory");
        return;
    }
    tdm_http_admit(op->req);
}

/* Where Users live as the client reached them (meta.location, Location). */
static const char *users_url(scim_call *op)
{
    const char *host = tdm_http_header_get(op->req, "Host");
    const char *proto = tdm_http_header_get(op->req, "X-Forwarded-Proto");
    if (host == NULL)
        host = tdm_http_header_get(op->req, ":authority");
    if (host == NULL || strpbrk(host, " \"<>\\^`{|}") != NULL)
        return SCIM_PREFIX "/Users";
    if (proto == NULL || (strcmp(proto, "https") != 0 && strcmp(proto, "http") != 0))
        proto = "http";
    return tdm_arena_printf(op->a, "%s://%s" SCIM_PREFIX "/Users", proto, host);
}

bool gw_scim_path(const char *path)
{
    return strncmp(path, SCIM_PREFIX, strlen(SCIM_PREFIX)) == 0 &&
           (path[strlen(SCIM_PREFIX)] == '\0' || path[strlen(SCIM_PREFIX)] == '/');
}

size_t gw_scim_on_headers(gw_state *gw, tdm_http_request *req)
{
    uint64_t now = uv_now(tdm_http_loop(req));
    scim_call *op = tdm_arena_calloc(tdm_http_arena(req), 1, sizeof(*op));
    if (op == NULL) {
        tdm_http_respond(req, 500, NULL, "", 0, NULL, 0);
        return 0;
    }
    op->gw = gw;
    op->req = req;
    op->a = tdm_http_arena(req);
    op->start_ms = now;
    op->deadline_ms = now + SCIM_TIMEOUT_MS;
    op->request_id = tdm_http_request_id(req);
    op->label = SCIM_PREFIX;
    tdm_arena_defer(op->a, free_op_json, op);
    const char *allow = NULL;
    if (!route_of(op, tdm_http_path(req), &allow)) {
        respond_error(op, 404, NULL, "no such SCIM endpoint");
        return 0;
    }
    if (!method_allowed(allow, tdm_http_method(req))) {
        tdm_http_header h = {"Allow", allow};
        json_t *doc = scim_error_body(&(scim_error){.status = 405, .detail = "method not allowed"});
        size_t len = 0;
        char *text = tdm_json_dump(doc, op->a, &len);
        json_decref(doc);
        gw_http_observe(req, op->label, 405, now, NULL);
        tdm_http_respond(req, 405, SCIM_CONTENT_TYPE, text != NULL ? text : "",
                         text != NULL ? len : 0, &h, 1);
        return 0;
    }
    op->users_url = users_url(op);
    op->if_match = scim_if_match_version(tdm_http_header_get(req, "If-Match"));
    tdm_http_set_user(req, op);
    tdm_http_defer(req);
    gw_auth_resolve_from(gw, tdm_http_peer_address(req), op->a, op->request_id, op->deadline_ms,
                         tdm_http_header_get(req, "Authorization"),
                         tdm_http_header_get(req, "X-Tandem-Tenant"), &SCIM_AUTH, scim_authed, op);
    return SCIM_MAX_BODY_BYTES;
}

void gw_scim_on_request(tdm_http_request *req)
{
    scim_call *op = tdm_http_user(req);
    if (op == NULL || op->principal == NULL) {
        tdm_http_respond(req, 500, NULL, "", 0, NULL, 0);
        return;
    }
    dispatch(op);
}
