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

#include "matching_migrations.h"

static mt_service service;

static tdm_status *matching_init(tdm_runtime *rt)
{
    tdm_status *st = mt_register(rt, &service);
    return st != NULL ? st : mt_report_inputs_register(rt, &service);
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
        .init = matching_init,
        .shutdown = matching_shutdown,
    };
    return tdm_runtime_main(&spec);
}
