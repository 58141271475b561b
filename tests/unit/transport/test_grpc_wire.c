/*
 * test_grpc_wire.c - the gRPC wire format without sockets: messages reassembled
 * from split and coalesced frames, zero-length messages, the 4 MiB boundary
 * refused on the prefix alone; grpc-timeout in every unit with its 8-digit limit;
 * grpc-message percent-encoding; field violations through grpc-status-details-bin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "transport_internal.h"

typedef struct got {
    size_t n;
    size_t lens[8];
    uint8_t first[8];
} got;

static int collect(void *arg, const uint8_t *msg, size_t len)
{
    got *g = arg;
    if (g->n < 8) {
        g->lens[g->n] = len;
        g->first[g->n] = len > 0 ? msg[0] : 0;
    }
    g->n++;
    return 0;
}

/* Two messages (3 and 0 bytes) and the start of a third, in one buffer. */
static size_t frame(uint8_t *out, const uint8_t *msg, uint32_t len)
{
    tdm_grpc_prefix(out, len);
    memcpy(out + 5, msg, len);
    return 5 + len;
}

static void coalesced_messages_are_delivered_in_order(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    got g = {0};
    tdm_deframer d;
    tdm_deframer_init(&d, a, TDM_MAX_MESSAGE_BYTES, collect, &g);
    uint8_t buf[64];
    size_t n = frame(buf, (const uint8_t *)"abc", 3);
    n += frame(buf + n, (const uint8_t *)"", 0);
    n += frame(buf + n, (const uint8_t *)"xy", 2);
    assert_int_equal(tdm_deframer_feed(&d, buf, n), TDM_DEFRAME_OK);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.lens[0], 3);
    assert_int_equal(g.first[0], 'a');
    assert_int_equal(g.lens[1], 0);
    assert_int_equal(g.lens[2], 2);
    assert_true(tdm_deframer_idle(&d));
    tdm_arena_free(a);
}

static void a_message_split_byte_by_byte_is_reassembled(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    got g = {0};
    tdm_deframer d;
    tdm_deframer_init(&d, a, TDM_MAX_MESSAGE_BYTES, collect, &g);
    uint8_t buf[32];
    size_t n = frame(buf, (const uint8_t *)"hello", 5);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(tdm_deframer_feed(&d, buf + i, 1), TDM_DEFRAME_OK);
        assert_int_equal(g.n, i + 1 == n ? 1 : 0);
        assert_int_equal(tdm_deframer_idle(&d), i + 1 == n);
    }
    assert_int_equal(g.lens[0], 5);
    tdm_arena_free(a);
}

static void the_4mib_boundary_is_accepted_and_one_byte_more_refused_on_the_prefix(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    got g = {0};
    tdm_deframer d;
    uint8_t prefix[5];
    tdm_deframer_init(&d, a, TDM_MAX_MESSAGE_BYTES, collect, &g);
    tdm_grpc_prefix(prefix, TDM_MAX_MESSAGE_BYTES);
    assert_int_equal(tdm_deframer_feed(&d, prefix, 5), TDM_DEFRAME_OK);
    uint8_t *body = calloc(1, TDM_MAX_MESSAGE_BYTES);
    assert_int_equal(tdm_deframer_feed(&d, body, TDM_MAX_MESSAGE_BYTES), TDM_DEFRAME_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.lens[0], TDM_MAX_MESSAGE_BYTES);
    free(body);

    /* One byte more: refused before anything is allocated for the body. */
    tdm_arena *b = tdm_arena_new(0);
    tdm_deframer_init(&d, b, TDM_MAX_MESSAGE_BYTES, collect, &g);
    tdm_grpc_prefix(prefix, TDM_MAX_MESSAGE_BYTES + 1);
    assert_int_equal(tdm_deframer_feed(&d, prefix, 5), TDM_DEFRAME_TOO_LARGE);
    assert_int_equal(d.announced, TDM_MAX_MESSAGE_BYTES + 1);
    assert_true(tdm_arena_used(b) < 1024);
    /* Whatever follows is ignored. */
    assert_int_equal(tdm_deframer_feed(&d, prefix, 5), TDM_DEFRAME_STOPPED);
    tdm_arena_free(a);
    tdm_arena_free(b);
}

static void a_compressed_message_is_refused(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    got g = {0};
    tdm_deframer d;
    tdm_deframer_init(&d, a, TDM_MAX_MESSAGE_BYTES, collect, &g);
    uint8_t buf[6] = {1, 0, 0, 0, 1, 'x'};
    assert_int_equal(tdm_deframer_feed(&d, buf, 6), TDM_DEFRAME_COMPRESSED);
    assert_int_equal(g.n, 0);
    tdm_arena_free(a);
}

static uint64_t timeout_ms(const char *s)
{
    uint64_t ms = 777;
    assert_int_equal(tdm_grpc_timeout_parse(s, strlen(s), &ms), 0);
    return ms;
}

static void grpc_timeout_parses_every_unit(void **state)
{
    (void)state;
    assert_int_equal(timeout_ms("2H"), 7200000u);
    assert_int_equal(timeout_ms("3M"), 180000u);
    assert_int_equal(timeout_ms("5S"), 5000u);
    assert_int_equal(timeout_ms("250m"), 250u);
    assert_int_equal(timeout_ms("1500u"), 2u);   /* rounded up */
    assert_int_equal(timeout_ms("999999n"), 1u); /* never rounds down to 0 */
    assert_int_equal(timeout_ms("0m"), 0u);
    assert_int_equal(timeout_ms("99999999H"), 99999999ull * 3600000ull);
}

static void grpc_timeout_refuses_bad_values(void **state)
{
    (void)state;
    const char *bad[] = {"", "m", "10", "10x", "-1m", "1.5S", "123456789m", " 1m", "1 m", "0x1m"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t ms;
        assert_int_equal(tdm_grpc_timeout_parse(bad[i], strlen(bad[i]), &ms), -1);
    }
    uint64_t ms;
    assert_int_equal(tdm_grpc_timeout_parse("12345678m", 9, &ms), 0); /* 8 digits: fine */
}

static void grpc_timeout_is_formatted_within_8_digits(void **state)
{
    (void)state;
    char out[24];
    tdm_grpc_timeout_format(1500, out, sizeof(out));
    assert_string_equal(out, "1500m");
    tdm_grpc_timeout_format(-5, out, sizeof(out));
    assert_string_equal(out, "0m");
    tdm_grpc_timeout_format(100000000, out, sizeof(out));
    assert_string_equal(out, "100000S");
    uint64_t ms;
    assert_int_equal(tdm_grpc_timeout_parse(out, strlen(out), &ms), 0);
    assert_int_equal(ms, 100000000u);
}

static void grpc_message_is_percent_encoded_and_decoded(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    const char *msg = "100% done\n\xe2\x9c\x93 ok";
    char *enc = tdm_grpc_message_encode(a, msg);
    assert_string_equal(enc, "100%25 done%0A%E2%9C%93 ok");
    assert_string_equal(tdm_grpc_message_decode(a, enc, strlen(enc)), msg);
    /* Broken escapes from a peer are kept as they are. */
    assert_string_equal(tdm_grpc_message_decode(a, "50%", 3), "50%");
    assert_string_equal(tdm_grpc_message_decode(a, "%zz", 3), "%zz");
    tdm_arena_free(a);
}

static void violations_survive_status_details(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    tdm_status *st = tdm_status_new(TDM_INVALID_ARGUMENT, "bad");
    tdm_status_add_violation(st, "participants[3].email", "not an address");
    tdm_status_add_violation(st, "display_name", "required");
    char *b64 = tdm_grpc_status_details_encode(a, st);
    assert_non_null(b64);
    size_t len = 0;
    uint8_t *bytes = tdm_base64_decode(a, b64, strlen(b64), &len);
    assert_non_null(bytes);
    tdm_status *back = tdm_status_new(TDM_INVALID_ARGUMENT, "bad");
    tdm_grpc_status_details_decode(back, bytes, len);
    assert_int_equal(back->n_violations, 2);
    assert_string_equal(back->violations[0].field, "participants[3].email");
    assert_string_equal(back->violations[1].description, "required");
    /* Unpadded base64, as some gRPC peers send "-bin" values. */
    size_t b64len = strlen(b64);
    while (b64[b64len - 1] == '=')
        b64len--;
    size_t len2 = 0;
    uint8_t *again = tdm_base64_decode(a, b64, b64len, &len2);
    assert_int_equal(len2, len);
    assert_memory_equal(again, bytes, len);
    tdm_status_free(st);
    tdm_status_free(back);
    tdm_arena_free(a);
}

static void request_ids_are_bounded_and_printable(void **state)
{
    (void)state;
    assert_true(tdm_request_id_acceptable("abc-123_X.y", 11));
    assert_false(tdm_request_id_acceptable("", 0));
    assert_false(tdm_request_id_acceptable("a b", 3));
    assert_false(tdm_request_id_acceptable("a\r\nb", 4));
    char longid[80];
    memset(longid, 'a', sizeof(longid));
    assert_false(tdm_request_id_acceptable(longid, sizeof(longid)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(coalesced_messages_are_delivered_in_order),
        cmocka_unit_test(a_message_split_byte_by_byte_is_reassembled),
        cmocka_unit_test(the_4mib_boundary_is_accepted_and_one_byte_more_refused_on_the_prefix),
        cmocka_unit_test(a_compressed_message_is_refused),
        cmocka_unit_test(grpc_timeout_parses_every_unit),
        cmocka_unit_test(grpc_timeout_refuses_bad_values),
        cmocka_unit_test(grpc_timeout_is_formatted_within_8_digits),
        cmocka_unit_test(grpc_message_is_percent_encoded_and_decoded),
        cmocka_unit_test(violations_survive_status_details),
        cmocka_unit_test(request_ids_are_bounded_and_printable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
