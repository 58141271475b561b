/*
 * report_inputs.h - tandem.internal.v1.ParticipantColumnsService on enrolment: a
 * programme's participants as packed columns for feedback's report
 * (proto/tandem/internal/v1/report_inputs.proto).
 */
#ifndef TANDEM_ENROLMENT_REPORT_INPUTS_H
#define TANDEM_ENROLMENT_REPORT_INPUTS_H

#include "enrolment.h"

tdm_status *enrol_report_inputs_register(tdm_runtime *rt, enrol_service *svc);

#endif
