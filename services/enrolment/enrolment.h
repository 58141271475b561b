/*
 * enrolment.h - the private interfaces of tandem-enrolment.
 *
 *   handlers.c    one function per RPC: scope check, validation, store call, reply
 *   persondata.c  ExportPerson / ErasePerson: local store + PersonDataService peers
 *   validate.c    pure checks of requests (no I/O but the time-zone list, read once)
 *   rows.c        SQL row documents (JSON) <-> protobuf messages, page tokens
 *   store.c       every SQL statement, run on the async pool in one transaction each
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
#include "tandem/internal/v1/erasure.pb-c.h"
#include "tandem/v1/enrolment.pb-c.h"

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
/* Load the zone list (call once at start-up; later calls are no-ops). */
void enrol_timezones_load(void);

/* ---- rows.c --------------------------------------------------------------------- */

/* The rows to write (those without a row error; each keeps its index as "ord") as
 * the upsert statement's jsonb array, in the arena. NULL when out of memory or when a
 * string is not UTF-8. */
char *enrol_participants_document(Tandem__V1__Participant **rows, tdm_status **row_errors, size_t n,
                                  tdm_arena *a);
/* The columns the upsert answers besides what it was sent (text as libpq gives it;
 * NULL for SQL NULL): output-only fields and what the database fills in. */
typedef struct enrol_stored_columns {
    const char *id, *programme_id, *status;
    const char *consent_granted_us, *create_us, *update_us, *withdraw_us; /* Unix us */
    const char *withdraw_reason;
} enrol_stored_columns;
/* The participant as stored by the upsert of `sent` (one of the rows of
 * enrol_participants_document): its written fields as sent, the rest from `col`.
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

/* Every store call completes once with a status or its response message. */
typedef void (*enrol_store_cb)(void *arg, tdm_status *st, ProtobufCMessage *msg);

/* Read-modify-write: called inside the transaction with the current row; returns
 * NULL with *next set, or the status that aborts the update. */
typedef tdm_status *(*enrol_programme_apply_fn)(void *arg, const Tandem__V1__Programme *current,
                                                Tandem__V1__Programme **next);
typedef tdm_status *(*enrol_participant_apply_fn)(void *arg, const Tandem__V1__Participant *current,
                                                  Tandem__V1__Participant **next);

void enrol_store_create_programme(const enrol_req *r, const Tandem__V1__Programme *p,
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

/* ---- handlers.c / persondata.c --------------------------------------------------- */

/* TANDEM_PERSON_HASH_KEY: at least this many characters of high-entropy secret. */
#define ENROL_MIN_PERSON_HASH_KEY_CHARS 16

typedef struct enrol_service {
    tdm_runtime *rt;
    const char *person_hash_key; /* TANDEM_PERSON_HASH_KEY; NULL: no export or erasure */
} enrol_service;

tdm_status *enrol_register(tdm_runtime *rt, enrol_service *svc);
void enrol_handle_export_person(tdm_call *call, const ProtobufCMessage *req, void *data);
void enrol_handle_erase_person(tdm_call *call, const ProtobufCMessage *req, void *data);
/* Fill r for a call; NULL, or PERMISSION_DENIED when a scope bit is missing. */
tdm_status *enrol_req_init(enrol_req *r, enrol_service *svc, tdm_call *call, uint32_t scope);

#endif
