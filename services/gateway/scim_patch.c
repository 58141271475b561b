/*
 * scim_patch.c - PATCH operations (RFC 7644 section 3.5.2) on a User resource in JSON.
 *
 * The rules, from the RFC, and where identity providers bend them:
 * - "op" is add, replace or remove, in any case (Entra ID sends "Replace", "Add").
 * - No path: the value is an object whose keys are attribute paths ("displayName",
 *   "name.givenName", "urn:...:enterprise:2.0:User:department") or an extension's URN
 *   with an object of its attributes; each is applied as if it were the path (Okta
 *   deactivates with {"op":"replace","value":{"active":false}}).
 * - add to a multi-valued attribute appends (an equal value already there is not
 *   added twice); replace of it replaces all its values; add or replace of a complex
 *   attribute sets the sub-attributes given and leaves the others.
 * - A value filter (emails[type eq "work"]) selects values of a multi-valued attribute;
 *   when none matches, replace and add create the value the filter describes when it
 *   is made of equalities (Entra ID's `emails[type eq "work"].value` for a user with
 *   no work e-mail yet), and otherwise fail noTarget, as remove does.
 * - Booleans may arrive as strings ("False", "true"): turned into JSON booleans for
 *   the attributes RFC 7643 types boolean (active, primary).
 * - id and meta are read-only: mutability.
 */
#include "scim_patch.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const MULTI_VALUED[] = {
    "emails", "phoneNumbers", "ims",   "photos",           "addresses",
    "groups", "entitlements", "roles", "x509Certificates", "schemas",
};
static const char *const BOOLEANS[] = {"active", "primary"};
static const char *const READ_ONLY[] = {"id", "meta", "groups"};

typedef enum patch_kind { PATCH_ADD, PATCH_REPLACE, PATCH_REMOVE } patch_kind;

typedef struct patcher {
    tdm_arena *arena;
    json_t *resource; /* the copy being changed */
    scim_error *err;
} patcher;

static bool in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (scim_name_eq(name, list[i]))
            return true;
    }
    return false;
}

#define IN(name, list) in_list((name), (list), sizeof(list) / sizeof((list)[0]))

static int fail(patcher *p, const char *scim_type, const char *detail)
{
    p->err->status = 400;
    p->err->scim_type = scim_type;
    p->err->detail = detail != NULL ? detail : "out of memory";
    return -1;
}

/* The key of obj spelt like name whatever its case, or NULL. */
static const char *find_key(const json_t *obj, const char *name)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (scim_name_eq(key, name))
            return key;
    }
    return NULL;
}

static json_t *get(const json_t *obj, const char *name)
{
    const char *key = json_is_object(obj) ? find_key(obj, name) : NULL;
    return key != NULL ? json_object_get(obj, key) : NULL;
}

/* obj[name] = value (steals value), keeping an existing key's spelling. */
static void put(json_t *obj, const char *name, json_t *value)
{
    const char *key = find_key(obj, name);
    json_object_set_new(obj, key != NULL ? key : name, value);
}

static void drop(json_t *obj, const char *name)
{
    const char *key = find_key(obj, name);
    if (key != NULL)
        json_object_del(obj, key);
}

/* A copy of value with the string booleans of boolean attributes made booleans; name
 * is the attribute the value is for. NULL when a boolean attribute gets a non-boolean. */
static json_t *coerce(const char *name, const json_t *value)
{
    if (json_is_array(value)) {
        json_t *out = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(value, i, e)
        {
            json_t *c = coerce(name, e);
            if (c == NULL || json_array_append_new(out, c) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (json_is_object(value)) {
        json_t *out = json_object();
        const char *key;
        json_t *e;
        json_object_foreach((json_t *)value, key, e)
        {
            json_t *c = coerce(key, e);
            if (c == NULL || json_object_set_new(out, key, c) != 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (name != NULL && IN(name, BOOLEANS) && !json_is_boolean(value) && !json_is_null(value)) {
        const char *s = json_string_value(value);
        if (s != NULL && strcasecmp(s, "true") == 0)
            return json_true();
        if (s != NULL && strcasecmp(s, "false") == 0)
            return json_false();
        return NULL;
    }
    return json_deep_copy(value);
}

/* The object holding path's attribute: the resource, or an extension's object (made
 * when create). NULL when there is none. */
static json_t *scope_of(patcher *p, const scim_attr_path *path, bool create)
{
    if (path->schema == NULL || scim_name_eq(path->schema, SCIM_SCHEMA_USER))
        return p->resource;
    json_t *ext = get(p->resource, path->schema);
    if (ext == NULL && create) {
        ext = json_object();
        put(p->resource, path->schema, ext);
        json_t *schemas = get(p->resource, "schemas");
        if (json_is_array(schemas))
            json_array_append_new(schemas, json_string(path->schema));
    }
    return json_is_object(ext) ? ext : NULL;
}

static bool contains_equal(const json_t *arr, const json_t *v)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        if (json_equal(e, v))
            return true;
    }
    return false;
}

/* add or replace value (a coerced copy, stolen) at container[name]. */
static int put_value(patcher *p, patch_kind kind, json_t *container, const char *name,
                     json_t *value, bool multi)
{
    json_t *old = get(container, name);
    if (json_is_null(value)) {
        json_decref(value);
        drop(container, name);
        return 0;
    }
    if (multi) {
        json_t *values = json_is_array(value) ? value : json_pack("[o]", value);
        if (values == NULL)
            return fail(p, "invalidValue", NULL);
        if (kind == PATCH_REPLACE || !json_is_array(old)) {
            put(container, name, values);
            return 0;
        }
        size_t i;
        json_t *e;
        json_array_foreach(values, i, e)
        {
            if (!contains_equal(old, e))
                json_array_append(old, e);
        }
        json_decref(values);
        return 0;
    }
    if (json_is_object(old) && json_is_object(value)) {
        json_object_update(old, value); /* sub-attributes given replace, others stay */
        json_decref(value);
        return 0;
    }
    put(container, name, value);
    return 0;
}

/* Whether the filter is made of "sub eq value" joined by "and" (so it describes a
 * value that can be created); fills obj with those sub-attributes. */
static bool equalities(const scim_filter *f, json_t *obj)
{
    if (f->kind == SCIM_NODE_AND)
        return equalities(f->left, obj) && equalities(f->right, obj);
    if (f->kind != SCIM_NODE_COMPARE || f->op != SCIM_OP_EQ || f->attr.schema != NULL ||
        f->attr.sub != NULL)
        return false;
    json_t *v;
    switch (f->value.kind) {
    case SCIM_VALUE_STRING:
        v = json_stringn(f->value.str, f->value.len);
        break;
    case SCIM_VALUE_NUMBER:
        v = json_real(f->value.num);
        break;
    case SCIM_VALUE_TRUE:
        v = json_true();
        break;
    case SCIM_VALUE_FALSE:
        v = json_false();
        break;
    default:
        return false;
    }
    put(obj, f->attr.name, v);
    return true;
}

static int apply_filtered(patcher *p, patch_kind kind, const scim_patch_path *path,
                          const json_t *value)
{
    json_t *scope = scope_of(p, &path->attr, kind != PATCH_REMOVE);
    json_t *arr = scope != NULL ? get(scope, path->attr.name) : NULL;
    if (arr != NULL && !json_is_array(arr))
        return fail(p, "invalidPath", "a value filter applies to a multi-valued attribute");
    size_t matched = 0;
    for (size_t i = 0; arr != NULL && i < json_array_size(arr);) {
        json_t *e = json_array_get(arr, i);
        if (!scim_filter_match(path->value_filter, e)) {
            i++;
            continue;
        }
        matched++;
        if (kind == PATCH_REMOVE) {
            if (path->sub_after != NULL)
                drop(e, path->sub_after);
            else {
                json_array_remove(arr, i);
                continue;
            }
        } else if (path->sub_after != NULL) {
            json_t *c = coerce(path->sub_after, value);
            if (c == NULL || !json_is_object(e))
                return fail(p, "invalidValue", "the value does not fit the attribute");
            if (put_value(p, kind, e, path->sub_after, c, false) != 0)
                return -1;
        } else {
            json_t *c = coerce(path->attr.name, value);
            if (c == NULL || !json_is_object(c) || !json_is_object(e)) {
                json_decref(c);
                return fail(p, "invalidValue", "a filtered value is replaced by an object");
            }
            json_object_update(e, c);
            json_decref(c);
        }
        i++;
    }
    if (matched > 0)
        return 0;
    json_t *created = json_object();
    if (kind == PATCH_REMOVE || scope == NULL || !equalities(path->value_filter, created)) {
        json_decref(created);
        return fail(p, "noTarget", "no value matches the path's filter");
    }
    if (path->sub_after != NULL) {
        json_t *c = coerce(path->sub_after, value);
        if (c == NULL) {
            json_decref(created);
            return fail(p, "invalidValue", "the value does not fit the attribute");
        }
        put(created, path->sub_after, c);
    } else {
        json_t *c = coerce(path->attr.name, value);
        if (c == NULL || !json_is_object(c)) {
            json_decref(c);
            json_decref(created);
            return fail(p, "invalidValue", "a filtered value is replaced by an object");
        }
        json_object_update(created, c);
        json_decref(c);
    }
    if (arr == NULL) {
        arr = json_array();
        put(scope, path->attr.name, arr);
    }
    json_array_append_new(arr, created);
    return 0;
}

static int apply_path(patcher *p, patch_kind kind, const scim_patch_path *path, const json_t *value)
{
    const scim_attr_path *attr = &path->attr;
    bool core = attr->schema == NULL || scim_name_eq(attr->schema, SCIM_SCHEMA_USER);
    if (core && IN(attr->name, READ_ONLY))
        return fail(p, "mutability", tdm_arena_printf(p->arena, "%s is read-only", attr->name));
    if (path->value_filter != NULL)
        return apply_filtered(p, kind, path, value);
    json_t *scope = scope_of(p, attr, kind != PATCH_REMOVE);
    if (scope == NULL)
        return kind == PATCH_REMOVE ? 0 : fail(p, "invalidPath", "no such schema");
    bool multi = core && IN(attr->name, MULTI_VALUED);
    if (attr->sub == NULL) {
        if (kind == PATCH_REMOVE) {
            drop(scope, attr->name);
            return 0;
        }
        json_t *c = coerce(attr->name, value);
        if (c == NULL)
            return fail(p, "invalidValue",
                        tdm_arena_printf(p->arena, "%s takes a boolean", attr->name));
        return put_value(p, kind, scope, attr->name, c, multi);
    }
    json_t *parent = get(scope, attr->name);
    if (parent == NULL) {
        if (kind == PATCH_REMOVE)
            return 0;
        if (multi)
            return fail(p, "noTarget", "the multi-valued attribute has no values");
        parent = json_object();
        put(scope, attr->name, parent);
    }
    /* A sub-attribute of a multi-valued attribute: of every value. */
    size_t n = json_is_array(parent) ? json_array_size(parent) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_is_array(parent) ? json_array_get(parent, i) : parent;
        if (!json_is_object(e))
            return fail(p, "invalidPath",
                        tdm_arena_printf(p->arena, "%s has no sub-attributes", attr->name));
        if (kind == PATCH_REMOVE) {
            drop(e, attr->sub);
            continue;
        }
        json_t *c = coerce(attr->sub, value);
        if (c == NULL)
            return fail(p, "invalidValue",
                        tdm_arena_printf(p->arena, "%s takes a boolean", attr->sub));
        if (put_value(p, kind, e, attr->sub, c, false) != 0)
            return -1;
    }
    return 0;
}

static int apply_one_path(patcher *p, patch_kind kind, const char *text, const json_t *value)
{
    const char *why = NULL;
    scim_patch_path path;
    if (scim_patch_path_parse(p->arena, text, strlen(text), &path, &why) != 0)
        return fail(p, "invalidPath", why);
    return apply_path(p, kind, &path, value);
}

/* An extension's URN used as a key of a no-path value: {"urn:...:User": {...}}. */
static bool is_schema_urn(const char *key, const json_t *value)
{
    if (!json_is_object(value) || strncasecmp(key, "urn:", 4) != 0)
        return false;
    const char *last = strrchr(key, ':');
    return last != NULL && scim_name_eq(last + 1, "User");
}

static int apply_without_path(patcher *p, patch_kind kind, const json_t *value)
{
    if (kind == PATCH_REMOVE)
        return fail(p, "noTarget", "remove needs a path");
    if (!json_is_object(value))
        return fail(p, "invalidValue", "an operation without a path takes an object of attributes");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)value, key, v)
    {
        if (is_schema_urn(key, v)) {
            const char *sub;
            json_t *sv;
            json_object_foreach(v, sub, sv)
            {
                char *full = tdm_arena_printf(p->arena, "%s:%s", key, sub);
                if (full == NULL || apply_one_path(p, kind, full, sv) != 0)
                    return full == NULL ? fail(p, "invalidValue", NULL) : -1;
            }
            continue;
        }
        if (apply_one_path(p, kind, key, v) != 0)
            return -1;
    }
    return 0;
}

static int parse_kind(const json_t *op, patch_kind *kind)
{
    const char *s = json_string_value(op);
    if (s == NULL)
        return -1;
    if (strcasecmp(s, "add") == 0)
        *kind = PATCH_ADD;
    else if (strcasecmp(s, "replace") == 0)
        *kind = PATCH_REPLACE;
    else if (strcasecmp(s, "remove") == 0)
        *kind = PATCH_REMOVE;
    else
        return -1;
    return 0;
}

static bool has_schema(const json_t *request, const char *urn)
{
    size_t i;
    json_t *e;
    json_array_foreach(get(request, "schemas"), i, e)
    {
        if (scim_name_eq(json_string_value(e), urn))
            return true;
    }
    return false;
}

int scim_patch_apply(tdm_arena *a, json_t *resource, const json_t *request, scim_error *err)
{
    patcher p = {.arena = a, .err = err};
    if (!json_is_object(request) || !has_schema(request, SCIM_SCHEMA_PATCH_OP))
        return fail(&p, "invalidSyntax",
                    "the request is not a PatchOp (schemas must name " SCIM_SCHEMA_PATCH_OP ")");
    const json_t *ops = get(request, "Operations");
    if (!json_is_array(ops) || json_array_size(ops) == 0)
        return fail(&p, "invalidSyntax", "Operations must be a non-empty array");
    if (json_array_size(ops) > SCIM_PATCH_MAX_OPERATIONS)
        return fail(&p, "invalidSyntax", "more than 1000 operations");
    p.resource = json_deep_copy(resource);
    if (p.resource == NULL)
        return fail(&p, "invalidValue", NULL);
    size_t i;
    json_t *op;
    json_array_foreach(ops, i, op)
    {
        patch_kind kind;
        if (!json_is_object(op) || parse_kind(get(op, "op"), &kind) != 0) {
            json_decref(p.resource);
            return fail(
                &p, "invalidSyntax",
                tdm_arena_printf(a, "Operations[%zu].op must be add, replace or remove", i));
        }
        const json_t *path = get(op, "path");
        const json_t *value = get(op, "value");
        if (kind != PATCH_REMOVE && value == NULL) {
            json_decref(p.resource);
            return fail(&p, "invalidValue", tdm_arena_printf(a, "Operations[%zu] has no value", i));
        }
        int rc;
        if (path == NULL)
            rc = apply_without_path(&p, kind, value);
        else if (!json_is_string(path))
            rc = fail(&p, "invalidPath", "path must be a string");
        else
            rc = apply_one_path(&p, kind, json_string_value(path), value);
        if (rc != 0) {
            json_decref(p.resource);
            return -1;
        }
    }
    json_object_clear(resource);
    json_object_update(resource, p.resource);
    json_decref(p.resource);
    return 0;
}

json_t *scim_error_body(const scim_error *err)
{
    char status[8];
    snprintf(status, sizeof(status), "%d", err->status);
    json_t *body = json_pack("{s:[s],s:s,s:s}", "schemas", SCIM_SCHEMA_ERROR, "status", status,
                             "detail", err->detail != NULL ? err->detail : "");
    if (body != NULL && err->scim_type != NULL)
        json_object_set_new(body, "scimType", json_string(err->scim_type));
    return body;
}
