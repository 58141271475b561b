/*
 * usage.h - tandem-matching's part of a tenant's monthly usage (tandem/usage.h).
 */
#ifndef TANDEM_MATCHING_USAGE_H
#define TANDEM_MATCHING_USAGE_H

#include "tandem/runtime.h"
#include "tandem/status.h"

/* Register tandem.internal.v1.UsageService (active matches). */
tdm_status *mt_usage_register(tdm_runtime *rt);

#endif
