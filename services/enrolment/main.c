/*
 * main.c - tandem-enrolment: programmes, participants and personal-data requests
 * (API.md "EnrolmentService"). The runtime does the process life; this file only
 * names the service, its schema and migrations, and registers the handlers.
 */
#include "enrolment.h"
#include "report_inputs.h"

#include "enrolment_migrations.h"

static enrol_service service;

static tdm_status *enrolment_init(tdm_runtime *rt)
{
    tdm_status *st = enrol_register(rt, &service);
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
