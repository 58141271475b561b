/*
 * test_envelope.c - the generated protocol code keeps its promises:
 * the outbox EventEnvelope and the gateway's RequestContext, encoded by nanopb at
 * their largest, decode with protobuf-c to the same values and fit the bounds
 * nanopb publishes (the envelope's base64 fits a PostgreSQL NOTIFY payload); and
 * the embedded descriptor set gives every tandem.v1 method the REST binding of
 * API.md (protobuf-c's own descriptors drop method options, so the gateway's
 * route table depends on this).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "google/api/http.pb-c.h"
#include "google/protobuf/descriptor.pb-c.h"
#include "tandem/descriptor_set.h"
#include "tandem/internal/v1/context.pb-c.h"
#include "tandem/internal/v1/context.pb.h"
#include "tandem/internal/v1/event.pb-c.h"
#include "tandem/internal/v1/event.pb.h"

/* PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
#define PG_NOTIFY_PAYLOAD_LIMIT_BYTES 8000
#define BASE64_LEN(n)                 (4 * (((n) + 2) / 3))

_Static_assert(BASE64_LEN(tandem_internal_v1_EventEnvelope_size) < PG_NOTIFY_PAYLOAD_LIMIT_BYTES,
               "the base64 of a maximal EventEnvelope must fit a NOTIFY payload");

/* The field number of the google.api.http extension of MethodOptions. */
#define GOOGLE_API_HTTP_FIELD 72295728u

/* Fills a nanopb char array with its longest string, letters cycling from
 * `first`, so a swapped or truncated field shows. */
#define FILL_MAX(array, first) fill_max((array), sizeof(array), (first))

static void fill_max(char *buf, size_t size, char first)
{
    for (size_t i = 0; i + 1 < size; i++)
        buf[i] = (char)('a' + ((size_t)(first - 'a') + i) % 26);
    buf[size - 1] = '\0';
}

static void event_envelope_at_max_size_round_trips_from_nanopb_to_protobuf_c(void **state)
{
    (void)state;
    tandem_internal_v1_EventEnvelope in = tandem_internal_v1_EventEnvelope_init_zero;
    FILL_MAX(in.id, 'a');
    FILL_MAX(in.type, 'b');
    FILL_MAX(in.tenant_id, 'c');
    in.create_time_unix_ms = INT64_MIN; /* the longest varint: 10 bytes */
    FILL_MAX(in.resource_id, 'd');
    FILL_MAX(in.ordering_key, 'e');
    FILL_MAX(in.source_service, 'f');
    FILL_MAX(in.request_id, 'g');

    uint8_t buf[tandem_internal_v1_EventEnvelope_size];
    pb_ostream_t out = pb_ostream_from_buffer(buf, sizeof(buf));
    assert_true(pb_encode(&out, tandem_internal_v1_EventEnvelope_fields, &in));
    /* Every field at its bound: exactly the published maximum. */
    assert_int_equal(out.bytes_written, tandem_internal_v1_EventEnvelope_size);

    Tandem__Internal__V1__EventEnvelope *got =
        tandem__internal__v1__event_envelope__unpack(NULL, out.bytes_written, buf);
    assert_non_null(got);
    assert_string_equal(got->id, in.id);
    assert_string_equal(got->type, in.type);
    assert_string_equal(got->tenant_id, in.tenant_id);
    assert_true(got->create_time_unix_ms == in.create_time_unix_ms);
    assert_string_equal(got->resource_id, in.resource_id);
    assert_string_equal(got->ordering_key, in.ordering_key);
    assert_string_equal(got->source_service, in.source_service);
    assert_string_equal(got->request_id, in.request_id);
    tandem__internal__v1__event_envelope__free_unpacked(got, NULL);
}

static void request_context_at_max_size_round_trips_from_nanopb_to_protobuf_c(void **state)
{
    (void)state;
    tandem_internal_v1_RequestContext in = tandem_internal_v1_RequestContext_init_zero;
    FILL_MAX(in.tenant_id, 'h');
    FILL_MAX(in.principal_id, 'i');
    in.principal_kind = tandem_internal_v1_PrincipalKind_PRINCIPAL_KIND_TENANT;
    in.scopes = UINT32_MAX;
    FILL_MAX(in.request_id, 'j');
    in.deadline_unix_ms = INT64_MIN;

    uint8_t buf[tandem_internal_v1_RequestContext_size];
    pb_ostream_t out = pb_ostream_from_buffer(buf, sizeof(buf));
    assert_true(pb_encode(&out, tandem_internal_v1_RequestContext_fields, &in));
    assert_true(out.bytes_written <= tandem_internal_v1_RequestContext_size);

    Tandem__Internal__V1__RequestContext *got =
        tandem__internal__v1__request_context__unpack(NULL, out.bytes_written, buf);
    assert_non_null(got);
    assert_string_equal(got->tenant_id, in.tenant_id);
    assert_string_equal(got->principal_id, in.principal_id);
    assert_int_equal(got->principal_kind,
                     TANDEM__INTERNAL__V1__PRINCIPAL_KIND__PRINCIPAL_KIND_TENANT);
    assert_int_equal(got->scopes, UINT32_MAX);
    assert_string_equal(got->request_id, in.request_id);
    assert_true(got->deadline_unix_ms == INT64_MIN);
    tandem__internal__v1__request_context__free_unpacked(got, NULL);
}

static void scope_bits_are_the_same_in_both_encodings(void **state)
{
    (void)state;
    /* The gateway sets bits with one library, services test them with the other;
     * tests/integration/harness.py relies on 0x7F meaning every scope. */
    assert_int_equal(tandem_internal_v1_Scope_SCOPE_ADMIN,
                     TANDEM__INTERNAL__V1__SCOPE__SCOPE_ADMIN);
    assert_int_equal(tandem_internal_v1_Scope_SCOPE_FEEDBACK_WRITE,
                     TANDEM__INTERNAL__V1__SCOPE__SCOPE_FEEDBACK_WRITE);
    unsigned all = TANDEM__INTERNAL__V1__SCOPE__SCOPE_ADMIN |
                   TANDEM__INTERNAL__V1__SCOPE__SCOPE_ENROLMENT_READ |
                   TANDEM__INTERNAL__V1__SCOPE__SCOPE_ENROLMENT_WRITE |
                   TANDEM__INTERNAL__V1__SCOPE__SCOPE_MATCHING_READ |
                   TANDEM__INTERNAL__V1__SCOPE__SCOPE_MATCHING_WRITE |
                   TANDEM__INTERNAL__V1__SCOPE__SCOPE_FEEDBACK_READ |
                   TANDEM__INTERNAL__V1__SCOPE__SCOPE_FEEDBACK_WRITE;
    assert_int_equal(all, 0x7F);
    assert_int_equal(tandem_internal_v1_PrincipalKind_PRINCIPAL_KIND_PLATFORM, 1);
}

static void nanopb_refuses_an_envelope_over_its_bounds(void **state)
{
    (void)state;
    /* A writer that ignores the bounds (protobuf-c has none) is caught on decode,
     * never overflowing the fixed buffers. */
    char long_type[sizeof(((tandem_internal_v1_EventEnvelope *)0)->type) + 1];
    memset(long_type, 'x', sizeof(long_type) - 1);
    long_type[sizeof(long_type) - 1] = '\0';
    Tandem__Internal__V1__EventEnvelope big = TANDEM__INTERNAL__V1__EVENT_ENVELOPE__INIT;
    big.type = long_type;

    uint8_t buf[256];
    size_t len = tandem__internal__v1__event_envelope__get_packed_size(&big);
    assert_true(len <= sizeof(buf));
    tandem__internal__v1__event_envelope__pack(&big, buf);

    tandem_internal_v1_EventEnvelope out = tandem_internal_v1_EventEnvelope_init_zero;
    pb_istream_t in = pb_istream_from_buffer(buf, len);
    assert_false(pb_decode(&in, tandem_internal_v1_EventEnvelope_fields, &out));
}

/* ---- the descriptor set ---------------------------------------------------------- */

/* The REST binding API.md gives each method (and the AIP-style ones we added). */
struct binding {
    const char *service;
    const char *method;
    const char *verb;
    const char *path;
    const char *body;
};

static const struct binding CONTRACT[] = {
    {"TenantService", "CreateTenant", "post", "/v1/tenants", "tenant"},
    {"TenantService", "GetTenant", "get", "/v1/tenants/{id}", ""},
    {"TenantService", "ListTenants", "get", "/v1/tenants", ""},
    {"TenantService", "CreateApiKey", "post", "/v1/tenants/{tenant_id}/apiKeys", "api_key"},
    {"TenantService", "ListApiKeys", "get", "/v1/tenants/{tenant_id}/apiKeys", ""},
    {"TenantService", "RevokeApiKey", "post", "/v1/apiKeys/{id}:revoke", "*"},
    {"TenantService", "GetTenantUsage", "get", "/v1/tenants/{tenant_id}/usage", ""},
    {"TenantService", "ListUsage", "get", "/v1/usage", ""},
    {"EnrolmentService", "CreateProgramme", "post", "/v1/programmes", "programme"},
    {"EnrolmentService", "GetProgramme", "get", "/v1/programmes/{id}", ""},
    {"EnrolmentService", "ListProgrammes", "get", "/v1/programmes", ""},
    {"EnrolmentService", "UpdateProgramme", "patch", "/v1/programmes/{programme.id}", "programme"},
    {"EnrolmentService", "Enrol", "post", "/v1/programmes/{programme_id}/participants",
     "participant"},
    {"EnrolmentService", "BatchEnrol", "post",
     "/v1/programmes/{programme_id}/participants:batchEnrol", "*"},
    {"EnrolmentService", "GetParticipant", "get", "/v1/participants/{id}", ""},
    {"EnrolmentService", "ListParticipants", "get", "/v1/programmes/{programme_id}/participants",
     ""},
    {"EnrolmentService", "UpdateParticipant", "patch", "/v1/participants/{participant.id}",
     "participant"},
    {"EnrolmentService", "WithdrawParticipant", "post", "/v1/participants/{id}:withdraw", "*"},
    {"EnrolmentService", "IssueParticipantToken", "post", "/v1/participants/{id}:issueToken", "*"},
    {"EnrolmentService", "ExportPerson", "get", "/v1/people/{external_id}:export", ""},
    {"EnrolmentService", "ErasePerson", "post", "/v1/people/{external_id}:erase", "*"},
    {"EnrolmentService", "CreateProgrammeTemplate", "post", "/v1/templates", "template"},
    {"EnrolmentService", "GetProgrammeTemplate", "get", "/v1/templates/{id}", ""},
    {"EnrolmentService", "ListProgrammeTemplates", "get", "/v1/templates", ""},
    {"EnrolmentService", "UpdateProgrammeTemplate", "patch", "/v1/templates/{template.id}",
     "template"},
    {"EnrolmentService", "CreateProgrammeFromTemplate", "post", "/v1/programmes:fromTemplate", "*"},
    {"EnrolmentService", "GetTemplateBenchmark", "get", "/v1/templates/{id}/benchmark", ""},
    {"EnrolmentService", "GetProgrammeBenchmark", "get", "/v1/programmes/{id}/benchmark", ""},
    {"MatchingService", "StartMatchingRun", "post", "/v1/programmes/{programme_id}/matchingRuns",
     "*"},
    {"MatchingService", "GetMatchingRun", "get", "/v1/matchingRuns/{id}", ""},
    {"MatchingService", "ListMatchingRuns", "get", "/v1/programmes/{programme_id}/matchingRuns",
     ""},
    {"MatchingService", "ListProposals", "get", "/v1/matchingRuns/{run_id}/proposals", ""},
    {"MatchingService", "ApproveRun", "post", "/v1/matchingRuns/{id}:approve", "*"},
    {"MatchingService", "ListMatches", "get", "/v1/programmes/{programme_id}/matches", ""},
    {"MatchingService", "GetMatch", "get", "/v1/matches/{id}", ""},
    {"MatchingService", "RespondToMatch", "post", "/v1/matches/{id}:respond", "*"},
    {"MatchingService", "EndMatch", "post", "/v1/matches/{id}:end", "*"},
    {"MatchingService", "PinPair", "post", "/v1/programmes/{programme_id}/pins", "*"},
    {"MatchingService", "ListPins", "get", "/v1/programmes/{programme_id}/pins", ""},
    {"MatchingService", "DeletePin", "delete", "/v1/pins/{id}", ""},
    {"MatchingService", "ExcludePair", "post", "/v1/programmes/{programme_id}/exclusions", "*"},
    {"MatchingService", "ListExclusions", "get", "/v1/programmes/{programme_id}/exclusions", ""},
    {"MatchingService", "DeleteExclusion", "delete", "/v1/exclusions/{id}", ""},
    {"MatchingService", "ScorePair", "get", "/v1/programmes/{programme_id}/score", ""},
    {"MatchingService", "SuggestMentors", "get", "/v1/programmes/{programme_id}/suggestions", ""},
    {"WebhookService", "CreateWebhook", "post", "/v1/webhooks", "webhook"},
    {"WebhookService", "ListWebhooks", "get", "/v1/webhooks", ""},
    {"WebhookService", "DeleteWebhook", "delete", "/v1/webhooks/{id}", ""},
    {"WebhookService", "ListWebhookDeliveries", "get", "/v1/webhooks/{webhook_id}/deliveries", ""},
    {"WebhookService", "UpdateWebhook", "patch", "/v1/webhooks/{webhook.id}", "webhook"},
    {"FeedbackService", "RecordCheckIn", "post", "/v1/matches/{match_id}/checkIns", "*"},
    {"FeedbackService", "ListCheckIns", "get", "/v1/matches/{match_id}/checkIns", ""},
    {"FeedbackService", "GetCheckIn", "get", "/v1/checkIns/{id}", ""},
    {"FeedbackService", "GetSurvey", "get", "/v1/surveys/{id}", ""},
    {"FeedbackService", "ListSurveys", "get", "/v1/programmes/{programme_id}/surveys", ""},
    {"FeedbackService", "CreateSurvey", "post", "/v1/programmes/{programme_id}/surveys", "survey"},
    {"FeedbackService", "SubmitSurveyResponse", "post", "/v1/surveys/{survey_id}/responses", "*"},
    {"FeedbackService", "GetProgrammeReport", "get", "/v1/programmes/{programme_id}/report", ""},
    {"FeedbackService", "ListAtRiskMatches", "get", "/v1/programmes/{programme_id}/atRiskMatches",
     ""},
};

#define CONTRACT_COUNT (sizeof(CONTRACT) / sizeof(CONTRACT[0]))

static int setup_descriptor_set(void **state)
{
    *state = google__protobuf__file_descriptor_set__unpack(NULL, tdm_descriptor_set_len,
                                                           tdm_descriptor_set);
    return *state == NULL ? -1 : 0;
}

static int teardown_descriptor_set(void **state)
{
    google__protobuf__file_descriptor_set__free_unpacked(*state, NULL);
    return 0;
}

/* The google.api.http option of a method, parsed; NULL when absent. protobuf-c
 * keeps the unknown length-delimited field with its length prefix. */
static Google__Api__HttpRule *http_rule_of(const Google__Protobuf__MethodDescriptorProto *m)
{
    if (m->options == NULL)
        return NULL;
    const ProtobufCMessage *opts = &m->options->base;
    for (unsigned i = 0; i < opts->n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *f = &opts->unknown_fields[i];
        if (f->tag != GOOGLE_API_HTTP_FIELD || f->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
            continue;
        size_t prefix = 0;
        while (prefix < f->len && (f->data[prefix] & 0x80))
            prefix++;
        prefix++;
        if (prefix > f->len)
            return NULL;
        return google__api__http_rule__unpack(NULL, f->len - prefix, f->data + prefix);
    }
    return NULL;
}

static const char *verb_of(const Google__Api__HttpRule *r, const char **path)
{
    switch (r->pattern_case) {
    case GOOGLE__API__HTTP_RULE__PATTERN_GET:
        *path = r->get;
        return "get";
    case GOOGLE__API__HTTP_RULE__PATTERN_PUT:
        *path = r->put;
        return "put";
    case GOOGLE__API__HTTP_RULE__PATTERN_POST:
        *path = r->post;
        return "post";
    case GOOGLE__API__HTTP_RULE__PATTERN_DELETE:
        *path = r->delete_;
        return "delete";
    case GOOGLE__API__HTTP_RULE__PATTERN_PATCH:
        *path = r->patch;
        return "patch";
    default:
        *path = "";
        return "none";
    }
}

static const struct binding *contract_binding(const char *service, const char *method)
{
    for (size_t i = 0; i < CONTRACT_COUNT; i++)
        if (strcmp(CONTRACT[i].service, service) == 0 && strcmp(CONTRACT[i].method, method) == 0)
            return &CONTRACT[i];
    return NULL;
}

static void every_tandem_v1_method_has_the_rest_binding_of_the_contract(void **state)
{
    const Google__Protobuf__FileDescriptorSet *set = *state;
    size_t methods = 0;
    for (size_t f = 0; f < set->n_file; f++) {
        const Google__Protobuf__FileDescriptorProto *file = set->file[f];
        if (file->package == NULL || strcmp(file->package, "tandem.v1") != 0)
            continue;
        for (size_t s = 0; s < file->n_service; s++) {
            const Google__Protobuf__ServiceDescriptorProto *svc = file->service[s];
            for (size_t m = 0; m < svc->n_method; m++) {
                const Google__Protobuf__MethodDescriptorProto *method = svc->method[m];
                char who[160];
                snprintf(who, sizeof(who), "%s.%s", svc->name, method->name);

                Google__Api__HttpRule *rule = http_rule_of(method);
                if (rule == NULL)
                    fail_msg("%s has no google.api.http option", who);
                const struct binding *want = contract_binding(svc->name, method->name);
                if (want == NULL)
                    fail_msg("%s is not in this test's table of the contract", who);
                const char *path;
                const char *verb = verb_of(rule, &path);
                if (strcmp(verb, want->verb) != 0 || strcmp(path, want->path) != 0 ||
                    strcmp(rule->body, want->body) != 0)
                    fail_msg("%s is %s %s body \"%s\"; the contract says %s %s body \"%s\"", who,
                             verb, path, rule->body, want->verb, want->path, want->body);
                google__api__http_rule__free_unpacked(rule, NULL);
                methods++;
            }
        }
    }
    /* And nothing in the contract is missing from the protos. */
    assert_int_equal(methods, CONTRACT_COUNT);
}

static void descriptor_set_keeps_json_names_and_comments(void **state)
{
    const Google__Protobuf__FileDescriptorSet *set = *state;
    int found = 0;
    for (size_t f = 0; f < set->n_file; f++) {
        const Google__Protobuf__FileDescriptorProto *file = set->file[f];
        if (strcmp(file->name, "tandem/v1/feedback.proto") != 0)
            continue;
        /* --include_source_info: the OpenAPI generator documents from comments. */
        assert_non_null(file->source_code_info);
        assert_true(file->source_code_info->n_location > 0);
        for (size_t m = 0; m < file->n_message_type; m++) {
            const Google__Protobuf__DescriptorProto *msg = file->message_type[m];
            if (strcmp(msg->name, "ListAtRiskMatchesResponse") != 0)
                continue;
            assert_string_equal(msg->field[0]->name, "at_risk_matches");
            assert_string_equal(msg->field[0]->json_name, "atRiskMatches");
            found = 1;
        }
    }
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_envelope_at_max_size_round_trips_from_nanopb_to_protobuf_c),
        cmocka_unit_test(request_context_at_max_size_round_trips_from_nanopb_to_protobuf_c),
        cmocka_unit_test(scope_bits_are_the_same_in_both_encodings),
        cmocka_unit_test(nanopb_refuses_an_envelope_over_its_bounds),
        cmocka_unit_test_setup_teardown(every_tandem_v1_method_has_the_rest_binding_of_the_contract,
                                        setup_descriptor_set, teardown_descriptor_set),
        cmocka_unit_test_setup_teardown(descriptor_set_keeps_json_names_and_comments,
                                        setup_descriptor_set, teardown_descriptor_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
