/*
 * main.c - tandem-enrolment: programmes, participants and personal-data requests
 * (API.md "EnrolmentService"). The runtime does the process life; this file only
 * names the service, its schema and migrations, and registers the handlers.
 */
#include "enrolment.h"
#include "report_inputs.h"

#include "enrolment_migrations.h"

#include <stdlib.h>
#include <string.h>

#include "tandem/log.h"

static enrol_service service;

/* TANDEM_PERSON_HASH_KEY keys the person hash of erasures and exports; unset, the
 * service runs but refuses ExportPerson and ErasePerson (and says so at start). */
static tdm_status *person_hash_key_load(void)
{
    const char *key = getenv("TANDEM_PERSON_HASH_KEY");
    if (key == NULL || key[0] == '\0') {
        tdm_log_fields(TDM_LOG_WARN, NULL,
                       "TANDEM_PERSON_HASH_KEY is not set: ExportPerson and ErasePerson "
                       "will be refused",
                       NULL);
        return NULL;
    }
    if (strlen(key) < ENROL_MIN_PERSON_HASH_KEY_CHARS)
        return tdm_status_new(TDM_INVALID_ARGUMENT,
                              "TANDEM_PERSON_HASH_KEY is too short: it must be at least %d "
                              "characters of high-entropy secret",
                              ENROL_MIN_PERSON_HASH_KEY_CHARS);
    service.person_hash_key = key;
    return NULL;
}

static tdm_status *enrolment_init(tdm_runtime *rt)
{
    tdm_status *st = person_hash_key_load();
    if (st != NULL)
        return st;
    st = enrol_register(rt, &service);
    if (st == NULL)
        st = enrol_directory_register(rt, &service);
    if (st == NULL)
        st = enrol_report_inputs_register(rt, &service);
    return st != NULL ? st : enrol_scheduler_start(rt, &service.scheduler);
}

static void enrolment_shutdown(tdm_runtime *rt)
{
    (void)rt;
    enrol_scheduler_stop(service.scheduler);
}

int main(void)
{
    tdm_service_spec spec = {
        .name = ENROL_SERVICE,
        .default_port = TDM_PORT_ENROLMENT,
        .schema = ENROL_SCHEMA,
        .migrations = enrolment_migrations,
        .n_migrations = ENROLMENT_MIGRATIONS_COUNT,
        .init = enrolment_init,
        .shutdown = enrolment_shutdown,
    };
    return tdm_runtime_main(&spec);
}
