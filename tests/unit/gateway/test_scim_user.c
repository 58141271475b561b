/*
 * test_scim_user.c - a SCIM User and the directory's Person, both ways
 * (services/gateway/scim_user.c): the forms Entra ID and Okta send (active as
 * "False", numbers as strings, the manager as a bare id or {"value"}), attributes in
 * any case and under their extension URNs, what is refused (400 with the attribute
 * named), a round trip that keeps every stored attribute, and If-Match versions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scim_user.h"

#define CORE "urn:ietf:params:scim:schemas:core:2.0:User"

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (j == NULL)
        fail_msg("bad test JSON: %s: %s", text, je.text);
    return j;
}

/* The Person of a User text (the test fails if it is refused). */
static Tandem__Internal__V1__Person *person(tdm_arena *a, const char *text)
{
    json_t *u = parse(text);
    scim_error err = {0};
    Tandem__Internal__V1__Person *p = NULL;
    if (scim_user_to_person(u, a, &p, &err) != 0)
        fail_msg("refused: %s", err.detail);
    json_decref(u);
    return p;
}

/* The refusal of a User text: status and scimType, detail naming `attr`. */
static void refused(const char *text, const char *scim_type, const char *attr)
{
    tdm_arena *a = tdm_arena_new(0);
    json_t *u = parse(text);
    scim_error err = {0};
    Tandem__Internal__V1__Person *p = NULL;
    assert_int_equal(scim_user_to_person(u, a, &p, &err), -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.scim_type, scim_type);
    if (strstr(err.detail, attr) == NULL)
        fail_msg("\"%s\" does not name %s", err.detail, attr);
    json_decref(u);
    tdm_arena_free(a);
}

static void entra_id_create_body(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    Tandem__Internal__V1__Person *p = person(
        a,
        "{\"schemas\":[\"" CORE "\",\"" SCIM_SCHEMA_ENTERPRISE "\"],"
        "\"externalId\":\"0a21f0f2\",\"userName\":\"Test_User@firm.example\",\"active\":true,"
        "\"emails\":[{\"primary\":true,\"type\":\"work\",\"value\":\"t@firm.example\"}],"
        "\"meta\":{\"resourceType\":\"User\"},\"roles\":[],"
        "\"name\":{\"formatted\":\"Jo Trainee\",\"familyName\":\"Trainee\",\"givenName\":\"Jo\"},"
        "\"" SCIM_SCHEMA_ENTERPRISE "\":{\"department\":\"Tech\",\"manager\":\"m-1\"}}");
    assert_string_equal(p->user_name, "Test_User@firm.example");
    assert_string_equal(p->external_id, "0a21f0f2");
    assert_string_equal(p->formatted_name, "Jo Trainee");
    assert_string_equal(p->given_name, "Jo");
    assert_int_equal(p->n_emails, 1);
    assert_true(p->emails[0]->primary);
    assert_string_equal(p->emails[0]->type, "work");
    assert_string_equal(p->department, "Tech");
    assert_string_equal(p->manager_id, "m-1"); /* Entra ID's bare id */
    assert_true(p->active->value);
    tdm_arena_free(a);
}

static void identity_provider_forms_are_accepted(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    /* Names in any case, "False", numbers as strings, manager as {"value"}. */
    Tandem__Internal__V1__Person *p =
        person(a, "{\"USERNAME\":\"okta@firm.example\",\"Active\":\"False\","
                  "\"" SCIM_SCHEMA_TANDEM "\":{\"seniorityLevel\":\"7\",\"Office\":\"Leeds\","
                  "\"yearsQualified\":12},"
                  "\"" SCIM_SCHEMA_ENTERPRISE "\":{\"manager\":{\"value\":\"m-2\"}},"
                  "\"emails\":[{\"value\":\"\"},\"plain@firm.example\"],\"password\":\"x\"}");
    assert_string_equal(p->user_name, "okta@firm.example");
    assert_false(p->active->value);
    assert_int_equal(p->seniority_level->value, 7);
    assert_int_equal(p->years_qualified->value, 12);
    assert_string_equal(p->office, "Leeds");
    assert_string_equal(p->manager_id, "m-2");
    assert_int_equal(p->n_emails, 1); /* the empty one is no e-mail */
    assert_string_equal(p->emails[0]->value, "plain@firm.example");
    /* Unset: active defaults to true, numbers stay unset. */
    p = person(a, "{\"userName\":\"x\"}");
    assert_true(p->active->value);
    assert_null(p->seniority_level);
    assert_string_equal(p->manager_id, "");
    tdm_arena_free(a);
}

static void wrong_types_are_refused_naming_the_attribute(void **state)
{
    (void)state;
    refused("{\"displayName\":\"x\"}", "invalidValue", "userName");
    refused("{\"userName\":7}", "invalidValue", "userName");
    refused("{\"userName\":\"x\",\"active\":\"maybe\"}", "invalidValue", "active");
    refused("{\"userName\":\"x\",\"emails\":{\"value\":\"a@b.example\"}}", "invalidValue",
            "emails");
    refused("{\"userName\":\"x\",\"name\":\"Jo\"}", "invalidValue", "name");
    refused("{\"userName\":\"x\",\"" SCIM_SCHEMA_TANDEM "\":{\"seniorityLevel\":\"high\"}}",
            "invalidValue", "seniorityLevel");
    refused("{\"userName\":\"x\",\"" SCIM_SCHEMA_TANDEM "\":{\"seniorityLevel\":99999999999}}",
            "invalidValue", "seniorityLevel");
    refused("{\"userName\":\"x\",\"" SCIM_SCHEMA_ENTERPRISE "\":{\"manager\":[1]}}", "invalidValue",
            "manager");
    refused("{\"userName\":\"x\",\"emails\":[{\"value\":\"a@b.example\",\"primary\":\"yes\"}]}",
            "invalidValue", "emails.primary");
}

static void a_person_round_trips_through_its_user(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    const char *text =
        "{\"userName\":\"ada@firm.example\",\"externalId\":\"E1\",\"displayName\":\"Ada\","
        "\"name\":{\"givenName\":\"Ada\",\"familyName\":\"Lovelace\",\"formatted\":\"A L\"},"
        "\"emails\":[{\"value\":\"ada@firm.example\",\"type\":\"work\",\"primary\":true}],"
        "\"active\":true,\"title\":\"Partner\",\"preferredLanguage\":\"en-GB\","
        "\"timezone\":\"Europe/London\",\"" SCIM_SCHEMA_ENTERPRISE "\":{\"employeeNumber\":\"42\","
        "\"department\":\"IP\",\"organization\":\"Firm\",\"division\":\"Lit\","
        "\"manager\":{\"value\":\"m-3\"}},\"" SCIM_SCHEMA_TANDEM "\":{\"seniorityLevel\":9,"
        "\"practiceArea\":\"IP\",\"office\":\"London\",\"yearsQualified\":20}}";
    Tandem__Internal__V1__Person *p = person(a, text);
    p->id = (char *)"u-9";
    p->version = 3;
    json_t *u = scim_user_from_person(p, "https://gw/scim/v2/Users");
    json_t *meta = json_object_get(u, "meta");
    assert_string_equal(json_string_value(json_object_get(meta, "version")), "W/\"3\"");
    assert_string_equal(json_string_value(json_object_get(meta, "location")),
                        "https://gw/scim/v2/Users/u-9");
    json_t *ent = json_object_get(u, SCIM_SCHEMA_ENTERPRISE);
    assert_string_equal(json_string_value(json_object_get(json_object_get(ent, "manager"), "$ref")),
                        "https://gw/scim/v2/Users/m-3");
    scim_error err = {0};
    Tandem__Internal__V1__Person *back = NULL;
    assert_int_equal(scim_user_to_person(u, a, &back, &err), 0);
    back->id = p->id;
    back->version = p->version;
    size_t n1 = protobuf_c_message_get_packed_size(&p->base);
    size_t n2 = protobuf_c_message_get_packed_size(&back->base);
    assert_int_equal(n1, n2);
    uint8_t *b1 = tdm_arena_alloc(a, n1), *b2 = tdm_arena_alloc(a, n2);
    protobuf_c_message_pack(&p->base, b1);
    protobuf_c_message_pack(&back->base, b2);
    assert_memory_equal(b1, b2, n1);
    json_decref(u);
    tdm_arena_free(a);
}

static void if_match_names_a_version(void **state)
{
    (void)state;
    assert_int_equal(scim_if_match_version(NULL), 0);
    assert_int_equal(scim_if_match_version("*"), 0);
    assert_int_equal(scim_if_match_version("W/\"12\""), 12);
    assert_int_equal(scim_if_match_version("\"5\""), 5);
    assert_int_equal(scim_if_match_version("W/\"x\""), -1);
    assert_int_equal(scim_if_match_version("12"), -1);
    assert_int_equal(scim_if_match_version("W/\"0\""), -1);
    assert_int_equal(scim_if_match_version("W/\"99999999999999999999\""), -1);
    tdm_arena *a = tdm_arena_new(0);
    assert_string_equal(scim_etag(7, a), "W/\"7\"");
    tdm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entra_id_create_body),
        cmocka_unit_test(identity_provider_forms_are_accepted),
        cmocka_unit_test(wrong_types_are_refused_naming_the_attribute),
        cmocka_unit_test(a_person_round_trips_through_its_user),
        cmocka_unit_test(if_match_names_a_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
