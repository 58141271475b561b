/*
 * report_inputs.h - tandem.internal.v1.MatchColumnsService on matching: a
 * programme's matches as packed columns for feedback's report
 * (proto/tandem/internal/v1/report_inputs.proto).
 */
#ifndef TANDEM_MATCHING_REPORT_INPUTS_H
#define TANDEM_MATCHING_REPORT_INPUTS_H

#include "matching.h"

tdm_status *mt_report_inputs_register(tdm_runtime *rt, mt_service *svc);

#endif
