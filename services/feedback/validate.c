/*
 * validate.c - the pure checks of tandem-feedback: requests against the limits of
 * feedback.proto, survey answers against their questions, and the PostgreSQL
 * array literals the store ships parameters in. No I/O but the
 * clock, so the unit tests cover every rule.
 */
#include "feedback.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tandem/timestamp.h"
#include "tandem/check.h"
#include "tandem/pg_columns.h"

/* A string of min..max characters of UTF-8. */
static void check_text(tdm_violations *v, const char *field, const char *s, size_t min, size_t max)
{
    size_t n = tdm_utf8_chars(s != NULL ? s : "");
    if (n == SIZE_MAX)
        tdm_violations_add(v, field, "must be UTF-8");
    else if (n < min && min == 1)
        tdm_violations_add(v, field, "is required");
    else if (n < min || n > max)
        tdm_violations_add(v, field, "must be %zu to %zu characters", min, max);
}

int64_t fb_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

void fb_validate_check_in(const Tandem__V1__RecordCheckInRequest *r, int64_t now_s,
                          tdm_violations *v)
{
    if (!tdm_uuid_valid(r->match_id))
        tdm_violations_add(v, "match_id", "must be a UUID");
    if (r->participant_id[0] == '\0')
        tdm_violations_add(v, "participant_id", "is required");
    else if (!tdm_uuid_valid(r->participant_id))
        tdm_violations_add(v, "participant_id", "must be a UUID");
    if (r->occurred_time == NULL) {
        tdm_violations_add(v, "occurred_time", "is required");
    } else if (r->occurred_time->nanos < 0 || r->occurred_time->nanos > 999999999) {
        tdm_violations_add(v, "occurred_time", "has invalid nanoseconds");
    } else if (r->occurred_time->seconds > now_s + FB_CLOCK_SKEW_S) {
        tdm_violations_add(v, "occurred_time", "must not be in the future");
    } else if (r->occurred_time->seconds < now_s - FB_MAX_CHECK_IN_AGE_S) {
        tdm_violations_add(v, "occurred_time", "must be at most 365 days ago");
    }
    if (r->duration_minutes < 0 || r->duration_minutes > FB_MAX_DURATION_MINUTES)
        tdm_violations_add(v, "duration_minutes", "must be 1 to %d minutes (0: not given)",
                           FB_MAX_DURATION_MINUTES);
    if (r->rating == 0)
        tdm_violations_add(v, "rating", "is required (1 to 5)");
    else if (r->rating < 1 || r->rating > 5)
        tdm_violations_add(v, "rating", "must be 1 to 5");
    if (r->n_topics > FB_MAX_TOPICS)
        tdm_violations_add(v, "topics", "must have at most %u items", FB_MAX_TOPICS);
    for (size_t i = 0; i < r->n_topics && i < FB_MAX_TOPICS; i++) {
        char field[32];
        snprintf(field, sizeof(field), "topics[%zu]", i);
        check_text(v, field, r->topics[i], 1, FB_MAX_TOPIC_CHARS);
    }
    if (r->n_goal_progress > FB_MAX_GOALS)
        tdm_violations_add(v, "goal_progress", "must have at most %u items", FB_MAX_GOALS);
    for (size_t i = 0; i < r->n_goal_progress && i < FB_MAX_GOALS; i++) {
        const Tandem__V1__GoalProgress *g = r->goal_progress[i];
        char field[64];
        snprintf(field, sizeof(field), "goal_progress[%zu].objective_key", i);
        check_text(v, field, g->objective_key, 1, FB_MAX_KEY_CHARS);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(r->goal_progress[j]->objective_key, g->objective_key) == 0) {
                tdm_violations_add(v, field, "repeats goal_progress[%zu]", j);
                break;
            }
        }
        if (g->percent < 0 || g->percent > 100) {
            snprintf(field, sizeof(field), "goal_progress[%zu].percent", i);
            tdm_violations_add(v, field, "must be 0 to 100");
        }
    }
    size_t notes = tdm_utf8_chars(r->notes);
    if (notes == SIZE_MAX || notes > FB_MAX_NOTES_CHARS)
        tdm_violations_add(v, "notes", "must be at most %u characters of UTF-8",
                           FB_MAX_NOTES_CHARS);
}

void fb_validate_goal_keys(const Tandem__V1__RecordCheckInRequest *r,
                           const Tandem__V1__Programme *programme, tdm_violations *v)
{
    for (size_t i = 0; i < r->n_goal_progress; i++) {
        const char *key = r->goal_progress[i]->objective_key;
        bool known = false;
        for (size_t j = 0; j < programme->n_objectives && !known; j++)
            known = strcmp(programme->objectives[j]->key, key) == 0;
        if (!known) {
            char field[64];
            snprintf(field, sizeof(field), "goal_progress[%zu].objective_key", i);
            tdm_violations_add(v, field, "is not an objective of the programme");
        }
    }
}

static bool question_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > FB_MAX_KEY_CHARS)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '-')
            return false;
    }
    return true;
}

static void validate_question(const Tandem__V1__Question *q, size_t i, const Tandem__V1__Survey *s,
                              tdm_violations *v)
{
    char field[96];
    snprintf(field, sizeof(field), "survey.questions[%zu].id", i);
    if (!question_id_valid(q->id))
        tdm_violations_add(v, field, "must be 1 to 64 of [A-Za-z0-9_-]");
    for (size_t j = 0; j < i; j++) {
        if (strcmp(s->questions[j]->id, q->id) == 0) {
            tdm_violations_add(v, field, "repeats questions[%zu].id", j);
            break;
        }
    }
    snprintf(field, sizeof(field), "survey.questions[%zu].text", i);
    check_text(v, field, q->text, 1, FB_MAX_QUESTION_CHARS);
    snprintf(field, sizeof(field), "survey.questions[%zu].kind", i);
    if (q->kind < TANDEM__V1__QUESTION_KIND__RATING_1_5 ||
        q->kind > TANDEM__V1__QUESTION_KIND__CHOICE) {
        tdm_violations_add(v, field, "must be RATING_1_5, NPS_0_10, TEXT or CHOICE");
        return;
    }
    snprintf(field, sizeof(field), "survey.questions[%zu].choices", i);
    if (q->kind != TANDEM__V1__QUESTION_KIND__CHOICE) {
        if (q->n_choices > 0)
            tdm_violations_add(v, field, "only CHOICE questions have choices");
        return;
    }
    if (q->n_choices < FB_MIN_CHOICES || q->n_choices > FB_MAX_CHOICES) {
        tdm_violations_add(v, field, "must have %u to %u choices", FB_MIN_CHOICES, FB_MAX_CHOICES);
        return;
    }
    for (size_t c = 0; c < q->n_choices; c++) {
        snprintf(field, sizeof(field), "survey.questions[%zu].choices[%zu]", i, c);
        check_text(v, field, q->choices[c], 1, FB_MAX_CHOICE_CHARS);
        for (size_t d = 0; d < c; d++) {
            if (strcmp(q->choices[d], q->choices[c]) == 0) {
                tdm_violations_add(v, field, "repeats choices[%zu]", d);
                break;
            }
        }
    }
}

void fb_validate_survey(const Tandem__V1__Survey *s, tdm_violations *v)
{
    check_text(v, "survey.title", s->title, 1, FB_MAX_TITLE_CHARS);
    check_text(v, "survey.description", s->description, 0, FB_MAX_DESCRIPTION_CHARS);
    if (s->n_questions == 0) {
        tdm_violations_add(v, "survey.questions", "is required (1 to %u questions)",
                           FB_MAX_QUESTIONS);
        return;
    }
    if (s->n_questions > FB_MAX_QUESTIONS) {
        tdm_violations_add(v, "survey.questions", "must have at most %u questions",
                           FB_MAX_QUESTIONS);
        return;
    }
    for (size_t i = 0; i < s->n_questions; i++)
        validate_question(s->questions[i], i, s, v);
}

static void validate_answer(const Tandem__V1__Answer *a, const Tandem__V1__Question *q, size_t i,
                            tdm_violations *v)
{
    char field[64];
    bool has_score = a->score != NULL;
    bool has_text = a->text[0] != '\0';
    bool has_choice = a->choice[0] != '\0';
    switch (q->kind) {
    case TANDEM__V1__QUESTION_KIND__RATING_1_5:
    case TANDEM__V1__QUESTION_KIND__NPS_0_10: {
        int lo = q->kind == TANDEM__V1__QUESTION_KIND__RATING_1_5 ? 1 : 0;
        int hi = q->kind == TANDEM__V1__QUESTION_KIND__RATING_1_5 ? 5 : 10;
        snprintf(field, sizeof(field), "answers[%zu].score", i);
        if (!has_score)
            tdm_violations_add(v, field, "is required for a %s question",
                               lo == 1 ? "RATING_1_5" : "NPS_0_10");
        else if (a->score->value < lo || a->score->value > hi)
            tdm_violations_add(v, field, "must be %d to %d", lo, hi);
        if (has_text || has_choice) {
            snprintf(field, sizeof(field), "answers[%zu].%s", i, has_text ? "text" : "choice");
            tdm_violations_add(v, field, "must be empty: the question takes a score");
        }
        break;
    }
    case TANDEM__V1__QUESTION_KIND__TEXT: {
        snprintf(field, sizeof(field), "answers[%zu].text", i);
        size_t n = tdm_utf8_chars(a->text);
        if (n == SIZE_MAX || n > FB_MAX_TEXT_ANSWER_CHARS)
            tdm_violations_add(v, field, "must be at most %u characters of UTF-8",
                               FB_MAX_TEXT_ANSWER_CHARS);
        if (has_score || has_choice) {
            snprintf(field, sizeof(field), "answers[%zu].%s", i, has_score ? "score" : "choice");
            tdm_violations_add(v, field, "must be empty: the question takes text");
        }
        break;
    }
    default: { /* CHOICE */
        snprintf(field, sizeof(field), "answers[%zu].choice", i);
        bool known = false;
        for (size_t c = 0; c < q->n_choices && !known; c++)
            known = strcmp(q->choices[c], a->choice) == 0;
        if (!has_choice)
            tdm_violations_add(v, field, "is required for a CHOICE question");
        else if (!known)
            tdm_violations_add(v, field, "is not one of the question's choices");
        if (has_score || has_text) {
            snprintf(field, sizeof(field), "answers[%zu].%s", i, has_score ? "score" : "text");
            tdm_violations_add(v, field, "must be empty: the question takes a choice");
        }
        break;
    }
    }
}

void fb_validate_answers(const Tandem__V1__SubmitSurveyResponseRequest *r,
                         const Tandem__V1__Survey *survey, tdm_violations *v)
{
    if (r->n_answers > FB_MAX_ANSWERS) {
        tdm_violations_add(v, "answers", "must have at most %u answers", FB_MAX_ANSWERS);
        return;
    }
    for (size_t i = 0; i < r->n_answers; i++) {
        const Tandem__V1__Answer *a = r->answers[i];
        char field[64];
        snprintf(field, sizeof(field), "answers[%zu].question_id", i);
        const Tandem__V1__Question *q = NULL;
        for (size_t j = 0; j < survey->n_questions && q == NULL; j++)
            if (strcmp(survey->questions[j]->id, a->question_id) == 0)
                q = survey->questions[j];
        bool repeated = false;
        for (size_t j = 0; j < i && !repeated; j++)
            repeated = strcmp(r->answers[j]->question_id, a->question_id) == 0;
        if (a->question_id[0] == '\0')
            tdm_violations_add(v, field, "is required");
        else if (q == NULL)
            tdm_violations_add(v, field, "is not a question of the survey");
        else if (repeated)
            tdm_violations_add(v, field, "is answered twice");
        else
            validate_answer(a, q, i, v);
    }
    for (size_t j = 0; j < survey->n_questions; j++) {
        const Tandem__V1__Question *q = survey->questions[j];
        if (!q->required)
            continue;
        bool answered = false;
        for (size_t i = 0; i < r->n_answers && !answered; i++)
            answered = strcmp(r->answers[i]->question_id, q->id) == 0;
        if (!answered)
            tdm_violations_add(v, "answers", "question \"%s\" is required", q->id);
    }
}

/* ---- array literals ------------------------------------------------------------------ */

char *fb_pg_text_array(const char *const *items, size_t n, tdm_arena *arena)
{
    size_t size = 3;
    for (size_t i = 0; i < n; i++)
        size += items[i] == NULL ? 5 : 2 * strlen(items[i]) + 3;
    char *out = tdm_arena_alloc(arena, size);
    if (out == NULL)
        return NULL;
    char *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        if (items[i] == NULL) {
            memcpy(p, "NULL", 4);
            p += 4;
            continue;
        }
        *p++ = '"';
        for (const char *s = items[i]; *s != '\0'; s++) {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

char *fb_pg_int_array(const int32_t *items, size_t n, tdm_arena *arena)
{
    char *out = tdm_arena_alloc(arena, 3 + n * 12);
    if (out == NULL)
        return NULL;
    char *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, i > 0 ? ",%" PRId32 : "%" PRId32, items[i]);
    *p++ = '}';
    *p = '\0';
    return out;
}

char *fb_pg_bool_array(const bool *items, size_t n, tdm_arena *arena)
{
    char *out = tdm_arena_alloc(arena, 3 + n * 2);
    if (out == NULL)
        return NULL;
    char *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            *p++ = ',';
        *p++ = items[i] ? 't' : 'f';
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

/* Timestamps as "YYYY-MM-DD HH:MM:SS.ffffff+00" (PostgreSQL parses them exactly). */
char *fb_pg_us_array(const int64_t *us, size_t n, tdm_arena *arena)
{
    char *out = tdm_arena_alloc(arena, 3 + n * 34);
    if (out == NULL)
        return NULL;
    char *p = out;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        int64_t secs = us[i] / 1000000;
        int64_t frac = us[i] % 1000000;
        if (frac < 0) {
            frac += 1000000;
            secs--;
        }
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        if (i > 0)
            *p++ = ',';
        p += strftime(p, 24, "\"%Y-%m-%d %H:%M:%S", &tm);
        p += sprintf(p, ".%06" PRId64 "+00\"", frac);
    }
    *p++ = '}';
    *p = '\0';
    return out;
}

int64_t fb_timestamp_us(const Google__Protobuf__Timestamp *t)
{
    if (t == NULL)
        return 0;
    return t->seconds * 1000000 + t->nanos / 1000;
}

Google__Protobuf__Timestamp *fb_timestamp_from_us(int64_t us, tdm_arena *arena)
{
    return tdm_timestamp_from_us(us, arena);
}

/* ---- binary arrays of tandem.internal.v1 columns ------------------------------------- */

#define PG_ARRAY_HEADER_BYTES 20u

/* Read with the runtime's tdm_pg_be32 (the byte order of PostgreSQL's binary format). */
static uint32_t get_be32(const uint8_t *p)
{
    return tdm_pg_be32((const char *)p);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Walk n elements of body[0..len): each an int32 length (-1 NULL) and that many
 * bytes, fixed-size types exactly `width`; the walk must end at len. */
static bool pg_array_body_valid(const fb_pg_array *arr, const uint8_t *body, size_t len, size_t n,
                                bool *has_nulls)
{
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        if (len - at < 4)
            return false;
        int32_t el = (int32_t)get_be32(body + at);
        at += 4;
        if (el == -1) {
            *has_nulls = true;
            continue;
        }
        if (el < 0 || (size_t)el > len - at || (arr->width >= 0 && el != arr->width))
            return false;
        at += (size_t)el;
    }
    return at == len;
}

fb_pg_array_result fb_pg_array_append(fb_pg_array *arr, const uint8_t *page, size_t len, size_t n,
                                      size_t max_n, tdm_arena *arena)
{
    if (n > max_n || arr->n > max_n - n)
        return FB_PG_ARRAY_TOO_MANY;
    if (n == 0)
        return len == 0 ? FB_PG_ARRAY_OK : FB_PG_ARRAY_MALFORMED;
    if (len < PG_ARRAY_HEADER_BYTES || get_be32(page) != 1 || get_be32(page + 4) > 1 ||
        get_be32(page + 8) != arr->elemtype || get_be32(page + 12) != n)
        return FB_PG_ARRAY_MALFORMED;
    const uint8_t *body = page + PG_ARRAY_HEADER_BYTES;
    size_t body_len = len - PG_ARRAY_HEADER_BYTES;
    bool nulls = false;
    if (!pg_array_body_valid(arr, body, body_len, n, &nulls))
        return FB_PG_ARRAY_MALFORMED;
    if (arr->buf == NULL)
        arr->len = PG_ARRAY_HEADER_BYTES;
    if (arr->len + body_len > arr->cap) {
        size_t cap = arr->cap == 0 ? 4096 : arr->cap;
        while (cap < arr->len + body_len)
            cap *= 2;
        uint8_t *grown = tdm_arena_alloc(arena, cap);
        if (grown == NULL)
            return FB_PG_ARRAY_NO_MEMORY;
        if (arr->buf != NULL)
            memcpy(grown, arr->buf, arr->len);
        arr->buf = grown;
        arr->cap = cap;
    }
    memcpy(arr->buf + arr->len, body, body_len);
    arr->len += body_len;
    arr->n += n;
    arr->has_nulls = arr->has_nulls || nulls;
    return FB_PG_ARRAY_OK;
}

const uint8_t *fb_pg_array_next(const fb_pg_array *arr, size_t *at, int32_t *len)
{
    if (*at == 0)
        *at = PG_ARRAY_HEADER_BYTES;
    uint32_t n = get_be32(arr->buf + *at);
    *at += 4;
    if (n == 0xFFFFFFFFu) {
        *len = -1;
        return NULL;
    }
    const uint8_t *v = arr->buf + *at;
    *at += n;
    *len = (int32_t)n;
    return v;
}

const char *fb_pg_array_finish(fb_pg_array *arr, int *len, tdm_arena *arena)
{
    if (arr->n == 0) {
        /* An empty array: no dimensions. */
        uint8_t *empty = tdm_arena_calloc(arena, 1, 12);
        if (empty == NULL)
            return NULL;
        put_be32(empty + 8, arr->elemtype);
        *len = 12;
        return (const char *)empty;
    }
    put_be32(arr->buf, 1);
    put_be32(arr->buf + 4, arr->has_nulls ? 1 : 0);
    put_be32(arr->buf + 8, arr->elemtype);
    put_be32(arr->buf + 12, (uint32_t)arr->n);
    put_be32(arr->buf + 16, 1);
    *len = (int)arr->len;
    return (const char *)arr->buf;
}
