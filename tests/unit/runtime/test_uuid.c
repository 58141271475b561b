/*
 * test_uuid.c - new random UUIDs and the text parser (tandem/uuid.h): version and
 * variant bits set, no two alike, the text form valid and read back to its bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <uuid/uuid.h>

#include "tandem/check.h"
#include "tandem/uuid.h"

#define MANY 10000

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static void many_at_once_are_version_4_and_all_differ(void **state)
{
    (void)state;
    uint8_t(*u)[16] = malloc(MANY * sizeof(*u));
    assert_non_null(u);
    memset(u, 0, MANY * sizeof(*u));
    tdm_uuid_random(u, MANY);
    for (size_t i = 0; i < MANY; i++) {
        assert_int_equal(u[i][6] >> 4, 4);      /* version 4 */
        assert_int_equal(u[i][8] & 0xc0, 0x80); /* RFC 9562 variant */
    }
    qsort(u, MANY, sizeof(*u), cmp16);
    for (size_t i = 1; i < MANY; i++)
        assert_true(memcmp(u[i - 1], u[i], 16) != 0);
    /* The random bits are not all zero anywhere (a generator that gave nothing). */
    uint8_t any[16] = {0};
    for (size_t i = 0; i < MANY; i++)
        for (int b = 0; b < 16; b++)
            any[b] |= u[i][b];
    for (int b = 0; b < 16; b++)
        assert_true(any[b] != 0);
    free(u);
    tdm_uuid_random(NULL, 0); /* none asked: nothing touched */
}

static void text_is_valid_and_parses_back(void **state)
{
    (void)state;
    char a[37], b[37];
    tdm_uuid_text(a);
    tdm_uuid_text(b);
    assert_true(tdm_uuid_valid(a));
    assert_string_not_equal(a, b);
    uint8_t mine[16], libuuid[16];
    assert_true(tdm_uuid_parse(a, mine));
    assert_int_equal(uuid_parse(a, libuuid), 0);
    assert_memory_equal(mine, libuuid, 16);
    assert_true(tdm_uuid_parse("123E4567-E89B-12D3-A456-426614174000", mine));
    assert_int_equal(mine[0], 0x12);
    assert_int_equal(mine[15], 0x00);
    assert_int_equal(mine[6], 0x12);
    memset(libuuid, 0xaa, sizeof(libuuid));
    assert_false(tdm_uuid_parse("123e4567e89b12d3a456426614174000", libuuid));
    assert_false(tdm_uuid_parse(NULL, libuuid));
    assert_int_equal(libuuid[0], 0xaa); /* untouched when refused */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(many_at_once_are_version_4_and_all_differ),
        cmocka_unit_test(text_is_valid_and_parses_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
