/*
 * json_test_util.h - helpers the JSON codec tests share: decode a document into a
 * codec_test.proto message, re-encode it, and check a refusal's field and reason.
 */
#ifndef TANDEM_JSON_TEST_UTIL_H
#define TANDEM_JSON_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "codec_test.pb-c.h"
#include "tandem/json.h"

#define ALL_TYPES (&tandem__codectest__all_types__descriptor)

/* Decode `json` as `desc` and encode it again; fails the test on refusal. */
static inline const char *reencode(const ProtobufCMessageDescriptor *desc, const char *json,
                                   tdm_arena *arena)
{
    ProtobufCMessage *msg = NULL;
    tdm_status *st = tdm_json_decode(desc, json, strlen(json), arena, &msg);
    if (st != NULL)
        fail_msg("refused %s: %s", json, st->message);
    const char *out = tdm_json_encode(msg, arena, NULL);
    assert_non_null(out);
    return out;
}

/* Decode `json` as `desc`, expecting INVALID_ARGUMENT naming `field` for `why`
 * (a substring of the violation's description). */
static inline void expect_refusal(const ProtobufCMessageDescriptor *desc, const char *json,
                                  const char *field, const char *why)
{
    tdm_arena *arena = tdm_arena_new(0);
    ProtobufCMessage *msg = NULL;
    tdm_status *st = tdm_json_decode(desc, json, strlen(json), arena, &msg);
    if (st == NULL)
        fail_msg("accepted %s", json);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    assert_int_equal(st->n_violations, 1);
    if (strcmp(st->violations[0].field, field) != 0 ||
        strstr(st->violations[0].description, why) == NULL)
        fail_msg("%s: got field \"%s\" (%s), want \"%s\" (%s)", json, st->violations[0].field,
                 st->violations[0].description, field, why);
    tdm_status_free(st);
    tdm_arena_free(arena);
}

#endif
