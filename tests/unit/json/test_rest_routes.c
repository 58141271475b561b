/*
 * test_rest_routes.c - REST routing over the generated route table: every route of
 * API.md resolves to its gRPC method with its variables decoded, custom verbs and
 * nested variables work, unknown paths are 404 and wrong methods 405, the scopes are
 * API.md's, query strings parse, requests are built from body, path and query, and
 * every operation of the OpenAPI document reaches its method with its path parameters
 * in the fields it names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/json.h"
#include "tandem/rest.h"
#include "tandem/rest_routes.h"

static tdm_rest_router *router;

static int setup(void **state)
{
    (void)state;
    tdm_status *st = tdm_rest_router_new(tdm_rest_routes, tdm_rest_routes_count, &router);
    return st == NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tdm_rest_router_free(router);
    return 0;
}

static const tdm_rest_route *must_match(const char *method, const char *path, tdm_arena *arena,
                                        tdm_rest_match *m)
{
    tdm_status *st = tdm_rest_match_request(router, method, path, strlen(path), arena, m);
    if (st != NULL)
        fail_msg("%s %s: %s", method, path, st->message);
    return m->route;
}

static void every_api_route_resolves_to_its_method(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path, *grpc, *var, *value;
    } cases[] = {
        {"POST", "/v1/tenants", "/tandem.v1.TenantService/CreateTenant", NULL, NULL},
        {"GET", "/v1/tenants/t1", "/tandem.v1.TenantService/GetTenant", "id", "t1"},
        {"GET", "/v1/tenants", "/tandem.v1.TenantService/ListTenants", NULL, NULL},
        {"POST", "/v1/tenants/t1/apiKeys", "/tandem.v1.TenantService/CreateApiKey", "tenant_id",
         "t1"},
        {"GET", "/v1/tenants/t1/apiKeys", "/tandem.v1.TenantService/ListApiKeys", "tenant_id",
         "t1"},
        {"POST", "/v1/apiKeys/k1:revoke", "/tandem.v1.TenantService/RevokeApiKey", "id", "k1"},
        {"GET", "/v1/tenants/t1/usage", "/tandem.v1.TenantService/GetTenantUsage", "tenant_id",
         "t1"},
        {"GET", "/v1/usage", "/tandem.v1.TenantService/ListUsage", NULL, NULL},
        {"POST", "/v1/programmes", "/tandem.v1.EnrolmentService/CreateProgramme", NULL, NULL},
        {"GET", "/v1/programmes/p1", "/tandem.v1.EnrolmentService/GetProgramme", "id", "p1"},
        {"GET", "/v1/programmes", "/tandem.v1.EnrolmentService/ListProgrammes", NULL, NULL},
        {"PATCH", "/v1/programmes/p1", "/tandem.v1.EnrolmentService/UpdateProgramme",
         "programme.id", "p1"},
        {"POST", "/v1/programmes/p1/participants", "/tandem.v1.EnrolmentService/Enrol",
         "programme_id", "p1"},
        {"POST", "/v1/programmes/p1/participants:batchEnrol",
         "/tandem.v1.EnrolmentService/BatchEnrol", "programme_id", "p1"},
        {"GET", "/v1/participants/a1", "/tandem.v1.EnrolmentService/GetParticipant", "id", "a1"},
        {"GET", "/v1/programmes/p1/participants", "/tandem.v1.EnrolmentService/ListParticipants",
         "programme_id", "p1"},
        {"PATCH", "/v1/participants/a1", "/tandem.v1.EnrolmentService/UpdateParticipant",
         "participant.id", "a1"},
        {"POST", "/v1/participants/a1:withdraw", "/tandem.v1.EnrolmentService/WithdrawParticipant",
         "id", "a1"},
        {"POST", "/v1/participants/a1:issueToken",
         "/tandem.v1.EnrolmentService/IssueParticipantToken", "id", "a1"},
        {"GET", "/v1/people/E-1:export", "/tandem.v1.EnrolmentService/ExportPerson", "external_id",
         "E-1"},
        {"POST", "/v1/people/E-1:erase", "/tandem.v1.EnrolmentService/ErasePerson", "external_id",
         "E-1"},
        {"POST", "/v1/templates", "/tandem.v1.EnrolmentService/CreateProgrammeTemplate", NULL,
         NULL},
        {"GET", "/v1/templates/t1", "/tandem.v1.EnrolmentService/GetProgrammeTemplate", "id", "t1"},
        {"GET", "/v1/templates", "/tandem.v1.EnrolmentService/ListProgrammeTemplates", NULL, NULL},
        {"PATCH", "/v1/templates/t1", "/tandem.v1.EnrolmentService/UpdateProgrammeTemplate",
         "template.id", "t1"},
        {"POST", "/v1/programmes:fromTemplate",
         "/tandem.v1.EnrolmentService/CreateProgrammeFromTemplate", NULL, NULL},
        {"GET", "/v1/templates/t1/benchmark", "/tandem.v1.EnrolmentService/GetTemplateBenchmark",
         "id", "t1"},
        {"GET", "/v1/programmes/p1/benchmark", "/tandem.v1.EnrolmentService/GetProgrammeBenchmark",
         "id", "p1"},
        {"POST", "/v1/programmes/p1/matchingRuns", "/tandem.v1.MatchingService/StartMatchingRun",
         "programme_id", "p1"},
        {"GET", "/v1/matchingRuns/r1", "/tandem.v1.MatchingService/GetMatchingRun", "id", "r1"},
        {"GET", "/v1/programmes/p1/matchingRuns", "/tandem.v1.MatchingService/ListMatchingRuns",
         "programme_id", "p1"},
        {"GET", "/v1/matchingRuns/r1/proposals", "/tandem.v1.MatchingService/ListProposals",
         "run_id", "r1"},
        {"POST", "/v1/matchingRuns/r1:approve", "/tandem.v1.MatchingService/ApproveRun", "id",
         "r1"},
        {"GET", "/v1/programmes/p1/matches", "/tandem.v1.MatchingService/ListMatches",
         "programme_id", "p1"},
        {"GET", "/v1/matches/m1", "/tandem.v1.MatchingService/GetMatch", "id", "m1"},
        {"POST", "/v1/matches/m1:respond", "/tandem.v1.MatchingService/RespondToMatch", "id", "m1"},
        {"POST", "/v1/matches/m1:end", "/tandem.v1.MatchingService/EndMatch", "id", "m1"},
        {"POST", "/v1/programmes/p1/pins", "/tandem.v1.MatchingService/PinPair", "programme_id",
         "p1"},
        {"POST", "/v1/programmes/p1/exclusions", "/tandem.v1.MatchingService/ExcludePair",
         "programme_id", "p1"},
        {"GET", "/v1/programmes/p1/score", "/tandem.v1.MatchingService/ScorePair", "programme_id",
         "p1"},
        {"GET", "/v1/programmes/p1/suggestions", "/tandem.v1.MatchingService/SuggestMentors",
         "programme_id", "p1"},
        {"POST", "/v1/webhooks", "/tandem.v1.WebhookService/CreateWebhook", NULL, NULL},
        {"GET", "/v1/webhooks", "/tandem.v1.WebhookService/ListWebhooks", NULL, NULL},
        {"DELETE", "/v1/webhooks/w1", "/tandem.v1.WebhookService/DeleteWebhook", "id", "w1"},
        {"PATCH", "/v1/webhooks/w1", "/tandem.v1.WebhookService/UpdateWebhook", "webhook.id", "w1"},
        {"POST", "/v1/matches/m1/checkIns", "/tandem.v1.FeedbackService/RecordCheckIn", "match_id",
         "m1"},
        {"GET", "/v1/matches/m1/checkIns", "/tandem.v1.FeedbackService/ListCheckIns", "match_id",
         "m1"},
        {"POST", "/v1/programmes/p1/surveys", "/tandem.v1.FeedbackService/CreateSurvey",
         "programme_id", "p1"},
        {"GET", "/v1/checkIns/c1", "/tandem.v1.FeedbackService/GetCheckIn", "id", "c1"},
        {"GET", "/v1/surveys/s1", "/tandem.v1.FeedbackService/GetSurvey", "id", "s1"},
        {"GET", "/v1/programmes/p1/surveys", "/tandem.v1.FeedbackService/ListSurveys",
         "programme_id", "p1"},
        {"POST", "/v1/surveys/s1/responses", "/tandem.v1.FeedbackService/SubmitSurveyResponse",
         "survey_id", "s1"},
        {"GET", "/v1/programmes/p1/report", "/tandem.v1.FeedbackService/GetProgrammeReport",
         "programme_id", "p1"},
        {"GET", "/v1/programmes/p1/atRiskMatches", "/tandem.v1.FeedbackService/ListAtRiskMatches",
         "programme_id", "p1"},
    };
    tdm_arena *arena = tdm_arena_new(0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tdm_rest_match m;
        const tdm_rest_route *r = must_match(cases[i].method, cases[i].path, arena, &m);
        if (strcmp(r->grpc_path, cases[i].grpc) != 0)
            fail_msg("%s %s went to %s", cases[i].method, cases[i].path, r->grpc_path);
        /* The descriptor and index name the same method as the gRPC path. */
        const char *method_name = strrchr(r->grpc_path, '/') + 1;
        assert_string_equal(r->service->methods[r->method_index].name, method_name);
        if (cases[i].var == NULL) {
            assert_int_equal(m.n_variables, 0);
        } else {
            assert_int_equal(m.n_variables, 1);
            assert_string_equal(m.variables[0].field_path, cases[i].var);
            assert_string_equal(m.variables[0].value, cases[i].value);
        }
    }
    tdm_arena_free(arena);
}

static const tdm_rest_route *route_of(const char *grpc_path)
{
    for (size_t i = 0; i < tdm_rest_routes_count; i++)
        if (strcmp(tdm_rest_routes[i].grpc_path, grpc_path) == 0)
            return &tdm_rest_routes[i];
    fail_msg("no route for %s", grpc_path);
    return NULL;
}

static void routes_carry_the_scopes_bodies_and_limits_of_the_contract(void **state)
{
    (void)state;
    static const struct {
        const char *grpc, *scope, *body;
        bool idempotent;
    } cases[] = {
        {"/tandem.v1.EnrolmentService/GetProgramme", "enrolment:read", "", false},
        {"/tandem.v1.EnrolmentService/CreateProgramme", "enrolment:write", "programme", true},
        {"/tandem.v1.EnrolmentService/UpdateProgramme", "enrolment:write", "programme", false},
        {"/tandem.v1.EnrolmentService/Enrol", "enrolment:write", "participant", true},
        {"/tandem.v1.EnrolmentService/BatchEnrol", "enrolment:write", "*", true},
        {"/tandem.v1.EnrolmentService/ExportPerson", "admin", "", false},
        {"/tandem.v1.EnrolmentService/ErasePerson", "admin", "*", false},
        {"/tandem.v1.EnrolmentService/CreateProgrammeTemplate", "platform", "template", true},
        {"/tandem.v1.EnrolmentService/UpdateProgrammeTemplate", "platform", "template", false},
        {"/tandem.v1.EnrolmentService/ListProgrammeTemplates", "platform", "", false},
        {"/tandem.v1.EnrolmentService/CreateProgrammeFromTemplate", "enrolment:write", "*", true},
        {"/tandem.v1.MatchingService/StartMatchingRun", "matching:write", "*", true},
        {"/tandem.v1.MatchingService/ScorePair", "matching:read", "", false},
        {"/tandem.v1.FeedbackService/ListCheckIns", "feedback:read", "", false},
        {"/tandem.v1.FeedbackService/CreateSurvey", "feedback:write", "survey", true},
        {"/tandem.v1.WebhookService/ListWebhooks", "admin", "", false},
        {"/tandem.v1.WebhookService/CreateWebhook", "admin", "webhook", true},
        {"/tandem.v1.WebhookService/UpdateWebhook", "admin", "webhook", false},
        {"/tandem.v1.TenantService/CreateTenant", "platform", "tenant", true},
        {"/tandem.v1.TenantService/ListTenants", "platform", "", false},
        {"/tandem.v1.TenantService/GetTenant", "tenant:read", "", false},
        {"/tandem.v1.TenantService/CreateApiKey", "platform", "api_key", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const tdm_rest_route *r = route_of(cases[i].grpc);
        assert_string_equal(r->scope, cases[i].scope);
        assert_string_equal(r->body, cases[i].body);
        assert_int_equal(r->idempotency_key, cases[i].idempotent);
    }
    assert_int_equal(route_of("/tandem.v1.EnrolmentService/BatchEnrol")->max_request_bytes,
                     TDM_REST_MAX_BATCH_BYTES);
    assert_int_equal(route_of("/tandem.v1.EnrolmentService/Enrol")->max_request_bytes,
                     TDM_REST_MAX_REQUEST_BYTES);
    /* Every GET needs a read scope or admin/platform; nothing else does. */
    for (size_t i = 0; i < tdm_rest_routes_count; i++) {
        const tdm_rest_route *r = &tdm_rest_routes[i];
        bool read = strstr(r->scope, ":read") != NULL;
        if (strcmp(r->scope, "admin") != 0 && strcmp(r->scope, "platform") != 0)
            assert_int_equal(read, strcmp(r->http_method, "GET") == 0);
    }
}

static void expect_status(const char *method, const char *path, tdm_code code, const char *allow)
{
    tdm_arena *arena = tdm_arena_new(0);
    tdm_rest_match m;
    tdm_status *st = tdm_rest_match_request(router, method, path, strlen(path), arena, &m);
    if (st == NULL)
        fail_msg("%s %s matched %s", method, path, m.route->grpc_path);
    if (st->code != code)
        fail_msg("%s %s: %s", method, path, st->message);
    if (allow != NULL)
        assert_string_equal(m.allow, allow);
    tdm_status_free(st);
    tdm_arena_free(arena);
}

static void unknown_paths_are_404_and_other_methods_405(void **state)
{
    (void)state;
    expect_status("GET", "/v1/nope", TDM_NOT_FOUND, NULL);
    expect_status("GET", "/v1/programmes/", TDM_NOT_FOUND, NULL);
    expect_status("GET", "/v1/programmes/p1/participants/extra", TDM_NOT_FOUND, NULL);
    expect_status("GET", "v1/programmes", TDM_NOT_FOUND, NULL);
    expect_status("GET", "/", TDM_NOT_FOUND, NULL);
    /* No route has the verb ":explode", so "a1:explode" is just an id. */
    expect_status("POST", "/v1/participants/a1:explode", TDM_UNIMPLEMENTED, "GET, PATCH");
    expect_status("POST", "/v1/programmes/p1:explode", TDM_UNIMPLEMENTED, "GET, PATCH");
    expect_status("DELETE", "/v1/programmes/p1", TDM_UNIMPLEMENTED, "GET, PATCH");
    expect_status("PUT", "/v1/programmes", TDM_UNIMPLEMENTED, "POST, GET");
    /* A verb route exists for the path, so GetParticipant does not take "a1:withdraw". */
    expect_status("GET", "/v1/participants/a1:withdraw", TDM_UNIMPLEMENTED, "POST");
    char long_path[TDM_REST_MAX_PATH_BYTES + 16];
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
    long_path[sizeof long_path - 1] = '\0';
    expect_status("GET", long_path, TDM_NOT_FOUND, NULL);
    char many[TDM_REST_MAX_SEGMENTS * 2 + 8] = "";
    for (size_t i = 0; i < TDM_REST_MAX_SEGMENTS + 2; i++)
        strcat(many, "/a");
    expect_status("GET", many, TDM_NOT_FOUND, NULL);
}

static void variables_are_percent_decoded_and_may_not_hold_a_slash(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    tdm_rest_match m;
    must_match("GET", "/v1/people/ana%40firm.example%20x+y:export", arena, &m);
    assert_string_equal(m.variables[0].value, "ana@firm.example x+y");
    tdm_status *st = tdm_rest_match_request(router, "GET", "/v1/participants/a%2Fb",
                                            strlen("/v1/participants/a%2Fb"), arena, &m);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_string_equal(st->violations[0].field, "id");
    assert_string_equal(st->violations[0].description, "must not contain \"/\"");
    tdm_status_free(st);
    st = tdm_rest_match_request(router, "GET", "/v1/participants/a%zz", 21, arena, &m);
    assert_non_null(st);
    assert_string_equal(st->violations[0].field, "id");
    assert_string_equal(st->violations[0].description, "malformed percent-encoding");
    tdm_status_free(st);
    st = tdm_rest_match_request(router, "GET", "/v1/participants/a%00", 21, arena, &m);
    assert_non_null(st);
    tdm_status_free(st);
    tdm_arena_free(arena);
}

static void templates_support_patterns_double_stars_and_refuse_nonsense(void **state)
{
    (void)state;
    static const tdm_rest_route routes[] = {
        {.http_method = "GET", .path_template = "/v1/{name=shelves/*/books/*}", .body = ""},
        {.http_method = "GET", .path_template = "/files/{path=**}:download", .body = ""},
        {.http_method = "GET", .path_template = "/v1/shelves/{shelf}/books/special", .body = ""},
        {.http_method = "POST", .path_template = "/v1/*/things", .body = "*"},
    };
    tdm_rest_router *r = NULL;
    assert_null(tdm_rest_router_new(routes, 4, &r));
    tdm_arena *arena = tdm_arena_new(0);
    tdm_rest_match m;
    const char *p = "/v1/shelves/s1/books/b%2F2";
    assert_null(tdm_rest_match_request(r, "GET", p, strlen(p), arena, &m));
    assert_ptr_equal(m.route, &routes[0]);
    assert_string_equal(m.variables[0].field_path, "name");
    assert_string_equal(m.variables[0].value, "shelves/s1/books/b/2");
    p = "/v1/shelves/s1/books/special";
    assert_null(tdm_rest_match_request(r, "GET", p, strlen(p), arena, &m));
    assert_ptr_equal(m.route, &routes[2]); /* more literal segments win */
    p = "/files/a/b/c.txt:download";
    assert_null(tdm_rest_match_request(r, "GET", p, strlen(p), arena, &m));
    assert_string_equal(m.variables[0].value, "a/b/c.txt");
    p = "/v1/anything/things";
    assert_null(tdm_rest_match_request(r, "POST", p, strlen(p), arena, &m));
    assert_int_equal(m.n_variables, 0);
    tdm_arena_free(arena);
    tdm_rest_router_free(r);

    static const char *const bad[] = {"v1/x",   "/v1/{id", "/v1/{}",   "/v1/{a..b}", "/v1/**/x",
                                      "/v1/x:", "/v1//x",  "/v1/{a=}", "/v1/x{y}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tdm_rest_route one = {.http_method = "GET", .path_template = bad[i], .grpc_path = "/x"};
        tdm_status *st = tdm_rest_router_new(&one, 1, &r);
        if (st == NULL)
            fail_msg("template %s accepted", bad[i]);
        assert_int_equal(st->code, TDM_INTERNAL);
        tdm_status_free(st);
    }
}

static void query_strings_parse_into_decoded_pairs(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    tdm_rest_param *params;
    size_t n;
    const char *q = "a=b&role=MENTOR&&role=MENTEE&sp=x+y%2Bz&flag&e=&%C3%A9=%E2%82%AC";
    assert_null(tdm_rest_parse_query(q, strlen(q), arena, &params, &n));
    assert_int_equal(n, 7);
    assert_string_equal(params[0].key, "a");
    assert_string_equal(params[0].value, "b");
    assert_string_equal(params[1].value, "MENTOR");
    assert_string_equal(params[2].key, "role");
    assert_string_equal(params[2].value, "MENTEE");
    assert_string_equal(params[3].value, "x y+z");
    assert_string_equal(params[4].key, "flag");
    assert_string_equal(params[4].value, "");
    assert_string_equal(params[5].value, "");
    assert_string_equal(params[6].key, "\xc3\xa9");
    assert_string_equal(params[6].value, "\xe2\x82\xac");

    tdm_status *st = tdm_rest_parse_query("a=%4", 4, arena, &params, &n);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_string_equal(st->violations[0].field, "a");
    tdm_status_free(st);

    char many[TDM_REST_MAX_QUERY_PARAMS * 4 + 8] = "";
    for (size_t i = 0; i <= TDM_REST_MAX_QUERY_PARAMS; i++)
        strcat(many, "a=1&");
    st = tdm_rest_parse_query(many, strlen(many), arena, &params, &n);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    tdm_status_free(st);
    st = tdm_rest_parse_query(many, TDM_REST_MAX_QUERY_BYTES + 1, arena, &params, &n);
    assert_non_null(st);
    tdm_status_free(st);
    tdm_arena_free(arena);
}

/* Build the request of method+path+query+body and return it as JSON. */
static const char *build(tdm_arena *arena, const char *method, const char *path, const char *query,
                         const char *body, tdm_status **st)
{
    tdm_rest_match m;
    must_match(method, path, arena, &m);
    ProtobufCMessage *msg = NULL;
    *st = tdm_rest_build_request(&m, query, query != NULL ? strlen(query) : 0, body,
                                 body != NULL ? strlen(body) : 0, arena, &msg);
    return *st == NULL ? tdm_json_encode(msg, arena, NULL) : NULL;
}

static void requests_are_built_from_body_path_and_query(void **state)
{
    (void)state;
    tdm_arena *arena = tdm_arena_new(0);
    tdm_status *st;
    assert_string_equal(build(arena, "GET", "/v1/programmes/p1/participants",
                              "pageSize=10&role=MENTOR&page_token=abc%3D", NULL, &st),
                        "{\"programmeId\":\"p1\",\"pageSize\":10,\"pageToken\":\"abc=\","
                        "\"role\":\"MENTOR\"}");
    assert_string_equal(
        build(arena, "GET", "/v1/programmes/p1/score", "mentorId=m1&menteeId=e1", NULL, &st),
        "{\"programmeId\":\"p1\",\"mentorId\":\"m1\",\"menteeId\":\"e1\"}");
    assert_string_equal(build(arena, "PATCH", "/v1/programmes/p1", "updateMask=name,endDate",
                              "{\"id\":\"ignored\",\"name\":\"Reverse 2025\"}", &st),
                        "{\"programme\":{\"id\":\"p1\",\"name\":\"Reverse 2025\"},"
                        "\"updateMask\":\"name,endDate\"}");
    assert_string_equal(build(arena, "POST", "/v1/participants/a1:withdraw", NULL, "", &st),
                        "{\"id\":\"a1\"}");
    tdm_arena_free(arena);
}

static void request_refusals_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *method, *path, *query, *body, *field, *why;
    } cases[] = {
        {"GET", "/v1/programmes/p1/participants", "pageSize=ten", NULL, "page_size",
         "must be an integer"},
        {"GET", "/v1/programmes/p1/participants", "colour=red", NULL, "colour", "unknown field"},
        {"GET", "/v1/programmes/p1/participants", "programmeId=p2", NULL, "programme_id",
         "given by the path"},
        {"PATCH", "/v1/programmes/p1", "programme.name=x", "{}", "programme.name",
         "given by the request body"},
        {"POST", "/v1/programmes/p1/participants:batchEnrol", "programmeId=x", "{}", "programmeId",
         "from the body"},
        {"POST", "/v1/programmes/p1/participants:batchEnrol", NULL,
         "{\"participants\":[{},{\"role\":\"BOSS\"}]}", "participants[1].role",
         "unknown enum value \"BOSS\""},
        {"POST", "/v1/programmes", NULL, "{\"name\":1}", "programme.name", "must be a string"},
        {"POST", "/v1/programmes", NULL, "{\"name\":\"a\",\"name\":\"b\"}", "programme.name",
         "duplicate key"},
        {"PATCH", "/v1/participants/a1", "updateMask=displayName", "{\"skills\":[{\"level\":1.5}]}",
         "participant.skills[0].level", "must be an integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tdm_arena *arena = tdm_arena_new(0);
        tdm_status *st;
        const char *out =
            build(arena, cases[i].method, cases[i].path, cases[i].query, cases[i].body, &st);
        if (st == NULL)
            fail_msg("%s %s?%s accepted: %s", cases[i].method, cases[i].path, cases[i].query, out);
        assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
        if (strcmp(st->violations[0].field, cases[i].field) != 0 ||
            strstr(st->violations[0].description, cases[i].why) == NULL)
            fail_msg("case %zu: got %s (%s)", i, st->violations[0].field,
                     st->violations[0].description);
        tdm_status_free(st);
        tdm_arena_free(arena);
    }
}

/* The concrete path of an OpenAPI path template: each "{name}" becomes "v-<name>". */
static const char *concrete_path(const char *template, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *c = template; *c != '\0' && n + 3 < cap; c++) {
        if (*c == '{') {
            out[n++] = 'v';
            out[n++] = '-';
        } else if (*c != '}') {
            out[n++] = *c;
        }
    }
    out[n] = '\0';
    return out;
}

/* One operation of the document: the router takes its path to the operation's gRPC
 * method, each path parameter lands in the field x-tandem-field names, and it
 * documents its errors. */
static void check_operation(const char *path, const char *verb, json_t *op)
{
    char upper[8] = "", concrete[TDM_REST_MAX_PATH_BYTES];
    for (size_t i = 0; verb[i] != '\0' && i + 1 < sizeof upper; i++)
        upper[i] = (char)(verb[i] - 'a' + 'A');
    tdm_arena *arena = tdm_arena_new(0);
    tdm_rest_match m;
    const tdm_rest_route *r =
        must_match(upper, concrete_path(path, concrete, sizeof concrete), arena, &m);
    const char *grpc = json_string_value(json_object_get(op, "x-grpc-method"));
    if (grpc == NULL || strcmp(r->grpc_path, grpc) != 0)
        fail_msg("%s %s reaches %s, documented as %s", upper, path, r->grpc_path, grpc);
    size_t n_path_params = 0, i;
    json_t *param;
    json_array_foreach(json_object_get(op, "parameters"), i, param)
    {
        const char *in = json_string_value(json_object_get(param, "in"));
        if (in == NULL || strcmp(in, "path") != 0)
            continue;
        n_path_params++;
        const char *name = json_string_value(json_object_get(param, "name"));
        const char *field = json_string_value(json_object_get(param, "x-tandem-field"));
        assert_non_null(field);
        bool found = false;
        for (size_t v = 0; v < m.n_variables; v++)
            found |= strcmp(m.variables[v].field_path, field) == 0 &&
                     strncmp(m.variables[v].value, "v-", 2) == 0 &&
                     strcmp(m.variables[v].value + 2, name) == 0;
        if (!found)
            fail_msg("%s %s: parameter %s does not set %s", upper, path, name, field);
    }
    assert_int_equal(n_path_params, m.n_variables);
    json_t *responses = json_object_get(op, "responses");
    assert_non_null(json_object_get(responses, "default"));
    assert_non_null(json_object_get(responses, "400"));
    assert_non_null(json_object_get(responses, "401"));
    tdm_arena_free(arena);
}

static void the_openapi_document_describes_every_route_once(void **state)
{
    (void)state;
    json_error_t err;
    json_t *doc = json_loadb((const char *)tdm_openapi_json, tdm_openapi_json_len, 0, &err);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    const char *path, *verb;
    json_t *item, *op;
    size_t n_operations = 0;
    json_t *operation_ids = json_object();
    json_object_foreach(json_object_get(doc, "paths"), path, item)
    {
        /* Parameter names a generated client can use: no dots or underscores. */
        assert_null(strchr(path, '.'));
        assert_null(strchr(path, '_'));
        json_object_foreach(item, verb, op)
        {
            check_operation(path, verb, op);
            const char *id = json_string_value(json_object_get(op, "operationId"));
            assert_non_null(id);
            assert_true(id[0] >= 'a' && id[0] <= 'z');
            if (json_object_get(operation_ids, id) != NULL)
                fail_msg("operationId %s twice", id);
            json_object_set_new(operation_ids, id, json_true());
            n_operations++;
        }
    }
    assert_int_equal(n_operations, tdm_rest_routes_count);
    json_decref(operation_ids);
    json_t *components = json_object_get(doc, "components");
    assert_non_null(json_object_get(json_object_get(components, "schemas"), "Error"));
    assert_non_null(json_object_get(json_object_get(components, "securitySchemes"), "tenant"));
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_api_route_resolves_to_its_method),
        cmocka_unit_test(routes_carry_the_scopes_bodies_and_limits_of_the_contract),
        cmocka_unit_test(unknown_paths_are_404_and_other_methods_405),
        cmocka_unit_test(variables_are_percent_decoded_and_may_not_hold_a_slash),
        cmocka_unit_test(templates_support_patterns_double_stars_and_refuse_nonsense),
        cmocka_unit_test(query_strings_parse_into_decoded_pairs),
        cmocka_unit_test(requests_are_built_from_body_path_and_query),
        cmocka_unit_test(request_refusals_name_the_field),
        cmocka_unit_test(the_openapi_document_describes_every_route_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
