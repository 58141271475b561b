-- 001_schema.sql - the enrolment schema: programmes, participants, their consented
-- diversity data (special category, kept apart), the outbox of events, idempotency
-- keys and the audit of personal-data requests.
--
-- Every table is owned by the tenant: tenant_id leads the primary key, and row-level
-- security (ENABLE + FORCE) keys on the per-transaction setting app.tenant_id, so a
-- query that forgets its WHERE still sees only one firm's rows. The service role
-- tandem_enrolment owns nothing; it gets the privileges below and no more.

CREATE TABLE enrolment.programmes (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    seq bigserial NOT NULL,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 5000),
    kind smallint NOT NULL CHECK (kind BETWEEN 1 AND 3),
    -- A validated document: [{"key", "title", "description"}], checked by the
    -- service before it is written (validate.c) and by shape here.
    objectives jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(objectives) = 'array'
                                                  AND jsonb_array_length(objectives) <= 20),
    status smallint NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 5),
    start_date date,
    end_date date,
    check_in_cadence_days integer NOT NULL DEFAULT 14 CHECK (check_in_cadence_days BETWEEN 1 AND 365),
    anonymity_threshold integer NOT NULL DEFAULT 5 CHECK (anonymity_threshold BETWEEN 2 AND 1000),
    -- The matching policy as typed columns. weights_set false: the defaults apply.
    weights_set boolean NOT NULL DEFAULT false,
    w_skills double precision NOT NULL DEFAULT 0 CHECK (w_skills BETWEEN 0 AND 100),
    w_interests double precision NOT NULL DEFAULT 0 CHECK (w_interests BETWEEN 0 AND 100),
    w_objectives double precision NOT NULL DEFAULT 0 CHECK (w_objectives BETWEEN 0 AND 100),
    w_availability double precision NOT NULL DEFAULT 0 CHECK (w_availability BETWEEN 0 AND 100),
    w_language double precision NOT NULL DEFAULT 0 CHECK (w_language BETWEEN 0 AND 100),
    w_seniority double precision NOT NULL DEFAULT 0 CHECK (w_seniority BETWEEN 0 AND 100),
    w_perspective double precision NOT NULL DEFAULT 0 CHECK (w_perspective BETWEEN 0 AND 100),
    w_background double precision NOT NULL DEFAULT 0 CHECK (w_background BETWEEN 0 AND 100),
    min_score double precision NOT NULL DEFAULT 0 CHECK (min_score BETWEEN 0 AND 100),
    default_mentor_capacity integer NOT NULL DEFAULT 0 CHECK (default_mentor_capacity BETWEEN 0 AND 50),
    gap_min integer CHECK (gap_min BETWEEN 0 AND 10),
    gap_max integer CHECK (gap_max BETWEEN 0 AND 10),
    forbid_same_department boolean NOT NULL DEFAULT false,
    forbid_reporting_line boolean,
    require_shared_language boolean NOT NULL DEFAULT false,
    objective smallint NOT NULL DEFAULT 0 CHECK (objective BETWEEN 0 AND 3),
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CHECK (end_date IS NULL OR start_date IS NULL OR end_date >= start_date),
    CHECK (gap_min IS NULL OR gap_max IS NULL OR gap_min <= gap_max)
);
-- Keyset pagination, newest first.
CREATE INDEX programmes_list ON enrolment.programmes (tenant_id, seq);

CREATE TABLE enrolment.participants (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    programme_id uuid NOT NULL,
    -- Enrolment order, the keyset of ListParticipants: an upsert keeps it.
    seq bigserial NOT NULL,
    external_id text NOT NULL CHECK (char_length(external_id) BETWEEN 1 AND 200),
    display_name text NOT NULL CHECK (char_length(display_name) <= 200),
    email text NOT NULL DEFAULT '' CHECK (char_length(email) <= 254),
    role smallint NOT NULL CHECK (role BETWEEN 1 AND 2),
    seniority_level integer NOT NULL DEFAULT 0 CHECK (seniority_level BETWEEN 0 AND 10),
    years_qualified integer NOT NULL DEFAULT 0 CHECK (years_qualified BETWEEN 0 AND 70),
    practice_area text NOT NULL DEFAULT '' CHECK (char_length(practice_area) <= 200),
    office text NOT NULL DEFAULT '' CHECK (char_length(office) <= 200),
    department text NOT NULL DEFAULT '' CHECK (char_length(department) <= 200),
    reporting_chain text[] NOT NULL DEFAULT '{}' CHECK (cardinality(reporting_chain) <= 20),
    skill_names text[] NOT NULL DEFAULT '{}' CHECK (cardinality(skill_names) <= 50),
    skill_levels smallint[] NOT NULL DEFAULT '{}',
    interests text[] NOT NULL DEFAULT '{}' CHECK (cardinality(interests) <= 50),
    goals text[] NOT NULL DEFAULT '{}' CHECK (cardinality(goals) <= 50),
    languages text[] NOT NULL DEFAULT '{}' CHECK (cardinality(languages) <= 50),
    availability_hours_per_month integer NOT NULL DEFAULT 0
        CHECK (availability_hours_per_month BETWEEN 0 AND 200),
    timezone text NOT NULL DEFAULT '' CHECK (char_length(timezone) <= 64),
    capacity integer NOT NULL DEFAULT 0 CHECK (capacity BETWEEN 0 AND 50),
    status smallint NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 3),
    consent_data_processing boolean NOT NULL DEFAULT false,
    consent_diversity_data boolean NOT NULL DEFAULT false,
    consent_granted_time timestamptz,
    withdraw_time timestamptz,
    withdraw_reason text NOT NULL DEFAULT '' CHECK (char_length(withdraw_reason) <= 1000),
    -- Set by ErasePerson: the row keeps only what anonymous aggregates need, and
    -- person_hash (SHA-256 of tenant:external_id) lets a retried erasure find it.
    erase_time timestamptz,
    person_hash bytea,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, programme_id, external_id),
    FOREIGN KEY (tenant_id, programme_id) REFERENCES enrolment.programmes (tenant_id, id),
    CHECK (cardinality(skill_names) = cardinality(skill_levels))
);
CREATE INDEX participants_list ON enrolment.participants (tenant_id, programme_id, seq);
CREATE INDEX participants_person ON enrolment.participants (tenant_id, external_id);
CREATE INDEX participants_erased ON enrolment.participants (tenant_id, person_hash) WHERE person_hash IS NOT NULL;

-- Special-category data, apart from the profile; a row exists only while the
-- person's consent.diversity_data holds.
CREATE TABLE enrolment.participant_diversity (
    tenant_id uuid NOT NULL,
    participant_id uuid NOT NULL,
    gender text NOT NULL DEFAULT '' CHECK (char_length(gender) <= 100),
    ethnicity text NOT NULL DEFAULT '' CHECK (char_length(ethnicity) <= 100),
    first_generation_professional boolean,
    disability boolean,
    other text NOT NULL DEFAULT '' CHECK (char_length(other) <= 500),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, participant_id),
    FOREIGN KEY (tenant_id, participant_id) REFERENCES enrolment.participants (tenant_id, id) ON DELETE CASCADE
);

-- Events written in the same transaction as their change (include/tandem/outbox.h).
CREATE TABLE enrolment.outbox (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    seq bigserial NOT NULL,
    type text NOT NULL CHECK (char_length(type) BETWEEN 1 AND 64),
    resource_id uuid NOT NULL,
    ordering_key text NOT NULL CHECK (char_length(ordering_key) BETWEEN 1 AND 64),
    payload jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    source_service text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_order ON enrolment.outbox (seq);

-- Idempotency keys (include/tandem/idempotency.h).
CREATE TABLE enrolment.idempotency_keys (
    tenant_id uuid NOT NULL,
    method text NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL CHECK (octet_length(request_hash) = 32),
    response bytea,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, method, key)
);
CREATE INDEX idempotency_keys_expiry ON enrolment.idempotency_keys (tenant_id, create_time);

-- Who exported or erased which person, when, in which request. The person is named
-- by SHA-256(tenant_id || ':' || external_id), so the audit proves an erasure
-- without keeping the identifier it erased. The service may insert, never change.
CREATE TABLE enrolment.person_data_audit (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    action text NOT NULL CHECK (action IN ('export', 'erase')),
    person_hash bytea NOT NULL CHECK (octet_length(person_hash) = 32),
    principal_id text NOT NULL,
    request_id text NOT NULL,
    participants integer NOT NULL,
    unreachable_services text[] NOT NULL DEFAULT '{}',
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['programmes', 'participants', 'participant_diversity', 'outbox',
                             'idempotency_keys', 'person_data_audit']
    LOOP
        EXECUTE format('ALTER TABLE enrolment.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE enrolment.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON enrolment.%I '
                       'USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
                       'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
END
$rls$;

-- The service role: what its statements need, nothing more. The audit is
-- insert-only (no SELECT, UPDATE or DELETE), the outbox append-only for it. (The
-- runner grants USAGE on the schema and its sequences.)
GRANT SELECT, INSERT, UPDATE ON enrolment.programmes, enrolment.participants TO @service_role@;
GRANT SELECT, INSERT, UPDATE, DELETE ON enrolment.participant_diversity,
    enrolment.idempotency_keys TO @service_role@;
GRANT INSERT ON enrolment.outbox, enrolment.person_data_audit TO @service_role@;
