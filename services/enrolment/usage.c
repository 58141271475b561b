/*
 * usage.c - active participants per month (tandem/usage.h; migrations/040_usage.sql).
 *
 * A participant is active in a month when one of their enrolment spans overlaps it:
 * enrolled before the month ends, and not withdrawn or erased before it begins. Each
 * participant counts once however many spans they have in the month.
 */
#include "usage.h"

#include "enrolment.h"
#include "tandem/usage.h"

#define T TDM_SQL_TENANT

/* $1: the month's first instant (UTC). */
static const char ACTIVE_PARTICIPANTS_SQL[] =
    "SELECT 'active_participants', count(DISTINCT s.participant_id)::int8"
    "  FROM " ENROL_SCHEMA ".usage_participant_spans s"
    " WHERE s.tenant_id = " T
    "   AND s.start_time < ((($1::timestamptz AT TIME ZONE 'UTC') + interval '1 month')"
    "                       AT TIME ZONE 'UTC')"
    "   AND (s.end_time IS NULL OR s.end_time >= $1::timestamptz)";

static tdm_usage_service USAGE = {
    .owner = &ENROL_STORE_OWNER,
    .scope = TDM_SCOPE_ENROLMENT_READ,
    .sql = ACTIVE_PARTICIPANTS_SQL,
};

tdm_status *enrol_usage_register(tdm_runtime *rt)
{
    return tdm_usage_register(rt, &USAGE);
}
