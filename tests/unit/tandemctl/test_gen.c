/*
 * test_gen.c - the demo's people generator: the same (count, seed) always gives the
 * same bytes, another seed other people; the firm is plausible for a REVERSE
 * programme (juniors mentor, seniors are mentored), reporting lines point at real,
 * more senior colleagues of the same department, and diversity data appears only
 * with consent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gen.h"

static char *dump(size_t count, uint64_t seed)
{
    json_t *people = gen_people(count, seed, "firm.example");
    assert_non_null(people);
    char *s = json_dumps(people, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(people);
    return s;
}

static void test_same_seed_same_bytes(void **state)
{
    (void)state;
    char *a = dump(400, 7), *b = dump(400, 7), *c = dump(400, 8);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    free(a);
    free(b);
    free(c);
}

static void test_count_and_range(void **state)
{
    (void)state;
    json_t *people = gen_people(300, 2027, "firm.example");
    assert_int_equal(json_array_size(people), 300);
    json_decref(people);
    assert_null(gen_people(0, 1, "firm.example"));
    assert_null(gen_people(GEN_MAX_COUNT + 1, 1, "firm.example"));
}

static json_t *by_id(json_t *people, const char *id)
{
    size_t i;
    json_t *p;
    json_array_foreach(people, i, p)
    {
        if (strcmp(json_string_value(json_object_get(p, "externalId")), id) == 0) {
            return p;
        }
    }
    return NULL;
}

static void test_a_plausible_reverse_mentoring_firm(void **state)
{
    (void)state;
    json_t *people = gen_people(300, 2027, "firm.example");
    size_t mentors = 0, mentees = 0, consented = 0, chains = 0, i;
    int levels[11] = {0};
    json_t *p;
    json_array_foreach(people, i, p)
    {
        const char *role = json_string_value(json_object_get(p, "role"));
        int level = (int)json_integer_value(json_object_get(p, "seniorityLevel"));
        assert_in_range(level, 0, 10);
        levels[level]++;
        if (strcmp(role, "MENTOR") == 0) {
            mentors++;
            assert_in_range(level, 0, 5);
        } else {
            mentees++;
            assert_in_range(level, 5, 10);
        }
        json_t *consent = json_object_get(p, "consent");
        json_t *diversity = json_object_get(p, "diversity");
        if (json_is_true(json_object_get(consent, "diversityData"))) {
            consented++;
            assert_non_null(diversity);
        } else {
            assert_null(diversity);
        }
        size_t k;
        json_t *boss;
        json_array_foreach(json_object_get(p, "reportingChain"), k, boss)
        {
            json_t *b = by_id(people, json_string_value(boss));
            assert_non_null(b);
            assert_true(json_integer_value(json_object_get(b, "seniorityLevel")) > level);
            assert_true(
                json_equal(json_object_get(b, "department"), json_object_get(p, "department")));
            chains++;
        }
        assert_non_null(strchr(json_string_value(json_object_get(p, "email")), '@'));
        assert_true(json_array_size(json_object_get(p, "goals")) >= 1);
        assert_true(json_array_size(json_object_get(p, "skills")) >= 2);
    }
    assert_true(mentors > 100 && mentees > 60);
    assert_true(consented > 120 && consented < 240);
    assert_true(chains > 100);
    assert_true(levels[0] > 0 && levels[10] > 0);
    json_decref(people);
}

static void test_rng_is_uniform_enough(void **state)
{
    (void)state;
    gen_rng r;
    gen_rng_seed(&r, 1);
    int buckets[10] = {0};
    for (int i = 0; i < 100000; i++) {
        buckets[gen_rng_below(&r, 10)]++;
    }
    for (int b = 0; b < 10; b++) {
        assert_in_range(buckets[b], 9500, 10500);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes),
        cmocka_unit_test(test_count_and_range),
        cmocka_unit_test(test_a_plausible_reverse_mentoring_firm),
        cmocka_unit_test(test_rng_is_uniform_enough),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
