/*
 * usage.h - tandem.internal.v1.UsageService (proto/tandem/internal/v1/usage.proto):
 * what a tenant used in a month, as each owning service counts it in its own schema,
 * served the same way by every service that counts a part (enrolment: active
 * participants, matching: active matches, feedback: check-ins). The gateway gathers
 * the parts for TenantService.GetTenantUsage and ListUsage (docs/operations.md
 * "Usage").
 *
 * A service gives one read-only statement that answers, in the caller's tenant
 * (TDM_SQL_TENANT), one row per metric, (metric text, count int8), for the month
 * whose first instant (UTC) is $1 (timestamptz text). The call is validated (scope,
 * month) and answered here.
 */
#ifndef TANDEM_USAGE_H
#define TANDEM_USAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "tandem/runtime.h"
#include "tandem/status.h"
#include "tandem/store.h"

/* What the service counts; static storage (the server keeps a pointer). */
typedef struct tdm_usage_service {
    tdm_runtime *rt; /* set by tdm_usage_register */
    const tdm_store_owner *owner;
    uint32_t scope; /* the service's read scope */
    const char *sql;
} tdm_usage_service;

/* Register UsageService.GetUsageCounts with svc's statement. */
tdm_status *tdm_usage_register(tdm_runtime *rt, tdm_usage_service *svc);

/* A month "YYYY-MM" (years 2000 to 9999, months 01 to 12): true and *year, *month
 * set, or false. */
bool tdm_usage_month_parse(const char *s, int *year, int *month);

/* INVALID_ARGUMENT naming `field` when s is not such a month, else NULL. */
tdm_status *tdm_usage_check_month(const char *s, const char *field, int *year, int *month);

#endif
