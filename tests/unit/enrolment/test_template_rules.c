/*
 * test_template_rules.c - the pure rules of programme templates (template_rules.c):
 * what a valid template is (the programme's own rules, feedback's survey rule, the
 * open day), how an update mask merges into the latest version, and the programme
 * CreateProgrammeFromTemplate makes of a version.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "enrolment.h"

typedef struct fixture {
    tdm_arena *a;
    Tandem__V1__ProgrammeTemplate t;
    Tandem__V1__TemplateSurvey ts;
    Tandem__V1__TemplateSurvey *surveys[1];
    Tandem__V1__Survey s;
    Tandem__V1__Question q;
    Tandem__V1__Question *questions[1];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->a = tdm_arena_new(0);
    tandem__v1__programme_template__init(&f->t);
    f->t.name = (char *)"Reverse mentoring";
    f->t.kind = TANDEM__V1__PROGRAMME_KIND__REVERSE;
    f->t.check_in_cadence_days = 14;
    tandem__v1__question__init(&f->q);
    f->q.id = (char *)"nps";
    f->q.text = (char *)"Would you recommend it?";
    f->q.kind = TANDEM__V1__QUESTION_KIND__NPS_0_10;
    f->questions[0] = &f->q;
    tandem__v1__survey__init(&f->s);
    f->s.title = (char *)"Kick-off";
    f->s.n_questions = 1;
    f->s.questions = f->questions;
    tandem__v1__template_survey__init(&f->ts);
    f->ts.open_day = 30;
    f->ts.survey = &f->s;
    f->surveys[0] = &f->ts;
    f->t.n_surveys = 1;
    f->t.surveys = f->surveys;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    tdm_arena_free(f->a);
    free(f);
    return 0;
}

/* The fields of the violations of t, joined by ','. */
static const char *violations(const Tandem__V1__ProgrammeTemplate *t, char *buf, size_t cap)
{
    tdm_violations v = {0};
    enrol_validate_template(t, &v);
    tdm_status *st = tdm_violations_take(&v, NULL);
    buf[0] = '\0';
    for (size_t i = 0; st != NULL && i < st->n_violations; i++) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s%s", i > 0 ? "," : "", st->violations[i].field);
    }
    tdm_status_free(st);
    return buf;
}

static void a_valid_template_has_no_violation(void **state)
{
    fixture *f = *state;
    char buf[512];
    assert_string_equal(violations(&f->t, buf, sizeof buf), "");
}

static void refusals_name_the_template_field(void **state)
{
    fixture *f = *state;
    char buf[512];
    f->t.name = (char *)"";
    f->t.kind = 0;
    f->ts.open_day = 3661;
    f->s.n_questions = 0;
    assert_string_equal(violations(&f->t, buf, sizeof buf),
                        "template.name,template.kind,template.surveys[0].open_day,"
                        "template.surveys[0].survey.questions");
    f->ts.survey = NULL;
    f->ts.open_day = -1;
    assert_non_null(strstr(violations(&f->t, buf, sizeof buf), "template.surveys[0].survey"));
}

static void the_mask_merges_template_fields_only(void **state)
{
    fixture *f = *state;
    Tandem__V1__ProgrammeTemplate src = TANDEM__V1__PROGRAMME_TEMPLATE__INIT;
    src.name = (char *)"Renamed";
    src.check_in_cadence_days = 21;
    char paths_0[] = "check_in_cadence_days";
    char *paths[] = {paths_0};
    assert_null(enrol_merge_template(&f->t, &src, paths, 1, f->a));
    assert_int_equal(f->t.check_in_cadence_days, 21);
    assert_string_equal(f->t.name, "Reverse mentoring");
    assert_int_equal(f->t.n_surveys, 1);
    char surveys_0[] = "surveys";
    char *surveys[] = {surveys_0};
    assert_null(enrol_merge_template(&f->t, &src, surveys, 1, f->a));
    assert_int_equal(f->t.n_surveys, 0);
    char bad_0[] = "version";
    char *bad[] = {bad_0};
    tdm_status *st = enrol_merge_template(&f->t, &src, bad, 1, f->a);
    assert_non_null(st);
    assert_string_equal(st->violations[0].field, "update_mask");
    tdm_status_free(st);
    char unknown_0[] = "start_date";
    char *unknown[] = {unknown_0};
    st = enrol_merge_template(&f->t, &src, unknown, 1, f->a);
    assert_non_null(st);
    tdm_status_free(st);
}

static void a_programme_takes_the_template_then_the_overrides(void **state)
{
    fixture *f = *state;
    Tandem__V1__CreateProgrammeFromTemplateRequest req =
        TANDEM__V1__CREATE_PROGRAMME_FROM_TEMPLATE_REQUEST__INIT;
    req.name = (char *)"Firm A";
    req.start_date = (char *)"2027-01-04";
    Tandem__V1__Programme *p = NULL;
    assert_null(enrol_programme_from_template(&f->t, &req, NULL, 0, f->a, &p));
    assert_string_equal(p->name, "Firm A");
    assert_int_equal(p->check_in_cadence_days, 14);
    assert_int_equal(p->kind, TANDEM__V1__PROGRAMME_KIND__REVERSE);

    Tandem__V1__Programme overrides = TANDEM__V1__PROGRAMME__INIT;
    overrides.check_in_cadence_days = 7;
    overrides.name = (char *)"ignored";
    char mask_paths_0[] = "check_in_cadence_days";
    char *mask_paths[] = {mask_paths_0};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.n_paths = 1;
    mask.paths = mask_paths;
    req.overrides = &overrides;
    req.update_mask = &mask;
    assert_null(enrol_programme_from_template(&f->t, &req, mask_paths, 1, f->a, &p));
    assert_int_equal(p->check_in_cadence_days, 7);
    assert_string_equal(p->name, "Firm A");

    /* The request's own fields are not overrides; surveys need a start date. */
    char name_path_0[] = "name";
    char *name_path[] = {name_path_0};
    mask.paths = name_path;
    tdm_status *st = enrol_programme_from_template(&f->t, &req, name_path, 1, f->a, &p);
    assert_non_null(st);
    assert_string_equal(st->violations[0].field, "update_mask");
    tdm_status_free(st);
    req.update_mask = NULL;
    req.start_date = (char *)"";
    st = enrol_programme_from_template(&f->t, &req, NULL, 0, f->a, &p);
    assert_non_null(st);
    assert_string_equal(st->violations[0].field, "start_date");
    tdm_status_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_valid_template_has_no_violation, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_name_the_template_field, setup, teardown),
        cmocka_unit_test_setup_teardown(the_mask_merges_template_fields_only, setup, teardown),
        cmocka_unit_test_setup_teardown(a_programme_takes_the_template_then_the_overrides, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
