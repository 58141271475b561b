/*
 * test_protobuf_lazy.c - lazy repeated fields (tandem/protobuf.h): BatchEnrol's rows
 * registered lazy, as tandem-enrolment does, are kept as 24-byte slices of the wire
 * bytes, so every valid request decodes within API.md's 8x - the compact rows that
 * took 12x decoded eagerly included - while empty rows are still refused; each row
 * decodes on its own, bounded, equal to what was sent; the message packs back to the
 * bytes it came from (what the Idempotency-Key hash covers); malformed bytes are
 * INVALID_ARGUMENT at the top level and in a row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/protobuf.h"
#include "tandem/v1/enrolment.pb-c.h"

#include "batch_rows.h"

#define PARTICIPANTS 2 /* BatchEnrolRequest.participants */

static const char PROGRAMME[] = BATCH_ROWS_PROGRAMME;

static int register_lazy(void **state)
{
    (void)state;
    return tdm_protobuf_set_lazy(&tandem__v1__batch_enrol_request__descriptor, PARTICIPANTS);
}

/* A BatchEnrolRequest of n rows (batch_rows.h), as protobuf-c packs it. */
static uint8_t *batch(size_t n, bool full, size_t *len)
{
    return batch_rows(n, full, 0, len);
}

/* Decode buf lazily; check every row decodes to itself; the decoded bytes over the
 * wire bytes (the arena's growth counts every allocation of the decode). */
static double lazy_ratio(const uint8_t *buf, size_t len, size_t n)
{
    tdm_arena *a = tdm_arena_new(0);
    size_t before = tdm_arena_used(a);
    tdm_status *st = NULL;
    ProtobufCMessage *m =
        tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, buf, len, &st);
    assert_non_null(m);
    assert_null(st);
    double ratio = (double)(tdm_arena_used(a) - before) / (double)len;
    Tandem__V1__BatchEnrolRequest *req = (Tandem__V1__BatchEnrolRequest *)m;
    assert_string_equal(req->programme_id, PROGRAMME);
    assert_int_equal(req->n_participants, 0);
    assert_int_equal(tdm_protobuf_lazy_count(m), n);
    /* Packed again, the message is the bytes it came from. */
    assert_int_equal(protobuf_c_message_get_packed_size(m), len);
    uint8_t *again = malloc(len);
    assert_non_null(again);
    protobuf_c_message_pack(m, again);
    assert_memory_equal(again, buf, len);
    free(again);
    /* Each row, one at a time in a scratch arena, is the row sent. */
    for (size_t i = 0; i < n; i += n / 7 + 1) {
        tdm_arena *scratch = tdm_arena_new(0);
        Tandem__V1__Participant *p =
            (Tandem__V1__Participant *)tdm_protobuf_lazy_unpack(m, i, scratch, &st);
        assert_non_null(p);
        assert_null(st);
        assert_ptr_equal(p->base.descriptor, &tandem__v1__participant__descriptor);
        char want[16];
        if (strncmp(p->external_id, "HR-", 3) == 0)
            snprintf(want, sizeof(want), "HR-%06zu", i);
        else
            snprintf(want, sizeof(want), "pg%05zu", i);
        assert_string_equal(p->external_id, want);
        assert_int_equal(p->role, TANDEM__V1__ROLE__MENTEE);
        tdm_arena_free(scratch);
    }
    tdm_status *past = NULL;
    assert_null(tdm_protobuf_lazy_unpack(m, n, a, &past));
    assert_non_null(past);
    tdm_status_free(past);
    tdm_arena_free(a);
    return ratio;
}

static void compact_rows_decode_within_8x(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = batch(2500, false, &len);
    assert_true(len / 2500 <= 32); /* 29 bytes a row and its tag and length */
    double ratio = lazy_ratio(buf, len, 2500);
    print_message("compact rows: %zu bytes, %.2fx decoded lazily\n", len, ratio);
    assert_true(ratio <= 8.0);
    free(buf);
    /* Large enough that the 64 KiB floor is no help: 40,000 rows, about 1.2 MB. */
    buf = batch(40000, false, &len);
    ratio = lazy_ratio(buf, len, 40000);
    print_message("40,000 compact rows: %zu bytes, %.2fx decoded lazily\n", len, ratio);
    assert_true(ratio <= 1.0);
    free(buf);
}

static void hr_rows_decode_within_8x(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = batch(2500, true, &len);
    double ratio = lazy_ratio(buf, len, 2500);
    print_message("HR rows: %zu bytes, %.2fx decoded lazily\n", len, ratio);
    assert_true(ratio <= 1.0);
    free(buf);
}

/* The smallest valid row (a 1-character id and name, a role: 8 bytes, 10 with its
 * tag and length) decodes within 8x; empty rows (12 00) would take 12x and are
 * refused, naming the limit. */
static void the_smallest_valid_rows_pass_and_empty_rows_are_refused(void **state)
{
    (void)state;
    static const uint8_t row[] = {0x12, 0x08, 0x1a, 0x01, 'a', 0x22, 0x01, 'b', 0x30, 0x02};
    size_t n = 100000, len = n * sizeof(row);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * sizeof(row), row, sizeof(row));
    tdm_arena *a = tdm_arena_new(0);
    tdm_status *st = NULL;
    ProtobufCMessage *m =
        tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, buf, len, &st);
    assert_non_null(m);
    assert_int_equal(tdm_protobuf_lazy_count(m), n);
    assert_true(tdm_arena_used(a) <= 8 * len);
    tdm_arena_free(a);
    for (size_t i = 0; i < len / 2; i++) {
        buf[2 * i] = 0x12;
        buf[2 * i + 1] = 0x00;
    }
    a = tdm_arena_new(0);
    assert_null(
        tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, buf, len, &st));
    assert_non_null(st);
    assert_int_equal(st->code, TDM_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(st->message, "8 times"));
    assert_true(tdm_arena_used(a) <= 8 * len);
    tdm_status_free(st);
    tdm_arena_free(a);
    free(buf);
}

/* Unknown fields at the top level are dropped; inside a row, when the row is
 * decoded. The programme may come after the rows. */
static void unknown_fields_are_dropped_and_order_does_not_matter(void **state)
{
    (void)state;
    static const uint8_t msg[] = {
        0x78, 0x00,                                                     /* unknown */
        0x12, 0x0b, 0x1a, 0x01, 'a', 0x22, 0x01, 'b', 0xc0, 0x3e, 0x00, /* row, unknown in it */
        0x30, 0x01,                                                     /* role */
        0x0a, 0x03, 'p',  'g',  '1',                                    /* programme_id */
        0x78, 0x00,                                                     /* unknown */
    };
    tdm_arena *a = tdm_arena_new(0);
    tdm_status *st = NULL;
    ProtobufCMessage *m =
        tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, msg, sizeof(msg), &st);
    assert_non_null(m);
    assert_string_equal(((Tandem__V1__BatchEnrolRequest *)m)->programme_id, "pg1");
    assert_int_equal(tdm_protobuf_lazy_count(m), 1);
    Tandem__V1__Participant *p = (Tandem__V1__Participant *)tdm_protobuf_lazy_unpack(m, 0, a, &st);
    assert_non_null(p);
    assert_string_equal(p->external_id, "a");
    assert_string_equal(p->display_name, "b");
    assert_int_equal(p->role, 1);
    assert_int_equal(p->base.n_unknown_fields, 0);
    tdm_arena_free(a);
}

static void malformed_bytes_are_invalid_argument(void **state)
{
    (void)state;
    /* A row whose string runs past the row: the top level is fine, the row is not. */
    static const uint8_t bad_row[] = {0x12, 0x03, 0x1a, 0x05, 'a'};
    tdm_arena *a = tdm_arena_new(0);
    tdm_status *st = NULL;
    ProtobufCMessage *m = tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a,
                                              bad_row, sizeof(bad_row), &st);
    assert_non_null(m);
    assert_null(tdm_protobuf_lazy_unpack(m, 0, a, &st));
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    tdm_status_free(st);
    /* A row longer than the message. */
    static const uint8_t truncated[] = {0x12, 0x10, 0x1a, 0x01, 'a'};
    st = NULL;
    assert_null(tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, truncated,
                                    sizeof(truncated), &st));
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    tdm_status_free(st);
    /* The rows' field with the wrong wire type. */
    static const uint8_t varint_rows[] = {0x10, 0x01};
    st = NULL;
    assert_null(tdm_protobuf_unpack(&tandem__v1__batch_enrol_request__descriptor, a, varint_rows,
                                    sizeof(varint_rows), &st));
    assert_non_null(st);
    assert_int_equal(st->code, TDM_INVALID_ARGUMENT);
    tdm_status_free(st);
    tdm_arena_free(a);
}

static void only_repeated_message_fields_can_be_lazy(void **state)
{
    (void)state;
    /* programme_id is a string; a second field of the same message is refused; the
     * same registration again is fine. */
    assert_int_equal(tdm_protobuf_set_lazy(&tandem__v1__batch_enrol_request__descriptor, 1), -1);
    assert_int_equal(tdm_protobuf_set_lazy(&tandem__v1__participant__descriptor, 3), -1);
    assert_int_equal(tdm_protobuf_set_lazy(&tandem__v1__participant__descriptor, 99), -1);
    assert_int_equal(
        tdm_protobuf_set_lazy(&tandem__v1__batch_enrol_request__descriptor, PARTICIPANTS), 0);
    /* A message without a lazy field keeps none. */
    Tandem__V1__EnrolRequest req = TANDEM__V1__ENROL_REQUEST__INIT;
    req.programme_id = (char *)PROGRAMME;
    uint8_t buf[64];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    tdm_arena *a = tdm_arena_new(0);
    tdm_status *st = NULL;
    ProtobufCMessage *m =
        tdm_protobuf_unpack(&tandem__v1__enrol_request__descriptor, a, buf, len, &st);
    assert_non_null(m);
    assert_int_equal(tdm_protobuf_lazy_count(m), 0);
    tdm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(compact_rows_decode_within_8x),
        cmocka_unit_test(hr_rows_decode_within_8x),
        cmocka_unit_test(the_smallest_valid_rows_pass_and_empty_rows_are_refused),
        cmocka_unit_test(unknown_fields_are_dropped_and_order_does_not_matter),
        cmocka_unit_test(malformed_bytes_are_invalid_argument),
        cmocka_unit_test(only_repeated_message_fields_can_be_lazy),
    };
    return cmocka_run_group_tests(tests, register_lazy, NULL);
}
