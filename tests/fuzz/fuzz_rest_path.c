/*
 * fuzz_rest_path.c - the REST front's request mapping (rest.c): path template
 * matching with percent-decoded variables, query-string parsing, and building the
 * request message from body, path variables and query parameters (grpc-gateway
 * order), over the enrolment service's routes as API.md binds them plus templates
 * with "{id=programmes/STAR}" and "{id=STAR STAR}" patterns.
 *
 * Input: byte 0 picks the HTTP method; then the request target "path?query" up to
 * the first '\n'; the rest is the JSON body.
 *
 * Asserts: refusals are NOT_FOUND, UNIMPLEMENTED with an Allow list, or
 * INVALID_ARGUMENT; a match is a route of the requested method with at most
 * TDM_REST_MAX_VARIABLES NUL-free variables; percent-decoding agrees with an
 * independent decoder (and refuses %00 and malformed escapes); a query parses into
 * at most TDM_REST_MAX_QUERY_PARAMS parameters; a request message that builds
 * encodes to JSON which decodes back to the same message; no memory errors.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/json.h"
#include "tandem/rest.h"
#include "tandem/v1/enrolment.pb-c.h"

#define REST_FUZZ_MAX_INPUT_BYTES (16u * 1024u)

#define SVC (&tandem__v1__enrolment_service__descriptor)
#define MB  TDM_REST_MAX_REQUEST_BYTES
static const tdm_rest_route ROUTES[] = {
    {"POST", "/v1/programmes", "/tandem.v1.EnrolmentService/CreateProgramme", SVC, 0, "programme",
     "enrolment:write", true, MB},
    {"GET", "/v1/programmes/{id}", "/tandem.v1.EnrolmentService/GetProgramme", SVC, 1, "",
     "enrolment:read", false, MB},
    {"GET", "/v1/programmes", "/tandem.v1.EnrolmentService/ListProgrammes", SVC, 2, "",
     "enrolment:read", false, MB},
    {"PATCH", "/v1/programmes/{programme.id}", "/tandem.v1.EnrolmentService/UpdateProgramme", SVC,
     3, "programme", "enrolment:write", false, MB},
    {"POST", "/v1/programmes/{programme_id}/participants", "/tandem.v1.EnrolmentService/Enrol", SVC,
     4, "participant", "enrolment:write", true, MB},
    {"POST", "/v1/programmes/{programme_id}/participants:batchEnrol",
     "/tandem.v1.EnrolmentService/BatchEnrol", SVC, 5, "*", "enrolment:write", true,
     TDM_REST_MAX_BATCH_BYTES},
    {"GET", "/v1/participants/{id}", "/tandem.v1.EnrolmentService/GetParticipant", SVC, 6, "",
     "enrolment:read", false, MB},
    {"GET", "/v1/programmes/{programme_id}/participants",
     "/tandem.v1.EnrolmentService/ListParticipants", SVC, 7, "", "enrolment:read", false, MB},
    {"PATCH", "/v1/participants/{participant.id}", "/tandem.v1.EnrolmentService/UpdateParticipant",
     SVC, 8, "participant", "enrolment:write", false, MB},
    {"POST", "/v1/participants/{id}:withdraw", "/tandem.v1.EnrolmentService/WithdrawParticipant",
     SVC, 9, "*", "enrolment:write", false, MB},
    {"GET", "/v1/people/{external_id}:export", "/tandem.v1.EnrolmentService/ExportPerson", SVC, 10,
     "", "admin", false, MB},
    {"POST", "/v1/people/{external_id}:erase", "/tandem.v1.EnrolmentService/ErasePerson", SVC, 11,
     "*", "admin", false, MB},
    {"GET", "/v2/{id=programmes/*}", "/tandem.v1.EnrolmentService/GetProgramme", SVC, 1, "",
     "enrolment:read", false, MB},
    {"DELETE", "/v2/files/{id=**}", "/tandem.v1.EnrolmentService/GetParticipant", SVC, 6, "",
     "enrolment:read", false, MB},
};

static const char *const METHODS[8] = {"GET",    "POST", "PATCH",   "PUT",
                                       "DELETE", "HEAD", "OPTIONS", "get"};

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "rest_path: %s: %s\n", what, detail != NULL ? detail : "");
    abort();
}

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Independent percent-decoder: returns decoded length or -1 (malformed, %00, NUL). */
static long reference_decode(const char *s, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0')
            return -1;
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        if (len - i < 3 || hex(s[i + 1]) < 0 || hex(s[i + 2]) < 0)
            return -1;
        char c = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
        if (c == '\0')
            return -1;
        out[o++] = c;
        i += 2;
    }
    return (long)o;
}

static void check_percent_decode(const char *s, size_t len, tdm_arena *a)
{
    char *want = malloc(len + 1);
    if (want == NULL)
        abort();
    long n = reference_decode(s, len, want);
    char *got = tdm_rest_percent_decode(s, len, false, a);
    if ((n < 0) != (got == NULL) ||
        (got != NULL && (strlen(got) != (size_t)n || memcmp(got, want, (size_t)n) != 0)))
        fail("percent-decoding differs from the reference", got);
    free(want);
}

static void check_round_trip(const ProtobufCMessage *m, tdm_arena *a)
{
    size_t len = 0;
    char *json = tdm_json_encode(m, a, &len);
    if (json == NULL)
        fail("a built request does not encode", m->descriptor->name);
    ProtobufCMessage *back = NULL;
    tdm_status *st = tdm_json_decode(m->descriptor, json, len, a, &back);
    if (st != NULL)
        fail("a built request's JSON is refused", json);
    size_t n1 = protobuf_c_message_get_packed_size(m);
    size_t n2 = protobuf_c_message_get_packed_size(back);
    uint8_t *b1 = tdm_arena_alloc(a, n1 + 1), *b2 = tdm_arena_alloc(a, n2 + 1);
    protobuf_c_message_pack(m, b1);
    protobuf_c_message_pack(back, b2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        fail("built request changes through JSON", json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tdm_rest_router *router;
    if (router == NULL) {
        tdm_status *st = tdm_rest_router_new(ROUTES, sizeof(ROUTES) / sizeof(ROUTES[0]), &router);
        if (st != NULL)
            fail("router", st->message);
    }
    if (size == 0 || size > REST_FUZZ_MAX_INPUT_BYTES)
        return 0;
    const char *method = METHODS[data[0] & 7];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *nl = memchr(text, '\n', len);
    size_t target_len = nl != NULL ? (size_t)(nl - text) : len;
    const char *q = memchr(text, '?', target_len);
    size_t path_len = q != NULL ? (size_t)(q - text) : target_len;
    /* Exact-size copies so ASan sees reads past each piece. */
    char *path = malloc(path_len + 1);
    size_t query_len = q != NULL ? target_len - path_len - 1 : 0;
    char *query = malloc(query_len + 1);
    size_t body_len = nl != NULL ? len - target_len - 1 : 0;
    char *body = malloc(body_len + 1);
    if (path == NULL || query == NULL || body == NULL)
        abort();
    memcpy(path, text, path_len);
    path[path_len] = '\0';
    if (query_len > 0)
        memcpy(query, q + 1, query_len);
    query[query_len] = '\0';
    if (body_len > 0)
        memcpy(body, nl + 1, body_len);
    body[body_len] = '\0';

    tdm_arena *a = tdm_arena_new(0);
    if (a == NULL)
        abort();
    check_percent_decode(path, path_len, a);
    tdm_rest_param *params = NULL;
    size_t n_params = 0;
    tdm_status *st = tdm_rest_parse_query(query, query_len, a, &params, &n_params);
    if (st != NULL) {
        if (st->code != TDM_INVALID_ARGUMENT)
            fail("query refused with an unexpected code", st->message);
        tdm_status_free(st);
    } else if (n_params > TDM_REST_MAX_QUERY_PARAMS) {
        fail("too many query parameters accepted", query);
    }
    tdm_rest_match match;
    memset(&match, 0, sizeof(match));
    st = tdm_rest_match_request(router, method, path, path_len, a, &match);
    if (st != NULL) {
        bool ok = st->code == TDM_NOT_FOUND || st->code == TDM_INVALID_ARGUMENT ||
                  (st->code == TDM_UNIMPLEMENTED && match.allow != NULL);
        if (!ok)
            fail("match refused with an unexpected code", st->message);
        tdm_status_free(st);
    } else {
        if (match.route == NULL || strcmp(match.route->http_method, method) != 0 ||
            match.n_variables > TDM_REST_MAX_VARIABLES)
            fail("matched a route of another method", path);
        for (size_t i = 0; i < match.n_variables; i++) {
            if (match.variables[i].field_path == NULL || match.variables[i].value == NULL)
                fail("variable without a value", path);
        }
        ProtobufCMessage *msg = NULL;
        st = tdm_rest_build_request(&match, query, query_len, body, body_len, a, &msg);
        if (st != NULL) {
            if (st->code != TDM_INVALID_ARGUMENT && st->code != TDM_RESOURCE_EXHAUSTED)
                fail("build refused with an unexpected code", st->message);
            tdm_status_free(st);
        } else {
            check_round_trip(msg, a);
        }
    }
    tdm_arena_free(a);
    free(path);
    free(query);
    free(body);
    return 0;
}
