/*
 * enrolment.h - the private interfaces of tandem-enrolment.
 *
 *   handlers.c    one function per RPC: scope check, validation, store call, reply
 *   persondata.c  ExportPerson / ErasePerson: local store + PersonDataService peers
 *   validate.c    pure checks of requests (no I/O but the time-zone list, read once)
 *   rows.c        SQL row documents (JSON) <-> protobuf messages, page tokens
 *   store.c       every SQL statement, run on the async pool in one transaction each
 *   benchmarks.h  the template benchmarks: their job, store and handlers
 *
 * Everything a call allocates lives in its arena (tdm_call_arena).
 */
#ifndef TANDEM_ENROLMENT_H
#define TANDEM_ENROLMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "tandem/arena.h"
#include "tandem/check.h"
#include "tandem/handler.h"
#include "tandem/page_token.h"
#include "tandem/idempotency.h"
#include "tandem/pg.h"
#include "tandem/runtime.h"
#include "tandem/server.h"
#include "tandem/status.h"
#include "tandem/store.h"
#include "tandem/internal/v1/directory.pb-c.h"
#include "tandem/internal/v1/erasure.pb-c.h"
#include "tandem/v1/enrolment.pb-c.h"
#include "tandem/internal/v1/participant_token.pb-c.h"

#define ENROL_SCHEMA           "enrolment"
#define ENROL_SERVICE          "enrolment"
#define ENROL_MAX_BATCH_ROWS   10000u
#define ENROL_MAX_NAME_CHARS   200u
#define ENROL_MAX_LIST_ITEMS   50u
#define ENROL_MAX_ITEM_CHARS   100u
#define ENROL_MAX_CHAIN_ITEMS  20u
#define ENROL_MAX_OBJECTIVES   20u
#define ENROL_MAX_EMAIL_BYTES  254u
#define ENROL_MAX_TZ_BYTES     64u
#define ENROL_MAX_REASON_CHARS 1000u
/* anonymity_threshold: API.md "Anonymity that survives a determined reader". */
#define ENROL_MIN_ANONYMITY_THRESHOLD     3
#define ENROL_MAX_ANONYMITY_THRESHOLD     1000
#define ENROL_DEFAULT_ANONYMITY_THRESHOLD 5
#define ENROL_MAX_PERSON_EMAILS           10u
/* Peers of ExportPerson/ErasePerson get at most this long when the call has no
 * earlier deadline. */
#define ENROL_PEER_TIMEOUT_MS 10000u

/* ---- validate.c --------------------------------------------------------------- */

bool enrol_email_valid(const char *s);
/* An IANA zone or link name known to the system's tzdata ("Europe/London"). */
bool enrol_timezone_valid(const char *s);
/* A real calendar date "YYYY-MM-DD" (such strings sort like the dates). */
bool enrol_date_valid(const char *s);

/* Add every violation of p (as a programme to store) to v, fields prefixed by
 * prefix ("programme"). */
void enrol_validate_programme(const Tandem__V1__Programme *p, const char *prefix,
                              tdm_violations *v);
/* The same for a participant; field paths are relative to prefix ("participant",
 * or "" for a BatchEnrol row whose error paths are relative to the row). */
void enrol_validate_participant(const Tandem__V1__Participant *p, const char *prefix,
                                tdm_violations *v);
/* FAILED_PRECONDITION when diversity data comes without consent.diversity_data. */
tdm_status *enrol_check_diversity_consent(const Tandem__V1__Participant *p, const char *prefix);
/* 0 for no mask or "*"; fills the 'paths' view. Masks name fields in proto or
 * lowerCamelCase names; normalised to proto names in the arena. */
tdm_status *enrol_mask_paths(const Google__Protobuf__FieldMask *mask, tdm_arena *a, char ***paths,
                             size_t *n);
/* Merge the fields of src named by the mask (all writable fields when n == 0) into
 * dst; INVALID_ARGUMENT naming update_mask for unknown or read-only paths. */
tdm_status *enrol_merge_programme(Tandem__V1__Programme *dst, const Tandem__V1__Programme *src,
                                  char **paths, size_t n, tdm_arena *a);
tdm_status *enrol_merge_participant(Tandem__V1__Participant *dst,
                                    const Tandem__V1__Participant *src, char **paths, size_t n,
                                    tdm_arena *a);
/* Add every violation of p (a directory person to store) to v, fields prefixed by
 * prefix ("person"). */
void enrol_validate_person(const Tandem__Internal__V1__Person *p, const char *prefix,
                           tdm_violations *v);
/* Load the zone list (call once at start-up; later calls are no-ops). */
void enrol_timezones_load(void);

/* ---- template_rules.c (pure) ------------------------------------------------------ */

#define ENROL_MAX_TEMPLATE_SURVEYS 20u
#define ENROL_MAX_SURVEY_OPEN_DAY  3660

/* Add every violation of t (as a template to store) to v, fields prefixed
 * "template"; its surveys are checked by feedback's own rule for CreateSurvey. */
void enrol_validate_template(const Tandem__V1__ProgrammeTemplate *t, tdm_violations *v);
/* Merge the fields of src named by the mask (every writable field when n == 0) into
 * dst; INVALID_ARGUMENT naming update_mask for unknown or output-only paths. */
tdm_status *enrol_merge_template(Tandem__V1__ProgrammeTemplate *dst,
                                 const Tandem__V1__ProgrammeTemplate *src, char **paths, size_t n,
                                 tdm_arena *a);
/* The programme CreateProgrammeFromTemplate makes of template version t: the
 * template's fields, the request's name and dates, then req->overrides under
 * req->update_mask (paths already normalised: n paths). NULL, or the refusal. */
tdm_status *enrol_programme_from_template(const Tandem__V1__ProgrammeTemplate *t,
                                          const Tandem__V1__CreateProgrammeFromTemplateRequest *req,
                                          char **paths, size_t n, tdm_arena *a,
                                          Tandem__V1__Programme **out);

/* ---- rows.c --------------------------------------------------------------------- */

/* The rows to write as the upsert's parameters: one binary array (array_recv's
 * format) a column, in this order (the statement's $2..$29); lists are text[]
 * literals cast per row. Zero-initialise, enrol_rows_add each row to write (ord: its
 * index in the request), then enrol_rows_finish. */
enum {
    ENROL_COL_ORD,
    ENROL_COL_EXTERNAL_ID,
    ENROL_COL_DISPLAY_NAME,
    ENROL_COL_EMAIL,
    ENROL_COL_ROLE,
    ENROL_COL_SENIORITY,
    ENROL_COL_YEARS,
    ENROL_COL_PRACTICE_AREA,
    ENROL_COL_OFFICE,
    ENROL_COL_DEPARTMENT,
    ENROL_COL_REPORTING_CHAIN,
    ENROL_COL_SKILL_NAMES,
    ENROL_COL_SKILL_LEVELS,
    ENROL_COL_INTERESTS,
    ENROL_COL_GOALS,
    ENROL_COL_LANGUAGES,
    ENROL_COL_AVAILABILITY,
    ENROL_COL_TIMEZONE,
    ENROL_COL_CAPACITY,
    ENROL_COL_CONSENT_DATA,
    ENROL_COL_CONSENT_DIVERSITY,
    ENROL_COL_CONSENT_SECS,
    ENROL_COL_HAS_DIVERSITY,
    ENROL_COL_GENDER,
    ENROL_COL_ETHNICITY,
    ENROL_COL_FIRST_GENERATION,
    ENROL_COL_DISABILITY,
    ENROL_COL_OTHER,
    ENROL_ROW_COLUMNS
};
typedef struct enrol_column {
    uint8_t *data; /* malloc'd: the array's header, then its elements */
    size_t len, cap;
    bool nulls;
} enrol_column;
typedef struct enrol_rows {
    enrol_column col[ENROL_ROW_COLUMNS];
    size_t n;
    bool failed; /* out of memory */
} enrol_rows;
void enrol_rows_add(enrol_rows *b, const Tandem__V1__Participant *p, int ord);
/* Free the columns' buffers (give it to tdm_arena_defer before the first add). */
void enrol_rows_free(void *b);
/* Empty the columns for the next statement's rows, keeping their buffers. */
void enrol_rows_reset(enrol_rows *b);
/* The columns as parameters (values, lengths, types: ENROL_ROW_COLUMNS each; format
 * binary), pointing into b's buffers. 0, or -1 when out of memory or there is no
 * row. */
int enrol_rows_finish(enrol_rows *b, const char **values, int *lengths, Oid *types);
/* The columns the upsert answers besides what it was sent (text as libpq gives it;
 * NULL for SQL NULL): output-only fields and what the database fills in. */
typedef struct enrol_stored_columns {
    const char *id, *programme_id, *status;
    const char *consent_granted_us, *create_us, *update_us, *withdraw_us; /* Unix us */
    const char *withdraw_reason;
} enrol_stored_columns;
/* The participant as stored by the upsert of `sent` (one of the rows of
 * enrol_rows_add): its written fields as sent, the rest from `col`.
 * Equal to what enrol_participant_from_row gives for the row read back; saves the
 * statement building and this process parsing a JSON document per row. Diversity is
 * kept only when include_diversity. NULL when out of memory. */
Tandem__V1__Participant *enrol_participant_stored(const Tandem__V1__Participant *sent,
                                                  const enrol_stored_columns *col,
                                                  bool include_diversity, tdm_arena *a);
/* A participant from a row document produced by the store's SELECTs. Diversity is
 * kept only when include_diversity. NULL when out of memory or malformed. */
Tandem__V1__Participant *enrol_participant_from_row(const char *json, size_t len, tdm_arena *a,
                                                    bool include_diversity);
Tandem__V1__Programme *enrol_programme_from_row(const char *json, size_t len, tdm_arena *a);
/* A new Participant holding only p's id, programme_id, role and status: what
 * feedback may know of a person for a feedback key (arena; NULL when out of memory). */
Tandem__V1__Participant *enrol_participant_feedback_view(const Tandem__V1__Participant *p,
                                                         tdm_arena *a);
/* A Timestamp from Unix microseconds, in the arena; NULL when out of memory. */
Google__Protobuf__Timestamp *enrol_time_from_us(long long us, tdm_arena *a);
/* A template version from its row document ({id, version, body, create_us,
 * update_us}). NULL when out of memory or malformed. */
Tandem__V1__ProgrammeTemplate *enrol_template_from_row(const char *json, size_t len, tdm_arena *a);
/* What a template version stores: its JSON without id, version and times. */
char *enrol_template_body_json(const Tandem__V1__ProgrammeTemplate *t, tdm_arena *a);
/* The template's surveys as the schedule the programme insert takes:
 * [{"ordinal", "open_day", "survey"}] (arena). */
char *enrol_schedule_document(const Tandem__V1__ProgrammeTemplate *t, tdm_arena *a);
/* The programme's objectives as a JSON array text (arena). */
char *enrol_objectives_json(const Tandem__V1__Programme *p, tdm_arena *a);
/* The participant's JSON for webhooks ({"participant": {...}}), never with diversity. */
char *enrol_participant_event_json(const Tandem__V1__Participant *p, tdm_arena *a);
/* HMAC-SHA256(key, tenant_id || external_id): names a person in the audit and in
 * erased rows, answerable by whoever knows the id and the key, not reversible by
 * trying ids without the key (API.md "Erasure that leaves nothing behind"). The
 * tenant id is a UUID of fixed length, so the concatenation is unambiguous.
 * 0, or -1 when the key is missing or libcrypto fails. */
int enrol_person_hash(const char *key, const char *tenant_id, const char *external_id,
                      uint8_t out[32]);

/* ---- store.c -------------------------------------------------------------------- */

/* What every store call needs to know about its call. */
typedef struct enrol_req {
    tdm_pg_pool *pool;
    tdm_arena *arena;
    const tdm_call_context *ctx;
    const tdm_idem_key *idem; /* NULL: no Idempotency-Key */
    bool include_diversity;   /* the caller has the admin scope */
} enrol_req;

/* The store's owner (schema and outbox source) for every store file. */
extern const tdm_store_owner ENROL_STORE_OWNER;

/* Every store call completes once with a status or its response message. */
typedef void (*enrol_store_cb)(void *arg, tdm_status *st, ProtobufCMessage *msg);

/* Read-modify-write: called inside the transaction with the current row; returns
 * NULL with *next set, or the status that aborts the update. */
typedef tdm_status *(*enrol_programme_apply_fn)(void *arg, const Tandem__V1__Programme *current,
                                                Tandem__V1__Programme **next);
typedef tdm_status *(*enrol_participant_apply_fn)(void *arg, const Tandem__V1__Participant *current,
                                                  Tandem__V1__Participant **next);

/* Create p; when from is set (CreateProgrammeFromTemplate), record the template
 * version and schedule its surveys (schedule: enrol_schedule_document, relative to
 * p->start_date) in the same transaction. */
void enrol_store_create_programme(const enrol_req *r, const Tandem__V1__Programme *p,
                                  const Tandem__V1__TemplateRef *from, const char *schedule,
                                  enrol_store_cb cb, void *arg);
void enrol_store_get_programme(const enrol_req *r, const char *id, enrol_store_cb cb, void *arg);
void enrol_store_list_programmes(const enrol_req *r, const Tandem__V1__ListProgrammesRequest *q,
                                 int page_size, int64_t after_seq, enrol_store_cb cb, void *arg);
void enrol_store_update_programme(const enrol_req *r, const char *id,
                                  enrol_programme_apply_fn apply, void *apply_arg,
                                  enrol_store_cb cb, void *arg);
/* Enrol (rows_n == 1, upsert false: a duplicate external_id is ALREADY_EXISTS) or
 * BatchEnrol (upsert true). row_errors[i] != NULL marks a row refused before the
 * store (it is reported, not written); the store takes those statuses. The
 * response is the Participant (Enrol) or the BatchEnrolResponse. */
void enrol_store_enrol(const enrol_req *r, const char *programme_id, Tandem__V1__Participant **rows,
                       tdm_status **row_errors, size_t n, bool batch, enrol_store_cb cb, void *arg);
/* BatchEnrol: its rows kept as bytes in `request` (a BatchEnrolRequest decoded
 * with its participants lazy, tandem/protobuf.h), decoded one at a time as they are
 * written and once more for the response; external_ids[i] is row i's. Otherwise as
 * enrol_store_enrol with batch. */
void enrol_store_batch_enrol(const enrol_req *r, const char *programme_id,
                             const ProtobufCMessage *request, const char **external_ids,
                             tdm_status **row_errors, size_t n, enrol_store_cb cb, void *arg);
void enrol_store_get_participant(const enrol_req *r, const char *id, enrol_store_cb cb, void *arg);
void enrol_store_list_participants(const enrol_req *r, const Tandem__V1__ListParticipantsRequest *q,
                                   int page_size, int64_t after_seq, enrol_store_cb cb, void *arg);
void enrol_store_update_participant(const enrol_req *r, const char *id,
                                    enrol_participant_apply_fn apply, void *apply_arg,
                                    enrol_store_cb cb, void *arg);
void enrol_store_withdraw(const enrol_req *r, const char *id, const char *reason, enrol_store_cb cb,
                          void *arg);
/* A PersonExport holding the person's live participations (with diversity); also
 * *ids gets every participant id ever held for the person (live, or erased and
 * named by person_hash) for the peers. NOT_FOUND when there is none. */
void enrol_store_find_person(const enrol_req *r, const char *external_id,
                             const uint8_t person_hash[32], char ***ids, size_t *n_ids,
                             enrol_store_cb cb, void *arg);
/* Anonymise the person's live participations, delete their diversity records and
 * write the audit row, in one transaction. Response: ErasureCounts. */
void enrol_store_erase_person(const enrol_req *r, const char *external_id,
                              const uint8_t person_hash[32], const char *unreachable_array,
                              enrol_store_cb cb, void *arg);
/* Write the audit row of an export. Response: NULL message. */
void enrol_store_audit_export(const enrol_req *r, const uint8_t person_hash[32], int participants,
                              const char *unreachable_array, enrol_store_cb cb, void *arg);

/* ---- token_store.c ----------------------------------------------------------------- */

/* Keep the hash (hex) of a new token acting as participant `id` for ttl_s seconds,
 * minted by the context's key; expired tokens of the participant are pruned.
 * Response: ParticipantToken with `token` and its expire_time. NOT_FOUND for an
 * unknown or erased participant, FAILED_PRECONDITION for a withdrawn one. */
void enrol_store_issue_token(const enrol_req *r, const char *id, const char *token,
                             const char *hash_hex, int ttl_s, enrol_store_cb cb, void *arg);
/* The live token with this hash (hex): Response VerifiedParticipantToken; NOT_FOUND
 * when unknown, expired, or its participant is withdrawn or erased. */
void enrol_store_verify_token(const enrol_req *r, const char *hash_hex, enrol_store_cb cb,
                              void *arg);

/* ---- directory_store.c: the people directory (DirectoryService) ------------------ */

/* Create / replace / delete a person and carry the change to the participants the
 * directory governs, in one transaction (see directory_store.c). Responses: the
 * Person, or Empty for a delete. */
void enrol_store_create_person(const enrol_req *r, const Tandem__Internal__V1__Person *p,
                               enrol_store_cb cb, void *arg);
void enrol_store_replace_person(const enrol_req *r, const Tandem__Internal__V1__Person *p,
                                int64_t if_version, enrol_store_cb cb, void *arg);
void enrol_store_delete_person(const enrol_req *r, const char *id, int64_t if_version,
                               enrol_store_cb cb, void *arg);
void enrol_store_get_person(const enrol_req *r, const char *id, enrol_store_cb cb, void *arg);
void enrol_store_list_people(const enrol_req *r, const Tandem__Internal__V1__ListPeopleRequest *q,
                             int page_size, int64_t after_seq, enrol_store_cb cb, void *arg);

/* Enrolling a directory person (Enrol, BatchEnrol, UpdateParticipant): the store
 * sends enrol_directory_lookup for the JSON array of the rows' external ids
 * (enrol_directory_keys, rows without an error), then enrol_directory_match finds
 * each found person's rows: a row of a deprovisioned person is refused (its row
 * error in BatchEnrol, or the status returned), the others get the person's profile
 * document in profiles[i] (arena; NULL for a row of no directory person).
 * enrol_directory_fill writes a profile onto its row - name, e-mail, the set ones
 * of department, office, practice area, seniority and years, and the
 * reporting_chain of their manager links - when the row is decoded (BatchEnrol's
 * rows are decoded one at a time, so nothing holds them all). lock: FOR SHARE on
 * the people (new participants; see directory_store.c). */
char *enrol_directory_keys(const char *const *external_ids, tdm_status **row_errors, size_t n,
                           tdm_arena *a);
void enrol_directory_lookup(tdm_store_op *op, const char *const *keys_json, bool lock,
                            tdm_store_step next);
tdm_status *enrol_directory_match(PGresult *res, const char *const *external_ids,
                                  tdm_status **row_errors, size_t n, char **profiles, tdm_arena *a);
tdm_status *enrol_directory_fill(Tandem__V1__Participant *p, const char *profile, tdm_arena *a);
/* ---- store_templates.c ------------------------------------------------------------ */

/* Read-modify-write of a template: called inside the transaction with the latest
 * version; returns NULL with *next set, or the status that aborts the update. */
typedef tdm_status *(*enrol_template_apply_fn)(void *arg,
                                               const Tandem__V1__ProgrammeTemplate *current,
                                               Tandem__V1__ProgrammeTemplate **next);

void enrol_store_create_template(const enrol_req *r, const Tandem__V1__ProgrammeTemplate *t,
                                 enrol_store_cb cb, void *arg);
/* version 0: the latest. NOT_FOUND when there is no such template or version. */
void enrol_store_get_template(const enrol_req *r, const char *id, int32_t version,
                              enrol_store_cb cb, void *arg);
void enrol_store_list_templates(const enrol_req *r, int page_size, int64_t after_seq,
                                enrol_store_cb cb, void *arg);
/* A new version: apply(latest) under the template's lock, stored as latest + 1. */
void enrol_store_update_template(const enrol_req *r, const char *id, enrol_template_apply_fn apply,
                                 void *apply_arg, enrol_store_cb cb, void *arg);

/* Claim due scheduled surveys of every tenant; params: $1 the clock offset in
 * seconds, $2 how many, $3 the lease in seconds, $4 the attempts after which a row
 * is left alone. cb gets rows (tenant_id, id, programme_id, claim_id, survey JSON).
 * Non-zero when it could not start (cb is not called). */
int enrol_store_claim_due_surveys(tdm_pg_pool *pool, const char *request_id,
                                  const char *const params[4], tdm_pg_result_cb cb, void *arg);
/* In the row's tenant (r->ctx): record that scheduled survey `id`, claimed with
 * claim_id, was created as `survey`, with its survey.opened event. ABORTED when the
 * claim was lost (another replica took the row over); the response is the survey. */
void enrol_store_record_survey_opened(const enrol_req *r, const char *id, const char *claim_id,
                                      const Tandem__V1__Survey *survey, enrol_store_cb cb,
                                      void *arg);

/* ---- survey_scheduler.c ----------------------------------------------------------- */

typedef struct enrol_scheduler enrol_scheduler;
/* The scheduler's settings: TANDEM_SURVEY_SCHEDULER_INTERVAL_MS (how often each
 * replica looks) and TANDEM_TEST_CLOCK_OFFSET (seconds added to "now"; tests only). */
typedef struct enrol_scheduler_config {
    int interval_ms;
    int clock_offset_s;
} enrol_scheduler_config;
/* Read them (tandem/config.h's readers); INVALID_ARGUMENT naming a bad variable. */
tdm_status *enrol_scheduler_config_load(enrol_scheduler_config *cfg);
/* Start the scheduler with cfg. */
tdm_status *enrol_scheduler_start(tdm_runtime *rt, const enrol_scheduler_config *cfg,
                                  enrol_scheduler **out);
/* Take no new work; a pass in flight completes on its own. */
void enrol_scheduler_stop(enrol_scheduler *s);

/* ---- handlers.c / persondata.c --------------------------------------------------- */

/* TANDEM_PERSON_HASH_KEY: at least this many characters of high-entropy secret. */
#define ENROL_MIN_PERSON_HASH_KEY_CHARS 16

typedef struct enrol_service {
    tdm_runtime *rt;
    char *person_hash_key;             /* TANDEM_PERSON_HASH_KEY; NULL: no export or erasure */
    struct enrol_scheduler *scheduler; /* survey_scheduler.c */
} enrol_service;

tdm_status *enrol_register(tdm_runtime *rt, enrol_service *svc);
/* directory.c: registers DirectoryService. */
tdm_status *enrol_directory_register(tdm_runtime *rt, enrol_service *svc);
void enrol_handle_export_person(tdm_call *call, const ProtobufCMessage *req, void *data);
void enrol_handle_erase_person(tdm_call *call, const ProtobufCMessage *req, void *data);
/* Fill r for a call; NULL, or PERMISSION_DENIED when a scope bit is missing. */
tdm_status *enrol_req_init(enrol_req *r, enrol_service *svc, tdm_call *call, uint32_t scope);
/* Whether the call's key has the admin scope. */
bool enrol_req_admin(const enrol_req *r);
/* The anonymity threshold guards every report of the programme, so only an admin
 * key sets it to anything but the default or changes it (API.md); `from` is the
 * value it replaces (stored, or the template's), 0 on creation. PERMISSION_DENIED
 * naming `field`, else NULL. */
tdm_status *enrol_check_threshold_change(bool admin, int32_t from, int32_t to, const char *field);
/* The template RPCs (templates.c), registered with the service's other methods. */
void enrol_handle_create_template(tdm_call *call, const ProtobufCMessage *req, void *data);
void enrol_handle_get_template(tdm_call *call, const ProtobufCMessage *req, void *data);
void enrol_handle_list_templates(tdm_call *call, const ProtobufCMessage *req, void *data);
void enrol_handle_update_template(tdm_call *call, const ProtobufCMessage *req, void *data);
void enrol_handle_create_from_template(tdm_call *call, const ProtobufCMessage *req, void *data);

#endif
