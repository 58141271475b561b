/*
 * test_scim_patch.c - SCIM PATCH (RFC 7644 section 3.5.2) on a User: the operations
 * Entra ID and Okta send during provisioning (as their documentation shows them),
 * the RFC's rules for multi-valued and complex attributes, value filters, read-only
 * attributes, and that a request that fails changes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scim_patch.h"

#define ENTERPRISE "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

static const char *const USER =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\"],\"id\":\"u-1\","
    "\"userName\":\"grace@firm.example\",\"active\":true,\"displayName\":\"Grace\","
    "\"name\":{\"givenName\":\"Grace\",\"familyName\":\"Hopper\"},"
    "\"emails\":[{\"type\":\"work\",\"value\":\"grace@firm.example\",\"primary\":true}],"
    "\"meta\":{\"resourceType\":\"User\"}}";

static json_t *user(void)
{
    json_t *u = json_loads(USER, 0, NULL);
    assert_non_null(u);
    return u;
}

/* Applies the request; returns 0 or -1 with *err. */
static int patch(json_t *u, const char *request, scim_error *err)
{
    json_error_t je;
    json_t *req = json_loads(request, 0, &je);
    if (req == NULL)
        fail_msg("bad test JSON: %s: %s", request, je.text);
    tdm_arena *a = tdm_arena_new(0);
    memset(err, 0, sizeof(*err));
    int rc = scim_patch_apply(a, u, req, err);
    if (rc != 0)
        err->detail = strdup(err->detail); /* outlives the arena; leaked in tests only */
    json_decref(req);
    tdm_arena_free(a);
    return rc;
}

static void ok(json_t *u, const char *ops)
{
    char request[4096];
    snprintf(request, sizeof(request),
             "{\"schemas\":[\"" SCIM_SCHEMA_PATCH_OP "\"],\"Operations\":%s}", ops);
    scim_error err;
    if (patch(u, request, &err) != 0)
        fail_msg("%s: %s %s", ops, err.scim_type, err.detail);
}

static void refused(const char *ops, const char *scim_type)
{
    char request[4096];
    snprintf(request, sizeof(request),
             "{\"schemas\":[\"" SCIM_SCHEMA_PATCH_OP "\"],\"Operations\":%s}", ops);
    json_t *u = user();
    json_t *before = json_deep_copy(u);
    scim_error err;
    if (patch(u, request, &err) == 0)
        fail_msg("accepted: %s", ops);
    assert_int_equal(err.status, 400);
    if (strcmp(err.scim_type, scim_type) != 0)
        fail_msg("%s: scimType %s, want %s (%s)", ops, err.scim_type, scim_type, err.detail);
    assert_true(json_equal(u, before)); /* nothing changed */
    free((char *)err.detail);
    json_decref(before);
    json_decref(u);
}

static const char *str(const json_t *u, const char *path)
{
    /* path: "a" or "a.b" or "urn...:x" via json_object_get chains, for the tests. */
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    const json_t *v = u;
    for (char *save = NULL, *part = strtok_r(buf, "/", &save); part != NULL;
         part = strtok_r(NULL, "/", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(part)) : json_object_get(v, part);
    return json_string_value(v);
}

static void entra_id_updates_a_user_as_its_documentation_shows(void **state)
{
    (void)state;
    json_t *u = user();
    ok(u, "[{\"op\":\"Replace\",\"path\":\"displayName\",\"value\":\"Grace M. Hopper\"},"
          "{\"op\":\"Replace\",\"path\":\"name.familyName\",\"value\":\"Murray Hopper\"},"
          "{\"op\":\"Replace\",\"path\":\"emails[type eq \\\"work\\\"].value\","
          "\"value\":\"gmh@firm.example\"},"
          "{\"op\":\"Add\",\"path\":\"" ENTERPRISE ":department\",\"value\":\"Litigation\"},"
          "{\"op\":\"Add\",\"path\":\"" ENTERPRISE ":manager\",\"value\":{\"value\":\"u-9\"}}]");
    assert_string_equal(str(u, "displayName"), "Grace M. Hopper");
    assert_string_equal(str(u, "name/familyName"), "Murray Hopper");
    assert_string_equal(str(u, "name/givenName"), "Grace"); /* the other sub-attribute stays */
    assert_string_equal(str(u, "emails/0/value"), "gmh@firm.example");
    assert_string_equal(str(u, ENTERPRISE "/department"), "Litigation");
    assert_string_equal(str(u, ENTERPRISE "/manager/value"), "u-9");
    assert_string_equal(str(u, "schemas/1"), ENTERPRISE);
    /* Deprovisioning: active as the string "False". */
    ok(u, "[{\"op\":\"Replace\",\"path\":\"active\",\"value\":\"False\"}]");
    assert_true(json_is_false(json_object_get(u, "active")));
    json_decref(u);
}

static void a_filtered_path_with_no_match_creates_the_value_it_describes(void **state)
{
    (void)state;
    json_t *u = user();
    ok(u, "[{\"op\":\"replace\",\"path\":\"emails[type eq \\\"home\\\"].value\","
          "\"value\":\"g@home.example\"}]");
    assert_int_equal(json_array_size(json_object_get(u, "emails")), 2);
    assert_string_equal(str(u, "emails/1/type"), "home");
    assert_string_equal(str(u, "emails/1/value"), "g@home.example");
    json_decref(u);
}

static void okta_replaces_without_a_path(void **state)
{
    (void)state;
    json_t *u = user();
    ok(u, "[{\"op\":\"replace\",\"value\":{\"active\":false,\"name.givenName\":\"Amazing\","
          "\"" ENTERPRISE "\":{\"department\":\"Tax\",\"employeeNumber\":\"42\"}}}]");
    assert_true(json_is_false(json_object_get(u, "active")));
    assert_string_equal(str(u, "name/givenName"), "Amazing");
    assert_string_equal(str(u, ENTERPRISE "/department"), "Tax");
    assert_string_equal(str(u, ENTERPRISE "/employeeNumber"), "42");
    json_decref(u);
}

static void multi_valued_attributes_follow_the_rfc(void **state)
{
    (void)state;
    json_t *u = user();
    /* add appends, without duplicating a value already there */
    ok(u, "[{\"op\":\"add\",\"path\":\"emails\",\"value\":[{\"type\":\"home\",\"value\":\"h@x\"},"
          "{\"type\":\"work\",\"value\":\"grace@firm.example\",\"primary\":true}]}]");
    assert_int_equal(json_array_size(json_object_get(u, "emails")), 2);
    /* remove with a filter removes the matching values only */
    ok(u, "[{\"op\":\"remove\",\"path\":\"emails[type eq \\\"home\\\"]\"}]");
    assert_int_equal(json_array_size(json_object_get(u, "emails")), 1);
    assert_string_equal(str(u, "emails/0/type"), "work");
    /* replace replaces every value */
    ok(u, "[{\"op\":\"replace\",\"path\":\"emails\",\"value\":[{\"value\":\"only@x\"}]}]");
    assert_int_equal(json_array_size(json_object_get(u, "emails")), 1);
    assert_string_equal(str(u, "emails/0/value"), "only@x");
    /* a string boolean inside a value */
    ok(u, "[{\"op\":\"add\",\"path\":\"emails[value eq "
          "\\\"only@x\\\"].primary\",\"value\":\"True\"}]");
    assert_true(
        json_is_true(json_object_get(json_array_get(json_object_get(u, "emails"), 0), "primary")));
    /* remove the whole attribute */
    ok(u, "[{\"op\":\"remove\",\"path\":\"emails\"}]");
    assert_null(json_object_get(u, "emails"));
    json_decref(u);
}

static void names_are_case_insensitive_and_keep_their_spelling(void **state)
{
    (void)state;
    json_t *u = user();
    ok(u, "[{\"op\":\"replace\",\"path\":\"DISPLAYNAME\",\"value\":\"G\"}]");
    assert_string_equal(str(u, "displayName"), "G");
    assert_null(json_object_get(u, "DISPLAYNAME"));
    json_decref(u);
}

static void bad_requests_are_refused_and_change_nothing(void **state)
{
    (void)state;
    refused("[{\"op\":\"replace\",\"path\":\"id\",\"value\":\"u-2\"}]", "mutability");
    refused("[{\"op\":\"remove\",\"path\":\"meta\"}]", "mutability");
    refused("[{\"op\":\"replace\",\"value\":{\"id\":\"x\"}}]", "mutability");
    refused("[{\"op\":\"merge\",\"path\":\"title\",\"value\":\"x\"}]", "invalidSyntax");
    refused("[]", "invalidSyntax");
    refused("[{\"op\":\"remove\"}]", "noTarget");
    refused("[{\"op\":\"replace\",\"path\":\"title\"}]", "invalidValue");
    refused("[{\"op\":\"replace\",\"path\":\"active\",\"value\":\"maybe\"}]", "invalidValue");
    refused("[{\"op\":\"replace\",\"path\":\"emails[type eq\",\"value\":\"x\"}]", "invalidPath");
    refused("[{\"op\":\"remove\",\"path\":\"emails[type eq \\\"fax\\\"]\"}]", "noTarget");
    refused("[{\"op\":\"replace\",\"path\":\"emails[value co \\\"zzz\\\"]\",\"value\":{}}]",
            "noTarget");
    refused("[{\"op\":\"replace\",\"path\":\"displayName[value pr]\",\"value\":{}}]",
            "invalidPath");
    /* The first operation succeeds, the second fails: neither is applied. */
    refused("[{\"op\":\"replace\",\"path\":\"displayName\",\"value\":\"New\"},"
            "{\"op\":\"replace\",\"path\":\"id\",\"value\":\"u-2\"}]",
            "mutability");
    json_t *u = user();
    scim_error err;
    assert_int_equal(patch(u, "{\"Operations\":[{\"op\":\"remove\",\"path\":\"title\"}]}", &err),
                     -1);
    assert_string_equal(err.scim_type, "invalidSyntax");
    free((char *)err.detail);
    json_decref(u);
}

static void error_bodies_are_scim_errors(void **state)
{
    (void)state;
    scim_error err = {.status = 409, .scim_type = "uniqueness", .detail = "userName is taken"};
    json_t *body = scim_error_body(&err);
    char *text = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal(text, "{\"detail\":\"userName is taken\",\"schemas\":[\"" SCIM_SCHEMA_ERROR
                              "\"],\"scimType\":\"uniqueness\",\"status\":\"409\"}");
    free(text);
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entra_id_updates_a_user_as_its_documentation_shows),
        cmocka_unit_test(a_filtered_path_with_no_match_creates_the_value_it_describes),
        cmocka_unit_test(okta_replaces_without_a_path),
        cmocka_unit_test(multi_valued_attributes_follow_the_rfc),
        cmocka_unit_test(names_are_case_insensitive_and_keep_their_spelling),
        cmocka_unit_test(bad_requests_are_refused_and_change_nothing),
        cmocka_unit_test(error_bodies_are_scim_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
