/*
 * timestamp.c - google.protobuf.Timestamp from microseconds (timestamp.h).
 */
#include "tandem/timestamp.h"

Google__Protobuf__Timestamp *tdm_timestamp_from_us(int64_t us, tdm_arena *arena)
{
    Google__Protobuf__Timestamp *t = tdm_arena_alloc(arena, sizeof(*t));
    if (t == NULL)
        return NULL;
    google__protobuf__timestamp__init(t);
    int64_t secs = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        secs--;
    }
    t->seconds = secs;
    t->nanos = (int32_t)(frac * 1000);
    return t;
}

Google__Protobuf__Timestamp *tdm_timestamp_from_us_or_unset(int64_t us, tdm_arena *arena)
{
    return us != 0 ? tdm_timestamp_from_us(us, arena) : NULL;
}
