/*
 * usage.c - active matches per month (tandem/usage.h; migrations/040_usage.sql).
 *
 * A match is active in a month when one of its ACTIVE spans overlaps it: active
 * before the month ends, and not ended before it begins.
 */
#include "usage.h"

#include "matching.h"
#include "tandem/usage.h"

#define T TDM_SQL_TENANT

/* $1: the month's first instant (UTC). */
static const char ACTIVE_MATCHES_SQL[] =
    "SELECT 'active_matches', count(DISTINCT s.match_id)::int8"
    "  FROM " MT_SCHEMA ".usage_match_spans s"
    " WHERE s.tenant_id = " T
    "   AND s.start_time < ((($1::timestamptz AT TIME ZONE 'UTC') + interval '1 month')"
    "                       AT TIME ZONE 'UTC')"
    "   AND (s.end_time IS NULL OR s.end_time >= $1::timestamptz)";

static const tdm_store_owner USAGE_OWNER = {.schema = MT_SCHEMA, .service = MT_SERVICE};

static tdm_usage_service USAGE = {
    .owner = &USAGE_OWNER,
    .scope = TDM_SCOPE_MATCHING_READ,
    .sql = ACTIVE_MATCHES_SQL,
};

tdm_status *mt_usage_register(tdm_runtime *rt)
{
    return tdm_usage_register(rt, &USAGE);
}
