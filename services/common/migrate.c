/*
 * migrate.c - the migration runner (include/tandem/migrate.h).
 *
 * Start-up migrations happen once per process and take a lock another replica may
 * hold for a while, so the runner uses one blocking libpq connection on the libuv
 * work pool and reports to the loop from the after-work callback; nothing here runs
 * on the loop thread except that callback. Everything a run changes happens in ONE
 * transaction under pg_advisory_xact_lock(TDM_MIGRATE_LOCK_CLASS, hash(schema)): a
 * failure anywhere leaves the schema as it was, and two replicas starting at once
 * serialise on the lock, the second finding the work done.
 */
#include "tandem/migrate.h"

#include <libpq-fe.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tandem/log.h"
#include "tandem/pg.h"

/* The advisory lock's first key ("TDMG"); the second is the schema's FNV-1a hash. */
#define TDM_MIGRATE_LOCK_CLASS    0x54444D47
#define MIGRATE_CONNECT_TIMEOUT_S "10"
#define MAX_SCHEMA_NAME           63
#define MAX_ROLE_NAME             63

void tdm_migration_checksum(const char *sql, char out[65])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)sql, strlen(sql), digest);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static int32_t schema_lock_key(const char *schema)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)schema; *p != '\0'; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return (int32_t)h;
}

static bool schema_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_SCHEMA_NAME || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    }
    return true;
}

/* The user a connection string logs in as: its user, or libpq's default. */
static bool conninfo_user(const char *conninfo, char out[MAX_ROLE_NAME + 1])
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    PQfreemem(err);
    if (opts == NULL)
        return false;
    const char *user = NULL;
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "user") == 0 && o->val != NULL && o->val[0] != '\0')
            user = o->val;
    }
    PQconninfoOption *defaults = NULL;
    if (user == NULL) {
        defaults = PQconndefaults();
        for (PQconninfoOption *o = defaults; o != NULL && o->keyword != NULL; o++) {
            if (strcmp(o->keyword, "user") == 0 && o->val != NULL)
                user = o->val;
        }
    }
    bool ok = user != NULL && strlen(user) <= MAX_ROLE_NAME;
    if (ok)
        snprintf(out, MAX_ROLE_NAME + 1, "%s", user);
    PQconninfoFree(opts);
    PQconninfoFree(defaults);
    return ok;
}

static void notice_quiet(void *arg, const PGresult *res)
{
    (void)arg;
    (void)res; /* "relation already exists, skipping" and the like */
}

/* A run's connection and what it learned along the way. */
typedef struct migrate_run {
    PGconn *pg;
    const char *schema;
    char *schema_ident; /* quoted with PQescapeIdentifier */
    char service_role[MAX_ROLE_NAME + 1];
    char *role_ident; /* quoted, or NULL when there is no distinct service role */
} migrate_run;

/* Run sql (no parameters: simple protocol, several statements allowed) or with
 * parameters; NULL or the failure as a status naming `what`. *out gets the result
 * when wanted. */
static tdm_status *run_sql(migrate_run *r, const char *what, const char *sql, int n,
                           const char *const *values, PGresult **out)
{
    PGresult *res = n == 0 && values == NULL
                        ? PQexec(r->pg, sql)
                        : PQexecParams(r->pg, sql, n, NULL, values, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(res);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) {
        if (out != NULL)
            *out = res;
        else
            PQclear(res);
        return NULL;
    }
    tdm_status *st = tdm_pg_status_from_result(res);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    const char *sqlstate = tdm_pg_sqlstate(res);
    if (st->code != TDM_UNAVAILABLE) {
        tdm_status *wrapped =
            tdm_status_new(TDM_FAILED_PRECONDITION, "the database schema could not be migrated");
        tdm_status_free(st);
        st = wrapped;
    }
    tdm_status_set_detail(st, "%s (schema %s): SQLSTATE %s: %s", what, r->schema,
                          sqlstate[0] ? sqlstate : "none",
                          primary != NULL ? primary : PQerrorMessage(r->pg));
    PQclear(res);
    return st;
}

/* sql with every @service_role@ replaced by the quoted role (malloc'd). */
static char *substitute_role(const char *sql, const char *role_ident)
{
    const char *ph = TDM_MIGRATE_SERVICE_ROLE_PLACEHOLDER;
    size_t ph_len = strlen(ph), role_len = strlen(role_ident), count = 0;
    for (const char *p = strstr(sql, ph); p != NULL; p = strstr(p + ph_len, ph))
        count++;
    char *out = malloc(strlen(sql) + count * role_len + 1);
    if (out == NULL)
        return NULL;
    char *w = out;
    const char *p = sql;
    for (const char *hit = strstr(p, ph); hit != NULL; hit = strstr(p, ph)) {
        memcpy(w, p, (size_t)(hit - p));
        w += hit - p;
        memcpy(w, role_ident, role_len);
        w += role_len;
        p = hit + ph_len;
    }
    strcpy(w, p);
    return out;
}

static const tdm_migration *find_version(const tdm_migration *m, size_t n, int version)
{
    for (size_t i = 0; i < n; i++) {
        if (m[i].version == version)
            return &m[i];
    }
    return NULL;
}

/* Compare the recorded history with the embedded one; *applied_max gets the newest. */
static tdm_status *check_history(migrate_run *r, const tdm_migration *m, size_t n, int *applied_max)
{
    PGresult *res = NULL;
    char sql[200];
    snprintf(sql, sizeof(sql),
             "SELECT version, name, checksum FROM %s.schema_migrations "
             "ORDER BY version",
             r->schema_ident);
    tdm_status *st = run_sql(r, "reading schema_migrations", sql, 0, NULL, &res);
    if (st != NULL)
        return st;
    int newest_known = m[n - 1].version;
    *applied_max = 0;
    for (int i = 0; i < PQntuples(res) && st == NULL; i++) {
        int version = atoi(PQgetvalue(res, i, 0));
        const char *checksum = PQgetvalue(res, i, 2);
        *applied_max = version;
        const tdm_migration *mine = find_version(m, n, version);
        if (mine == NULL && version < newest_known) {
            st = tdm_status_new(TDM_FAILED_PRECONDITION,
                                "the database schema's history differs from this build's");
            tdm_status_set_detail(st,
                                  "schema %s has migration %d (%s) which this build does not know",
                                  r->schema, version, PQgetvalue(res, i, 1));
        } else if (mine != NULL) {
            char sum[65];
            tdm_migration_checksum(mine->sql, sum);
            if (strcmp(sum, checksum) != 0) {
                st = tdm_status_new(TDM_FAILED_PRECONDITION,
                                    "the database schema's history differs from this build's");
                tdm_status_set_detail(st,
                                      "schema %s: migration %03d_%s changed after it was applied "
                                      "(recorded checksum %s, this build %s)",
                                      r->schema, version, mine->name, checksum, sum);
            }
        }
    }
    PQclear(res);
    return st;
}

/* Refuse a service role that row-level security would not hold. */
static tdm_status *check_service_role(migrate_run *r)
{
    PGresult *res = NULL;
    const char *values[] = {r->service_role};
    tdm_status *st =
        run_sql(r, "checking the service role",
                "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", 1, values, &res);
    if (st != NULL)
        return st;
    if (PQntuples(res) == 0) {
        st = tdm_status_new(TDM_FAILED_PRECONDITION, "the service's database role does not exist");
        tdm_status_set_detail(st, "role %s does not exist (deploy/sql/bootstrap.sql creates it)",
                              r->service_role);
    } else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0 || strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
        st = tdm_status_new(TDM_FAILED_PRECONDITION,
                            "the service's database role bypasses row-level security");
        tdm_status_set_detail(st,
                              "role %s is SUPERUSER or BYPASSRLS; services must connect as a role "
                              "with neither (deploy/sql/bootstrap.sql)",
                              r->service_role);
    }
    PQclear(res);
    return st;
}

/* The schema exists (deploy/sql/bootstrap.sql creates it, owned by the owner role);
 * create it only when missing, since CREATE SCHEMA IF NOT EXISTS still demands CREATE
 * on the database, which the owner role need not have. */
static tdm_status *ensure_schema(migrate_run *r)
{
    PGresult *res = NULL;
    const char *values[] = {r->schema};
    tdm_status *st = run_sql(r, "looking up the schema",
                             "SELECT 1 FROM pg_namespace WHERE nspname = $1", 1, values, &res);
    if (st != NULL)
        return st;
    bool exists = PQntuples(res) > 0;
    PQclear(res);
    if (exists)
        return NULL;
    char sql[100];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", r->schema_ident);
    return run_sql(r, "creating the schema", sql, 0, NULL, NULL);
}

static tdm_status *apply_one(migrate_run *r, const tdm_migration *mig)
{
    char what[160];
    snprintf(what, sizeof(what), "migration %03d_%s", mig->version, mig->name);
    char *sql = r->role_ident != NULL ? substitute_role(mig->sql, r->role_ident) : NULL;
    if (r->role_ident != NULL && sql == NULL)
        return tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    tdm_status *st = run_sql(r, what, sql != NULL ? sql : mig->sql, 0, NULL, NULL);
    free(sql);
    if (st != NULL)
        return st;
    char version[16], checksum[65], insert[200];
    snprintf(version, sizeof(version), "%d", mig->version);
    tdm_migration_checksum(mig->sql, checksum);
    snprintf(insert, sizeof(insert),
             "INSERT INTO %s.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
             r->schema_ident);
    const char *values[] = {version, mig->name, checksum};
    return run_sql(r, "recording a migration", insert, 3, values, NULL);
}

/* The statements of one run, inside BEGIN ... COMMIT. */
static tdm_status *migrate_in_tx(migrate_run *r, const tdm_migration *m, size_t n,
                                 tdm_migrate_report *report)
{
    char key[2][16], sql[400];
    snprintf(key[0], sizeof(key[0]), "%d", TDM_MIGRATE_LOCK_CLASS);
    snprintf(key[1], sizeof(key[1]), "%d", (int)schema_lock_key(r->schema));
    const char *lock_values[] = {key[0], key[1]};
    tdm_status *st =
        run_sql(r, "taking the migration lock", "SELECT pg_advisory_xact_lock($1::int4, $2::int4)",
                2, lock_values, NULL);
    if (st != NULL)
        return st;
    snprintf(sql, sizeof(sql), "SET LOCAL search_path TO %s", r->schema_ident);
    if ((st = run_sql(r, "setting the search path", sql, 0, NULL, NULL)) != NULL)
        return st;
    const char *role_values[] = {TDM_MIGRATE_SERVICE_ROLE_SETTING,
                                 r->role_ident != NULL ? r->service_role : ""};
    if ((st = run_sql(r, "naming the service role", "SELECT set_config($1, $2, true)", 2,
                      role_values, NULL)) != NULL)
        return st;
    if (r->role_ident != NULL && (st = check_service_role(r)) != NULL)
        return st;
    if ((st = ensure_schema(r)) != NULL)
        return st;
    snprintf(sql, sizeof(sql),
             "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
             "version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
             "applied_at timestamptz NOT NULL DEFAULT now())",
             r->schema_ident);
    if ((st = run_sql(r, "creating schema_migrations", sql, 0, NULL, NULL)) != NULL)
        return st;
    int applied_max = 0;
    if ((st = check_history(r, m, n, &applied_max)) != NULL)
        return st;
    PGresult *res = NULL;
    snprintf(sql, sizeof(sql), "SELECT version FROM %s.schema_migrations", r->schema_ident);
    if ((st = run_sql(r, "reading schema_migrations", sql, 0, NULL, &res)) != NULL)
        return st;
    for (size_t i = 0; i < n && st == NULL; i++) {
        bool done = false;
        for (int row = 0; row < PQntuples(res) && !done; row++)
            done = atoi(PQgetvalue(res, row, 0)) == m[i].version;
        if (done)
            continue;
        st = apply_one(r, &m[i]);
        if (st == NULL) {
            report->applied++;
            if (m[i].version > applied_max)
                applied_max = m[i].version;
        }
    }
    PQclear(res);
    if (st != NULL)
        return st;
    report->version = applied_max;
    if (r->role_ident == NULL)
        return NULL;
    snprintf(sql, sizeof(sql),
             "GRANT USAGE ON SCHEMA %s TO %s; "
             "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %s TO %s; "
             "REVOKE ALL ON %s.schema_migrations FROM %s",
             r->schema_ident, r->role_ident, r->schema_ident, r->role_ident, r->schema_ident,
             r->role_ident);
    return run_sql(r, "granting the service role", sql, 0, NULL, NULL);
}

static bool migrations_ok(const tdm_migration *m, size_t n)
{
    if (m == NULL || n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (m[i].version <= 0 || m[i].name == NULL || m[i].sql == NULL ||
            (i > 0 && m[i].version <= m[i - 1].version))
            return false;
    }
    return true;
}

tdm_status *tdm_migrate_run(const char *owner_conninfo, const char *service_conninfo,
                            const char *schema, const tdm_migration *migrations, size_t n,
                            tdm_migrate_report *report)
{
    tdm_migrate_report scratch;
    if (report == NULL)
        report = &scratch;
    memset(report, 0, sizeof(*report));
    if (owner_conninfo == NULL || schema == NULL || !schema_name_ok(schema) ||
        !migrations_ok(migrations, n))
        return tdm_status_new(TDM_INVALID_ARGUMENT, "invalid migration set");

    migrate_run r = {.schema = schema};
    char owner[MAX_ROLE_NAME + 1];
    if (!conninfo_user(owner_conninfo, owner) ||
        (service_conninfo != NULL && !conninfo_user(service_conninfo, r.service_role)))
        return tdm_status_new(TDM_INVALID_ARGUMENT, "invalid database connection string");

    char appname[MAX_SCHEMA_NAME + 32];
    snprintf(appname, sizeof(appname), "tandem-migrate-%s", schema);
    const char *keys[] = {"dbname", "application_name", "connect_timeout", "target_session_attrs",
                          NULL};
    const char *vals[] = {owner_conninfo, appname, MIGRATE_CONNECT_TIMEOUT_S,
                          tdm_pg_write_session_attrs(owner_conninfo), NULL};
    r.pg = PQconnectdbParams(keys, vals, 1);
    if (r.pg == NULL || PQstatus(r.pg) != CONNECTION_OK) {
        tdm_status *st = tdm_status_new(TDM_UNAVAILABLE, "the database is unavailable");
        tdm_status_set_detail(st, "migration connection (schema %s): %s", schema,
                              r.pg != NULL ? PQerrorMessage(r.pg) : "out of memory");
        PQfinish(r.pg);
        return st;
    }
    PQsetNoticeReceiver(r.pg, notice_quiet, NULL);
    r.schema_ident = PQescapeIdentifier(r.pg, schema, strlen(schema));
    /* The owner granting to itself (one URL for both) is a no-op: skip the grants. */
    if (service_conninfo != NULL && strcmp(r.service_role, owner) != 0)
        r.role_ident = PQescapeIdentifier(r.pg, r.service_role, strlen(r.service_role));
    tdm_status *st = NULL;
    if (r.schema_ident == NULL ||
        (service_conninfo != NULL && strcmp(r.service_role, owner) != 0 && r.role_ident == NULL))
        st = tdm_status_new(TDM_RESOURCE_EXHAUSTED, "out of memory");
    if (st == NULL)
        st = run_sql(&r, "starting the migration transaction", "BEGIN", 0, NULL, NULL);
    if (st == NULL) {
        st = migrate_in_tx(&r, migrations, n, report);
        const char *end = st == NULL ? "COMMIT" : "ROLLBACK";
        tdm_status *end_st = run_sql(&r, "ending the migration transaction", end, 0, NULL, NULL);
        if (st == NULL)
            st = end_st;
        else
            tdm_status_free(end_st);
    }
    if (st != NULL)
        report->applied = 0;
    PQfreemem(r.schema_ident);
    PQfreemem(r.role_ident);
    PQfinish(r.pg);
    return st;
}

/* ---- on the work pool ---------------------------------------------------------- */

typedef struct migrate_job {
    uv_work_t work;
    char *owner_conninfo;
    char *service_conninfo;
    char *schema;
    const tdm_migration *migrations;
    size_t n;
    tdm_migrate_cb cb;
    void *arg;
    tdm_status *st;
    tdm_migrate_report report;
} migrate_job;

static void migrate_job_free(migrate_job *job)
{
    free(job->owner_conninfo);
    free(job->service_conninfo);
    free(job->schema);
    free(job);
}

static void migrate_work(uv_work_t *work)
{
    migrate_job *job = work->data;
    job->st = tdm_migrate_run(job->owner_conninfo, job->service_conninfo, job->schema,
                              job->migrations, job->n, &job->report);
}

static void migrate_after(uv_work_t *work, int status)
{
    migrate_job *job = work->data;
    tdm_status *st = job->st;
    if (status == UV_ECANCELED && st == NULL)
        st = tdm_status_new(TDM_CANCELLED, "the migration was cancelled");
    if (st == NULL) {
        char applied[32], version[16];
        snprintf(applied, sizeof(applied), "%zu", job->report.applied);
        snprintf(version, sizeof(version), "%d", job->report.version);
        tdm_log_fields(TDM_LOG_INFO, NULL, "schema up to date", "schema", job->schema, "applied",
                       applied, "version", version, NULL);
    }
    tdm_migrate_cb cb = job->cb;
    void *arg = job->arg;
    migrate_job_free(job);
    cb(arg, st);
}

int tdm_migrate_start(uv_loop_t *loop, const char *owner_conninfo, const char *service_conninfo,
                      const char *schema, const tdm_migration *migrations, size_t n,
                      tdm_migrate_cb cb, void *arg)
{
    if (loop == NULL || owner_conninfo == NULL || schema == NULL || cb == NULL)
        return UV_EINVAL;
    migrate_job *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return UV_ENOMEM;
    job->owner_conninfo = strdup(owner_conninfo);
    job->service_conninfo = service_conninfo != NULL ? strdup(service_conninfo) : NULL;
    job->schema = strdup(schema);
    job->migrations = migrations;
    job->n = n;
    job->cb = cb;
    job->arg = arg;
    job->work.data = job;
    if (job->owner_conninfo == NULL || job->schema == NULL ||
        (service_conninfo != NULL && job->service_conninfo == NULL)) {
        migrate_job_free(job);
        return UV_ENOMEM;
    }
    int rc = uv_queue_work(loop, &job->work, migrate_work, migrate_after);
    if (rc != 0)
        migrate_job_free(job);
    return rc;
}
