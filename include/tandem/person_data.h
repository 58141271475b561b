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

#include "tandem/runtime.h"
#include "tandem/status.h"
#include "tandem/store.h"

/* A person's participants in one request (one per programme they joined). */
#define TDM_PERSON_DATA_MAX_IDS 1000u

/* A store call over the participant ids (checked), completing through cb. */
typedef void (*tdm_person_data_fn)(const tdm_store_req *r, char **ids, size_t n, tdm_store_cb cb,
                                   void *arg);

typedef struct tdm_person_data_service {
    tdm_runtime *rt;
    tdm_person_data_fn export_participants; /* answers ExportParticipantsResponse */
    tdm_person_data_fn erase_participants;  /* answers EraseParticipantsResponse */
} tdm_person_data_service;

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
