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

-- Which programmes were made from a template: ids only, so that the job, which lists
-- them across tenants in a transaction bound to no tenant, never sees a programme's
-- name, description or anything else (like matching.run_queue). Kept by a trigger on
-- the programme's insert (its template reference never changes afterwards), in the
-- programme's own transaction and tenant; filled here for the programmes already made.
CREATE TABLE enrolment.template_programmes (
    tenant_id uuid NOT NULL,
    programme_id uuid NOT NULL,
    template_id uuid NOT NULL,
    template_version integer NOT NULL,
    PRIMARY KEY (tenant_id, programme_id),
    FOREIGN KEY (tenant_id, programme_id) REFERENCES enrolment.programmes (tenant_id, id)
);
ALTER TABLE enrolment.template_programmes ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment.template_programmes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON enrolment.template_programmes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
CREATE POLICY benchmark_job_reader ON enrolment.template_programmes FOR SELECT
    USING (NULLIF(current_setting('app.tenant_id', true), '') IS NULL);

-- The backfill reads and writes every tenant's rows: row-level security is lifted
-- for this statement only (as 008 does), then forced again.
ALTER TABLE enrolment.programmes NO FORCE ROW LEVEL SECURITY;
ALTER TABLE enrolment.template_programmes NO FORCE ROW LEVEL SECURITY;
INSERT INTO enrolment.template_programmes (tenant_id, programme_id, template_id, template_version)
    SELECT tenant_id, id, template_id, template_version FROM enrolment.programmes
     WHERE template_id IS NOT NULL;
ALTER TABLE enrolment.programmes FORCE ROW LEVEL SECURITY;
ALTER TABLE enrolment.template_programmes FORCE ROW LEVEL SECURITY;

-- SECURITY INVOKER (the default): the insert runs as the service, in the tenant of
-- the programme's transaction, under the table's tenant_isolation policy.
CREATE FUNCTION enrolment.record_template_programme() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO enrolment.template_programmes (tenant_id, programme_id, template_id,
                                               template_version)
    VALUES (NEW.tenant_id, NEW.id, NEW.template_id, NEW.template_version);
    RETURN NEW;
END
$$;
CREATE TRIGGER programmes_template_recorded AFTER INSERT ON enrolment.programmes
    FOR EACH ROW WHEN (NEW.template_id IS NOT NULL)
    EXECUTE FUNCTION enrolment.record_template_programme();

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
GRANT SELECT, INSERT ON enrolment.template_programmes TO @service_role@;
GRANT SELECT, INSERT, DELETE ON enrolment.programme_benchmark_figures,
    enrolment.template_benchmarks TO @service_role@;
