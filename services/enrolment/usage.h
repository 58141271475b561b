/*
 * usage.h - tandem-enrolment's part of a tenant's monthly usage (tandem/usage.h).
 */
#ifndef TANDEM_ENROLMENT_USAGE_H
#define TANDEM_ENROLMENT_USAGE_H

#include "tandem/runtime.h"
#include "tandem/status.h"

/* Register tandem.internal.v1.UsageService (active participants). */
tdm_status *enrol_usage_register(tdm_runtime *rt);

#endif
