/*
 * rows.c - feedback's SQL row documents (JSON) to messages and back (rows.h).
 * jansson parses the documents; every string and array is copied into the arena.
 */
#include "rows.h"

#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "feedback.h"
#include "tandem/json.h"

static char *str(tdm_arena *a, json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return tdm_arena_strdup(a, s != NULL ? s : "");
}

static int64_t i64(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)json_number_value(v);
}

static double num(json_t *obj, const char *key)
{
    return json_number_value(json_object_get(obj, key));
}

/* A JSON array of strings as a char** in the arena; -1 on failure. */
static int str_array(tdm_arena *a, json_t *arr, char ***out, size_t *n)
{
    size_t len = json_is_array(arr) ? json_array_size(arr) : 0;
    *n = 0;
    *out = tdm_arena_calloc(a, len + 1, sizeof(char *));
    if (*out == NULL)
        return -1;
    for (size_t i = 0; i < len; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        (*out)[i] = tdm_arena_strdup(a, s != NULL ? s : "");
        if ((*out)[i] == NULL)
            return -1;
    }
    *n = len;
    return 0;
}

static json_t *parse(const char *json, size_t len)
{
    return json_loadb(json, len, 0, NULL);
}

static Tandem__V1__CheckIn *check_in_from(json_t *o, tdm_arena *a)
{
    Tandem__V1__CheckIn *c = tdm_arena_alloc(a, sizeof(*c));
    if (c == NULL)
        return NULL;
    tandem__v1__check_in__init(c);
    c->id = str(a, o, "id");
    c->match_id = str(a, o, "match_id");
    c->programme_id = str(a, o, "programme_id");
    c->participant_id = str(a, o, "participant_id");
    c->occurred_time = fb_timestamp_from_us(i64(o, "occurred_us"), a);
    c->create_time = fb_timestamp_from_us(i64(o, "create_us"), a);
    c->duration_minutes = (int32_t)i64(o, "duration_minutes");
    c->rating = (int32_t)i64(o, "rating");
    c->notes = str(a, o, "notes");
    if (str_array(a, json_object_get(o, "topics"), &c->topics, &c->n_topics) != 0)
        return NULL;
    json_t *goals = json_object_get(o, "goal_progress");
    size_t n = json_is_array(goals) ? json_array_size(goals) : 0;
    c->goal_progress = tdm_arena_calloc(a, n + 1, sizeof(*c->goal_progress));
    if (c->goal_progress == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *g = json_array_get(goals, i);
        Tandem__V1__GoalProgress *gp = tdm_arena_alloc(a, sizeof(*gp));
        if (gp == NULL)
            return NULL;
        tandem__v1__goal_progress__init(gp);
        gp->objective_key = str(a, g, "key");
        gp->percent = (int32_t)i64(g, "percent");
        c->goal_progress[c->n_goal_progress++] = gp;
    }
    if (c->id == NULL || c->notes == NULL || c->occurred_time == NULL || c->create_time == NULL)
        return NULL;
    return c;
}

Tandem__V1__CheckIn *fb_check_in_from_row(const char *json, size_t len, tdm_arena *a)
{
    json_t *o = parse(json, len);
    Tandem__V1__CheckIn *c = o != NULL ? check_in_from(o, a) : NULL;
    json_decref(o);
    return c;
}

char *fb_check_in_event_json(const Tandem__V1__CheckIn *c, tdm_arena *a)
{
    Tandem__V1__CheckIn copy = *c;
    copy.notes = (char *)""; /* private to the pair: never in an event */
    char *body = tdm_json_encode(&copy.base, a, NULL);
    return body != NULL ? tdm_arena_printf(a, "{\"checkIn\":%s}", body) : NULL;
}

Tandem__V1__Survey *fb_survey_from_row(const char *json, size_t len, tdm_arena *a)
{
    json_t *o = parse(json, len);
    if (o == NULL)
        return NULL;
    Tandem__V1__Survey *s = tdm_arena_alloc(a, sizeof(*s));
    json_t *qs = json_object_get(o, "questions");
    size_t n = json_is_array(qs) ? json_array_size(qs) : 0;
    if (s == NULL)
        goto fail;
    tandem__v1__survey__init(s);
    s->id = str(a, o, "id");
    s->programme_id = str(a, o, "programme_id");
    s->title = str(a, o, "title");
    s->description = str(a, o, "description");
    s->create_time = fb_timestamp_from_us(i64(o, "create_us"), a);
    s->questions = tdm_arena_calloc(a, n + 1, sizeof(*s->questions));
    if (s->questions == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        json_t *q = json_array_get(qs, i);
        Tandem__V1__Question *x = tdm_arena_alloc(a, sizeof(*x));
        if (x == NULL)
            goto fail;
        tandem__v1__question__init(x);
        x->id = str(a, q, "id");
        x->text = str(a, q, "text");
        x->kind = (Tandem__V1__QuestionKind)i64(q, "kind");
        x->required = json_is_true(json_object_get(q, "required"));
        if (str_array(a, json_object_get(q, "choices"), &x->choices, &x->n_choices) != 0)
            goto fail;
        s->questions[s->n_questions++] = x;
    }
    json_decref(o);
    return s;
fail:
    json_decref(o);
    return NULL;
}

Tandem__V1__SurveyResponse *fb_survey_response_from_row(const char *json, size_t len, tdm_arena *a)
{
    json_t *o = parse(json, len);
    if (o == NULL)
        return NULL;
    Tandem__V1__SurveyResponse *r = tdm_arena_alloc(a, sizeof(*r));
    json_t *ans = json_object_get(o, "answers");
    size_t n = json_is_array(ans) ? json_array_size(ans) : 0;
    if (r == NULL)
        goto fail;
    tandem__v1__survey_response__init(r);
    r->id = str(a, o, "id");
    r->survey_id = str(a, o, "survey_id");
    r->programme_id = str(a, o, "programme_id");
    r->participant_id = str(a, o, "participant_id");
    r->create_time = fb_timestamp_from_us(i64(o, "create_us"), a);
    r->answers = tdm_arena_calloc(a, n + 1, sizeof(*r->answers));
    if (r->answers == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(ans, i);
        Tandem__V1__Answer *an = tdm_arena_alloc(a, sizeof(*an));
        if (an == NULL)
            goto fail;
        tandem__v1__answer__init(an);
        an->question_id = str(a, x, "question_id");
        an->text = str(a, x, "text");
        an->choice = str(a, x, "choice");
        json_t *score = json_object_get(x, "score");
        if (json_is_integer(score)) {
            an->score = tdm_arena_alloc(a, sizeof(*an->score));
            if (an->score == NULL)
                goto fail;
            google__protobuf__int32_value__init(an->score);
            an->score->value = (int32_t)json_integer_value(score);
        }
        r->answers[r->n_answers++] = an;
    }
    json_decref(o);
    return r;
fail:
    json_decref(o);
    return NULL;
}

static Google__Protobuf__DoubleValue *double_value(json_t *v, tdm_arena *a, bool *failed)
{
    if (!json_is_number(v))
        return NULL;
    Google__Protobuf__DoubleValue *d = tdm_arena_alloc(a, sizeof(*d));
    if (d == NULL) {
        *failed = true;
        return NULL;
    }
    google__protobuf__double_value__init(d);
    d->value = json_number_value(v);
    return d;
}

static Tandem__V1__Breakdown *breakdown_from(json_t *b, tdm_arena *a)
{
    Tandem__V1__Breakdown *out = tdm_arena_alloc(a, sizeof(*out));
    json_t *groups = json_object_get(b, "groups");
    size_t n = json_is_array(groups) ? json_array_size(groups) : 0;
    bool failed = false;
    if (out == NULL)
        return NULL;
    tandem__v1__breakdown__init(out);
    out->dimension = str(a, b, "dimension");
    out->suppressed_groups = (int32_t)i64(b, "suppressed");
    out->groups = tdm_arena_calloc(a, n + 1, sizeof(*out->groups));
    if (out->groups == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *g = json_array_get(groups, i);
        Tandem__V1__BreakdownGroup *x = tdm_arena_alloc(a, sizeof(*x));
        if (x == NULL)
            return NULL;
        tandem__v1__breakdown_group__init(x);
        x->key = str(a, g, "key");
        x->count = (int32_t)i64(g, "count");
        x->matched = (int32_t)i64(g, "matched");
        x->check_ins = (int32_t)i64(g, "check_ins");
        x->mean_rating = num(g, "mean_rating");
        x->nps = double_value(json_object_get(g, "nps"), a, &failed);
        if (failed ||
            str_array(a, json_object_get(g, "suppressed"), &x->suppressed, &x->n_suppressed) != 0)
            return NULL;
        out->groups[out->n_groups++] = x;
    }
    return out;
}

Tandem__V1__ProgrammeReport *fb_report_from_row(const char *json, size_t len, tdm_arena *a)
{
    json_t *o = parse(json, len);
    if (o == NULL)
        return NULL;
    Tandem__V1__ProgrammeReport *r = tdm_arena_alloc(a, sizeof(*r));
    json_t *prog = json_object_get(o, "objective_progress");
    json_t *bds = json_object_get(o, "breakdowns");
    size_t n_prog = json_is_array(prog) ? json_array_size(prog) : 0;
    size_t n_bds = json_is_array(bds) ? json_array_size(bds) : 0;
    bool failed = false;
    if (r == NULL)
        goto fail;
    tandem__v1__programme_report__init(r);
    r->enrolled_mentors = (int32_t)i64(o, "enrolled_mentors");
    r->enrolled_mentees = (int32_t)i64(o, "enrolled_mentees");
    r->matched = (int32_t)i64(o, "matched");
    r->active_matches = (int32_t)i64(o, "active_matches");
    r->check_ins = (int32_t)i64(o, "check_ins");
    r->mean_rating = num(o, "mean_rating");
    r->nps = double_value(json_object_get(o, "nps"), a, &failed);
    r->surveys = (int32_t)i64(o, "surveys");
    r->survey_responses = (int32_t)i64(o, "survey_responses");
    r->survey_respondents = (int32_t)i64(o, "survey_respondents");
    if (json_is_integer(json_object_get(o, "survey_figures_as_of_us")))
        r->survey_figures_as_of = fb_timestamp_from_us(i64(o, "survey_figures_as_of_us"), a);
    if (str_array(a, json_object_get(o, "suppressed"), &r->suppressed, &r->n_suppressed) != 0)
        failed = true;
    r->survey_response_rate = num(o, "survey_response_rate");
    r->at_risk_count = (int32_t)i64(o, "at_risk_count");
    r->objective_progress = tdm_arena_calloc(a, n_prog + 1, sizeof(*r->objective_progress));
    r->breakdowns = tdm_arena_calloc(a, n_bds + 1, sizeof(*r->breakdowns));
    if (failed || r->objective_progress == NULL || r->breakdowns == NULL)
        goto fail;
    for (size_t i = 0; i < n_prog; i++) {
        json_t *p = json_array_get(prog, i);
        Tandem__V1__ObjectiveProgress *x = tdm_arena_alloc(a, sizeof(*x));
        if (x == NULL)
            goto fail;
        tandem__v1__objective_progress__init(x);
        x->objective_key = str(a, p, "key");
        x->mean_percent = num(p, "mean");
        x->matches_reporting = (int32_t)i64(p, "n");
        r->objective_progress[r->n_objective_progress++] = x;
    }
    for (size_t i = 0; i < n_bds; i++) {
        Tandem__V1__Breakdown *b = breakdown_from(json_array_get(bds, i), a);
        if (b == NULL)
            goto fail;
        r->breakdowns[r->n_breakdowns++] = b;
    }
    json_decref(o);
    return r;
fail:
    json_decref(o);
    return NULL;
}

static char *dump(json_t *doc, tdm_arena *a)
{
    char *out = doc != NULL ? tdm_json_dump(doc, a, NULL) : NULL;
    json_decref(doc);
    return out;
}

char *fb_questions_document(const Tandem__V1__Survey *s, tdm_arena *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < s->n_questions; i++) {
        const Tandem__V1__Question *q = s->questions[i];
        json_t *choices = json_array();
        for (size_t c = 0; choices != NULL && c < q->n_choices; c++)
            json_array_append_new(choices, json_string(q->choices[c]));
        json_t *row = json_pack("{s:s, s:I, s:s, s:i, s:o, s:b}", "id", q->id, "position",
                                (json_int_t)i, "text", q->text, "kind", (int)q->kind, "choices",
                                choices != NULL ? choices : json_array(), "required", q->required);
        if (row == NULL || json_array_append_new(arr, row) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return dump(arr, a);
}

char *fb_answers_document(const Tandem__V1__SubmitSurveyResponseRequest *q,
                          const Tandem__V1__Survey *survey, tdm_arena *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < q->n_answers; i++) {
        const Tandem__V1__Answer *an = q->answers[i];
        int kind = 0;
        for (size_t j = 0; j < survey->n_questions && kind == 0; j++)
            if (strcmp(survey->questions[j]->id, an->question_id) == 0)
                kind = (int)survey->questions[j]->kind;
        json_t *row =
            json_pack("{s:s, s:i, s:o, s:s, s:s}", "question_id", an->question_id, "kind", kind,
                      "score", an->score != NULL ? json_integer(an->score->value) : json_null(),
                      "text", an->text, "choice", an->choice);
        if (row == NULL || json_array_append_new(arr, row) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return dump(arr, a);
}
