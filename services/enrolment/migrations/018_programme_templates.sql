-- 018_programme_templates.sql - programme templates (issue #18), the template a
-- programme was made from, and the schedule of its surveys.
--
-- Templates belong to the platform (the consultancy), not to a tenant: no tenant_id,
-- no row-level security; only platform keys reach their methods. A template is a
-- head row and one immutable row per version; an update writes latest_version + 1
-- under the head's row lock.

CREATE TABLE enrolment.programme_templates (
    id uuid PRIMARY KEY,
    seq bigserial NOT NULL UNIQUE,
    latest_version integer NOT NULL CHECK (latest_version >= 1),
    create_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE enrolment.programme_template_versions (
    template_id uuid NOT NULL REFERENCES enrolment.programme_templates (id),
    version integer NOT NULL CHECK (version >= 1),
    -- The template's proto3 JSON without id, version and times, validated by the
    -- service (template_rules.c) before it is written.
    body jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

-- The template version a programme was made from; never changed afterwards.
ALTER TABLE enrolment.programmes
    ADD COLUMN template_id uuid,
    ADD COLUMN template_version integer,
    ADD CONSTRAINT programmes_template_ref
        CHECK ((template_id IS NULL) = (template_version IS NULL)),
    ADD CONSTRAINT programmes_template_version
        FOREIGN KEY (template_id, template_version)
        REFERENCES enrolment.programme_template_versions (template_id, version);
CREATE INDEX programmes_template ON enrolment.programmes (template_id)
    WHERE template_id IS NOT NULL;

-- The surveys of a programme made from a template, each due on its open_date
-- (start_date + the template's open_day). The scheduler claims a due row under a
-- lease (claim_id fences it), creates the survey in tandem-feedback with the row's
-- id as Idempotency-Key, then records survey_id and the survey.opened event in one
-- transaction, so a survey opens once whichever replica runs it or dies mid-way.
CREATE TABLE enrolment.scheduled_surveys (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    programme_id uuid NOT NULL,
    ordinal integer NOT NULL CHECK (ordinal >= 0),
    open_date date NOT NULL,
    survey jsonb NOT NULL CHECK (jsonb_typeof(survey) = 'object'),
    claim_id uuid,
    lease_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    survey_id uuid,
    open_time timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, programme_id, ordinal),
    FOREIGN KEY (tenant_id, programme_id) REFERENCES enrolment.programmes (tenant_id, id)
);
CREATE INDEX scheduled_surveys_due ON enrolment.scheduled_surveys (open_date)
    WHERE survey_id IS NULL;

ALTER TABLE enrolment.scheduled_surveys ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment.scheduled_surveys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON enrolment.scheduled_surveys
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
-- The scheduler's claim runs in a transaction bound to no tenant (it looks for due
-- rows of every tenant); a transaction bound to a tenant still sees only its own.
CREATE POLICY scheduler_claim ON enrolment.scheduled_surveys
    USING (NULLIF(current_setting('app.tenant_id', true), '') IS NULL);

GRANT SELECT, INSERT ON enrolment.programme_templates, enrolment.programme_template_versions
    TO @service_role@;
GRANT UPDATE (latest_version) ON enrolment.programme_templates TO @service_role@;
GRANT SELECT, INSERT, UPDATE ON enrolment.scheduled_surveys TO @service_role@;
