/*
 * persondata.c - tandem.internal.v1.PersonDataService on feedback: the enrolment
 * service's ExportPerson and ErasePerson ask here for the check-ins and survey
 * responses of a person's participant ids. Export includes notes (it goes to the
 * person, a side of each match); erasure anonymises in one transaction so that
 * every aggregate stays the same while nothing links the rows to the person.
 * The runtime serves the calls (tandem/person_data.h: scope admin, ids checked);
 * the store's fb_store_export and fb_store_erase answer them.
 */
#include "feedback.h"

#include "tandem/person_data.h"

tdm_status *fb_register_persondata(tdm_runtime *rt, fb_service *svc)
{
    svc->person_data = (tdm_person_data_service){
        .rt = rt,
        .export_participants = fb_store_export,
        .erase_participants = fb_store_erase,
    };
    return tdm_person_data_register(&svc->person_data);
}
