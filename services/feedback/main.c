/*
 * main.c - tandem-feedback: check-ins, surveys, the programme report and the at-risk
 * pairs of a programme (API.md, FeedbackService), and feedback's half of a person's
 * export and erasure (tandem.internal.v1.PersonDataService). The runtime does the
 * process life (runtime.h); this file names the service, its schema and migrations,
 * and registers the handlers.
 */
#include "feedback.h"
#include "usage.h"

#include "feedback_migrations.h"

static fb_service service;

static tdm_status *feedback_init(tdm_runtime *rt)
{
    tdm_status *st = fb_register(rt, &service);
    if (st == NULL)
        st = fb_usage_register(rt);
    return st != NULL ? st : fb_programme_figures_register(rt, &service);
}

int main(void)
{
    static const tdm_service_spec spec = {
        .name = FB_SERVICE,
        .default_port = TDM_PORT_FEEDBACK,
        .schema = FB_SCHEMA,
        .migrations = feedback_migrations,
        .n_migrations = FEEDBACK_MIGRATIONS_COUNT,
        .init = feedback_init,
    };
    return tdm_runtime_main(&spec);
}
