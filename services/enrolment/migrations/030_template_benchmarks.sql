-- 030_template_benchmarks.sql - the template benchmarks (issue #18,
-- docs/benchmarks.md): the job's one lease row, each programme's figures as of
-- the job's last run, and each template's pooled benchmark.
--
-- The job (benchmark_job.c) runs on every replica of tandem-enrolment; it works
-- only while it holds benchmark_job's claim (claim_id under a lease), and its
-- results replace the previous ones in one transaction fenced by that claim_id, so
-- one run happens per interval whichever replicas run, stop or die.

CREATE TABLE enrolment.benchmark_job (
    id smallint PRIMARY KEY CHECK (id = 1),
    claim_id uuid,
    lease_until timestamptz,
    next_run_time timestamptz NOT NULL DEFAULT now(),
    -- When the figures now stored began to be gathered; NULL before the first run.
    as_of timestamptz,
    runs bigint NOT NULL DEFAULT 0
);
INSERT INTO enrolment.benchmark_job (id) VALUES (1);

-- A programme's figures (tenant-owned: row-level security like every tenant table).
-- The counts are those of tandem.internal.v1.ProgrammeFigures; mean_rating and nps
-- are NULL where the programme's own report withholds them.
CREATE TABLE enrolment.programme_benchmark_figures (
    tenant_id uuid NOT NULL,
    programme_id uuid NOT NULL,
    template_id uuid NOT NULL,
    template_version integer NOT NULL,
    participants integer NOT NULL CHECK (participants >= 0),
    matched integer NOT NULL CHECK (matched >= 0),
    matches_decided integer NOT NULL CHECK (matches_decided >= 0),
    matches_accepted integer NOT NULL CHECK (matches_accepted >= 0),
    active_matches integer NOT NULL CHECK (active_matches >= 0),
    active_match_months double precision NOT NULL CHECK (active_match_months >= 0),
    active_match_check_ins bigint NOT NULL CHECK (active_match_check_ins >= 0),
    mean_rating double precision,
    nps double precision,
    as_of timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, programme_id)
);
CREATE INDEX programme_benchmark_figures_template
    ON enrolment.programme_benchmark_figures (template_id);

ALTER TABLE enrolment.programme_benchmark_figures ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment.programme_benchmark_figures FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON enrolment.programme_benchmark_figures
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
-- The job's transactions are bound to no tenant (it pools every tenant's rows); a
-- transaction bound to a tenant still sees only its own.
CREATE POLICY benchmark_job ON enrolment.programme_benchmark_figures
    USING (NULLIF(current_setting('app.tenant_id', true), '') IS NULL)
    WITH CHECK (NULLIF(current_setting('app.tenant_id', true), '') IS NULL);
-- The job lists every tenant's programmes made from a template (ids and template
-- reference only are read), in a transaction bound to no tenant.
CREATE POLICY benchmark_job_reader ON enrolment.programmes FOR SELECT
    USING (NULLIF(current_setting('app.tenant_id', true), '') IS NULL
           AND template_id IS NOT NULL);

-- A template's benchmark: platform data, like the templates (no tenant_id). A
-- figure is stored only when it may be published: the benchmark has at least
-- min_tenants contributing tenants and at least min_tenants of them have a value
-- for that figure; the *_tenants columns say how many had one.
CREATE TABLE enrolment.template_benchmarks (
    template_id uuid PRIMARY KEY REFERENCES enrolment.programme_templates (id),
    contributing_tenants integer NOT NULL,
    programmes integer NOT NULL,
    min_tenants integer NOT NULL,
    participants double precision,
    participants_tenants integer NOT NULL,
    match_rate double precision,
    match_rate_tenants integer NOT NULL,
    acceptance_rate double precision,
    acceptance_rate_tenants integer NOT NULL,
    check_ins_per_active_match_per_month double precision,
    check_ins_rate_tenants integer NOT NULL,
    mean_rating double precision,
    mean_rating_tenants integer NOT NULL,
    nps double precision,
    nps_tenants integer NOT NULL,
    as_of timestamptz NOT NULL
);

GRANT SELECT, UPDATE ON enrolment.benchmark_job TO @service_role@;
GRANT SELECT, INSERT, DELETE ON enrolment.programme_benchmark_figures,
    enrolment.template_benchmarks TO @service_role@;
