/*
 * rows.c - the documents that travel between the store and the messages.
 *
 * The upsert takes participants as binary array parameters, one array a column
 * (array_recv's wire format; unnest turns them into rows), so the server neither
 * parses a jsonb document nor this process writes one; the store's reads
 * answer each row as one json object with snake_case keys and times in Unix
 * microseconds. This file maps both ways, builds the webhook JSON of a participant,
 * and the opaque keyset page tokens.
 */
#include "enrolment.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tandem/timestamp.h"
#include "tandem/json.h"

/* ---- messages -> the upsert's rows, in binary ------------------------------------ */

/* Element types of the columns (pg_type OIDs) and of their arrays. */
#define OID_BOOL 16u
#define OID_INT2 21u
#define OID_INT4 23u
#define OID_TEXT 25u

static const struct {
    uint32_t elem;
    Oid array;
} COLUMN_TYPES[ENROL_ROW_COLUMNS] = {
    [ENROL_COL_ORD] = {OID_INT4, 1007},
    [ENROL_COL_EXTERNAL_ID] = {OID_TEXT, 1009},
    [ENROL_COL_DISPLAY_NAME] = {OID_TEXT, 1009},
    [ENROL_COL_EMAIL] = {OID_TEXT, 1009},
    [ENROL_COL_ROLE] = {OID_INT2, 1005},
    [ENROL_COL_SENIORITY] = {OID_INT4, 1007},
    [ENROL_COL_YEARS] = {OID_INT4, 1007},
    [ENROL_COL_PRACTICE_AREA] = {OID_TEXT, 1009},
    [ENROL_COL_OFFICE] = {OID_TEXT, 1009},
    [ENROL_COL_DEPARTMENT] = {OID_TEXT, 1009},
    [ENROL_COL_REPORTING_CHAIN] = {OID_TEXT, 1009},
    [ENROL_COL_SKILL_NAMES] = {OID_TEXT, 1009},
    [ENROL_COL_SKILL_LEVELS] = {OID_TEXT, 1009},
    [ENROL_COL_INTERESTS] = {OID_TEXT, 1009},
    [ENROL_COL_GOALS] = {OID_TEXT, 1009},
    [ENROL_COL_LANGUAGES] = {OID_TEXT, 1009},
    [ENROL_COL_AVAILABILITY] = {OID_INT4, 1007},
    [ENROL_COL_TIMEZONE] = {OID_TEXT, 1009},
    [ENROL_COL_CAPACITY] = {OID_INT4, 1007},
    [ENROL_COL_CONSENT_DATA] = {OID_BOOL, 1000},
    [ENROL_COL_CONSENT_DIVERSITY] = {OID_BOOL, 1000},
    [ENROL_COL_CONSENT_SECS] = {OID_TEXT, 1009},
    [ENROL_COL_HAS_DIVERSITY] = {OID_BOOL, 1000},
    [ENROL_COL_GENDER] = {OID_TEXT, 1009},
    [ENROL_COL_ETHNICITY] = {OID_TEXT, 1009},
    [ENROL_COL_FIRST_GENERATION] = {OID_BOOL, 1000},
    [ENROL_COL_DISABILITY] = {OID_BOOL, 1000},
    [ENROL_COL_OTHER] = {OID_TEXT, 1009},
};

/* array_recv's header: ndim, has-nulls flag, element type, then per dimension its
 * length and lower bound. Written when the column is finished. */
#define ARRAY_HEADER_BYTES 20u

static void col_reserve(enrol_column *c, size_t more, bool *failed)
{
    if (*failed)
        return;
    if (c->data == NULL) {
        c->cap = 256;
        c->data = malloc(c->cap);
        c->len = ARRAY_HEADER_BYTES;
        if (c->data == NULL) {
            *failed = true;
            return;
        }
    }
    if (c->cap - c->len >= more)
        return;
    size_t cap = c->cap;
    while (cap - c->len < more)
        cap *= 2;
    uint8_t *p = realloc(c->data, cap);
    if (p == NULL) {
        *failed = true;
        return;
    }
    c->data = p;
    c->cap = cap;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One element: its length (-1 for NULL) and bytes. */
static void col_put(enrol_rows *b, int col, const void *v, size_t n, bool null)
{
    enrol_column *c = &b->col[col];
    col_reserve(c, 4 + n, &b->failed);
    if (b->failed)
        return;
    if (n > INT32_MAX) {
        b->failed = true;
        return;
    }
    if (null) {
        put_be32(c->data + c->len, UINT32_MAX);
        c->len += 4;
        c->nulls = true;
        return;
    }
    put_be32(c->data + c->len, (uint32_t)n);
    memcpy(c->data + c->len + 4, v, n);
    c->len += 4 + n;
}

static void col_text(enrol_rows *b, int col, const char *s)
{
    col_put(b, col, s != NULL ? s : "", s != NULL ? strlen(s) : 0, false);
}

static void col_text_or_null(enrol_rows *b, int col, const char *s, bool null)
{
    col_put(b, col, s != NULL ? s : "", s != NULL ? strlen(s) : 0, null);
}

static void col_int4(enrol_rows *b, int col, int32_t v)
{
    uint8_t be[4];
    put_be32(be, (uint32_t)v);
    col_put(b, col, be, 4, false);
}

static void col_int2(enrol_rows *b, int col, int16_t v)
{
    uint8_t be[2] = {(uint8_t)((uint16_t)v >> 8), (uint8_t)v};
    col_put(b, col, be, 2, false);
}

static void col_bool(enrol_rows *b, int col, bool v)
{
    uint8_t x = v ? 1 : 0;
    col_put(b, col, &x, 1, false);
}

static void col_bool_or_null(enrol_rows *b, int col, const Google__Protobuf__BoolValue *v)
{
    uint8_t x = v != NULL && v->value ? 1 : 0;
    col_put(b, col, &x, 1, v == NULL);
}

/* A list as a text[] literal ({"a","b"}), which the statement casts per row: the
 * rows' lists differ in length, which a two-dimensional array cannot hold. */
static void literal_append(tdm_json_writer *w, const char *s)
{
    tdm_json_writer_raw(w, "\"", 1);
    for (const char *p = s != NULL ? s : ""; *p != '\0';) {
        size_t run = strcspn(p, "\"\\");
        tdm_json_writer_raw(w, p, run);
        p += run;
        if (*p != '\0') {
            tdm_json_writer_raw(w, "\\", 1);
            tdm_json_writer_raw(w, p, 1);
            p++;
        }
    }
    tdm_json_writer_raw(w, "\"", 1);
}

static void col_list(enrol_rows *b, int col, char **items, size_t n)
{
    if (n == 0) {
        col_put(b, col, "{}", 2, false);
        return;
    }
    tdm_json_writer w = {0};
    tdm_json_writer_raw(&w, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            tdm_json_writer_raw(&w, ",", 1);
        literal_append(&w, items[i]);
    }
    tdm_json_writer_raw(&w, "}", 1);
    if (w.failed)
        b->failed = true;
    else
        col_put(b, col, w.data, w.len, false);
    free(w.data);
}

static void col_skills(enrol_rows *b, const Tandem__V1__Participant *p)
{
    tdm_json_writer names = {0}, levels = {0};
    tdm_json_writer_raw(&names, "{", 1);
    tdm_json_writer_raw(&levels, "{", 1);
    for (size_t i = 0; i < p->n_skills; i++) {
        if (i > 0) {
            tdm_json_writer_raw(&names, ",", 1);
            tdm_json_writer_raw(&levels, ",", 1);
        }
        literal_append(&names, p->skills[i]->name);
        tdm_json_writer_int(&levels, p->skills[i]->level == 0 ? 3 : p->skills[i]->level);
    }
    tdm_json_writer_raw(&names, "}", 1);
    tdm_json_writer_raw(&levels, "}", 1);
    if (names.failed || levels.failed) {
        b->failed = true;
    } else {
        col_put(b, ENROL_COL_SKILL_NAMES, names.data, names.len, false);
        col_put(b, ENROL_COL_SKILL_LEVELS, levels.data, levels.len, false);
    }
    free(names.data);
    free(levels.data);
}

void enrol_rows_add(enrol_rows *b, const Tandem__V1__Participant *p, int ord)
{
    col_int4(b, ENROL_COL_ORD, ord);
    col_text(b, ENROL_COL_EXTERNAL_ID, p->external_id);
    col_text(b, ENROL_COL_DISPLAY_NAME, p->display_name);
    col_text(b, ENROL_COL_EMAIL, p->email);
    col_int2(b, ENROL_COL_ROLE, (int16_t)p->role);
    col_int4(b, ENROL_COL_SENIORITY, p->seniority_level);
    col_int4(b, ENROL_COL_YEARS, p->years_qualified);
    col_text(b, ENROL_COL_PRACTICE_AREA, p->practice_area);
    col_text(b, ENROL_COL_OFFICE, p->office);
    col_text(b, ENROL_COL_DEPARTMENT, p->department);
    col_list(b, ENROL_COL_REPORTING_CHAIN, p->reporting_chain, p->n_reporting_chain);
    col_skills(b, p);
    col_list(b, ENROL_COL_INTERESTS, p->interests, p->n_interests);
    col_list(b, ENROL_COL_GOALS, p->goals, p->n_goals);
    col_list(b, ENROL_COL_LANGUAGES, p->languages, p->n_languages);
    col_int4(b, ENROL_COL_AVAILABILITY, p->availability_hours_per_month);
    col_text(b, ENROL_COL_TIMEZONE, p->timezone);
    col_int4(b, ENROL_COL_CAPACITY, p->capacity);
    const Tandem__V1__Consent *c = p->consent;
    const Tandem__V1__Diversity *d = p->diversity;
    col_bool(b, ENROL_COL_CONSENT_DATA, c != NULL && c->data_processing);
    col_bool(b, ENROL_COL_CONSENT_DIVERSITY, c != NULL && c->diversity_data);
    /* to_timestamp() of the seconds, in SQL: kept as text, cast there. */
    const Google__Protobuf__Timestamp *t = c != NULL ? c->granted_time : NULL;
    char secs[64] = "";
    if (t != NULL)
        snprintf(secs, sizeof(secs), "%lld.%09d", (long long)t->seconds, (int)t->nanos);
    col_text_or_null(b, ENROL_COL_CONSENT_SECS, secs, t == NULL);
    col_bool(b, ENROL_COL_HAS_DIVERSITY, d != NULL);
    col_text_or_null(b, ENROL_COL_GENDER, d != NULL ? d->gender : NULL, d == NULL);
    col_text_or_null(b, ENROL_COL_ETHNICITY, d != NULL ? d->ethnicity : NULL, d == NULL);
    col_bool_or_null(b, ENROL_COL_FIRST_GENERATION,
                     d != NULL ? d->first_generation_professional : NULL);
    col_bool_or_null(b, ENROL_COL_DISABILITY, d != NULL ? d->disability : NULL);
    col_text_or_null(b, ENROL_COL_OTHER, d != NULL ? d->other : NULL, d == NULL);
    b->n++;
}

void enrol_rows_free(void *arg)
{
    enrol_rows *b = arg;
    for (int i = 0; i < ENROL_ROW_COLUMNS; i++) {
        free(b->col[i].data);
        b->col[i].data = NULL;
    }
}

void enrol_rows_reset(enrol_rows *b)
{
    for (int i = 0; i < ENROL_ROW_COLUMNS; i++) {
        if (b->col[i].data != NULL)
            b->col[i].len = ARRAY_HEADER_BYTES;
        b->col[i].nulls = false;
    }
    b->n = 0;
    b->failed = false;
}

int enrol_rows_finish(enrol_rows *b, const char **values, int *lengths, Oid *types)
{
    if (b->failed || b->n == 0 || b->n > INT32_MAX)
        return -1;
    for (int i = 0; i < ENROL_ROW_COLUMNS; i++) {
        enrol_column *c = &b->col[i];
        if (c->data == NULL || c->len > INT32_MAX)
            return -1;
        put_be32(c->data, 1);
        put_be32(c->data + 4, c->nulls ? 1 : 0);
        put_be32(c->data + 8, COLUMN_TYPES[i].elem);
        put_be32(c->data + 12, (uint32_t)b->n);
        put_be32(c->data + 16, 1);
        values[i] = (const char *)c->data;
        lengths[i] = (int)c->len;
        types[i] = COLUMN_TYPES[i].array;
    }
    return 0;
}

/* ---- rows -> messages ------------------------------------------------------------ */

static char *get_str(json_t *o, const char *key, tdm_arena *a)
{
    const char *s = json_string_value(json_object_get(o, key));
    return tdm_arena_strdup(a, s != NULL ? s : "");
}

static int get_int(json_t *o, const char *key)
{
    return (int)json_integer_value(json_object_get(o, key));
}

static char **get_str_array(json_t *o, const char *key, tdm_arena *a, size_t *n)
{
    json_t *arr = json_object_get(o, key);
    *n = json_is_array(arr) ? json_array_size(arr) : 0;
    if (*n == 0)
        return NULL;
    char **out = tdm_arena_calloc(a, *n, sizeof(*out));
    for (size_t i = 0; out != NULL && i < *n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        out[i] = tdm_arena_strdup(a, s != NULL ? s : "");
    }
    return out;
}

Google__Protobuf__Timestamp *enrol_time_from_us(long long us, tdm_arena *a)
{
    return tdm_timestamp_from_us(us, a);
}

static Google__Protobuf__Timestamp *get_time(json_t *o, const char *key, tdm_arena *a)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? enrol_time_from_us(json_integer_value(v), a) : NULL;
}

static Google__Protobuf__BoolValue *bool_value(bool v, tdm_arena *a)
{
    Google__Protobuf__BoolValue *b = tdm_arena_alloc(a, sizeof(*b));
    if (b == NULL)
        return NULL;
    google__protobuf__bool_value__init(b);
    b->value = v;
    return b;
}

static Google__Protobuf__BoolValue *get_bool_value(json_t *o, const char *key, tdm_arena *a)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? bool_value(json_is_true(v), a) : NULL;
}

static json_t *parse(const char *json, size_t len)
{
    return json_loadb(json, len, JSON_DECODE_ANY, NULL);
}

static void decref_cb(void *p)
{
    json_decref(p);
}

/* p's consent, when any part of it is set; -1 when out of memory. */
static int set_consent(Tandem__V1__Participant *p, bool data_processing, bool diversity_data,
                       Google__Protobuf__Timestamp *granted, tdm_arena *a)
{
    if (!data_processing && !diversity_data && granted == NULL)
        return 0;
    p->consent = tdm_arena_alloc(a, sizeof(*p->consent));
    if (p->consent == NULL)
        return -1;
    tandem__v1__consent__init(p->consent);
    p->consent->data_processing = data_processing;
    p->consent->diversity_data = diversity_data;
    p->consent->granted_time = granted;
    return 0;
}

/* A new, empty diversity record for p; NULL when out of memory. */
static Tandem__V1__Diversity *new_diversity(Tandem__V1__Participant *p, tdm_arena *a)
{
    p->diversity = tdm_arena_alloc(a, sizeof(*p->diversity));
    if (p->diversity != NULL)
        tandem__v1__diversity__init(p->diversity);
    return p->diversity;
}

Tandem__V1__Participant *enrol_participant_from_row(const char *json, size_t len, tdm_arena *a,
                                                    bool include_diversity)
{
    json_t *o = parse(json, len);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    tdm_arena_defer(a, decref_cb, o);
    Tandem__V1__Participant *p = tdm_arena_alloc(a, sizeof(*p));
    if (p == NULL)
        return NULL;
    tandem__v1__participant__init(p);
    p->id = get_str(o, "id", a);
    p->programme_id = get_str(o, "programme_id", a);
    p->external_id = get_str(o, "external_id", a);
    p->display_name = get_str(o, "display_name", a);
    p->email = get_str(o, "email", a);
    p->role = (Tandem__V1__Role)get_int(o, "role");
    p->seniority_level = get_int(o, "seniority_level");
    p->years_qualified = get_int(o, "years_qualified");
    p->practice_area = get_str(o, "practice_area", a);
    p->office = get_str(o, "office", a);
    p->department = get_str(o, "department", a);
    p->reporting_chain = get_str_array(o, "reporting_chain", a, &p->n_reporting_chain);
    p->interests = get_str_array(o, "interests", a, &p->n_interests);
    p->goals = get_str_array(o, "goals", a, &p->n_goals);
    p->languages = get_str_array(o, "languages", a, &p->n_languages);
    size_t n_names = 0;
    char **names = get_str_array(o, "skill_names", a, &n_names);
    json_t *levels = json_object_get(o, "skill_levels");
    if (n_names > 0) {
        p->skills = tdm_arena_calloc(a, n_names, sizeof(*p->skills));
        for (size_t i = 0; p->skills != NULL && i < n_names; i++) {
            Tandem__V1__Skill *s = tdm_arena_alloc(a, sizeof(*s));
            if (s == NULL)
                return NULL;
            tandem__v1__skill__init(s);
            s->name = names[i];
            s->level = (int32_t)json_integer_value(json_array_get(levels, i));
            p->skills[p->n_skills++] = s;
        }
    }
    p->availability_hours_per_month = get_int(o, "availability_hours_per_month");
    p->timezone = get_str(o, "timezone", a);
    p->capacity = get_int(o, "capacity");
    p->status = (Tandem__V1__Participant__Status)get_int(o, "status");
    bool dp = json_is_true(json_object_get(o, "consent_data_processing"));
    bool dd = json_is_true(json_object_get(o, "consent_diversity_data"));
    if (set_consent(p, dp, dd, get_time(o, "consent_granted_us", a), a) != 0)
        return NULL;
    json_t *d = json_object_get(o, "diversity");
    if (include_diversity && json_is_object(d)) {
        if (new_diversity(p, a) == NULL)
            return NULL;
        p->diversity->gender = get_str(d, "gender", a);
        p->diversity->ethnicity = get_str(d, "ethnicity", a);
        p->diversity->other = get_str(d, "other", a);
        p->diversity->first_generation_professional =
            get_bool_value(d, "first_generation_professional", a);
        p->diversity->disability = get_bool_value(d, "disability", a);
    }
    p->create_time = get_time(o, "create_us", a);
    p->update_time = get_time(o, "update_us", a);
    p->withdraw_time = get_time(o, "withdraw_us", a);
    p->withdraw_reason = get_str(o, "withdraw_reason", a);
    return p;
}

/* ---- the upsert's answer -> messages ---------------------------------------------- */

static char *text_or_empty(char *s)
{
    return s != NULL ? s : (char *)"";
}

static Google__Protobuf__Timestamp *time_or_null(const char *us, tdm_arena *a, bool *failed)
{
    if (us == NULL)
        return NULL;
    Google__Protobuf__Timestamp *t = enrol_time_from_us(strtoll(us, NULL, 10), a);
    *failed = *failed || t == NULL;
    return t;
}

/*
 * Only the stored columns are taken from `sent` (what the document carried), each into
 * a fresh message, so nothing else the request held (output-only fields, unknown
 * fields) can reach the response: the result equals what reading the row back gives.
 */
Tandem__V1__Participant *enrol_participant_stored(const Tandem__V1__Participant *sent,
                                                  const enrol_stored_columns *col,
                                                  bool include_diversity, tdm_arena *a)
{
    Tandem__V1__Participant *p = tdm_arena_alloc(a, sizeof(*p));
    if (p == NULL)
        return NULL;
    tandem__v1__participant__init(p);
    bool failed = false;
    p->id = tdm_arena_strdup(a, col->id);
    p->programme_id = tdm_arena_strdup(a, col->programme_id);
    p->external_id = text_or_empty(sent->external_id);
    p->display_name = text_or_empty(sent->display_name);
    p->email = text_or_empty(sent->email);
    p->role = sent->role;
    p->seniority_level = sent->seniority_level;
    p->years_qualified = sent->years_qualified;
    p->practice_area = text_or_empty(sent->practice_area);
    p->office = text_or_empty(sent->office);
    p->department = text_or_empty(sent->department);
    p->n_reporting_chain = sent->n_reporting_chain;
    p->reporting_chain = sent->reporting_chain;
    p->n_interests = sent->n_interests;
    p->interests = sent->interests;
    p->n_goals = sent->n_goals;
    p->goals = sent->goals;
    p->n_languages = sent->n_languages;
    p->languages = sent->languages;
    if (sent->n_skills > 0) {
        p->skills = tdm_arena_calloc(a, sent->n_skills, sizeof(*p->skills));
        for (size_t i = 0; p->skills != NULL && i < sent->n_skills; i++) {
            Tandem__V1__Skill *k = tdm_arena_alloc(a, sizeof(*k));
            if (k == NULL)
                return NULL;
            tandem__v1__skill__init(k);
            k->name = text_or_empty(sent->skills[i]->name);
            k->level = sent->skills[i]->level == 0 ? 3 : sent->skills[i]->level; /* as written */
            p->skills[p->n_skills++] = k;
        }
        failed = failed || p->skills == NULL;
    }
    p->availability_hours_per_month = sent->availability_hours_per_month;
    p->timezone = text_or_empty(sent->timezone);
    p->capacity = sent->capacity;
    p->status = (Tandem__V1__Participant__Status)atoi(col->status);
    const Tandem__V1__Consent *c = sent->consent;
    bool dp = c != NULL && c->data_processing, dd = c != NULL && c->diversity_data;
    Google__Protobuf__Timestamp *granted = time_or_null(col->consent_granted_us, a, &failed);
    if (set_consent(p, dp, dd, granted, a) != 0)
        return NULL;
    const Tandem__V1__Diversity *d = sent->diversity;
    if (include_diversity && d != NULL) {
        if (new_diversity(p, a) == NULL)
            return NULL;
        p->diversity->gender = text_or_empty(d->gender);
        p->diversity->ethnicity = text_or_empty(d->ethnicity);
        p->diversity->other = text_or_empty(d->other);
        const Google__Protobuf__BoolValue *fgp = d->first_generation_professional;
        const Google__Protobuf__BoolValue *disability = d->disability;
        if (fgp != NULL) {
            p->diversity->first_generation_professional = bool_value(fgp->value, a);
            failed = failed || p->diversity->first_generation_professional == NULL;
        }
        if (disability != NULL) {
            p->diversity->disability = bool_value(disability->value, a);
            failed = failed || p->diversity->disability == NULL;
        }
    }
    p->create_time = time_or_null(col->create_us, a, &failed);
    p->update_time = time_or_null(col->update_us, a, &failed);
    p->withdraw_time = time_or_null(col->withdraw_us, a, &failed);
    p->withdraw_reason =
        tdm_arena_strdup(a, col->withdraw_reason != NULL ? col->withdraw_reason : "");
    if (failed || p->id == NULL || p->programme_id == NULL || p->withdraw_reason == NULL)
        return NULL;
    return p;
}

static Google__Protobuf__Int32Value *get_int_value(json_t *o, const char *key, tdm_arena *a)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return NULL;
    Google__Protobuf__Int32Value *w = tdm_arena_alloc(a, sizeof(*w));
    if (w == NULL)
        return NULL;
    google__protobuf__int32_value__init(w);
    w->value = (int32_t)json_integer_value(v);
    return w;
}

static double get_double(json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static Tandem__V1__MatchingPolicy *policy_from_row(json_t *o, tdm_arena *a)
{
    Tandem__V1__MatchingPolicy *mp = tdm_arena_alloc(a, sizeof(*mp));
    if (mp == NULL)
        return NULL;
    tandem__v1__matching_policy__init(mp);
    if (json_is_true(json_object_get(o, "weights_set"))) {
        Tandem__V1__CriterionWeights *w = tdm_arena_alloc(a, sizeof(*w));
        if (w == NULL)
            return NULL;
        tandem__v1__criterion_weights__init(w);
        w->skills = get_double(o, "w_skills");
        w->interests = get_double(o, "w_interests");
        w->objectives = get_double(o, "w_objectives");
        w->availability = get_double(o, "w_availability");
        w->language = get_double(o, "w_language");
        w->seniority = get_double(o, "w_seniority");
        w->perspective = get_double(o, "w_perspective");
        w->background = get_double(o, "w_background");
        mp->weights = w;
    }
    mp->min_score = get_double(o, "min_score");
    mp->default_mentor_capacity = get_int(o, "default_mentor_capacity");
    Google__Protobuf__Int32Value *lo = get_int_value(o, "gap_min", a);
    Google__Protobuf__Int32Value *hi = get_int_value(o, "gap_max", a);
    if (lo != NULL || hi != NULL) {
        mp->seniority_gap = tdm_arena_alloc(a, sizeof(*mp->seniority_gap));
        if (mp->seniority_gap == NULL)
            return NULL;
        tandem__v1__seniority_gap__init(mp->seniority_gap);
        mp->seniority_gap->min = lo;
        mp->seniority_gap->max = hi;
    }
    mp->forbid_same_department = json_is_true(json_object_get(o, "forbid_same_department"));
    mp->forbid_reporting_line = get_bool_value(o, "forbid_reporting_line", a);
    mp->require_shared_language = json_is_true(json_object_get(o, "require_shared_language"));
    mp->objective = (Tandem__V1__MatchingObjective)get_int(o, "objective");
    return mp;
}

Tandem__V1__Programme *enrol_programme_from_row(const char *json, size_t len, tdm_arena *a)
{
    json_t *o = parse(json, len);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    tdm_arena_defer(a, decref_cb, o);
    Tandem__V1__Programme *p = tdm_arena_alloc(a, sizeof(*p));
    if (p == NULL)
        return NULL;
    tandem__v1__programme__init(p);
    p->id = get_str(o, "id", a);
    p->name = get_str(o, "name", a);
    p->description = get_str(o, "description", a);
    p->kind = (Tandem__V1__ProgrammeKind)get_int(o, "kind");
    p->status = (Tandem__V1__Programme__Status)get_int(o, "status");
    json_t *objs = json_object_get(o, "objectives");
    size_t n = json_is_array(objs) ? json_array_size(objs) : 0;
    if (n > 0) {
        p->objectives = tdm_arena_calloc(a, n, sizeof(*p->objectives));
        for (size_t i = 0; p->objectives != NULL && i < n; i++) {
            json_t *ob = json_array_get(objs, i);
            Tandem__V1__Objective *x = tdm_arena_alloc(a, sizeof(*x));
            if (x == NULL)
                return NULL;
            tandem__v1__objective__init(x);
            x->key = get_str(ob, "key", a);
            x->title = get_str(ob, "title", a);
            x->description = get_str(ob, "description", a);
            p->objectives[p->n_objectives++] = x;
        }
    }
    p->start_date = get_str(o, "start_date", a);
    p->end_date = get_str(o, "end_date", a);
    p->check_in_cadence_days = get_int(o, "check_in_cadence_days");
    p->anonymity_threshold = get_int(o, "anonymity_threshold");
    p->matching_policy = policy_from_row(o, a);
    p->create_time = get_time(o, "create_us", a);
    p->update_time = get_time(o, "update_us", a);
    p->mentor_count = get_int(o, "mentor_count");
    p->mentee_count = get_int(o, "mentee_count");
    if (json_is_string(json_object_get(o, "template_id"))) {
        p->template_ = tdm_arena_alloc(a, sizeof(*p->template_));
        if (p->template_ == NULL)
            return NULL;
        tandem__v1__template_ref__init(p->template_);
        p->template_->id = get_str(o, "template_id", a);
        p->template_->version = get_int(o, "template_version");
    }
    return p;
}

/* ---- templates ------------------------------------------------------------------ */

Tandem__V1__ProgrammeTemplate *enrol_template_from_row(const char *json, size_t len, tdm_arena *a)
{
    json_t *o = parse(json, len);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    tdm_arena_defer(a, decref_cb, o);
    size_t body_len = 0;
    char *body = tdm_json_dump(json_object_get(o, "body"), a, &body_len);
    ProtobufCMessage *msg = NULL;
    tdm_status *st = body != NULL ? tdm_json_decode(&tandem__v1__programme_template__descriptor,
                                                    body, body_len, a, &msg)
                                  : tdm_store_oom();
    if (st != NULL) {
        tdm_status_free(st);
        return NULL;
    }
    Tandem__V1__ProgrammeTemplate *t = (Tandem__V1__ProgrammeTemplate *)msg;
    t->id = get_str(o, "id", a);
    t->version = get_int(o, "version");
    t->create_time = get_time(o, "create_us", a);
    t->update_time = get_time(o, "update_us", a);
    return t->id != NULL ? t : NULL;
}

char *enrol_template_body_json(const Tandem__V1__ProgrammeTemplate *t, tdm_arena *a)
{
    Tandem__V1__ProgrammeTemplate body = *t;
    body.id = (char *)"";
    body.version = 0;
    body.create_time = NULL;
    body.update_time = NULL;
    return tdm_json_encode(&body.base, a, NULL);
}

char *enrol_schedule_document(const Tandem__V1__ProgrammeTemplate *t, tdm_arena *a)
{
    tdm_json_writer w = {0};
    tdm_json_writer_raw(&w, "[", 1);
    for (size_t i = 0; i < t->n_surveys; i++) {
        if (i > 0)
            tdm_json_writer_raw(&w, ",", 1);
        tdm_json_writer_raw(&w, "{\"ordinal\":", 11);
        tdm_json_writer_int(&w, (long long)i);
        tdm_json_writer_raw(&w, ",\"open_day\":", 12);
        tdm_json_writer_int(&w, t->surveys[i]->open_day);
        tdm_json_writer_raw(&w, ",\"survey\":", 10);
        tdm_json_writer_message(&w, &t->surveys[i]->survey->base);
        tdm_json_writer_raw(&w, "}", 1);
    }
    tdm_json_writer_raw(&w, "]", 1);
    return tdm_json_writer_finish(&w, a, NULL);
}

char *enrol_objectives_json(const Tandem__V1__Programme *p, tdm_arena *a)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < p->n_objectives; i++) {
        const Tandem__V1__Objective *o = p->objectives[i];
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "key", o->key, "title", o->title,
                                             "description", o->description));
    }
    char *s = arr != NULL ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    if (s == NULL)
        return NULL;
    char *out = tdm_arena_strdup(a, s);
    free(s);
    return out;
}

char *enrol_participant_event_json(const Tandem__V1__Participant *p, tdm_arena *a)
{
    Tandem__V1__Participant copy = *p;
    copy.diversity = NULL; /* special-category data never leaves in an event */
    tdm_json_writer w = {0};
    tdm_json_writer_raw(&w, "{\"participant\":", 15);
    tdm_json_writer_message(&w, &copy.base);
    tdm_json_writer_raw(&w, "}", 1);
    return tdm_json_writer_finish(&w, a, NULL);
}

int enrol_person_hash(const char *key, const char *tenant_id, const char *external_id,
                      uint8_t out[32])
{
    size_t t_len = strlen(tenant_id), e_len = strlen(external_id);
    unsigned int len = 0;
    unsigned char *msg = malloc(t_len + e_len + 1);
    int rc = -1;
    memset(out, 0, 32);
    if (key == NULL || msg == NULL)
        goto done;
    memcpy(msg, tenant_id, t_len);
    memcpy(msg + t_len, external_id, e_len);
    if (HMAC(EVP_sha256(), key, (int)strlen(key), msg, t_len + e_len, out, &len) != NULL &&
        len == 32)
        rc = 0;
done:
    free(msg);
    return rc;
}

Tandem__V1__Participant *enrol_participant_feedback_view(const Tandem__V1__Participant *p,
                                                         tdm_arena *a)
{
    Tandem__V1__Participant *out = tdm_arena_alloc(a, sizeof(*out));
    if (out == NULL)
        return NULL;
    tandem__v1__participant__init(out);
    out->id = p->id;
    out->programme_id = p->programme_id;
    out->role = p->role;
    out->status = p->status;
    return out;
}
