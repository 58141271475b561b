/*
 * rows.h - participant rows for BatchEnrol, read from a CSV or JSON file.
 *
 * A CSV file has a header row naming its columns (snake_case or lowerCamelCase
 * field names of the Participant message, see ROWS_CSV_COLUMNS_HELP); list fields
 * are `a;b;c`, skills `name:level;name:level`. A JSON file is an array of
 * Participant objects or a BatchEnrol body, {"participants": [...]}.
 *
 * Rows that cannot be sent (a malformed CSV record, a value that is not a number, a
 * duplicate external_id, ...) become row errors, each naming its line (CSV) or row
 * (JSON), the field and why; the other rows are still sent. The same list later
 * collects the errors the server reports per row.
 */
#ifndef TANDEMCTL_ROWS_H
#define TANDEMCTL_ROWS_H

#include <jansson.h>
#include <stddef.h>

#define ROWS_MAX_ROWS        1000000
#define ROWS_MAX_LIST_ITEMS  50
#define ROWS_MAX_CHAIN_ITEMS 20
#define ROWS_MAX_ITEM_BYTES  200

#define ROWS_CSV_COLUMNS_HELP                                                                      \
    "external_id, display_name, role (required); email, seniority_level, years_qualified,\n"       \
    "practice_area, office, department, reporting_chain, skills, interests, goals, languages,\n"   \
    "availability_hours_per_month, timezone, capacity, consent_data_processing,\n"                 \
    "consent_diversity_data, gender, ethnicity, first_generation_professional, disability,\n"      \
    "diversity_other"

typedef struct rows_row {
    json_t *participant;  /* owned */
    unsigned long origin; /* CSV line, or 1-based JSON row */
} rows_row;

typedef struct rows_error {
    unsigned long origin; /* CSV line, or 1-based JSON row */
    char *external_id;    /* may be NULL */
    char *field;          /* may be NULL */
    char *message;
    int code;  /* gRPC code: 3 (INVALID_ARGUMENT) for rows refused before sending */
    int local; /* refused before sending (1) or by the server (0) */
} rows_error;

typedef struct rows_set {
    int from_csv; /* origins are lines (CSV) or rows (JSON) */
    size_t seen;  /* data rows read, sent or not */
    rows_row *rows;
    size_t n_rows, cap_rows;
    rows_error *errors;
    size_t n_errors, cap_errors;
} rows_set;

/* Reads participants from a CSV buffer. Returns 0 (row errors, if any, are in
 * set->errors) or -1 with a message in err when the file as a whole is unusable
 * (no or a bad header row, too many rows, out of memory). */
int rows_load_csv(rows_set *set, const char *data, size_t len, char *err, size_t err_size);

/* The same for a JSON buffer. */
int rows_load_json(rows_set *set, const char *data, size_t len, char *err, size_t err_size);

/* Records an error on a row; strings are copied. Returns 0 or -1 (out of memory). */
int rows_add_error(rows_set *set, unsigned long origin, const char *external_id, const char *field,
                   int code, int local, const char *message);

/* Sorts the errors by origin, so the report reads like the file. */
void rows_sort_errors(rows_set *set);

/* "line" or "row". */
const char *rows_origin_word(const rows_set *set);

void rows_free(rows_set *set);

#endif
