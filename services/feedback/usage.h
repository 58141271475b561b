/*
 * usage.h - tandem-feedback's part of a tenant's monthly usage (tandem/usage.h).
 */
#ifndef TANDEM_FEEDBACK_USAGE_H
#define TANDEM_FEEDBACK_USAGE_H

#include "tandem/runtime.h"
#include "tandem/status.h"

/* Register tandem.internal.v1.UsageService (check-ins). */
tdm_status *fb_usage_register(tdm_runtime *rt);

#endif
