-- bootstrap.sql - Tandem's roles, database and schemas; idempotent, run with psql as
-- the PostgreSQL superuser by deploy/up.sh, docker-compose (db-init) and the tests:
--
--   psql -X -v ON_ERROR_STOP=1 [-v dbname=tandem] [-v owner_password=...]
--        [-v gateway_password=...] [-v enrolment_password=...]
--        [-v matching_password=...] [-v feedback_password=...] -f deploy/sql/bootstrap.sql
--
-- Roles (cluster-wide):
--   tandem_owner      owns the four schemas and everything in them; the migration
--                     runner connects as it (TANDEM_MIGRATION_DATABASE_URL).
--   tandem_gateway, tandem_enrolment, tandem_matching, tandem_feedback
--                     the services' login roles (TANDEM_DATABASE_URL): own nothing,
--                     NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE, USAGE on their own
--                     schema only; table privileges come from each service's migrations.
-- None of them is a superuser or bypasses row-level security. A password variable
-- left unset leaves that role's password alone (trust or peer authentication).
--
-- The database (dbname, default tandem) is created when missing, then the script
-- connects to it and creates the schemas, owned by tandem_owner.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
\if :{?dbname}
\else
  \set dbname tandem
\endif

-- Roles are shared by every database of the cluster, and concurrent CREATE/ALTER ROLE
-- fail ("tuple concurrently updated"): test runs bootstrapping their own databases in
-- parallel serialise on a lock of pg_authid (shared, so it spans databases).
BEGIN;
LOCK TABLE pg_catalog.pg_authid IN SHARE ROW EXCLUSIVE MODE;
DO $roles$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['tandem_owner', 'tandem_gateway', 'tandem_enrolment',
                             'tandem_matching', 'tandem_feedback']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', r);
        END IF;
        -- Re-asserted on every run, so a role someone widened by hand is narrowed again.
        EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE '
                       'NOREPLICATION INHERIT', r);
    END LOOP;
    -- A service that forgets to end a transaction must not hold locks for ever.
    FOREACH r IN ARRAY ARRAY['tandem_gateway', 'tandem_enrolment', 'tandem_matching',
                             'tandem_feedback']
    LOOP
        EXECUTE format('ALTER ROLE %I SET idle_in_transaction_session_timeout = %L', r, '60s');
    END LOOP;
END
$roles$;

\if :{?owner_password}
ALTER ROLE tandem_owner PASSWORD :'owner_password';
\endif
\if :{?gateway_password}
ALTER ROLE tandem_gateway PASSWORD :'gateway_password';
\endif
\if :{?enrolment_password}
ALTER ROLE tandem_enrolment PASSWORD :'enrolment_password';
\endif
\if :{?matching_password}
ALTER ROLE tandem_matching PASSWORD :'matching_password';
\endif
\if :{?feedback_password}
ALTER ROLE tandem_feedback PASSWORD :'feedback_password';
\endif
COMMIT;

SELECT format('CREATE DATABASE %I', :'dbname')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \gexec

\connect :"dbname"
SET client_min_messages = warning;

-- Nobody but the owner creates objects: no TEMP tables for the services (they would
-- own them), no new schemas; CONNECT only for Tandem's roles.
REVOKE CREATE, TEMPORARY ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"dbname" TO tandem_owner, tandem_gateway, tandem_enrolment,
    tandem_matching, tandem_feedback;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

CREATE SCHEMA IF NOT EXISTS gateway AUTHORIZATION tandem_owner;
CREATE SCHEMA IF NOT EXISTS enrolment AUTHORIZATION tandem_owner;
CREATE SCHEMA IF NOT EXISTS matching AUTHORIZATION tandem_owner;
CREATE SCHEMA IF NOT EXISTS feedback AUTHORIZATION tandem_owner;
ALTER SCHEMA gateway OWNER TO tandem_owner;
ALTER SCHEMA enrolment OWNER TO tandem_owner;
ALTER SCHEMA matching OWNER TO tandem_owner;
ALTER SCHEMA feedback OWNER TO tandem_owner;

-- Each service sees its own schema and no other.
REVOKE ALL ON SCHEMA gateway, enrolment, matching, feedback FROM PUBLIC;
GRANT USAGE ON SCHEMA gateway TO tandem_gateway;
GRANT USAGE ON SCHEMA enrolment TO tandem_enrolment;
GRANT USAGE ON SCHEMA matching TO tandem_matching;
GRANT USAGE ON SCHEMA feedback TO tandem_feedback;
