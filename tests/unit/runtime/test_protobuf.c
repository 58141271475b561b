/*
 * test_protobuf.c - tdm_protobuf_unpack: ordinary messages decode; a message whose
 * decoded form would pass 16x its wire size (unknown fields, empty rows) or 64 MiB
 * is RESOURCE_EXHAUSTED saying which limit; malformed bytes are INVALID_ARGUMENT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/protobuf.h"
#include "tandem/v1/enrolment.pb-c.h"

/* `n` copies of a 2-byte field `tag_byte 00` after an optional prefix. */
static uint8_t *repeated_pairs(uint8_t tag_byte, size_t n, size_t *len)
{
    uint8_t *buf = malloc(2 * n + 1);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = tag_byte;
        buf[2 * i + 1] = 0;
    }
    *len = 2 * n;
    return buf;
}

static void an_ordinary_message_decodes(void **state)
{
    (void)state;
    Tandem__V1__BatchEnrolRequest req = TANDEM__V1__BATCH_ENROL_REQUEST__INIT;
    char id[] = "0b5c1c8e-8f51-4a53-9d55-5d2f5b3c2a11";
    req.programme_id = id;
    uint8_t buf[128];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    tdm_arena *a = tdm_arena_new(0);
    tdm_status *st = (tdm_status *)1;
    ProtobufCMessage *m =
        tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, buf, len, &st);
    assert_non_null(m);
    assert_null(st);
    assert_string_equal(((Tandem__V1__BatchEnrolRequest *)m)->programme_id, req.programme_id);
    tdm_arena_free(a);
}

/* Decode `n` copies of `tag_byte 00` as a BatchEnrolRequest: the refusal (NULL when
 * it decoded) and what the decode left in its arena. */
static tdm_status *decode_pairs(uint8_t tag_byte, size_t n, size_t *used, size_t *wire)
{
    uint8_t *buf = repeated_pairs(tag_byte, n, wire);
    tdm_arena *a = tdm_arena_new(0);
    assert_non_null(a);
    tdm_status *st = NULL;
    ProtobufCMessage *m =
        tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, buf, *wire, &st);
    assert_true((m == NULL) == (st != NULL));
    *used = tdm_arena_used(a);
    tdm_arena_free(a);
    free(buf);
    return st;
}

static void unknown_fields_past_sixteen_times_the_wire_size_are_refused(void **state)
{
    (void)state;
    /* 78 00: field 15, varint 0 - unknown to every message. 1 MiB of them. */
    size_t used, wire;
    tdm_status *st = decode_pairs(0x78, 512 * 1024, &used, &wire);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(st->message, "16 times"));
    /* The refusal stopped at the budget: the arena holds about 16x, not the 28x or
     * more a whole decode of these fields would take. */
    assert_true(used <= tdm_protobuf_decode_budget(wire) + 64 * 1024);
    tdm_status_free(st);
}

static void empty_rows_past_sixteen_times_the_wire_size_are_refused(void **state)
{
    (void)state;
    /* 12 00: participants, an empty Participant - 2 bytes each on the wire. */
    size_t used, wire;
    tdm_status *st = decode_pairs(0x12, 256 * 1024, &used, &wire);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_RESOURCE_EXHAUSTED);
    tdm_status_free(st);
}

static void compact_batch_rows_decode(void **state)
{
    (void)state;
    /* As the enrolment integration test sends: 2,500 rows of an external id, a
     * display name and a role, about 29 bytes each (11x decoded with protobuf-c). */
    enum { ROWS = 2500 };
    Tandem__V1__BatchEnrolRequest req = TANDEM__V1__BATCH_ENROL_REQUEST__INIT;
    Tandem__V1__Participant *rows = calloc(ROWS, sizeof(*rows));
    Tandem__V1__Participant **ptrs = calloc(ROWS, sizeof(*ptrs));
    char(*ext)[16] = calloc(ROWS, sizeof(*ext));
    char(*name)[24] = calloc(ROWS, sizeof(*name));
    assert_non_null(rows);
    assert_non_null(ptrs);
    assert_non_null(ext);
    assert_non_null(name);
    for (size_t i = 0; i < ROWS; i++) {
        tandem__v1__participant__init(&rows[i]);
        snprintf(ext[i], sizeof(ext[i]), "pg%05zu", i);
        snprintf(name[i], sizeof(name[i]), "Person pg%05zu", i);
        rows[i].external_id = ext[i];
        rows[i].display_name = name[i];
        rows[i].role = TANDEM__V1__ROLE__MENTEE;
        ptrs[i] = &rows[i];
    }
    char id[] = "0b5c1c8e-8f51-4a53-9d55-5d2f5b3c2a11";
    req.programme_id = id;
    req.n_participants = ROWS;
    req.participants = ptrs;
    size_t len = protobuf_c_message_get_packed_size(&req.base);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    protobuf_c_message_pack(&req.base, buf);
    tdm_arena *a = tdm_arena_new(0);
    tdm_status *st = NULL;
    ProtobufCMessage *m =
        tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, buf, len, &st);
    assert_null(st);
    assert_non_null(m);
    assert_int_equal(((Tandem__V1__BatchEnrolRequest *)m)->n_participants, ROWS);
    tdm_arena_free(a);
    free(buf);
    free(name);
    free(ext);
    free(ptrs);
    free(rows);
}

static void a_few_unknown_fields_are_accepted(void **state)
{
    (void)state;
    size_t used, wire;
    assert_null(decode_pairs(0x78, 16, &used, &wire));
}

static void the_budget_is_sixteen_times_with_a_floor_and_a_ceiling(void **state)
{
    (void)state;
    assert_int_equal(tdm_protobuf_decode_budget(0), TDM_DECODE_FLOOR_BYTES);
    assert_int_equal(tdm_protobuf_decode_budget(1024 * 1024), 16 * 1024 * 1024);
    assert_int_equal(tdm_protobuf_decode_budget(4 * 1024 * 1024), TDM_DECODE_BYTES_MAX);
    assert_int_equal(tdm_protobuf_decode_budget(32 * 1024 * 1024), TDM_DECODE_BYTES_MAX);
}

static void a_message_over_64_mib_decoded_names_that_limit(void **state)
{
    (void)state;
    /* 12 MiB of unknown fields: 16x would be 192 MiB, so the 64 MiB ceiling applies. */
    size_t used, wire;
    tdm_status *st = decode_pairs(0x78, 6 * 1024 * 1024, &used, &wire);
    assert_non_null(st);
    assert_int_equal(st->code, TDM_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(st->message, "64 MiB"));
    tdm_status_free(st);
}

static void malformed_bytes_are_invalid_argument(void **state)
{
    (void)state;
    static const uint8_t truncated[] = {0x0a, 0x10, 'a', 'b'}; /* string of 16, 2 given */
    tdm_arena *a = tdm_arena_new(0);
    tdm_status *st = NULL;
    assert_null(tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, truncated,
                                    sizeof(truncated), &st));
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    tdm_status_free(st);
    tdm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_ordinary_message_decodes),
        cmocka_unit_test(unknown_fields_past_sixteen_times_the_wire_size_are_refused),
        cmocka_unit_test(empty_rows_past_sixteen_times_the_wire_size_are_refused),
        cmocka_unit_test(compact_batch_rows_decode),
        cmocka_unit_test(a_few_unknown_fields_are_accepted),
        cmocka_unit_test(the_budget_is_sixteen_times_with_a_floor_and_a_ceiling),
        cmocka_unit_test(a_message_over_64_mib_decoded_names_that_limit),
        cmocka_unit_test(malformed_bytes_are_invalid_argument),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
