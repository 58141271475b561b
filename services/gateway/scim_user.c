/*
 * scim_user.c - SCIM User <-> directory Person (scim_user.h).
 */
#include "scim_user.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- Person -> User ------------------------------------------------------------------ */

static void set_str(json_t *obj, const char *key, const char *v)
{
    if (v != NULL && v[0] != '\0')
        json_object_set_new(obj, key, json_string(v));
}

static json_t *timestamp(const Google__Protobuf__Timestamp *t)
{
    if (t == NULL)
        return NULL;
    time_t secs = (time_t)t->seconds;
    struct tm tm;
    char buf[40];
    if (gmtime_r(&secs, &tm) == NULL)
        return NULL;
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof(buf) - n, ".%03dZ", (int)(t->nanos / 1000000));
    return json_string(buf);
}

/* An object, or NULL (freed) when it has no member. */
static json_t *unless_empty(json_t *obj)
{
    if (json_object_size(obj) == 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

static void set_obj(json_t *obj, const char *key, json_t *v)
{
    if (v != NULL)
        json_object_set_new(obj, key, v);
}

json_t *scim_user_from_person(const Tandem__Internal__V1__Person *p, const char *location_base)
{
    json_t *u = json_object();
    json_t *schemas = json_array();
    json_array_append_new(schemas, json_string(SCIM_SCHEMA_USER));
    json_array_append_new(schemas, json_string(SCIM_SCHEMA_ENTERPRISE));
    json_array_append_new(schemas, json_string(SCIM_SCHEMA_TANDEM));
    json_object_set_new(u, "schemas", schemas);
    set_str(u, "id", p->id);
    set_str(u, "externalId", p->external_id);
    set_str(u, "userName", p->user_name);
    json_t *name = json_object();
    set_str(name, "givenName", p->given_name);
    set_str(name, "familyName", p->family_name);
    set_str(name, "formatted", p->formatted_name);
    set_obj(u, "name", unless_empty(name));
    set_str(u, "displayName", p->display_name);
    if (p->n_emails > 0) {
        json_t *emails = json_array();
        for (size_t i = 0; i < p->n_emails; i++) {
            json_t *e = json_object();
            set_str(e, "value", p->emails[i]->value);
            set_str(e, "type", p->emails[i]->type);
            json_object_set_new(e, "primary", json_boolean(p->emails[i]->primary));
            json_array_append_new(emails, e);
        }
        json_object_set_new(u, "emails", emails);
    }
    json_object_set_new(u, "active", json_boolean(p->active == NULL || p->active->value));
    set_str(u, "title", p->title);
    set_str(u, "preferredLanguage", p->preferred_language);
    set_str(u, "timezone", p->timezone);

    json_t *ent = json_object();
    set_str(ent, "employeeNumber", p->employee_number);
    set_str(ent, "department", p->department);
    set_str(ent, "organization", p->organization);
    set_str(ent, "division", p->division);
    if (p->manager_id != NULL && p->manager_id[0] != '\0') {
        json_t *m = json_object();
        json_object_set_new(m, "value", json_string(p->manager_id));
        if (location_base != NULL)
            json_object_set_new(m, "$ref", json_sprintf("%s/%s", location_base, p->manager_id));
        json_object_set_new(ent, "manager", m);
    }
    set_obj(u, SCIM_SCHEMA_ENTERPRISE, unless_empty(ent));

    json_t *ext = json_object();
    if (p->seniority_level != NULL)
        json_object_set_new(ext, "seniorityLevel", json_integer(p->seniority_level->value));
    set_str(ext, "practiceArea", p->practice_area);
    set_str(ext, "office", p->office);
    if (p->years_qualified != NULL)
        json_object_set_new(ext, "yearsQualified", json_integer(p->years_qualified->value));
    set_obj(u, SCIM_SCHEMA_TANDEM, unless_empty(ext));

    json_t *meta = json_object();
    json_object_set_new(meta, "resourceType", json_string("User"));
    set_obj(meta, "created", timestamp(p->create_time));
    set_obj(meta, "lastModified", timestamp(p->update_time));
    if (location_base != NULL)
        json_object_set_new(meta, "location", json_sprintf("%s/%s", location_base, p->id));
    json_object_set_new(meta, "version", json_sprintf("W/\"%" PRId64 "\"", p->version));
    json_object_set_new(u, "meta", meta);
    return u;
}

/* ---- User -> Person ------------------------------------------------------------------ */

typedef struct reader {
    tdm_arena *a;
    scim_error *err;
} reader;

/* 400 with detail "<attr> <what>". */
static int invalid(reader *r, const char *scim_type, const char *attr, const char *what)
{
    r->err->status = 400;
    r->err->scim_type = scim_type;
    r->err->detail = tdm_arena_printf(r->a, "%s %s", attr, what);
    if (r->err->detail == NULL)
        r->err->detail = "invalid value";
    return -1;
}

static const json_t *attr(const json_t *obj, const char *schema, const char *name)
{
    scim_attr_path path = {.schema = schema, .name = name};
    const json_t *v = scim_attr_lookup(obj, &path);
    return json_is_null(v) ? NULL : v;
}

/* A string attribute into *out ("" when absent). */
static int read_str(reader *r, const json_t *obj, const char *schema, const char *name, char **out)
{
    const json_t *v = attr(obj, schema, name);
    *out = (char *)"";
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return invalid(r, "invalidValue", name, "must be a string");
    *out = tdm_arena_strdup(r->a, json_string_value(v));
    return *out != NULL ? 0 : invalid(r, "invalidValue", name, "(out of memory)");
}

/* A boolean: true/false, or the strings identity providers send ("True", "false"). */
static int read_bool(reader *r, const json_t *v, const char *name, protobuf_c_boolean *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v) && strcasecmp(json_string_value(v), "true") == 0) {
        *out = true;
        return 0;
    }
    if (json_is_string(v) && strcasecmp(json_string_value(v), "false") == 0) {
        *out = false;
        return 0;
    }
    return invalid(r, "invalidValue", name, "must be a boolean");
}

/* An integer attribute (a number, or a string of digits) into a wrapper, or NULL. */
static int read_int(reader *r, const json_t *obj, const char *schema, const char *name,
                    Google__Protobuf__Int32Value **out)
{
    const json_t *v = attr(obj, schema, name);
    *out = NULL;
    if (v == NULL || (json_is_string(v) && json_string_length(v) == 0))
        return 0;
    long long n = 0;
    if (json_is_integer(v)) {
        n = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        errno = 0;
        n = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0')
            return invalid(r, "invalidValue", name, "must be an integer");
    } else {
        return invalid(r, "invalidValue", name, "must be an integer");
    }
    if (n < INT32_MIN || n > INT32_MAX)
        return invalid(r, "invalidValue", name, "is out of range");
    *out = tdm_arena_alloc(r->a, sizeof(**out));
    if (*out == NULL)
        return invalid(r, "invalidValue", name, "(out of memory)");
    google__protobuf__int32_value__init(*out);
    (*out)->value = (int32_t)n;
    return 0;
}

static int read_emails(reader *r, const json_t *user, Tandem__Internal__V1__Person *p)
{
    const json_t *v = attr(user, NULL, "emails");
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return invalid(r, "invalidValue", "emails", "must be an array");
    size_t n = json_array_size(v);
    p->emails = tdm_arena_calloc(r->a, n > 0 ? n : 1, sizeof(*p->emails));
    if (p->emails == NULL)
        return invalid(r, "invalidValue", "emails", "(out of memory)");
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        Tandem__Internal__V1__PersonEmail *m = tdm_arena_alloc(r->a, sizeof(*m));
        if (m == NULL)
            return invalid(r, "invalidValue", "emails", "(out of memory)");
        tandem__internal__v1__person_email__init(m);
        if (json_is_string(e)) {
            m->value = tdm_arena_strdup(r->a, json_string_value(e));
        } else if (json_is_object(e)) {
            const json_t *primary = attr(e, NULL, "primary");
            if (read_str(r, e, NULL, "value", &m->value) != 0 ||
                read_str(r, e, NULL, "type", &m->type) != 0 ||
                (primary != NULL && read_bool(r, primary, "emails.primary", &m->primary) != 0))
                return -1;
        } else {
            return invalid(r, "invalidValue", "emails", "must hold objects");
        }
        if (m->value == NULL || m->value[0] == '\0')
            continue; /* an e-mail without an address is no e-mail (RFC 7643 2.4) */
        p->emails[p->n_emails++] = m;
    }
    return 0;
}

/* enterprise manager: {"value": id} as RFC 7643 has it, or a bare id. */
static int read_manager(reader *r, const json_t *user, Tandem__Internal__V1__Person *p)
{
    const json_t *m = attr(user, SCIM_SCHEMA_ENTERPRISE, "manager");
    p->manager_id = (char *)"";
    if (m == NULL)
        return 0;
    if (json_is_object(m))
        return read_str(r, m, NULL, "value", &p->manager_id);
    if (json_is_string(m)) {
        p->manager_id = tdm_arena_strdup(r->a, json_string_value(m));
        return p->manager_id != NULL ? 0 : invalid(r, "invalidValue", "manager", "(out of memory)");
    }
    return invalid(r, "invalidValue", "manager", "must be an object with a value");
}

int scim_user_to_person(const json_t *user, tdm_arena *a, Tandem__Internal__V1__Person **out,
                        scim_error *err)
{
    reader r = {.a = a, .err = err};
    if (!json_is_object(user))
        return invalid(&r, "invalidSyntax", "the User", "must be a JSON object");
    Tandem__Internal__V1__Person *p = tdm_arena_alloc(a, sizeof(*p));
    if (p == NULL)
        return invalid(&r, "invalidValue", "User", "(out of memory)");
    tandem__internal__v1__person__init(p);
    const json_t *name = attr(user, NULL, "name");
    if (name != NULL && !json_is_object(name))
        return invalid(&r, "invalidValue", "name", "must be an object");
    const json_t *active = attr(user, NULL, "active");
    if (read_str(&r, user, NULL, "userName", &p->user_name) != 0 ||
        read_str(&r, user, NULL, "externalId", &p->external_id) != 0 ||
        read_str(&r, name, NULL, "givenName", &p->given_name) != 0 ||
        read_str(&r, name, NULL, "familyName", &p->family_name) != 0 ||
        read_str(&r, name, NULL, "formatted", &p->formatted_name) != 0 ||
        read_str(&r, user, NULL, "displayName", &p->display_name) != 0 ||
        read_str(&r, user, NULL, "title", &p->title) != 0 ||
        read_str(&r, user, NULL, "preferredLanguage", &p->preferred_language) != 0 ||
        read_str(&r, user, NULL, "timezone", &p->timezone) != 0 ||
        read_str(&r, user, SCIM_SCHEMA_ENTERPRISE, "employeeNumber", &p->employee_number) != 0 ||
        read_str(&r, user, SCIM_SCHEMA_ENTERPRISE, "department", &p->department) != 0 ||
        read_str(&r, user, SCIM_SCHEMA_ENTERPRISE, "organization", &p->organization) != 0 ||
        read_str(&r, user, SCIM_SCHEMA_ENTERPRISE, "division", &p->division) != 0 ||
        read_manager(&r, user, p) != 0 ||
        read_int(&r, user, SCIM_SCHEMA_TANDEM, "seniorityLevel", &p->seniority_level) != 0 ||
        read_str(&r, user, SCIM_SCHEMA_TANDEM, "practiceArea", &p->practice_area) != 0 ||
        read_str(&r, user, SCIM_SCHEMA_TANDEM, "office", &p->office) != 0 ||
        read_int(&r, user, SCIM_SCHEMA_TANDEM, "yearsQualified", &p->years_qualified) != 0 ||
        read_emails(&r, user, p) != 0)
        return -1;
    if (p->user_name[0] == '\0')
        return invalid(&r, "invalidValue", "userName", "is required");
    p->active = tdm_arena_alloc(a, sizeof(*p->active));
    if (p->active == NULL)
        return invalid(&r, "invalidValue", "active", "(out of memory)");
    google__protobuf__bool_value__init(p->active);
    p->active->value = true;
    if (active != NULL && read_bool(&r, active, "active", &p->active->value) != 0)
        return -1;
    *out = p;
    return 0;
}

/* ---- versions ------------------------------------------------------------------------- */

const char *scim_etag(int64_t version, tdm_arena *a)
{
    return tdm_arena_printf(a, "W/\"%" PRId64 "\"", version);
}

int64_t scim_if_match_version(const char *header)
{
    if (header == NULL)
        return 0;
    while (*header == ' ')
        header++;
    if (strcmp(header, "*") == 0 || header[0] == '\0')
        return 0;
    if (strncmp(header, "W/", 2) == 0)
        header += 2;
    if (header[0] != '"')
        return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(header + 1, &end, 10);
    if (errno != 0 || end == header + 1 || v <= 0 || end[0] != '"')
        return -1;
    return v;
}
