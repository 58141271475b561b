/*
 * pg_text.c - parameters in PostgreSQL's text form that more than one store builds:
 * the uuid[] array of a list of ids (tandem/pg.h).
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
