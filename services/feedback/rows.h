/*
 * rows.h - the JSON documents of feedback's SQL rows <-> protobuf messages.
 *
 * The store's SELECTs answer one JSON text per row (json_build_object, snake_case
 * keys, timestamps as microseconds since the epoch); these functions map them to
 * messages in the call's arena, and build the jsonb documents the store's bulk
 * INSERTs read with jsonb_to_recordset. Every function returns NULL when out of
 * memory or when a document is malformed.
 */
#ifndef TANDEM_FEEDBACK_ROWS_H
#define TANDEM_FEEDBACK_ROWS_H

#include <stddef.h>

#include "tandem/arena.h"
#include "tandem/v1/feedback.pb-c.h"

Tandem__V1__CheckIn *fb_check_in_from_row(const char *json, size_t len, tdm_arena *a);
/* {"checkIn": {...}} for check_in.recorded, never with notes. */
char *fb_check_in_event_json(const Tandem__V1__CheckIn *c, tdm_arena *a);
Tandem__V1__Survey *fb_survey_from_row(const char *json, size_t len, tdm_arena *a);
Tandem__V1__SurveyResponse *fb_survey_response_from_row(const char *json, size_t len, tdm_arena *a);
Tandem__V1__ProgrammeReport *fb_report_from_row(const char *json, size_t len, tdm_arena *a);
/* [{"id","position","text","kind","choices","required"}] of the survey's questions. */
char *fb_questions_document(const Tandem__V1__Survey *s, tdm_arena *a);
/* [{"question_id","kind","score","text","choice"}] of the answers, each with its
 * question's kind (the answers were validated against the survey). */
char *fb_answers_document(const Tandem__V1__SubmitSurveyResponseRequest *q,
                          const Tandem__V1__Survey *survey, tdm_arena *a);

#endif
