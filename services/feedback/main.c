/*
 * main.c - tandem-feedback: check-ins, surveys, the programme report and the at-risk
 * pairs of a programme (API.md, FeedbackService), and feedback's half of a person's
 * export and erasure (tandem.internal.v1.PersonDataService). The runtime does the
 * process life (runtime.h); this file names the service, its schema and migrations,
 * reads its own settings, registers the handlers and starts the at-risk sweep.
 */
#include "feedback.h"
#include "usage.h"

#include "feedback_migrations.h"

static fb_service service;

static tdm_status *feedback_load_config(void)
{
    return fb_at_risk_config_load(&service.at_risk);
}

static tdm_status *feedback_init(tdm_runtime *rt)
{
    tdm_status *st = fb_register(rt, &service);
    if (st == NULL)
        st = fb_usage_register(rt);
    if (st == NULL)
        st = fb_programme_figures_register(rt, &service);
    return st != NULL ? st : fb_sweep_start(&service);
}

static void feedback_shutdown(tdm_runtime *rt)
{
    (void)rt;
    fb_sweep_stop(&service);
}

int main(void)
{
    static const tdm_service_spec spec = {
        .name = FB_SERVICE,
        .default_port = TDM_PORT_FEEDBACK,
        .schema = FB_SCHEMA,
        .migrations = feedback_migrations,
        .n_migrations = FEEDBACK_MIGRATIONS_COUNT,
        .load_config = feedback_load_config,
        .init = feedback_init,
        .shutdown = feedback_shutdown,
    };
    return tdm_runtime_main(&spec);
}
