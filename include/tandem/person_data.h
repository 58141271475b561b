/*
 * person_data.h - tandem.internal.v1.PersonDataService, served the same way by
 * every service that holds data about participants: enrolment's ExportPerson and
 * ErasePerson ask each owner for what it holds on a person's participant ids.
 *
 * The runtime owns the handler scaffolding (scope admin, as the public calls that
 * lead here need; 1..TDM_PERSON_DATA_MAX_IDS ids, each a UUID, else
 * INVALID_ARGUMENT naming participant_ids); the service owns the two store calls,
 * which answer ExportParticipantsResponse and EraseParticipantsResponse.
 */
#ifndef TANDEM_PERSON_DATA_H
#define TANDEM_PERSON_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "tandem/internal/v1/erasure.pb-c.h"
#include "tandem/runtime.h"
#include "tandem/status.h"
#include "tandem/store.h"

/* A person's participants in one request (one per programme they joined). */
#define TDM_PERSON_DATA_MAX_IDS 1000u

/*
 * What every service's erasure does in its own schema besides its tables (API.md,
 * "Erasure that leaves nothing behind"), as CTEs to put in the erasure's statement;
 * `ids` is an SQL expression of the person's participant ids as uuid[]:
 *
 * TDM_ERASE_IDEMPOTENCY_CTE: the Idempotency-Key records whose stored response
 *   names one of the ids (Enrol, BatchEnrol, RecordCheckIn, SubmitSurveyResponse,
 *   RespondToMatch... answer the participant, check-in or match with its ids) are
 *   deleted, response and request hash alike. A retry with such a key runs anew.
 * TDM_ERASE_OUTBOX_CTE: every event whose payload names one of the ids becomes
 *   TDM_ERASED_EVENT_PAYLOAD; the gateway never fans such an event out (and the
 *   person.erased event cancels the deliveries already made of it).
 *
 * Both find the ids as text inside the stored bytes: ids are lower-case canonical
 * UUIDs, as uuid::text writes them, and never a substring of anything else.
 */
#define TDM_ERASED_EVENT_PAYLOAD "{\"erased\": true}"
#define TDM_ERASE_IDEMPOTENCY_CTE(name, schema, ids)                                               \
    " " name " AS (DELETE FROM " schema ".idempotency_keys k"                                      \
    "  WHERE k.tenant_id = " TDM_SQL_TENANT " AND k.response IS NOT NULL AND EXISTS ("             \
    "  SELECT 1 FROM unnest(" ids ") x(id)"                                                        \
    "   WHERE position(convert_to(x.id::text, 'UTF8') IN k.response) > 0) RETURNING 1)"
#define TDM_ERASE_OUTBOX_CTE(name, schema, ids)                                                    \
    " " name " AS (UPDATE " schema ".outbox o SET payload = '" TDM_ERASED_EVENT_PAYLOAD "'"        \
    "  WHERE o.tenant_id = " TDM_SQL_TENANT " AND NOT (o.payload ? 'erased') AND EXISTS ("         \
    "  SELECT 1 FROM unnest(" ids ") x(id) WHERE strpos(o.payload::text, x.id::text) > 0)"         \
    "  RETURNING 1)"

/* A store call over the participant ids (checked), completing through cb. */
typedef void (*tdm_person_data_fn)(const tdm_store_req *r, char **ids, size_t n, tdm_store_cb cb,
                                   void *arg);

typedef struct tdm_person_data_service {
    tdm_runtime *rt;
    tdm_person_data_fn export_participants; /* answers ExportParticipantsResponse */
    tdm_person_data_fn erase_participants;  /* answers EraseParticipantsResponse */
} tdm_person_data_service;

/* The answer an export fills: a new, initialised ExportParticipantsResponse in the
 * operation's arena; NULL after ending op with RESOURCE_EXHAUSTED. */
Tandem__Internal__V1__ExportParticipantsResponse *tdm_person_data_export_new(tdm_store_op *op);

/* One kind of item an export answers: the ExportParticipantsResponse field it fills
 * (a repeated message field, by its proto name, e.g. "check_ins") and the function
 * that decodes one row's document into the field's message (given row_ctx). */
typedef struct tdm_person_data_items {
    const char *field;
    tdm_store_row_fn row;
    const void *row_ctx;
} tdm_person_data_items;

/* A step of an export: every row of res, decoded from its document in column
 * doc_column, appended (after what earlier steps added) to the field of its kind:
 * kinds[0] for every row when kind_column is negative, else kinds[k] for the integer
 * k in column kind_column. The answer is op->response, a new ExportParticipantsResponse
 * (tdm_person_data_export_new) while it is NULL. True when every row was added; false
 * after ending op with the row function's status, RESOURCE_EXHAUSTED, or INTERNAL for
 * a kind outside kinds or a field the response lacks (programmer errors): the step
 * then returns. */
bool tdm_person_data_export_rows(tdm_store_op *op, const PGresult *res, int kind_column,
                                 int doc_column, const tdm_person_data_items *kinds,
                                 size_t n_kinds);

/* The last step of an erasure: its statement answers one row whose columns are the
 * counts of the ErasureCounts fields named in `fields` (proto names, in column
 * order); sets op->response to the EraseParticipantsResponse and ends the
 * operation (INTERNAL for any other result, RESOURCE_EXHAUSTED). */
void tdm_person_data_erased(tdm_store_op *op, PGresult *res, const char *const *fields,
                            size_t n_fields);

/* Serve the PersonDataService of the process with svc, which must outlive the
 * server. One per process. */
tdm_status *tdm_person_data_register(tdm_person_data_service *svc);

#endif
