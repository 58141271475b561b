/*
 * main.c - tandem-matching: the matching runs, proposals and matches of a
 * programme (API.md, MatchingService). This file wires the configuration, the
 * runtime and the service together; the runtime does the rest (runtime.h).
 *
 * The service applies its schema's migrations at start and serves health,
 * readiness and metrics; the MatchingService methods are registered here as they
 * are built.
 */
#include "tandem/runtime.h"

#include "matching_migrations.h"

static tdm_status *matching_init(tdm_runtime *rt)
{
    (void)rt;
    return NULL;
}

int main(void)
{
    static const tdm_service_spec spec = {
        .name = "matching",
        .default_port = TDM_PORT_MATCHING,
        .schema = "matching",
        .migrations = matching_migrations,
        .n_migrations = MATCHING_MIGRATIONS_COUNT,
        .init = matching_init,
    };
    return tdm_runtime_main(&spec);
}
