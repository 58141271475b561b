/*
 * pg_text.c - parameters in PostgreSQL's text form that more than one store builds:
 * the uuid[] array of a list of ids, and the array of values that need no quoting
 * (tandem/pg.h).
 */
#include <string.h>

#include "tandem/check.h"
#include "tandem/pg.h"

#define UUID_TEXT_LEN 36

char *tdm_pg_uuid_array(const char *const *ids, size_t n, tdm_arena *a)
{
    /* '{', n UUIDs with a comma after all but the last, '}', NUL. */
    char *out = tdm_arena_alloc(a, n * (UUID_TEXT_LEN + 1) + 3);
    if (out == NULL)
        return NULL;
    size_t off = 0;
    out[off++] = '{';
    for (size_t i = 0; i < n; i++) {
        if (!tdm_uuid_valid(ids[i]))
            continue;
        if (off > 1)
            out[off++] = ',';
        memcpy(out + off, ids[i], UUID_TEXT_LEN);
        off += UUID_TEXT_LEN;
    }
    out[off++] = '}';
    out[off] = '\0';
    return out;
}

char *tdm_pg_array_literal(const char *const *values, size_t n, tdm_arena *a)
{
    size_t cap = 3; /* '{', '}', NUL */
    for (size_t i = 0; i < n; i++)
        cap += (values[i] != NULL ? strlen(values[i]) : 4) + 1;
    char *out = tdm_arena_alloc(a, cap);
    if (out == NULL)
        return NULL;
    size_t off = 0;
    out[off++] = '{';
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] != NULL ? values[i] : "NULL";
        size_t len = strlen(v);
        if (i > 0)
            out[off++] = ',';
        memcpy(out + off, v, len);
        off += len;
    }
    out[off++] = '}';
    out[off] = '\0';
    return out;
}
