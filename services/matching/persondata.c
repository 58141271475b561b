/*
 * persondata.c - tandem.internal.v1.PersonDataService on matching: the export and
 * erasure of what matching holds on given participants (proposals, matches, pins,
 * exclusions), asked by enrolment's ExportPerson / ErasePerson with the caller's
 * request context. The runtime serves the calls (tandem/person_data.h: scope admin,
 * ids checked); the store's mt_store_export and mt_store_erase answer them. Ids the
 * tenant does not hold are simply absent from the answer (row-level security), as
 * the service's contract says.
 */
#include "matching.h"

tdm_status *mt_person_data_register(tdm_runtime *rt, mt_service *svc)
{
    svc->person_data = (tdm_person_data_service){
        .rt = rt,
        .export_participants = mt_store_export,
        .erase_participants = mt_store_erase,
    };
    return tdm_person_data_register(&svc->person_data);
}
