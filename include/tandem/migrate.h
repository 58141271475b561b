/*
 * migrate.h - a service's schema migrations, built into its binary and applied at start.
 *
 * Files: services/<name>/migrations/NNN_<what>.sql. tdm_embed_migrations(<target>
 * <schema> <dir> [PREFIX <p>]) (cmake/TandemMigrations.cmake) turns them into a C array
 * compiled into the target and a header "<p>_migrations.h" (p defaults to the schema):
 *
 *     #include "enrolment_migrations.h"
 *     ... .migrations = enrolment_migrations, .n_migrations = ENROLMENT_MIGRATIONS_COUNT,
 *
 * (also `extern const size_t enrolment_migrations_count`). The array is sorted by
 * version; the build fails on a badly named file or a repeated version.
 *
 * The runner connects as the owner role (TANDEM_MIGRATION_DATABASE_URL), and in ONE
 * transaction:
 *   1. takes pg_advisory_xact_lock keyed by the schema, so two replicas starting at
 *      once apply the migrations exactly once (the second waits, then finds them done);
 *   2. SET LOCAL search_path TO <schema>, so unqualified names land in the schema;
 *   3. creates <schema>.schema_migrations(version, name, checksum, applied_at) if
 *      missing, and refuses (FAILED_PRECONDITION) when an applied migration's
 *      SHA-256 checksum differs from the embedded text, or when the database holds a
 *      version this binary does not know below its newest one (histories diverged;
 *      versions above the binary's newest are an older replica in a rolling
 *      deployment and are accepted);
 *   4. applies the pending migrations in order, recording each;
 *   5. grants the service role USAGE on the schema and USAGE, SELECT on the schema's
 *      sequences (what bigserial inserts need), and revokes everything on
 *      schema_migrations from it.
 * A failure rolls the whole run back.
 *
 * Table privileges are the migrations' own business (least privilege, written next to
 * the table). The service role is the user of TANDEM_DATABASE_URL (parsed with
 * PQconninfoParse); a migration names it two ways:
 *   - the placeholder @service_role@, replaced before execution by the role's quoted
 *     identifier (PQescapeIdentifier):
 *         GRANT SELECT, INSERT, UPDATE ON programmes TO @service_role@;
 *   - the setting tandem.service_role, for DO blocks:
 *         EXECUTE format('GRANT SELECT ON %I TO %I', t, current_setting('tandem.service_role'));
 * Checksums cover the text as written (before substitution), so the same migration
 * keeps its checksum whatever the role is called. A migration must not contain
 * BEGIN/COMMIT of its own.
 *
 * The runner refuses (FAILED_PRECONDITION) when the service role is a superuser or has
 * BYPASSRLS: row-level security would not protect tenants from each other.
 */
#ifndef TANDEM_MIGRATE_H
#define TANDEM_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "tandem/status.h"

/* The placeholder a migration uses for the service role (see above). */
#define TDM_MIGRATE_SERVICE_ROLE_PLACEHOLDER "@service_role@"
/* The setting holding the service role's name during a run. */
#define TDM_MIGRATE_SERVICE_ROLE_SETTING "tandem.service_role"

typedef struct tdm_migration {
    int version;      /* NNN of the file name, > 0, strictly increasing in an array */
    const char *name; /* <what> of the file name */
    const char *sql;  /* the file's text */
} tdm_migration;

typedef struct tdm_migrate_report {
    size_t applied; /* migrations applied by this run (0 when already up to date) */
    int version;    /* the schema's newest applied version after the run (0: none) */
} tdm_migrate_report;

/*
 * Apply the pending migrations of `schema`, blocking (for tests and the work pool).
 * owner_conninfo: libpq string or URI of the owner role. service_conninfo: the
 * service's (only its user is used; NULL means grants go to nobody and the role
 * checks are skipped). Returns NULL on success, UNAVAILABLE when the database
 * cannot be reached, FAILED_PRECONDITION for a refused history or role, another
 * status for a failing migration (detail: version, SQLSTATE and server message).
 * report may be NULL.
 */
tdm_status *tdm_migrate_run(const char *owner_conninfo, const char *service_conninfo,
                            const char *schema, const tdm_migration *migrations, size_t n,
                            tdm_migrate_report *report);

typedef void (*tdm_migrate_cb)(void *arg, tdm_status *st);

/*
 * tdm_migrate_run on the libuv work pool; cb runs on the loop with NULL or the
 * status (which it owns). The strings are copied; `migrations` must outlive the run
 * (it is a static array). Returns 0 and calls cb exactly once, or returns a negative
 * libuv error and never calls it. The caller retries with backoff while the database
 * is unreachable.
 */
int tdm_migrate_start(uv_loop_t *loop, const char *owner_conninfo, const char *service_conninfo,
                      const char *schema, const tdm_migration *migrations, size_t n,
                      tdm_migrate_cb cb, void *arg);

/* SHA-256 of sql as 64 lowercase hex digits and a NUL (the recorded checksum). */
void tdm_migration_checksum(const char *sql, char out[65]);

#endif
