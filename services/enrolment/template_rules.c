/*
 * template_rules.c - the pure rules of programme templates (no I/O): what a valid
 * template is, how an UpdateProgrammeTemplate mask merges into the latest version,
 * and the programme CreateProgrammeFromTemplate makes of a version.
 *
 * A template holds the part of a programme a consultancy designs once - kind,
 * description, objectives, matching policy, cadence, anonymity threshold - plus the
 * surveys and the day each opens. Those fields are checked by the programme's own
 * rules (enrol_validate_programme, on a programme view of the template), and the
 * surveys by feedback's rule for CreateSurvey (fb_validate_survey, linked from
 * tandem_feedback_core), so a template can never hold what a programme or a survey
 * would refuse when it is instantiated.
 */
#include "enrolment.h"

#include <stdio.h>
#include <string.h>

#include "feedback.h"

/* The programme fields a template carries (proto names). */
static const char *const TEMPLATE_PROGRAMME_FIELDS[] = {
    "name",
    "description",
    "kind",
    "objectives",
    "matching_policy",
    "check_in_cadence_days",
    "anonymity_threshold",
};

/* t's programme fields as a Programme (strings shared with t). */
static void programme_view(const Tandem__V1__ProgrammeTemplate *t, Tandem__V1__Programme *p)
{
    tandem__v1__programme__init(p);
    p->name = t->name;
    p->description = t->description;
    p->kind = t->kind;
    p->n_objectives = t->n_objectives;
    p->objectives = t->objectives;
    p->matching_policy = t->matching_policy;
    p->check_in_cadence_days = t->check_in_cadence_days;
    p->anonymity_threshold = t->anonymity_threshold;
}

static void template_from_view(Tandem__V1__ProgrammeTemplate *t, const Tandem__V1__Programme *p)
{
    t->name = p->name;
    t->description = p->description;
    t->kind = p->kind;
    t->n_objectives = p->n_objectives;
    t->objectives = p->objectives;
    t->matching_policy = p->matching_policy;
    t->check_in_cadence_days = p->check_in_cadence_days;
    t->anonymity_threshold = p->anonymity_threshold;
}

void enrol_validate_template(const Tandem__V1__ProgrammeTemplate *t, tdm_violations *v)
{
    Tandem__V1__Programme view;
    programme_view(t, &view);
    enrol_validate_programme(&view, "template", v);
    if (t->n_surveys > ENROL_MAX_TEMPLATE_SURVEYS) {
        tdm_violations_add(v, "template.surveys", "must have at most %u surveys",
                           ENROL_MAX_TEMPLATE_SURVEYS);
        return;
    }
    for (size_t i = 0; i < t->n_surveys; i++) {
        const Tandem__V1__TemplateSurvey *s = t->surveys[i];
        char field[64];
        if (s->open_day < 0 || s->open_day > ENROL_MAX_SURVEY_OPEN_DAY) {
            snprintf(field, sizeof(field), "template.surveys[%zu].open_day", i);
            tdm_violations_add(v, field, "must be 0 to %d (days after start_date)",
                               ENROL_MAX_SURVEY_OPEN_DAY);
        }
        if (s->survey == NULL) {
            snprintf(field, sizeof(field), "template.surveys[%zu].survey", i);
            tdm_violations_add(v, field, "is required");
            continue;
        }
        /* feedback's rule names "survey.*"; the template's path goes in front. */
        tdm_violations sv = {0};
        fb_validate_survey(s->survey, &sv);
        tdm_status *st = tdm_violations_take(&sv, NULL);
        if (st == NULL)
            continue;
        snprintf(field, sizeof(field), "template.surveys[%zu]", i);
        tdm_status_prefix_fields(st, field);
        for (size_t k = 0; k < st->n_violations; k++)
            tdm_violations_add(v, st->violations[k].field, "%s", st->violations[k].description);
        tdm_status_free(st);
    }
}

static tdm_status *bad_path(const char *path, const char *why)
{
    return tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid update_mask"),
                                    "update_mask", "\"%s\" %s", path, why);
}

static bool template_programme_path(const char *path)
{
    for (size_t i = 0; i < sizeof(TEMPLATE_PROGRAMME_FIELDS) / sizeof(*TEMPLATE_PROGRAMME_FIELDS);
         i++) {
        if (strcmp(path, TEMPLATE_PROGRAMME_FIELDS[i]) == 0)
            return true;
    }
    return strncmp(path, "matching_policy.", 16) == 0;
}

tdm_status *enrol_merge_template(Tandem__V1__ProgrammeTemplate *dst,
                                 const Tandem__V1__ProgrammeTemplate *src, char **paths, size_t n,
                                 tdm_arena *a)
{
    char **programme_paths = n > 0 ? tdm_arena_calloc(a, n, sizeof(*programme_paths)) : NULL;
    size_t n_programme = 0;
    bool surveys = n == 0;
    if (n > 0 && programme_paths == NULL)
        return tdm_store_oom();
    for (size_t i = 0; i < n; i++) {
        if (strcmp(paths[i], "surveys") == 0)
            surveys = true;
        else if (template_programme_path(paths[i]))
            programme_paths[n_programme++] = paths[i];
        else if (strcmp(paths[i], "id") == 0 || strcmp(paths[i], "version") == 0 ||
                 strcmp(paths[i], "create_time") == 0 || strcmp(paths[i], "update_time") == 0)
            return bad_path(paths[i], "is output only");
        else
            return bad_path(paths[i], "is not a writable field of ProgrammeTemplate");
    }
    if (n == 0 || n_programme > 0) {
        Tandem__V1__Programme d, s;
        programme_view(dst, &d);
        programme_view(src, &s);
        tdm_status *st = enrol_merge_programme(&d, &s, programme_paths, n_programme, a);
        if (st != NULL)
            return st;
        template_from_view(dst, &d);
    }
    if (surveys) {
        dst->n_surveys = src->n_surveys;
        dst->surveys = src->surveys;
    }
    return NULL;
}

tdm_status *enrol_programme_from_template(const Tandem__V1__ProgrammeTemplate *t,
                                          const Tandem__V1__CreateProgrammeFromTemplateRequest *req,
                                          char **paths, size_t n, tdm_arena *a,
                                          Tandem__V1__Programme **out)
{
    Tandem__V1__Programme *p = tdm_arena_alloc(a, sizeof(*p));
    if (p == NULL)
        return tdm_store_oom();
    programme_view(t, p);
    p->name = req->name;
    p->start_date = req->start_date;
    p->end_date = req->end_date;
    bool any = req->update_mask != NULL && req->update_mask->n_paths > 0;
    if (any) {
        Tandem__V1__Programme empty = TANDEM__V1__PROGRAMME__INIT;
        const Tandem__V1__Programme *src = req->overrides != NULL ? req->overrides : &empty;
        /* The programme's name and dates are the request's own fields. */
        for (size_t i = 0; i < n; i++) {
            if (strcmp(paths[i], "name") == 0 || strcmp(paths[i], "start_date") == 0 ||
                strcmp(paths[i], "end_date") == 0)
                return bad_path(paths[i], "is a field of the request, not an override");
        }
        tdm_status *st = enrol_merge_programme(p, src, paths, n, a);
        if (st != NULL)
            return st;
        p->name = req->name; /* "*" merged every field: these stay the request's */
        p->start_date = req->start_date;
        p->end_date = req->end_date;
        p->status = n == 0 && src->status == 0 ? 0 : p->status;
    }
    tdm_violations v = {0};
    enrol_validate_programme(p, "", &v);
    tdm_status *st = tdm_violations_take(&v, NULL);
    if (st != NULL)
        return st;
    if (t->n_surveys > 0 && p->start_date[0] == '\0')
        return tdm_invalid_field("start_date",
                                 "is required: the template's surveys open relative to it");
    *out = p;
    return NULL;
}
