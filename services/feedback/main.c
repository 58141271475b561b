/*
 * main.c - tandem-feedback: check-ins, surveys, the programme report and the at-risk
 * pairs of a programme (API.md, FeedbackService). This file wires the configuration, the
 * runtime and the service together; the runtime does the rest (runtime.h).
 *
 * The service applies its schema's migrations at start and serves health,
 * readiness and metrics; the FeedbackService methods are registered here as they
 * are built.
 */
#include "tandem/runtime.h"

#include "feedback_migrations.h"

static tdm_status *feedback_init(tdm_runtime *rt)
{
    (void)rt;
    return NULL;
}

int main(void)
{
    static const tdm_service_spec spec = {
        .name = "feedback",
        .default_port = TDM_PORT_FEEDBACK,
        .schema = "feedback",
        .migrations = feedback_migrations,
        .n_migrations = FEEDBACK_MIGRATIONS_COUNT,
        .init = feedback_init,
    };
    return tdm_runtime_main(&spec);
}
