/*
 * validate.c - the pure checks of MatchingService requests: ids, free-text
 * reasons, enums and pages, each refusal naming its field. No I/O.
 *
 * They chain: each takes the status so far and returns it unchanged when it is set,
 * so a handler writes its checks one per line and fails the call once:
 *
 *     st = mt_check_id(st, q->id, "id");
 *     st = mt_check_reason(st, q->reason);
 */
#include "matching.h"

tdm_status *mt_check_id(tdm_status *st, const char *value, const char *field)
{
    return st != NULL ? st : tdm_check_uuid(value, field);
}

tdm_status *mt_check_reason(tdm_status *st, const char *reason)
{
    if (st != NULL)
        return st;
    size_t n = tdm_utf8_chars(reason);
    if (n == SIZE_MAX || n > MT_MAX_REASON_CHARS)
        return tdm_invalid_field("reason", "must be at most %u characters of UTF-8",
                                 MT_MAX_REASON_CHARS);
    return NULL;
}

tdm_status *mt_check_enum(tdm_status *st, int value, int max, const char *field)
{
    if (st != NULL || (value >= 0 && value <= max))
        return st;
    return tdm_invalid_field(field, "unknown value %d", value);
}
