/*
 * feedback.h - the private interfaces of tandem-feedback.
 *
 *   validate.c    pure checks of requests (no I/O), array literals
 *   peers.c       what the service reads from enrolment and matching over gRPC
 *   store.c       every SQL statement, one transaction per store call
 *   report.c      GetProgrammeReport: feedback's totals (report_sql.h, shared with the
 *                 benchmark) folded with the owners' rows (report_fold.c, pure)
 *   handlers.c    one function per FeedbackService RPC: scope, validation, peers,
 *                 store, reply
 *   persondata.c  tandem.internal.v1.PersonDataService (export/erase for enrolment)
 *   programme_figures.c  tandem.internal.v1.ProgrammeFiguresService (a programme's
 *                 figures for the template benchmarks)
 *   at_risk_sweep.c  the periodic sweep that emits match.at_risk once per episode
 *
 * Matches and participants belong to matching and enrolment: the service never reads
 * their tables. It asks them over gRPC with the caller's tenant, request id and
 * deadline. For a report the owners answer only the needed columns, as PostgreSQL
 * binary arrays (tandem.internal.v1 report_inputs.proto), which the report folds with
 * feedback's own maintained totals, the anonymity rules applied at read time. The
 * report is as fresh as the moment of each read (one transaction per page at each
 * owner, one page for programmes of up to 25,000 people / 30,000 matches): nothing
 * is cached or projected, so no invalidation and no staleness beyond the call.
 *
 * Everything a call allocates lives in its arena (tdm_call_arena).
 */
#ifndef TANDEM_FEEDBACK_H
#define TANDEM_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tandem/arena.h"
#include "tandem/check.h"
#include "tandem/idempotency.h"
#include "tandem/handler.h"
#include "tandem/pg.h"
#include "tandem/person_data.h"
#include "tandem/runtime.h"
#include "tandem/server.h"
#include "tandem/page_token.h"
#include "tandem/status.h"
#include "tandem/store.h"
#include "tandem/internal/v1/erasure.pb-c.h"
#include "tandem/v1/enrolment.pb-c.h"
#include "tandem/v1/feedback.pb-c.h"
#include "tandem/v1/matching.pb-c.h"

#define FB_SCHEMA  "feedback"
#define FB_SERVICE "feedback"

/* Limits of API.md and feedback.proto. */
#define FB_MAX_DURATION_MINUTES  600
#define FB_MAX_TOPICS            20u
#define FB_MAX_TOPIC_CHARS       100u
#define FB_MAX_GOALS             20u
#define FB_MAX_KEY_CHARS         64u
#define FB_MAX_NOTES_CHARS       10000u
#define FB_MAX_TITLE_CHARS       200u
#define FB_MAX_DESCRIPTION_CHARS 2000u
#define FB_MAX_QUESTIONS         50u
#define FB_MAX_QUESTION_CHARS    1000u
#define FB_MIN_CHOICES           2u
#define FB_MAX_CHOICES           20u
#define FB_MAX_CHOICE_CHARS      200u
#define FB_MAX_ANSWERS           50u
#define FB_MAX_TEXT_ANSWER_CHARS 5000u
#define FB_MAX_EXPORT_ITEMS      10000
/* The contract's least anonymity threshold (enrolment refuses lower ones). */
#define FB_MIN_ANONYMITY_THRESHOLD 3
/* occurred_time may be at most this old. */
#define FB_MAX_CHECK_IN_AGE_S (365LL * 24 * 3600)
/* A device clock this far ahead of ours is not "the future" yet. */
#define FB_CLOCK_SKEW_S 60LL
/* Peers get at most this long when the call has no earlier deadline. */
#define FB_PEER_TIMEOUT_MS 10000u
/* Pages asked of peers when a whole programme is read (their maximum). */
#define FB_PEER_PAGE_SIZE 500
/* Participants and matches of one programme read for a report (enough for the
 * largest programmes; more is refused rather than silently truncated). */
#define FB_MAX_PROGRAMME_PARTICIPANTS 100000u
#define FB_MAX_PROGRAMME_MATCHES      100000u

/* ---- validate.c ----------------------------------------------------------------- */

/* Checks of RecordCheckIn that need nothing but the request and the clock
 * (now_s: seconds since the epoch). The objectives are checked by
 * fb_validate_goal_keys once the programme is known. */
void fb_validate_check_in(const Tandem__V1__RecordCheckInRequest *r, int64_t now_s,
                          tdm_violations *v);
/* Every goal_progress key must be one of the programme's objectives. */
void fb_validate_goal_keys(const Tandem__V1__RecordCheckInRequest *r,
                           const Tandem__V1__Programme *programme, tdm_violations *v);
/* A survey to create (fields prefixed "survey."). */
void fb_validate_survey(const Tandem__V1__Survey *s, tdm_violations *v);
/* The answers of a response against the survey's questions. */
void fb_validate_answers(const Tandem__V1__SubmitSurveyResponseRequest *r,
                         const Tandem__V1__Survey *survey, tdm_violations *v);

/* PostgreSQL array literals of the given elements, each quoted ("{"a","b\"c"}");
 * NULL elements are written NULL. NULL when out of memory. */
char *fb_pg_text_array(const char *const *items, size_t n, tdm_arena *arena);
/* The same for integers / booleans / timestamps given in microseconds. */
char *fb_pg_int_array(const int32_t *items, size_t n, tdm_arena *arena);
char *fb_pg_bool_array(const bool *items, size_t n, tdm_arena *arena);
char *fb_pg_us_array(const int64_t *us, size_t n, tdm_arena *arena);

/* A PostgreSQL one-dimensional array in binary (array_send) format, built from the
 * pages of a tandem.internal.v1 column (report_inputs.proto). buf holds a 20-byte
 * header, then the elements. Initialise elemtype and width (the element's fixed
 * byte size, -1 for text); zero the rest. */
typedef struct fb_pg_array {
    uint32_t elemtype; /* element type OID */
    int32_t width;     /* fixed element size in bytes, -1 for variable */
    uint8_t *buf;
    size_t len, cap; /* bytes used (header included) and allocated */
    size_t n;        /* elements */
    bool has_nulls;
} fb_pg_array;

typedef enum fb_pg_array_result {
    FB_PG_ARRAY_OK = 0,
    FB_PG_ARRAY_MALFORMED = -1, /* not a 1-D array of n elements of the type */
    FB_PG_ARRAY_TOO_MANY = -2,  /* more than max_n elements in all */
    FB_PG_ARRAY_NO_MEMORY = -3,
} fb_pg_array_result;

/* Check one page (n elements; no bytes when n is 0) header and every element
 * length against the type, then append its elements. Nothing is appended unless
 * the whole page is well formed. */
fb_pg_array_result fb_pg_array_append(fb_pg_array *arr, const uint8_t *page, size_t len, size_t n,
                                      size_t max_n, tdm_arena *arena);
/* The finished array (header written), for a binary parameter; NULL when out of
 * memory. *len gets its byte length. */
const char *fb_pg_array_finish(fb_pg_array *arr, int *len, tdm_arena *arena);
/* The elements of arr in order: *at starts at 0, and each call gives the next
 * element's bytes (NULL for SQL NULL) and *len their count. Only for arrays built by
 * fb_pg_array_append (every element checked there), and at most arr->n calls. */
const uint8_t *fb_pg_array_next(const fb_pg_array *arr, size_t *at, int32_t *len);

int64_t fb_timestamp_us(const Google__Protobuf__Timestamp *t);
Google__Protobuf__Timestamp *fb_timestamp_from_us(int64_t us, tdm_arena *arena);
/* Seconds since the epoch, now. */
int64_t fb_now_s(void);

/* ---- peers.c ---------------------------------------------------------------------- */

typedef struct fb_service fb_service;

/* The report's participant columns ($5..$14 of report_sql.h) and match columns
 * ($15..$20), in that order. */
#define FB_PARTICIPANT_COLUMNS 10
#define FB_MATCH_COLUMNS       6

/* Everything a report or an at-risk listing needs of a programme. Arrays live in the
 * call's arena; participants include withdrawn ones (the SQL tells them apart).
 * For a report the peers answer packed columns (tandem.internal.v1, *_columns set,
 * participants / matches left empty); a peer that does not serve them yet
 * (UNIMPLEMENTED) is read through its public List call instead. */
typedef struct fb_programme_data {
    Tandem__V1__Programme *programme;
    Tandem__V1__Participant **participants;
    size_t n_participants;
    Tandem__V1__Match **matches;
    size_t n_matches;
    bool participant_columns;
    fb_pg_array pcols[FB_PARTICIPANT_COLUMNS];
    bool match_columns;
    fb_pg_array mcols[FB_MATCH_COLUMNS];
} fb_programme_data;

typedef void (*fb_peer_cb)(void *arg, tdm_status *st, ProtobufCMessage *msg);
typedef void (*fb_programme_data_cb)(void *arg, tdm_status *st, fb_programme_data *data);

void fb_peer_get_match(fb_service *svc, tdm_call *call, const char *match_id, fb_peer_cb cb,
                       void *arg);
void fb_peer_get_programme(fb_service *svc, tdm_call *call, const char *programme_id, fb_peer_cb cb,
                           void *arg);
void fb_peer_get_participant(fb_service *svc, tdm_call *call, const char *participant_id,
                             fb_peer_cb cb, void *arg);
/* The programme; its participants when with_participants; every match (all pages). */
void fb_peer_programme_data(fb_service *svc, tdm_call *call, const char *programme_id,
                            bool with_participants, fb_programme_data_cb cb, void *arg);
/* What GetProgrammeReport needs: the programme, and the participants and matches as
 * packed columns (public List calls for a peer that answers UNIMPLEMENTED). */
void fb_peer_report_inputs(fb_service *svc, tdm_call *call, const char *programme_id,
                           fb_programme_data_cb cb, void *arg);
/* Empty match columns of ListMatchColumns' element types (fb_programme_data.mcols). */
void fb_match_columns_init(fb_pg_array cols[FB_MATCH_COLUMNS]);

/* ---- store.c ------------------------------------------------------------------------ */

/* What a store call needs of its call, and its one completion (tandem/store.h). */
typedef tdm_store_req fb_req;
typedef tdm_store_cb fb_store_cb;

/* Record a check-in of `match` (already checked: the recorder is a side, the status
 * allows it); updates the match's running totals and emits check_in.recorded (and
 * match.at_risk LOW_RATING when the match's latest rating is 2 or less and it has no
 * open at-risk episode: it opens one, as the sweep would).
 * Response: the CheckIn. */
void fb_store_record_check_in(const fb_req *r, const Tandem__V1__RecordCheckInRequest *q,
                              const Tandem__V1__Match *match, fb_store_cb cb, void *arg);
/* A page of a match's check-ins, latest first; notes only when include_notes. */
void fb_store_list_check_ins(const fb_req *r, const char *match_id, int page_size,
                             const char *after_token, bool include_notes, fb_store_cb cb,
                             void *arg);
/* Response: the CheckIn without its notes, NOT_FOUND when absent. */
void fb_store_get_check_in(const fb_req *r, const char *check_in_id, fb_store_cb cb, void *arg);
/* Response: the Survey. */
void fb_store_create_survey(const fb_req *r, const char *programme_id, const Tandem__V1__Survey *s,
                            fb_store_cb cb, void *arg);
/* Response: the Survey with its questions, NOT_FOUND when absent. */
void fb_store_get_survey(const fb_req *r, const char *survey_id, fb_store_cb cb, void *arg);
/* A page of a programme's surveys with their questions, newest first.
 * Response: ListSurveysResponse. */
void fb_store_list_surveys(const fb_req *r, const char *programme_id, int page_size,
                           const char *after_token, fb_store_cb cb, void *arg);
/* Response: the SurveyResponse; ALREADY_EXISTS when the participant answered. */
void fb_store_submit_response(const fb_req *r, const Tandem__V1__Survey *survey,
                              const Tandem__V1__SubmitSurveyResponseRequest *q, fb_store_cb cb,
                              void *arg);
/* Whether a side declined the match (the at-risk rule), and its start for the
 * overdue rule: when it became ACTIVE, else created (Unix us). */
bool fb_match_declined(const Tandem__V1__Match *m);
int64_t fb_match_start_us(const Tandem__V1__Match *m);

/* ---- report.c ----------------------------------------------------------------------- */

/* Response: the ProgrammeReport, from the programme's inputs d and feedback's
 * maintained totals (report_sql.h), folded by report_fold.c, the anonymity rules
 * applied.
 * include_diversity adds the consented diversity dimensions (the caller is an admin).
 * The one place that yields one programme's report figures: anything built from
 * several programmes' figures calls it per programme rather than copying the SQL. */
void fb_store_report(const fb_req *r, const fb_programme_data *d, bool include_diversity,
                     fb_store_cb cb, void *arg);
/* Response: ListAtRiskMatchesResponse, read in a read-only transaction: it writes
 * nothing and emits nothing (the sweep does). clock_offset_s moves "now" (tests). */
void fb_store_at_risk(const fb_req *r, const fb_programme_data *d, int clock_offset_s,
                      int page_size, const char *after_token, fb_store_cb cb, void *arg);
/* One programme's sweep (at_risk_sweep.c), in one transaction of its tenant: opens an
 * episode, with its match.at_risk event, for each at-risk match that has none open,
 * and closes the open episodes of matches no longer at risk. d holds the programme
 * and the match columns (or Match messages). Response: google.protobuf.Int32Value,
 * the number of episodes opened. */
void fb_store_at_risk_sweep(const fb_req *r, const fb_programme_data *d, int clock_offset_s,
                            fb_store_cb cb, void *arg);
/* Follow these matches (array literals "{...}" of match ids and their programmes, of
 * the call's tenant) in the sweep, and no longer the ended ones (ended_ids). Response:
 * none. */
void fb_store_follow_matches(const fb_req *r, const char *match_ids, const char *programme_ids,
                             const char *ended_ids, fb_store_cb cb, void *arg);
/* Response: ExportParticipantsResponse (check_ins, survey_responses). */
void fb_store_export(const fb_req *r, char **ids, size_t n, fb_store_cb cb, void *arg);
/* Response: EraseParticipantsResponse. */
void fb_store_erase(const fb_req *r, char **ids, size_t n, fb_store_cb cb, void *arg);

/* ---- handlers.c / persondata.c ------------------------------------------------------ */

/* ---- at_risk_sweep.c ------------------------------------------------------------------ */

/* feedback's own settings (TANDEM_AT_RISK_SWEEP_SECONDS, TANDEM_TEST_CLOCK_OFFSET). */
typedef struct fb_at_risk_config {
    int interval_s;     /* seconds between sweeps, 1..900 */
    int clock_offset_s; /* added to the database's now() by the at-risk rules (tests) */
} fb_at_risk_config;

typedef struct fb_sweep fb_sweep;
tdm_status *fb_at_risk_config_load(fb_at_risk_config *cfg);

/* ---- handlers.c / persondata.c ------------------------------------------------------ */

struct fb_service {
    tdm_runtime *rt;
    tdm_person_data_service person_data;
    fb_at_risk_config at_risk;
    fb_sweep *sweep;
};

/* Start the periodic at-risk sweep on the runtime's loop; stop it at shutdown. */
tdm_status *fb_sweep_start(fb_service *svc);
void fb_sweep_stop(fb_service *svc);

tdm_status *fb_register(tdm_runtime *rt, fb_service *svc);
/* Fill r for a call; NULL, or PERMISSION_DENIED when a scope bit is missing. */
tdm_status *fb_req_init(fb_req *r, fb_service *svc, tdm_call *call, uint32_t scope);
tdm_status *fb_register_persondata(tdm_runtime *rt, fb_service *svc);
/* programme_figures.c: tandem.internal.v1.ProgrammeFiguresService, one programme's
 * figures for enrolment's benchmark job (docs/benchmarks.md). */
tdm_status *fb_programme_figures_register(tdm_runtime *rt, fb_service *svc);

#endif
