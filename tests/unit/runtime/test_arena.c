/*
 * test_arena.c - the per-call arena: aligned allocations, large blocks of their
 * own, deferred cleanups run at free, and protobuf-c unpacking into it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tandem/arena.h"

static void allocations_are_aligned_and_distinct(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(64);
    char *prev = NULL;
    for (int i = 1; i < 2000; i++) {
        char *p = tdm_arena_alloc(a, (size_t)(i % 37) + 1);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        memset(p, 0xab, (size_t)(i % 37) + 1);
        assert_ptr_not_equal(p, prev);
        prev = p;
    }
    tdm_arena_free(a);
}

static void a_large_allocation_does_not_disturb_small_ones(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    char *small = tdm_arena_strdup(a, "before");
    char *big = tdm_arena_alloc(a, 8u * 1024u * 1024u);
    assert_non_null(big);
    memset(big, 1, 8u * 1024u * 1024u);
    char *after = tdm_arena_strdup(a, "after");
    assert_string_equal(small, "before");
    assert_string_equal(after, "after");
    assert_true(tdm_arena_used(a) >= 8u * 1024u * 1024u);
    tdm_arena_free(a);
}

static void printf_and_strndup_copy(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    assert_string_equal(tdm_arena_printf(a, "%s-%d", "row", 42), "row-42");
    assert_string_equal(tdm_arena_strndup(a, "abcdef", 3), "abc");
    int *zeros = tdm_arena_calloc(a, 100, sizeof(int));
    for (int i = 0; i < 100; i++)
        assert_int_equal(zeros[i], 0);
    assert_null(tdm_arena_calloc(a, SIZE_MAX / 2, 4));
    tdm_arena_free(a);
}

static int order[3];
static int order_n;
static void record(void *arg)
{
    order[order_n++] = (int)(intptr_t)arg;
}

static void deferred_cleanups_run_newest_first(void **state)
{
    (void)state;
    order_n = 0;
    tdm_arena *a = tdm_arena_new(0);
    tdm_arena_defer(a, record, (void *)1);
    tdm_arena_defer(a, record, (void *)2);
    tdm_arena_defer(a, record, (void *)3);
    tdm_arena_free(a);
    assert_int_equal(order_n, 3);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[2], 1);
}

static void protobuf_allocator_allocates_from_the_arena(void **state)
{
    (void)state;
    tdm_arena *a = tdm_arena_new(0);
    ProtobufCAllocator *pa = tdm_arena_protobuf_allocator(a);
    size_t before = tdm_arena_used(a);
    void *p = pa->alloc(pa->allocator_data, 100);
    assert_non_null(p);
    pa->free(pa->allocator_data, p); /* a no-op: freed with the arena */
    assert_true(tdm_arena_used(a) >= before + 100);
    tdm_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allocations_are_aligned_and_distinct),
        cmocka_unit_test(a_large_allocation_does_not_disturb_small_ones),
        cmocka_unit_test(printf_and_strndup_copy),
        cmocka_unit_test(deferred_cleanups_run_newest_first),
        cmocka_unit_test(protobuf_allocator_allocates_from_the_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
