/*
 * validate.c - the enrolment service's input rules (API.md "EnrolmentService" and
 * the field comments of enrolment.proto): required fields, enum values, ranges,
 * lengths in characters, list sizes and duplicates, e-mail syntax, IANA time zones,
 * dates, and the merging of update masks. Pure functions: every refusal is a field
 * violation whose path uses proto field names ("participant.skills[2].level").
 *
 * Time zones are checked against the system tzdata (tzdata.zi: zone "Z" and link
 * "L" lines), read once at start-up into a sorted array.
 */
#include "enrolment.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TZDATA_ZI         "/usr/share/zoneinfo/tzdata.zi"
#define TZ_NAMES_MAX      4096
#define EMAIL_LOCAL_MAX   64u
#define EMAIL_LABEL_MAX   63u
#define DESCRIPTION_MAX   5000u
#define OBJ_DESC_MAX      2000u
#define DIVERSITY_MAX     100u
#define DIVERSITY_OTHER   500u
#define OBJECTIVE_KEY_MAX 64u

static char **tz_names;
static size_t tz_count;
static bool tz_loaded;

static bool email_atext(char c)
{
    return isalnum((unsigned char)c) || strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL;
}

bool enrol_email_valid(const char *s)
{
    size_t len = strlen(s);
    const char *at = strrchr(s, '@');
    if (len > ENROL_MAX_EMAIL_BYTES || at == NULL || at == s)
        return false;
    size_t local_len = (size_t)(at - s);
    if (local_len > EMAIL_LOCAL_MAX || s[0] == '.' || at[-1] == '.')
        return false;
    for (size_t i = 0; i < local_len; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (!email_atext(s[i])) {
            return false;
        }
    }
    /* The domain: at least two labels of letters, digits and inner hyphens; the
     * last one (the TLD) not all digits. */
    const char *d = at + 1;
    size_t labels = 0;
    bool tld_has_alpha = false;
    while (*d != '\0') {
        const char *end = strchr(d, '.');
        size_t n = end != NULL ? (size_t)(end - d) : strlen(d);
        if (n == 0 || n > EMAIL_LABEL_MAX || d[0] == '-' || d[n - 1] == '-')
            return false;
        tld_has_alpha = false;
        for (size_t i = 0; i < n; i++) {
            if (!isalnum((unsigned char)d[i]) && d[i] != '-')
                return false;
            if (isalpha((unsigned char)d[i]))
                tld_has_alpha = true;
        }
        labels++;
        if (end == NULL)
            break;
        d = end + 1;
        if (*d == '\0')
            return false;
    }
    return labels >= 2 && tld_has_alpha;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void tz_add(const char *name)
{
    if (tz_count >= TZ_NAMES_MAX)
        return;
    char *copy = strdup(name);
    if (copy != NULL)
        tz_names[tz_count++] = copy;
}

void enrol_timezones_load(void)
{
    if (tz_loaded)
        return;
    tz_loaded = true;
    tz_names = calloc(TZ_NAMES_MAX, sizeof(*tz_names));
    FILE *f = fopen(TZDATA_ZI, "r");
    if (tz_names == NULL || f == NULL) {
        if (f != NULL)
            fclose(f);
        return;
    }
    char line[512];
    while (fgets(line, sizeof(line), f) != NULL) {
        char a[256], b[256];
        if (line[0] == 'Z' && sscanf(line, "Z %255s", a) == 1)
            tz_add(a);
        else if (line[0] == 'L' && sscanf(line, "L %255s %255s", a, b) == 2)
            tz_add(b);
    }
    fclose(f);
    qsort(tz_names, tz_count, sizeof(*tz_names), cmp_str);
}

static bool tz_syntax_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > ENROL_MAX_TZ_BYTES || s[0] == '/' || strstr(s, "..") != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && strchr("/_+-", s[i]) == NULL)
            return false;
    }
    return true;
}

bool enrol_timezone_valid(const char *s)
{
    if (!tz_syntax_ok(s))
        return false;
    enrol_timezones_load();
    if (tz_count > 0)
        return bsearch(&s, tz_names, tz_count, sizeof(*tz_names), cmp_str) != NULL;
    /* No tzdata.zi (a slim image): accept a compiled zone file that exists. */
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", s);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool enrol_date_valid(const char *s)
{
    static const int days_in_month[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    }
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return false;
    int max = days_in_month[m - 1];
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        max = 29;
    return d <= max;
}

/* ---- helpers for violations ----------------------------------------------------- */

static char *path_of(char *buf, size_t cap, const char *prefix, const char *field)
{
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(buf, cap, "%s", field);
    else
        snprintf(buf, cap, "%s.%s", prefix, field);
    return buf;
}

/* A string of at most max characters; required: at least one. */
static void check_text(tdm_violations *v, const char *prefix, const char *field, const char *s,
                       size_t max, bool required)
{
    char path[256];
    size_t n = tdm_utf8_chars(s);
    if (n == SIZE_MAX)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, field), "must be valid UTF-8");
    else if (required && n == 0)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, field), "is required");
    else if (n > max)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, field),
                           "must be at most %zu characters", max);
}

static void check_range(tdm_violations *v, const char *prefix, const char *field, long value,
                        long lo, long hi)
{
    char path[256];
    if (value < lo || value > hi)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, field),
                           "must be between %ld and %ld", lo, hi);
}

/* A list of strings: count, each length, no empty item, no duplicate
 * (case-insensitive, as the matching engine compares them). */
static void check_list(tdm_violations *v, const char *prefix, const char *field, char **items,
                       size_t n, size_t max_items, size_t max_chars)
{
    char path[256], item[300];
    path_of(path, sizeof(path), prefix, field);
    if (n > max_items) {
        tdm_violations_add(v, path, "must have at most %zu items", max_items);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(item, sizeof(item), "%s[%zu]", path, i);
        size_t chars = tdm_utf8_chars(items[i]);
        if (chars == SIZE_MAX)
            tdm_violations_add(v, item, "must be valid UTF-8");
        else if (chars == 0)
            tdm_violations_add(v, item, "must not be empty");
        else if (chars > max_chars)
            tdm_violations_add(v, item, "must be at most %zu characters", max_chars);
        for (size_t j = 0; j < i; j++) {
            if (strcasecmp(items[i], items[j]) == 0) {
                tdm_violations_add(v, item, "duplicates %s[%zu]", path, j);
                break;
            }
        }
    }
}

/* ---- programmes ----------------------------------------------------------------- */

static bool objective_key_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > OBJECTIVE_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_' ||
              s[i] == '-'))
            return false;
    }
    return true;
}

static void check_weight(tdm_violations *v, const char *prefix, const char *name, double w)
{
    char path[256];
    if (!(w >= 0 && w <= 100))
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, name),
                           "must be between 0 and 100");
}

static void validate_policy(const Tandem__V1__MatchingPolicy *mp, const char *prefix,
                            tdm_violations *v)
{
    char p[256], sub[256];
    path_of(p, sizeof(p), prefix, "matching_policy");
    if (mp->weights != NULL) {
        const Tandem__V1__CriterionWeights *w = mp->weights;
        path_of(sub, sizeof(sub), p, "weights");
        check_weight(v, sub, "skills", w->skills);
        check_weight(v, sub, "interests", w->interests);
        check_weight(v, sub, "objectives", w->objectives);
        check_weight(v, sub, "availability", w->availability);
        check_weight(v, sub, "language", w->language);
        check_weight(v, sub, "seniority", w->seniority);
        check_weight(v, sub, "perspective", w->perspective);
        check_weight(v, sub, "background", w->background);
        double sum = w->skills + w->interests + w->objectives + w->availability + w->language +
                     w->seniority + w->perspective + w->background;
        if (!(sum > 0))
            tdm_violations_add(v, sub, "at least one weight must be above 0");
    }
    if (!(mp->min_score >= 0 && mp->min_score <= 100))
        tdm_violations_add(v, path_of(sub, sizeof(sub), p, "min_score"),
                           "must be between 0 and 100");
    check_range(v, p, "default_mentor_capacity", mp->default_mentor_capacity, 0, 50);
    if (mp->seniority_gap != NULL) {
        path_of(sub, sizeof(sub), p, "seniority_gap");
        const Google__Protobuf__Int32Value *lo = mp->seniority_gap->min;
        const Google__Protobuf__Int32Value *hi = mp->seniority_gap->max;
        if (lo != NULL)
            check_range(v, sub, "min", lo->value, 0, 10);
        if (hi != NULL)
            check_range(v, sub, "max", hi->value, 0, 10);
        if (lo != NULL && hi != NULL && lo->value > hi->value) {
            char f[300];
            tdm_violations_add(v, path_of(f, sizeof(f), sub, "max"), "must be at least min");
        }
    }
    switch (mp->objective) {
    case TANDEM__V1__MATCHING_OBJECTIVE__MATCHING_OBJECTIVE_UNSPECIFIED:
    case TANDEM__V1__MATCHING_OBJECTIVE__MAX_PARTICIPATION:
    case TANDEM__V1__MATCHING_OBJECTIVE__MAX_SCORE:
    case TANDEM__V1__MATCHING_OBJECTIVE__MAXIMIN:
        break;
    default:
        tdm_violations_add(v, path_of(sub, sizeof(sub), p, "objective"), "unknown value %d",
                           (int)mp->objective);
    }
}

void enrol_validate_programme(const Tandem__V1__Programme *p, const char *prefix, tdm_violations *v)
{
    char path[256];
    check_text(v, prefix, "name", p->name, ENROL_MAX_NAME_CHARS, true);
    check_text(v, prefix, "description", p->description, DESCRIPTION_MAX, false);
    if (p->kind < TANDEM__V1__PROGRAMME_KIND__REVERSE || p->kind > TANDEM__V1__PROGRAMME_KIND__PEER)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "kind"),
                           p->kind == 0 ? "is required (REVERSE, TRADITIONAL or PEER)"
                                        : "must be REVERSE, TRADITIONAL or PEER");
    if ((int)p->status < 0 || p->status > TANDEM__V1__PROGRAMME__STATUS__CLOSED)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "status"), "unknown value %d",
                           (int)p->status);
    if (p->n_objectives > ENROL_MAX_OBJECTIVES) {
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "objectives"),
                           "must have at most %u items", ENROL_MAX_OBJECTIVES);
    } else {
        for (size_t i = 0; i < p->n_objectives; i++) {
            char item[300];
            const Tandem__V1__Objective *o = p->objectives[i];
            snprintf(item, sizeof(item), "%s[%zu]",
                     path_of(path, sizeof(path), prefix, "objectives"), i);
            if (!objective_key_ok(o->key)) {
                char f[320];
                tdm_violations_add(v, path_of(f, sizeof(f), item, "key"),
                                   "must be 1 to 64 characters of a-z, 0-9, _ and -");
            }
            for (size_t j = 0; j < i; j++) {
                if (strcmp(o->key, p->objectives[j]->key) == 0) {
                    char f[320];
                    tdm_violations_add(v, path_of(f, sizeof(f), item, "key"),
                                       "duplicates objectives[%zu].key", j);
                    break;
                }
            }
            check_text(v, item, "title", o->title, ENROL_MAX_NAME_CHARS, true);
            check_text(v, item, "description", o->description, OBJ_DESC_MAX, false);
        }
    }
    bool start_ok = p->start_date[0] == '\0' || enrol_date_valid(p->start_date);
    bool end_ok = p->end_date[0] == '\0' || enrol_date_valid(p->end_date);
    if (!start_ok)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "start_date"),
                           "must be a date YYYY-MM-DD");
    if (!end_ok)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "end_date"),
                           "must be a date YYYY-MM-DD");
    if (start_ok && end_ok && p->start_date[0] != '\0' && p->end_date[0] != '\0' &&
        strcmp(p->end_date, p->start_date) <= 0)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "end_date"),
                           "must be after start_date");
    if (p->check_in_cadence_days != 0)
        check_range(v, prefix, "check_in_cadence_days", p->check_in_cadence_days, 1, 365);
    if (p->anonymity_threshold != 0)
        check_range(v, prefix, "anonymity_threshold", p->anonymity_threshold,
                    ENROL_MIN_ANONYMITY_THRESHOLD, ENROL_MAX_ANONYMITY_THRESHOLD);
    if (p->matching_policy != NULL)
        validate_policy(p->matching_policy, prefix, v);
}

/* ---- participants --------------------------------------------------------------- */

void enrol_validate_participant(const Tandem__V1__Participant *p, const char *prefix,
                                tdm_violations *v)
{
    char path[256];
    check_text(v, prefix, "external_id", p->external_id, ENROL_MAX_NAME_CHARS, true);
    check_text(v, prefix, "display_name", p->display_name, ENROL_MAX_NAME_CHARS, true);
    if (p->email[0] != '\0' && !enrol_email_valid(p->email))
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "email"),
                           "must be an e-mail address");
    if (p->role != TANDEM__V1__ROLE__MENTOR && p->role != TANDEM__V1__ROLE__MENTEE)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "role"),
                           p->role == 0 ? "is required (MENTOR or MENTEE)"
                                        : "must be MENTOR or MENTEE");
    check_range(v, prefix, "seniority_level", p->seniority_level, 0, 10);
    check_range(v, prefix, "years_qualified", p->years_qualified, 0, 70);
    check_text(v, prefix, "practice_area", p->practice_area, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "office", p->office, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "department", p->department, ENROL_MAX_NAME_CHARS, false);
    check_list(v, prefix, "reporting_chain", p->reporting_chain, p->n_reporting_chain,
               ENROL_MAX_CHAIN_ITEMS, ENROL_MAX_NAME_CHARS);
    check_list(v, prefix, "interests", p->interests, p->n_interests, ENROL_MAX_LIST_ITEMS,
               ENROL_MAX_ITEM_CHARS);
    check_list(v, prefix, "goals", p->goals, p->n_goals, ENROL_MAX_LIST_ITEMS,
               ENROL_MAX_ITEM_CHARS);
    check_list(v, prefix, "languages", p->languages, p->n_languages, ENROL_MAX_LIST_ITEMS,
               ENROL_MAX_ITEM_CHARS);
    path_of(path, sizeof(path), prefix, "skills");
    if (p->n_skills > ENROL_MAX_LIST_ITEMS) {
        tdm_violations_add(v, path, "must have at most %u items", ENROL_MAX_LIST_ITEMS);
    } else {
        for (size_t i = 0; i < p->n_skills; i++) {
            char item[300];
            snprintf(item, sizeof(item), "%s[%zu]", path, i);
            check_text(v, item, "name", p->skills[i]->name, ENROL_MAX_ITEM_CHARS, true);
            if (p->skills[i]->level != 0)
                check_range(v, item, "level", p->skills[i]->level, 1, 5);
            for (size_t j = 0; j < i; j++) {
                if (strcasecmp(p->skills[i]->name, p->skills[j]->name) == 0) {
                    char f[320];
                    tdm_violations_add(v, path_of(f, sizeof(f), item, "name"),
                                       "duplicates %s[%zu].name", path, j);
                    break;
                }
            }
        }
    }
    if (p->availability_hours_per_month < 0)
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "availability_hours_per_month"),
                           "must be at least 0");
    else
        check_range(v, prefix, "availability_hours_per_month", p->availability_hours_per_month, 0,
                    200);
    if (p->timezone[0] != '\0' && !enrol_timezone_valid(p->timezone))
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "timezone"),
                           "must be an IANA time zone name such as Europe/London");
    /* API.md: capacity 1-20 when given; 0 means the programme's default. */
    if (p->capacity != 0)
        check_range(v, prefix, "capacity", p->capacity, 1, 20);
    if (p->diversity != NULL) {
        char d[256];
        path_of(d, sizeof(d), prefix, "diversity");
        check_text(v, d, "gender", p->diversity->gender, DIVERSITY_MAX, false);
        check_text(v, d, "ethnicity", p->diversity->ethnicity, DIVERSITY_MAX, false);
        check_text(v, d, "other", p->diversity->other, DIVERSITY_OTHER, false);
    }
}

tdm_status *enrol_check_diversity_consent(const Tandem__V1__Participant *p, const char *prefix)
{
    if (p->diversity == NULL || (p->consent != NULL && p->consent->diversity_data))
        return NULL;
    char path[256];
    tdm_status *st =
        tdm_status_new(TDM_FAILED_PRECONDITION, "diversity data needs consent.diversity_data");
    return tdm_status_add_violation(st, path_of(path, sizeof(path), prefix, "diversity"),
                                    "given without consent.diversity_data");
}

/* ---- update masks --------------------------------------------------------------- */

/* "checkInCadenceDays" -> "check_in_cadence_days" (proto names pass unchanged). */
static char *snake_case(const char *s, tdm_arena *a)
{
    size_t n = strlen(s);
    char *out = tdm_arena_alloc(a, 2 * n + 1);
    if (out == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (isupper((unsigned char)s[i])) {
            out[j++] = '_';
            out[j++] = (char)tolower((unsigned char)s[i]);
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

tdm_status *enrol_mask_paths(const Google__Protobuf__FieldMask *mask, tdm_arena *a, char ***paths,
                             size_t *n)
{
    *paths = NULL;
    *n = 0;
    if (mask == NULL || mask->n_paths == 0 ||
        (mask->n_paths == 1 && strcmp(mask->paths[0], "*") == 0))
        return NULL;
    char **out = tdm_arena_calloc(a, mask->n_paths, sizeof(*out));
    if (out == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < mask->n_paths; i++) {
        out[i] = snake_case(mask->paths[i], a);
        if (out[i] == NULL)
            return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    }
    *paths = out;
    *n = mask->n_paths;
    return NULL;
}

static tdm_status *bad_path(const char *path, const char *why)
{
    return tdm_status_add_violation(tdm_status_new(TDM_INVALID_ARGUMENT, "invalid update_mask"),
                                    "update_mask", "\"%s\" %s", path, why);
}

#define MERGE_FIELD(name)                                                                          \
    if (all || strcmp(path, #name) == 0) {                                                         \
        dst->name = src->name;                                                                     \
        matched = true;                                                                            \
    }

static tdm_status *merge_policy_field(Tandem__V1__MatchingPolicy *dst,
                                      const Tandem__V1__MatchingPolicy *src, const char *path)
{
    bool all = false, matched = false;
    MERGE_FIELD(weights)
    MERGE_FIELD(min_score)
    MERGE_FIELD(default_mentor_capacity)
    MERGE_FIELD(seniority_gap)
    MERGE_FIELD(forbid_same_department)
    MERGE_FIELD(forbid_reporting_line)
    MERGE_FIELD(require_shared_language)
    MERGE_FIELD(objective)
    return matched ? NULL : bad_path(path, "is not a field of matching_policy");
}

tdm_status *enrol_merge_programme(Tandem__V1__Programme *dst, const Tandem__V1__Programme *src,
                                  char **paths, size_t n, tdm_arena *a)
{
    static const char *const read_only[] = {"id", "create_time", "update_time", "mentor_count",
                                            "mentee_count"};
    for (size_t i = 0; i < (n == 0 ? 1 : n); i++) {
        bool all = n == 0, matched = false;
        const char *path = all ? "*" : paths[i];
        for (size_t k = 0; !all && k < sizeof(read_only) / sizeof(*read_only); k++) {
            if (strcmp(path, read_only[k]) == 0)
                return bad_path(path, "is output only");
        }
        MERGE_FIELD(name)
        MERGE_FIELD(description)
        MERGE_FIELD(kind)
        MERGE_FIELD(start_date)
        MERGE_FIELD(end_date)
        MERGE_FIELD(check_in_cadence_days)
        MERGE_FIELD(anonymity_threshold)
        MERGE_FIELD(matching_policy)
        if (all || strcmp(path, "objectives") == 0) {
            dst->n_objectives = src->n_objectives;
            dst->objectives = src->objectives;
            matched = true;
        }
        /* An unset status in a full replacement keeps the current one. */
        if ((all && src->status != 0) || strcmp(path, "status") == 0) {
            dst->status = src->status;
            matched = true;
        }
        if (!all && strncmp(path, "matching_policy.", 16) == 0) {
            if (dst->matching_policy == NULL) {
                dst->matching_policy = tdm_arena_alloc(a, sizeof(*dst->matching_policy));
                if (dst->matching_policy == NULL)
                    return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
                tandem__v1__matching_policy__init(dst->matching_policy);
            }
            Tandem__V1__MatchingPolicy empty = TANDEM__V1__MATCHING_POLICY__INIT;
            tdm_status *st =
                merge_policy_field(dst->matching_policy,
                                   src->matching_policy ? src->matching_policy : &empty, path + 16);
            if (st != NULL)
                return st;
            matched = true;
        }
        if (!matched && !all)
            return bad_path(path, "is not a writable field of Programme");
    }
    return NULL;
}

tdm_status *enrol_merge_participant(Tandem__V1__Participant *dst,
                                    const Tandem__V1__Participant *src, char **paths, size_t n,
                                    tdm_arena *a)
{
    static const char *const read_only[] = {
        "id",          "programme_id", "external_id",   "status",
        "create_time", "update_time",  "withdraw_time", "withdraw_reason"};
    (void)a;
    for (size_t i = 0; i < (n == 0 ? 1 : n); i++) {
        bool all = n == 0, matched = false;
        const char *path = all ? "*" : paths[i];
        for (size_t k = 0; !all && k < sizeof(read_only) / sizeof(*read_only); k++) {
            if (strcmp(path, read_only[k]) == 0)
                return bad_path(path, "cannot be changed");
        }
        MERGE_FIELD(display_name)
        MERGE_FIELD(email)
        MERGE_FIELD(role)
        MERGE_FIELD(seniority_level)
        MERGE_FIELD(years_qualified)
        MERGE_FIELD(practice_area)
        MERGE_FIELD(office)
        MERGE_FIELD(department)
        MERGE_FIELD(availability_hours_per_month)
        MERGE_FIELD(timezone)
        MERGE_FIELD(capacity)
        MERGE_FIELD(consent)
        MERGE_FIELD(diversity)
        if (all || strcmp(path, "reporting_chain") == 0) {
            dst->n_reporting_chain = src->n_reporting_chain;
            dst->reporting_chain = src->reporting_chain;
            matched = true;
        }
        if (all || strcmp(path, "skills") == 0) {
            dst->n_skills = src->n_skills;
            dst->skills = src->skills;
            matched = true;
        }
        if (all || strcmp(path, "interests") == 0) {
            dst->n_interests = src->n_interests;
            dst->interests = src->interests;
            matched = true;
        }
        if (all || strcmp(path, "goals") == 0) {
            dst->n_goals = src->n_goals;
            dst->goals = src->goals;
            matched = true;
        }
        if (all || strcmp(path, "languages") == 0) {
            dst->n_languages = src->n_languages;
            dst->languages = src->languages;
            matched = true;
        }
        if (!matched && !all)
            return bad_path(path, "is not a writable field of Participant");
    }
    return NULL;
}

/* ---- directory people ------------------------------------------------------------- */

void enrol_validate_person(const Tandem__Internal__V1__Person *p, const char *prefix,
                           tdm_violations *v)
{
    char path[256], item[280];
    check_text(v, prefix, "user_name", p->user_name, ENROL_MAX_NAME_CHARS, true);
    check_text(v, prefix, "external_id", p->external_id, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "given_name", p->given_name, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "family_name", p->family_name, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "formatted_name", p->formatted_name, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "display_name", p->display_name, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "title", p->title, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "preferred_language", p->preferred_language, ENROL_MAX_TZ_BYTES, false);
    check_text(v, prefix, "employee_number", p->employee_number, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "department", p->department, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "organization", p->organization, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "division", p->division, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "practice_area", p->practice_area, ENROL_MAX_NAME_CHARS, false);
    check_text(v, prefix, "office", p->office, ENROL_MAX_NAME_CHARS, false);
    if (p->timezone != NULL && p->timezone[0] != '\0' && !enrol_timezone_valid(p->timezone))
        tdm_violations_add(v, path_of(path, sizeof(path), prefix, "timezone"),
                           "must be an IANA time-zone name (e.g. \"Europe/London\")");
    if (p->manager_id != NULL && p->manager_id[0] != '\0') {
        if (!tdm_uuid_valid(p->manager_id))
            tdm_violations_add(v, path_of(path, sizeof(path), prefix, "manager_id"),
                               "must be the id of a person of this directory");
        else if (p->id != NULL && strcmp(p->id, p->manager_id) == 0)
            tdm_violations_add(v, path_of(path, sizeof(path), prefix, "manager_id"),
                               "a person cannot be their own manager");
    }
    if (p->seniority_level != NULL)
        check_range(v, prefix, "seniority_level", p->seniority_level->value, 0, 10);
    if (p->years_qualified != NULL)
        check_range(v, prefix, "years_qualified", p->years_qualified->value, 0, 70);
    path_of(path, sizeof(path), prefix, "emails");
    if (p->n_emails > ENROL_MAX_PERSON_EMAILS)
        tdm_violations_add(v, path, "must have at most %u items", ENROL_MAX_PERSON_EMAILS);
    size_t primaries = 0;
    for (size_t i = 0; i < p->n_emails && i < ENROL_MAX_PERSON_EMAILS; i++) {
        const Tandem__Internal__V1__PersonEmail *e = p->emails[i];
        snprintf(item, sizeof(item), "%s[%zu]", path, i);
        if (e->value == NULL || strlen(e->value) > ENROL_MAX_EMAIL_BYTES ||
            !enrol_email_valid(e->value))
            tdm_violations_add(v, path_of(path, sizeof(path), item, "value"),
                               "must be an e-mail address of at most %u bytes",
                               ENROL_MAX_EMAIL_BYTES);
        check_text(v, item, "type", e->type, ENROL_MAX_TZ_BYTES, false);
        primaries += e->primary;
        path_of(path, sizeof(path), prefix, "emails");
    }
    if (primaries > 1)
        tdm_violations_add(v, path, "at most one address may be primary");
}
