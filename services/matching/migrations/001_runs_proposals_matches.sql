-- Matching runs, their proposals, the matches approved from them, and the pins and
-- exclusions that constrain the next run. Every table is tenant-owned: tenant_id
-- leads the primary key and row-level security keys on app.tenant_id, which the
-- runtime sets at the start of every transaction.
--
-- Participants are enrolment's: matching refers to them by id only (no foreign key
-- across services) and reads their profiles over gRPC.

CREATE TABLE matching.runs (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    programme_id uuid        NOT NULL,
    algorithm    smallint    NOT NULL CHECK (algorithm BETWEEN 1 AND 3),   -- OPTIMAL, STABLE, GREEDY
    scope        smallint    NOT NULL CHECK (scope BETWEEN 1 AND 2),       -- ALL, UNMATCHED
    objective    smallint    NOT NULL CHECK (objective BETWEEN 1 AND 3),   -- MAX_PARTICIPATION, MAX_SCORE, MAXIMIN
    dry_run      boolean     NOT NULL DEFAULT false,
    seed         bigint      NOT NULL CHECK (seed BETWEEN 0 AND 4294967295),
    status       smallint    NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 4), -- QUEUED..FAILED
    progress     real        NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    -- RunStats as written by the run (a validated protobuf message, packed): the
    -- service reads it back whole and never queries inside it.
    stats        bytea,
    error_message text       CHECK (char_length(error_message) <= 1000),
    create_time  timestamptz NOT NULL DEFAULT now(),
    start_time   timestamptz,
    end_time     timestamptz,
    approve_time timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX runs_by_programme ON matching.runs (tenant_id, programme_id, create_time DESC, id DESC);

CREATE TABLE matching.proposals (
    tenant_id    uuid     NOT NULL,
    run_id       uuid     NOT NULL,
    id           uuid     NOT NULL,
    programme_id uuid     NOT NULL,
    mentor_id    uuid     NOT NULL,
    mentee_id    uuid     NOT NULL,
    score        numeric(5, 2) NOT NULL CHECK (score BETWEEN 0 AND 100),
    pinned       boolean  NOT NULL DEFAULT false,
    -- [{criterion, contribution, detail}] in the API's JSON shape.
    explanation  jsonb    NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(explanation) = 'array'),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, run_id, mentee_id, mentor_id),
    FOREIGN KEY (tenant_id, run_id) REFERENCES matching.runs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX proposals_by_run ON matching.proposals (tenant_id, run_id, id);

CREATE TABLE matching.matches (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    programme_id     uuid        NOT NULL,
    run_id           uuid,
    mentor_id        uuid        NOT NULL,
    mentee_id        uuid        NOT NULL,
    score            numeric(5, 2) NOT NULL CHECK (score BETWEEN 0 AND 100),
    explanation      jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(explanation) = 'array'),
    status           smallint    NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 5), -- PROPOSED..ENDED
    mentor_response  smallint    NOT NULL DEFAULT 0 CHECK (mentor_response BETWEEN 0 AND 2), -- none, accepted, declined
    mentee_response  smallint    NOT NULL DEFAULT 0 CHECK (mentee_response BETWEEN 0 AND 2),
    decline_reason   text        CHECK (char_length(decline_reason) <= 1000),
    end_reason       text        CHECK (char_length(end_reason) <= 1000),
    create_time      timestamptz NOT NULL DEFAULT now(),
    start_time       timestamptz,
    end_time         timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX matches_by_programme ON matching.matches (tenant_id, programme_id, id);
CREATE INDEX matches_by_mentor ON matching.matches (tenant_id, mentor_id);
CREATE INDEX matches_by_mentee ON matching.matches (tenant_id, mentee_id);
-- A pair is live at most once.
CREATE UNIQUE INDEX matches_live_pair ON matching.matches (tenant_id, programme_id, mentor_id, mentee_id)
    WHERE status IN (1, 2, 4);

CREATE TABLE matching.pins (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    programme_id uuid        NOT NULL,
    mentor_id    uuid        NOT NULL,
    mentee_id    uuid        NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, programme_id, mentee_id)   -- a mentee is pinned to one mentor
);

CREATE TABLE matching.exclusions (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    programme_id uuid        NOT NULL,
    mentor_id    uuid        NOT NULL,
    mentee_id    uuid        NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, programme_id, mentor_id, mentee_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['runs', 'proposals', 'matches', 'pins', 'exclusions'] LOOP
        EXECUTE format('ALTER TABLE matching.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE matching.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON matching.%I
            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;

-- The service role: reads and writes rows, deletes only what the API deletes.
GRANT SELECT, INSERT, UPDATE ON runs, proposals, matches TO @service_role@;
GRANT SELECT, INSERT, DELETE ON pins, exclusions TO @service_role@;
