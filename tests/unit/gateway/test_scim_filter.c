/*
 * test_scim_filter.c - SCIM filters (RFC 7644 section 3.4.2.2) and PATCH paths: the
 * RFC's own examples parse and match as the RFC says, identity providers' forms
 * (Entra ID's and Okta's lookups, URN-qualified names, odd case) work, precedence and
 * grouping hold, malformed filters are refused with a message saying where, and the
 * limits on length, depth and size hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "scim_filter.h"

/* A User as the directory serves it. */
static const char *const ADA =
    "{\"schemas\":[\"urn:ietf:params:scim:schemas:core:2.0:User\","
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"],"
    "\"id\":\"2819c223-7f76-453a-919d-413861904646\",\"externalId\":\"E1234\","
    "\"userName\":\"Ada.Lovelace@Firm.example\",\"displayName\":\"Ada Lovelace\","
    "\"name\":{\"givenName\":\"Ada\",\"familyName\":\"Lovelace\"},"
    "\"title\":\"Associate\",\"active\":true,\"yearsQualified\":4,"
    "\"emails\":[{\"type\":\"work\",\"value\":\"ada@firm.example\",\"primary\":true},"
    "{\"type\":\"home\",\"value\":\"ada@home.example.org\"}],"
    "\"meta\":{\"resourceType\":\"User\",\"lastModified\":\"2026-11-30T10:00:00Z\","
    "\"version\":\"W/\\\"3\\\"\"},"
    "\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
    "{\"department\":\"Corporate\",\"employeeNumber\":\"701984\","
    "\"manager\":{\"value\":\"26118915-6090-4610-87e4-49d8ca9f808d\"}}}";

static json_t *g_ada;

static int setup(void **state)
{
    (void)state;
    json_error_t e;
    g_ada = json_loads(ADA, 0, &e);
    return g_ada == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(g_ada);
    return 0;
}

static bool matches(const char *filter)
{
    tdm_arena *a = tdm_arena_new(0);
    const char *err = NULL;
    const scim_filter *f = scim_filter_parse(a, filter, strlen(filter), &err);
    if (f == NULL)
        fail_msg("%s: %s", filter, err);
    bool m = scim_filter_match(f, g_ada);
    tdm_arena_free(a);
    return m;
}

/* The filter is refused, and the message contains want. */
static void refused(const char *filter, const char *want)
{
    tdm_arena *a = tdm_arena_new(0);
    const char *err = NULL;
    const scim_filter *f = scim_filter_parse(a, filter, strlen(filter), &err);
    if (f != NULL)
        fail_msg("accepted: %s", filter);
    assert_non_null(err);
    if (strstr(err, want) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", filter, err, want);
    tdm_arena_free(a);
}

static void identity_providers_lookups_match(void **state)
{
    (void)state;
    /* Entra ID and Okta look a user up before creating one. */
    assert_true(matches("userName eq \"ada.lovelace@firm.example\""));
    assert_false(matches("userName eq \"grace@firm.example\""));
    assert_true(matches("externalId eq \"E1234\""));
    assert_false(matches("externalId eq \"e1234\"")); /* externalId is case-exact */
    assert_true(matches("id eq \"2819c223-7f76-453a-919d-413861904646\""));
    assert_false(matches("id eq \"2819C223-7F76-453A-919D-413861904646\""));
}

static void every_operator_compares_as_the_rfc_says(void **state)
{
    (void)state;
    assert_true(matches("title ne \"Partner\""));
    assert_false(matches("title ne \"associate\""));
    assert_true(matches("userName co \"lovelace\""));
    assert_true(matches("userName sw \"ADA.\""));
    assert_true(matches("userName ew \"@firm.example\""));
    assert_false(matches("userName ew \"@firm.exampl\""));
    assert_true(matches("meta.lastModified gt \"2026-11-01T00:00:00Z\""));
    assert_false(matches("meta.lastModified lt \"2026-11-01T00:00:00Z\""));
    assert_true(matches("meta.lastModified ge \"2026-11-30T10:00:00Z\""));
    assert_true(matches("meta.lastModified le \"2026-11-30T10:00:00Z\""));
    assert_true(matches("yearsQualified ge 4"));
    assert_true(matches("yearsQualified lt 4.5"));
    assert_false(matches("yearsQualified gt 4e0"));
    assert_true(matches("active eq true"));
    assert_false(matches("active eq false"));
    assert_true(matches("title pr"));
    assert_false(matches("nickName pr"));
    assert_true(matches("nickName eq null"));
    assert_true(matches("nickName ne \"x\"")); /* ne negates eq: absent is not equal */
}

static void keywords_and_names_are_case_insensitive(void **state)
{
    (void)state;
    assert_true(matches("USERNAME EQ \"ada.lovelace@firm.example\""));
    assert_true(matches("title Pr AND active Eq TRUE"));
    assert_true(matches("NAME.FAMILYNAME eq \"lovelace\""));
}

static void urn_qualified_names_reach_core_and_extension_attributes(void **state)
{
    (void)state;
    assert_true(matches("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"ada\""));
    assert_true(matches("urn:ietf:params:scim:schemas:core:2.0:User:name.givenName eq \"Ada\""));
    assert_true(matches(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"corporate\""));
    assert_true(matches("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value "
                        "eq \"26118915-6090-4610-87e4-49d8ca9f808d\""));
    assert_false(matches(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:title eq \"Associate\""));
}

static void multi_valued_and_complex_attributes(void **state)
{
    (void)state;
    assert_true(matches("emails co \"home.example\"")); /* by each value's "value" */
    assert_true(matches("emails.value ew \".org\""));
    assert_true(matches("emails.type eq \"home\""));
    assert_true(matches("emails[type eq \"work\" and value co \"@firm\"]"));
    assert_false(matches("emails[type eq \"home\" and value co \"@firm\"]"));
    assert_true(matches("emails[not (primary pr)]"));
    assert_true(matches("schemas eq \"urn:ietf:params:scim:schemas:core:2.0:User\""));
    assert_true(matches("schemas[value sw \"urn:ietf:params:scim:schemas:extension\"]"));
}

static void and_binds_tighter_than_or_and_parentheses_group(void **state)
{
    (void)state;
    /* false and false or true = (false and false) or true */
    assert_true(matches("title eq \"x\" and title eq \"y\" or active eq true"));
    /* false and (false or true) */
    assert_false(matches("title eq \"x\" and (title eq \"y\" or active eq true)"));
    assert_true(matches("not (title eq \"x\") and not(userName pr and title eq \"x\")"));
    assert_true(matches("((((title pr))))"));
    assert_true(matches("  title   pr   and   active  eq  true  "));
    /* The RFC's own examples (section 3.4.2.2) parse. */
    const char *rfc[] = {
        "title pr and userType eq \"Employee\"",
        "title pr or userType eq \"Intern\"",
        "schemas eq \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\"",
        "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co "
        "\"example.org\")",
        "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co "
        "\"example.org\")",
        "userType eq \"Employee\" and (emails.type eq \"work\")",
        "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"]",
        "emails[type eq \"work\" and value co \"@example.com\"] or ims[type eq \"xmpp\" and value "
        "co \"@foo.com\"]",
        "name.familyName co \"O'Malley\"",
        "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"",
        "meta.lastModified gt \"2011-05-13T04:42:34Z\"",
    };
    for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++)
        (void)matches(rfc[i]);
}

static void strings_are_json_strings(void **state)
{
    (void)state;
    assert_true(matches("displayName eq \"Ada\\u0020Lovelace\""));
    assert_true(matches("meta.version eq \"W/\\\"3\\\"\""));
    assert_false(matches("meta.version eq \"w/\\\"3\\\"\"")); /* meta.version is case-exact */
    refused("displayName eq \"Ada", "not closed");
    refused("displayName eq \"\\x41\"", "invalid escape");
    refused("displayName eq \"\\ud800\"", "surrogate");
    refused("displayName eq \"\\u0000\"", "NUL");
}

static void malformed_filters_are_refused_saying_where(void **state)
{
    (void)state;
    refused("", "ends where a comparison was expected");
    refused("userName", "expected a space and an operator");
    refused("userName equals \"x\"", "expected an operator");
    refused("userName eq", "expected a space and a value");
    refused("userName eq x", "expected a value");
    refused("userName eq 01", "expected \"and\", \"or\" or the end");
    refused("userName eq \"x\" and", "ends where a comparison was expected");
    refused("userName eq \"x\" xor title pr", "expected \"and\", \"or\"");
    refused("(userName pr", "expected \")\"");
    refused("userName pr)", "expected \"and\", \"or\"");
    refused("emails[type eq \"work\"", "expected \"]\"");
    refused("emails[type[value pr]]", "another value path");
    refused("name.givenName[value pr]", "not a sub-attribute");
    refused("1abc eq 1", "not a valid attribute path");
    refused("schemas:userName eq 1", "not a schema URN");
    refused("a.b.c eq 1", "not a valid attribute path");
    const char with_nul[] = "title pr\0 or x pr";
    tdm_arena *a = tdm_arena_new(0);
    const char *err = NULL;
    assert_null(scim_filter_parse(a, with_nul, sizeof(with_nul) - 1, &err));
    assert_non_null(strstr(err, "NUL"));
    /* The message says where: "userName eq x" fails at character 13. */
    assert_null(scim_filter_parse(a, "userName eq x", 13, &err));
    assert_non_null(strstr(err, "at character 13"));
    tdm_arena_free(a);
}

static void limits_hold(void **state)
{
    (void)state;
    char deep[400];
    size_t n = 0;
    for (int i = 0; i < 40; i++)
        deep[n++] = '(';
    n += (size_t)sprintf(deep + n, "title pr");
    for (int i = 0; i < 40; i++)
        deep[n++] = ')';
    deep[n] = '\0';
    refused(deep, "nests more than 32");
    char wide[SCIM_FILTER_MAX_BYTES + 1];
    n = 0;
    while (n + 12 < sizeof(wide) - 1)
        n += (size_t)sprintf(wide + n, "%sa pr", n > 0 ? " or " : "");
    wide[n] = '\0';
    refused(wide, "more than 512");
    char longer[SCIM_FILTER_MAX_BYTES + 16];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    refused(longer, "longer than 4096");
}

static void patch_paths_parse_as_identity_providers_send_them(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    const char *err = NULL;
    scim_patch_path p;
    const char *t = "emails[type eq \"work\"].value";
    assert_int_equal(scim_patch_path_parse(a, t, strlen(t), &p, &err), 0);
    assert_string_equal(p.attr.name, "emails");
    assert_non_null(p.value_filter);
    assert_string_equal(p.sub_after, "value");
    t = "name.familyName";
    assert_int_equal(scim_patch_path_parse(a, t, strlen(t), &p, &err), 0);
    assert_string_equal(p.attr.name, "name");
    assert_string_equal(p.attr.sub, "familyName");
    assert_null(p.value_filter);
    t = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    assert_int_equal(scim_patch_path_parse(a, t, strlen(t), &p, &err), 0);
    assert_string_equal(p.attr.schema,
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User");
    assert_string_equal(p.attr.name, "manager");
    t = "members[value eq \"2819c223\"]";
    assert_int_equal(scim_patch_path_parse(a, t, strlen(t), &p, &err), 0);
    assert_null(p.sub_after);
    const char *bad[] = {"",
                         "emails[",
                         "emails[type eq \"work\"]x",
                         "emails[type eq]",
                         "emails[type eq \"work\"].",
                         "name.givenName[value pr]",
                         "emails eq \"x\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (scim_patch_path_parse(a, bad[i], strlen(bad[i]), &p, &err) == 0)
            fail_msg("accepted path: %s", bad[i]);
    }
    tdm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_providers_lookups_match),
        cmocka_unit_test(every_operator_compares_as_the_rfc_says),
        cmocka_unit_test(keywords_and_names_are_case_insensitive),
        cmocka_unit_test(urn_qualified_names_reach_core_and_extension_attributes),
        cmocka_unit_test(multi_valued_and_complex_attributes),
        cmocka_unit_test(and_binds_tighter_than_or_and_parentheses_group),
        cmocka_unit_test(strings_are_json_strings),
        cmocka_unit_test(malformed_filters_are_refused_saying_where),
        cmocka_unit_test(limits_hold),
        cmocka_unit_test(patch_paths_parse_as_identity_providers_send_them),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
