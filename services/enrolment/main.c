/*
 * main.c - tandem-enrolment: programmes, participants and personal-data requests
 * (API.md "EnrolmentService"). The runtime does the process life; this file only
 * names the service, its schema and migrations, and registers the handlers.
 */
#include "enrolment.h"
#include "benchmarks.h"
#include "report_inputs.h"
#include "usage.h"

#include "enrolment_migrations.h"

#include "tandem/config.h"
#include "tandem/log.h"

static enrol_service service;
static enrol_scheduler_config scheduler_config;
static enrol_benchmark_config benchmark_config;
static enrol_benchmark_job *benchmark_job;

/* enrolment's own settings: the survey scheduler's, the benchmark job's
 * (TANDEM_BENCHMARK_INTERVAL_SECONDS), and TANDEM_PERSON_HASH_KEY, which
 * keys the person hash of erasures and exports (a secret of at least
 * ENROL_MIN_PERSON_HASH_KEY_CHARS characters); unset, the service runs but refuses
 * ExportPerson and ErasePerson, and says so. */
static tdm_status *load_config(void)
{
    tdm_status *st =
        tdm_config_secret(NULL, "TANDEM_PERSON_HASH_KEY", ENROL_MIN_PERSON_HASH_KEY_CHARS,
                          "of high-entropy secret", &service.person_hash_key);
    if (st == NULL && service.person_hash_key == NULL)
        tdm_log_fields(TDM_LOG_WARN, NULL,
                       "TANDEM_PERSON_HASH_KEY is not set: ExportPerson and ErasePerson "
                       "will be refused",
                       NULL);
    if (st == NULL)
        st = enrol_scheduler_config_load(&scheduler_config);
    return st != NULL ? st : enrol_benchmark_config_load(&benchmark_config);
}

static tdm_status *enrolment_init(tdm_runtime *rt)
{
    tdm_status *st = enrol_register(rt, &service);
    if (st == NULL)
        st = enrol_directory_register(rt, &service);
    if (st == NULL)
        st = enrol_report_inputs_register(rt, &service);
    if (st == NULL)
        st = enrol_usage_register(rt);
    if (st == NULL)
        st = enrol_scheduler_start(rt, &scheduler_config, &service.scheduler);
    return st != NULL ? st : enrol_benchmark_job_start(rt, &benchmark_config, &benchmark_job);
}

static void enrolment_shutdown(tdm_runtime *rt)
{
    (void)rt;
    enrol_scheduler_stop(service.scheduler);
    enrol_benchmark_job_stop(benchmark_job);
}

int main(void)
{
    tdm_service_spec spec = {
        .name = ENROL_SERVICE,
        .default_port = TDM_PORT_ENROLMENT,
        .schema = ENROL_SCHEMA,
        .migrations = enrolment_migrations,
        .n_migrations = ENROLMENT_MIGRATIONS_COUNT,
        .load_config = load_config,
        .init = enrolment_init,
        .shutdown = enrolment_shutdown,
    };
    return tdm_runtime_main(&spec);
}
