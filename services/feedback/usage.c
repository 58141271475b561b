/*
 * usage.c - check-ins recorded per month (tandem/usage.h; migrations/040_usage.sql):
 * the tenant's counter of the month, zero when it recorded none.
 */
#include "usage.h"

#include "feedback.h"
#include "tandem/usage.h"

#define T TDM_SQL_TENANT

/* $1: the month's first instant (UTC). */
static const char CHECK_INS_SQL[] =
    "SELECT 'check_ins', COALESCE(("
    "  SELECT u.count FROM " FB_SCHEMA ".usage_counts u"
    "   WHERE u.tenant_id = " T " AND u.metric = 'check_ins'"
    "     AND u.month = ($1::timestamptz AT TIME ZONE 'UTC')::date), 0)::int8";

static const tdm_store_owner USAGE_OWNER = {.schema = FB_SCHEMA, .service = FB_SERVICE};

static tdm_usage_service USAGE = {
    .owner = &USAGE_OWNER,
    .scope = TDM_SCOPE_FEEDBACK_READ,
    .sql = CHECK_INS_SQL,
};

tdm_status *fb_usage_register(tdm_runtime *rt)
{
    return tdm_usage_register(rt, &USAGE);
}
