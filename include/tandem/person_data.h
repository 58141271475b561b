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
