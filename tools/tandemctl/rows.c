/*
 * rows.c - CSV and JSON files into BatchEnrol rows (rows.h).
 *
 * The CSV header maps each column to a field of the Participant JSON and a kind of
 * value (text, integer in a range, boolean, role, list, skills). Values are checked
 * only as far as the CSV form goes (a number is a number, a skill has a level); the
 * server remains the judge of the rest and reports per row.
 */
#include "rows.h"

#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum column_kind {
    COL_TEXT,
    COL_INT,
    COL_BOOL,
    COL_ROLE,
    COL_LIST,
    COL_SKILLS,
} column_kind;

typedef struct column_spec {
    const char *snake;  /* header name, snake_case */
    const char *camel;  /* header name, lowerCamelCase */
    const char *object; /* NULL, "consent" or "diversity": the nested object */
    const char *json;   /* JSON name inside it */
    column_kind kind;
    long min, max; /* COL_INT range; COL_LIST maximum items */
    int required;
} column_spec;

static const column_spec COLUMNS[] = {
    {"external_id", "externalId", NULL, "externalId", COL_TEXT, 0, 0, 1},
    {"display_name", "displayName", NULL, "displayName", COL_TEXT, 0, 0, 1},
    {"role", "role", NULL, "role", COL_ROLE, 0, 0, 1},
    {"email", "email", NULL, "email", COL_TEXT, 0, 0, 0},
    {"seniority_level", "seniorityLevel", NULL, "seniorityLevel", COL_INT, 0, 10, 0},
    {"years_qualified", "yearsQualified", NULL, "yearsQualified", COL_INT, 0, 70, 0},
    {"practice_area", "practiceArea", NULL, "practiceArea", COL_TEXT, 0, 0, 0},
    {"office", "office", NULL, "office", COL_TEXT, 0, 0, 0},
    {"department", "department", NULL, "department", COL_TEXT, 0, 0, 0},
    {"reporting_chain", "reportingChain", NULL, "reportingChain", COL_LIST, 0, ROWS_MAX_CHAIN_ITEMS,
     0},
    {"skills", "skills", NULL, "skills", COL_SKILLS, 0, ROWS_MAX_LIST_ITEMS, 0},
    {"interests", "interests", NULL, "interests", COL_LIST, 0, ROWS_MAX_LIST_ITEMS, 0},
    {"goals", "goals", NULL, "goals", COL_LIST, 0, ROWS_MAX_LIST_ITEMS, 0},
    {"languages", "languages", NULL, "languages", COL_LIST, 0, ROWS_MAX_LIST_ITEMS, 0},
    {"availability_hours_per_month", "availabilityHoursPerMonth", NULL, "availabilityHoursPerMonth",
     COL_INT, 0, 200, 0},
    {"timezone", "timezone", NULL, "timezone", COL_TEXT, 0, 0, 0},
    {"capacity", "capacity", NULL, "capacity", COL_INT, 0, 50, 0},
    {"consent_data_processing", "consentDataProcessing", "consent", "dataProcessing", COL_BOOL, 0,
     0, 0},
    {"consent_diversity_data", "consentDiversityData", "consent", "diversityData", COL_BOOL, 0, 0,
     0},
    {"gender", "gender", "diversity", "gender", COL_TEXT, 0, 0, 0},
    {"ethnicity", "ethnicity", "diversity", "ethnicity", COL_TEXT, 0, 0, 0},
    {"first_generation_professional", "firstGenerationProfessional", "diversity",
     "firstGenerationProfessional", COL_BOOL, 0, 0, 0},
    {"disability", "disability", "diversity", "disability", COL_BOOL, 0, 0, 0},
    {"diversity_other", "diversityOther", "diversity", "other", COL_TEXT, 0, 0, 0},
};
#define N_COLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

const char *rows_origin_word(const rows_set *set)
{
    return set->from_csv ? "line" : "row";
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

int rows_add_error(rows_set *set, unsigned long origin, const char *external_id, const char *field,
                   int code, int local, const char *message)
{
    if (set->n_errors == set->cap_errors) {
        size_t cap = set->cap_errors ? set->cap_errors * 2 : 16;
        rows_error *e = realloc(set->errors, cap * sizeof *e);
        if (e == NULL) {
            return -1;
        }
        set->errors = e;
        set->cap_errors = cap;
    }
    rows_error *e = &set->errors[set->n_errors];
    e->origin = origin;
    e->external_id = dup_or_null(external_id != NULL && external_id[0] ? external_id : NULL);
    e->field = dup_or_null(field);
    e->message = strdup(message != NULL ? message : "refused");
    e->code = code;
    e->local = local;
    if (e->message == NULL) {
        free(e->external_id);
        free(e->field);
        return -1;
    }
    set->n_errors++;
    return 0;
}

static int add_row(rows_set *set, json_t *participant, unsigned long origin)
{
    if (set->n_rows == set->cap_rows) {
        size_t cap = set->cap_rows ? set->cap_rows * 2 : 256;
        rows_row *r = realloc(set->rows, cap * sizeof *r);
        if (r == NULL) {
            return -1;
        }
        set->rows = r;
        set->cap_rows = cap;
    }
    set->rows[set->n_rows++] = (rows_row){participant, origin};
    return 0;
}

static int compare_errors(const void *a, const void *b)
{
    const rows_error *x = a, *y = b;
    return (x->origin > y->origin) - (x->origin < y->origin);
}

void rows_sort_errors(rows_set *set)
{
    if (set->n_errors > 1) {
        qsort(set->errors, set->n_errors, sizeof *set->errors, compare_errors);
    }
}

void rows_free(rows_set *set)
{
    for (size_t i = 0; i < set->n_rows; i++) {
        json_decref(set->rows[i].participant);
    }
    for (size_t i = 0; i < set->n_errors; i++) {
        free(set->errors[i].external_id);
        free(set->errors[i].field);
        free(set->errors[i].message);
    }
    free(set->rows);
    free(set->errors);
    memset(set, 0, sizeof *set);
}

/* ---- CSV values -------------------------------------------------------------------- */

static int parse_long(const char *s, long min, long max, long *out, char *why, size_t why_size)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || isspace((unsigned char)s[0])) {
        snprintf(why, why_size, "\"%.40s\" is not a whole number", s);
        return -1;
    }
    if (v < min || v > max) {
        snprintf(why, why_size, "%ld is out of range (%ld to %ld)", v, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_bool(const char *s, int *out, char *why, size_t why_size)
{
    static const char *const yes[] = {"true", "yes", "y", "1"};
    static const char *const no[] = {"false", "no", "n", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    snprintf(why, why_size, "\"%.40s\" is not a boolean (true/false, yes/no, 1/0)", s);
    return -1;
}

/* Splits s (modified) on ';' into trimmed, non-empty items. Returns the count, or -1
 * when there are more than max or one is too long. */
static int split_items(char *s, char **items, int max, char *why, size_t why_size)
{
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, ";", &save); tok != NULL; tok = strtok_r(NULL, ";", &save)) {
        while (isspace((unsigned char)*tok)) {
            tok++;
        }
        size_t len = strlen(tok);
        while (len > 0 && isspace((unsigned char)tok[len - 1])) {
            tok[--len] = '\0';
        }
        if (len == 0) {
            continue;
        }
        if (len > ROWS_MAX_ITEM_BYTES) {
            snprintf(why, why_size, "item %d is longer than %d bytes", n + 1, ROWS_MAX_ITEM_BYTES);
            return -1;
        }
        if (n == max) {
            snprintf(why, why_size, "more than %d items", max);
            return -1;
        }
        items[n++] = tok;
    }
    return n;
}

static json_t *parse_skills(char *s, char *why, size_t why_size)
{
    char *items[ROWS_MAX_LIST_ITEMS];
    int n = split_items(s, items, ROWS_MAX_LIST_ITEMS, why, why_size);
    if (n < 0) {
        return NULL;
    }
    json_t *arr = json_array();
    for (int i = 0; arr != NULL && i < n; i++) {
        char *colon = strrchr(items[i], ':');
        json_t *skill = json_object();
        if (colon == NULL) {
            json_object_set_new(skill, "name", json_string(items[i]));
        } else {
            long level = 0;
            *colon = '\0';
            size_t name_len = strlen(items[i]);
            while (name_len > 0 && isspace((unsigned char)items[i][name_len - 1])) {
                items[i][--name_len] = '\0';
            }
            if (name_len == 0) {
                snprintf(why, why_size, "skill %d has no name (write name:level)", i + 1);
                json_decref(skill);
                json_decref(arr);
                return NULL;
            }
            const char *lv = colon + 1;
            while (isspace((unsigned char)*lv)) {
                lv++;
            }
            char lwhy[96];
            if (parse_long(lv, 1, 5, &level, lwhy, sizeof lwhy) != 0) {
                snprintf(why, why_size, "skill \"%.60s\": level %s", items[i], lwhy);
                json_decref(skill);
                json_decref(arr);
                return NULL;
            }
            json_object_set_new(skill, "name", json_string(items[i]));
            json_object_set_new(skill, "level", json_integer(level));
        }
        json_array_append_new(arr, skill);
    }
    return arr;
}

/* The JSON value of one CSV cell, or NULL with why set. Empty cells never get here. */
static json_t *cell_value(const column_spec *col, char *cell, char *why, size_t why_size)
{
    switch (col->kind) {
    case COL_TEXT: {
        json_t *v = json_string(cell);
        if (v == NULL) {
            snprintf(why, why_size, "is not valid UTF-8");
        }
        return v;
    }
    case COL_INT: {
        long v = 0;
        return parse_long(cell, col->min, col->max, &v, why, why_size) == 0 ? json_integer(v)
                                                                            : NULL;
    }
    case COL_BOOL: {
        int v = 0;
        return parse_bool(cell, &v, why, why_size) == 0 ? json_boolean(v) : NULL;
    }
    case COL_ROLE:
        if (strcasecmp(cell, "mentor") == 0) {
            return json_string("MENTOR");
        }
        if (strcasecmp(cell, "mentee") == 0) {
            return json_string("MENTEE");
        }
        snprintf(why, why_size, "\"%.40s\" is not MENTOR or MENTEE", cell);
        return NULL;
    case COL_LIST: {
        char *items[ROWS_MAX_LIST_ITEMS];
        int n = split_items(cell, items, (int)col->max, why, why_size);
        if (n < 0) {
            return NULL;
        }
        json_t *arr = json_array();
        for (int i = 0; i < n; i++) {
            json_t *s = json_string(items[i]);
            if (s == NULL) {
                snprintf(why, why_size, "item %d is not valid UTF-8", i + 1);
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, s);
        }
        return arr;
    }
    case COL_SKILLS:
        return parse_skills(cell, why, why_size);
    }
    return NULL;
}

static int find_column(const char *name)
{
    for (size_t i = 0; i < N_COLUMNS; i++) {
        if (strcmp(name, COLUMNS[i].snake) == 0 || strcmp(name, COLUMNS[i].camel) == 0) {
            return (int)i;
        }
    }
    return -1;
}

typedef struct csv_header {
    int column[CSV_MAX_FIELDS]; /* index into COLUMNS per CSV field */
    size_t n;
} csv_header;

static int read_header(csv_reader *r, csv_header *h, char *err, size_t err_size)
{
    csv_result res = csv_read_record(r);
    if (res == CSV_END) {
        snprintf(err, err_size, "the file is empty (expected a header row naming the columns)");
        return -1;
    }
    if (res == CSV_ERROR) {
        snprintf(err, err_size, "line %lu: header: %s", r->error_line, r->error);
        return -1;
    }
    int seen[N_COLUMNS] = {0};
    h->n = r->n_fields;
    for (size_t i = 0; i < r->n_fields; i++) {
        int c = find_column(r->fields[i]);
        if (c < 0) {
            snprintf(err, err_size, "line %lu: field %.60s: unknown column (the columns are:\n%s)",
                     r->record_line, r->fields[i], ROWS_CSV_COLUMNS_HELP);
            return -1;
        }
        if (seen[c]++) {
            snprintf(err, err_size, "line %lu: field %s: column given twice", r->record_line,
                     COLUMNS[c].snake);
            return -1;
        }
        h->column[i] = c;
    }
    for (size_t c = 0; c < N_COLUMNS; c++) {
        if (COLUMNS[c].required && !seen[c]) {
            snprintf(err, err_size, "line %lu: field %s: required column missing", r->record_line,
                     COLUMNS[c].snake);
            return -1;
        }
    }
    return 0;
}

static void set_in(json_t *participant, const column_spec *col, json_t *value)
{
    if (col->object == NULL) {
        json_object_set_new(participant, col->json, value);
        return;
    }
    json_t *obj = json_object_get(participant, col->object);
    if (obj == NULL) {
        obj = json_object();
        json_object_set_new(participant, col->object, obj);
    }
    json_object_set_new(obj, col->json, value);
}

/* One CSV record into a participant, or NULL with the failing field and why. */
static json_t *record_to_participant(csv_reader *r, const csv_header *h, const char **field,
                                     char *why, size_t why_size)
{
    if (r->n_fields != h->n) {
        *field = NULL;
        snprintf(why, why_size, "expected %zu fields (as in the header), found %zu", h->n,
                 r->n_fields);
        return NULL;
    }
    json_t *p = json_object();
    for (size_t i = 0; p != NULL && i < r->n_fields; i++) {
        const column_spec *col = &COLUMNS[h->column[i]];
        char *cell = r->fields[i];
        if (cell[0] == '\0') {
            if (col->required) {
                *field = col->snake;
                snprintf(why, why_size, "required");
                json_decref(p);
                return NULL;
            }
            continue;
        }
        json_t *v = cell_value(col, cell, why, why_size);
        if (v == NULL) {
            *field = col->snake;
            json_decref(p);
            return NULL;
        }
        set_in(p, col, v);
    }
    return p;
}

/* The external id of a failed record, for the report (best effort). */
static const char *record_external_id(const csv_reader *r, const csv_header *h)
{
    for (size_t i = 0; i < r->n_fields && i < h->n; i++) {
        if (h->column[i] == 0) {
            return r->fields[i];
        }
    }
    return NULL;
}

typedef struct id_origin {
    const char *id;
    size_t row;
} id_origin;

static int compare_ids(const void *a, const void *b)
{
    const id_origin *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c != 0 ? c : (x->row > y->row) - (x->row < y->row);
}

/* A later row with an external_id seen before is refused here: across chunks the
 * server would silently upsert one over the other. Returns 0 or -1 (memory). */
static int refuse_duplicates(rows_set *set)
{
    if (set->n_rows < 2) {
        return 0;
    }
    id_origin *ids = malloc(set->n_rows * sizeof *ids);
    unsigned char *drop = calloc(set->n_rows, 1);
    if (ids == NULL || drop == NULL) {
        free(ids);
        free(drop);
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < set->n_rows; i++) {
        const char *id = json_string_value(json_object_get(set->rows[i].participant, "externalId"));
        if (id == NULL) {
            id = json_string_value(json_object_get(set->rows[i].participant, "external_id"));
        }
        if (id != NULL) {
            ids[n++] = (id_origin){id, i};
        }
    }
    qsort(ids, n, sizeof *ids, compare_ids);
    int rc = 0;
    for (size_t i = 1; i < n && rc == 0; i++) {
        if (strcmp(ids[i].id, ids[i - 1].id) != 0) {
            continue;
        }
        size_t first = i - 1;
        while (first > 0 && strcmp(ids[first - 1].id, ids[i].id) == 0) {
            first--;
        }
        char why[96];
        snprintf(why, sizeof why, "duplicate of %s %lu", rows_origin_word(set),
                 set->rows[ids[first].row].origin);
        drop[ids[i].row] = 1;
        rc = rows_add_error(set, set->rows[ids[i].row].origin, ids[i].id, "external_id", 3, 1, why);
    }
    size_t kept = 0;
    for (size_t i = 0; i < set->n_rows; i++) {
        if (drop[i]) {
            json_decref(set->rows[i].participant);
        } else {
            set->rows[kept++] = set->rows[i];
        }
    }
    set->n_rows = kept;
    free(ids);
    free(drop);
    return rc;
}

int rows_load_csv(rows_set *set, const char *data, size_t len, char *err, size_t err_size)
{
    memset(set, 0, sizeof *set);
    set->from_csv = 1;
    err[0] = '\0';
    csv_reader r;
    if (csv_reader_init(&r, data, len) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    csv_header h;
    int rc = read_header(&r, &h, err, err_size);
    while (rc == 0) {
        csv_result res = csv_read_record(&r);
        if (res == CSV_END) {
            break;
        }
        if (++set->seen > ROWS_MAX_ROWS) {
            snprintf(err, err_size, "more than %d rows", ROWS_MAX_ROWS);
            rc = -1;
            break;
        }
        if (res == CSV_ERROR) {
            rc = rows_add_error(set, r.error_line, NULL, NULL, 3, 1, r.error);
            continue;
        }
        const char *field = NULL;
        char why[CSV_MAX_ERROR_BYTES];
        json_t *p = record_to_participant(&r, &h, &field, why, sizeof why);
        if (p == NULL) {
            rc = rows_add_error(set, r.record_line, record_external_id(&r, &h), field, 3, 1, why);
        } else if (add_row(set, p, r.record_line) != 0) {
            json_decref(p);
            rc = -1;
        }
        if (rc != 0 && err[0] == '\0') {
            snprintf(err, err_size, "out of memory");
        }
    }
    csv_reader_free(&r);
    if (rc == 0 && refuse_duplicates(set) != 0) {
        snprintf(err, err_size, "out of memory");
        rc = -1;
    }
    return rc;
}

int rows_load_json(rows_set *set, const char *data, size_t len, char *err, size_t err_size)
{
    memset(set, 0, sizeof *set);
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        snprintf(err, err_size, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
        return -1;
    }
    json_t *list = doc;
    if (json_is_object(doc)) {
        list = json_object_get(doc, "participants");
    }
    if (!json_is_array(list)) {
        snprintf(err, err_size, "expected an array of participants or {\"participants\": [...]}");
        json_decref(doc);
        return -1;
    }
    if (json_array_size(list) > ROWS_MAX_ROWS) {
        snprintf(err, err_size, "more than %d rows", ROWS_MAX_ROWS);
        json_decref(doc);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < json_array_size(list) && rc == 0; i++) {
        json_t *p = json_array_get(list, i);
        set->seen++;
        if (!json_is_object(p)) {
            rc = rows_add_error(set, i + 1, NULL, NULL, 3, 1, "not a JSON object");
            continue;
        }
        json_incref(p);
        rc = add_row(set, p, i + 1);
        if (rc != 0) {
            json_decref(p);
        }
    }
    json_decref(doc);
    if (rc == 0) {
        rc = refuse_duplicates(set);
    }
    if (rc != 0) {
        snprintf(err, err_size, "out of memory");
    }
    return rc;
}
