/*
 * main.c - tandem-matching: the matching runs, proposals and matches of a
 * programme (API.md, MatchingService), and its part of personal-data requests
 * (tandem.internal.v1.PersonDataService). The runtime does the process life; this
 * file names the service, its schema and migrations, registers the handlers and
 * starts the run worker (run.c) and the withdrawals follower (withdrawals.c), which it
 * stops at shutdown.
 */
#include "matching.h"
#include "report_inputs.h"
#include "usage.h"

#include "matching_migrations.h"

static mt_service service;

/* matching's own settings (the runtime's configuration holds what every process reads). */
static tdm_status *load_config(void)
{
    return tdm_config_int(NULL, "TANDEM_RUN_LEASE_MS", MT_DEFAULT_RUN_LEASE_MS, 1000, 3600000,
                          &service.run_lease_ms);
}

static tdm_status *matching_init(tdm_runtime *rt)
{
    tdm_status *st = mt_register(rt, &service);
    if (st == NULL)
        st = mt_report_inputs_register(rt, &service);
    return st != NULL ? st : mt_usage_register(rt);
}

static void matching_shutdown(tdm_runtime *rt)
{
    (void)rt;
    mt_worker_stop(&service);
    mt_withdrawals_stop(&service);
}

int main(void)
{
    static const tdm_service_spec spec = {
        .name = MT_SERVICE,
        .default_port = TDM_PORT_MATCHING,
        .schema = MT_SCHEMA,
        .migrations = matching_migrations,
        .n_migrations = MATCHING_MIGRATIONS_COUNT,
        .load_config = load_config,
        .init = matching_init,
        .shutdown = matching_shutdown,
    };
    return tdm_runtime_main(&spec);
}
