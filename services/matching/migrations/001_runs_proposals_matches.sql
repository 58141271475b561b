-- Matching runs, their proposals, the matches approved from them, and the pins and
-- exclusions that constrain the next run. Every table is tenant-owned: tenant_id
-- leads the primary key and row-level security keys on app.tenant_id, which the
-- runtime sets at the start of every transaction.
--
-- Participants are enrolment's: matching refers to them by id only (no foreign key
-- across services) and reads their profiles over gRPC.
--
-- Run claiming across tenants. A run is computed by whichever replica claims it,
-- exactly once, but a replica's worker has no tenant: row-level security shows the
-- service role no run without app.tenant_id. So queued runs are also named in
-- matching.run_queue, which holds ids only (tenant, run, lease) and no personal or
-- programme data; its policy is explicitly cross-tenant. The worker:
--   1. claims a queue row in a transaction without tenant:
--        UPDATE run_queue SET claim = <new uuid>, lease_until = now() + lease
--        WHERE (tenant_id, run_id) = (SELECT ... WHERE lease_until IS NULL OR
--              lease_until < now() ORDER BY enqueue_time LIMIT 1 FOR UPDATE SKIP LOCKED)
--      (SKIP LOCKED: replicas claiming at once take different rows);
--   2. reads and updates the run in a transaction of that tenant (RLS applies);
--   3. renews the lease with each progress update, and writes the results in one
--      transaction of the tenant that also deletes the queue row WHERE claim = its
--      claim - if the lease was lost to another replica, that transaction rolls back,
--      so a run's results are written once.
-- A replica that dies leaves its lease to expire; another replica then claims the
-- run again (the queue row survives restarts: queued runs are always found). The
-- process that queues a run wakes its own worker at once; the others poll.
-- Neither BYPASSRLS nor SECURITY DEFINER is involved.

CREATE TABLE matching.runs (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    seq          bigserial   NOT NULL,
    programme_id uuid        NOT NULL,
    algorithm    smallint    NOT NULL CHECK (algorithm BETWEEN 1 AND 3),   -- OPTIMAL, STABLE, GREEDY
    scope        smallint    NOT NULL CHECK (scope BETWEEN 1 AND 2),       -- ALL, UNMATCHED
    objective    smallint    NOT NULL CHECK (objective BETWEEN 1 AND 3),   -- MAX_PARTICIPATION, MAX_SCORE, MAXIMIN
    dry_run      boolean     NOT NULL DEFAULT false,
    seed         bigint      NOT NULL CHECK (seed BETWEEN 0 AND 4294967295),
    status       smallint    NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 4), -- QUEUED..FAILED
    progress     real        NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    -- RunStats in the API's JSON shape, as written by the run.
    stats        jsonb,
    error_message text       CHECK (char_length(error_message) <= 1000),
    -- The request context of StartMatchingRun: the worker reads enrolment on the
    -- caller's behalf (with the caller's scopes, so diversity data reaches scoring
    -- only when the caller was an admin).
    principal_id   text      NOT NULL DEFAULT '',
    principal_kind smallint  NOT NULL DEFAULT 0,
    scopes         integer   NOT NULL DEFAULT 0,
    request_id     text      NOT NULL DEFAULT '',
    attempts     integer     NOT NULL DEFAULT 0,
    create_time  timestamptz NOT NULL DEFAULT now(),
    start_time   timestamptz,
    end_time     timestamptz,
    approve_time timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX runs_by_programme ON matching.runs (tenant_id, programme_id, seq DESC);
-- One run of a programme at a time: a concurrent StartMatchingRun is refused.
CREATE UNIQUE INDEX runs_one_in_flight ON matching.runs (tenant_id, programme_id)
    WHERE status IN (1, 2);

CREATE TABLE matching.run_queue (
    tenant_id    uuid        NOT NULL,
    run_id       uuid        NOT NULL,
    enqueue_time timestamptz NOT NULL DEFAULT now(),
    claim        uuid,
    lease_until  timestamptz,
    PRIMARY KEY (tenant_id, run_id)
);
CREATE INDEX run_queue_order ON matching.run_queue (enqueue_time);

CREATE TABLE matching.proposals (
    tenant_id    uuid     NOT NULL,
    run_id       uuid     NOT NULL,
    id           uuid     NOT NULL,
    programme_id uuid     NOT NULL,
    rank         integer  NOT NULL,   -- 1 = best score of the run (keyset of ListProposals)
    mentor_id    uuid     NOT NULL,
    mentee_id    uuid     NOT NULL,
    mentor_capacity integer NOT NULL DEFAULT 1,
    score        numeric(5, 2) NOT NULL CHECK (score BETWEEN 0 AND 100),
    pinned       boolean  NOT NULL DEFAULT false,
    -- [{criterion, contribution, detail}] in the API's JSON shape.
    explanation  jsonb    NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(explanation) = 'array'),
    match_id     uuid,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, run_id, rank),
    UNIQUE (tenant_id, run_id, mentee_id, mentor_id),
    FOREIGN KEY (tenant_id, run_id) REFERENCES matching.runs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX proposals_by_mentor ON matching.proposals (tenant_id, mentor_id);
CREATE INDEX proposals_by_mentee ON matching.proposals (tenant_id, mentee_id);

CREATE TABLE matching.matches (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    seq              bigserial   NOT NULL,
    programme_id     uuid        NOT NULL,
    run_id           uuid,
    proposal_id      uuid,
    mentor_id        uuid        NOT NULL,
    mentee_id        uuid        NOT NULL,
    mentor_capacity  integer     NOT NULL DEFAULT 1,
    score            numeric(5, 2) NOT NULL CHECK (score BETWEEN 0 AND 100),
    explanation      jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(explanation) = 'array'),
    status           smallint    NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 5), -- PROPOSED..ENDED
    mentor_response  smallint    NOT NULL DEFAULT 0 CHECK (mentor_response BETWEEN 0 AND 2), -- none, accepted, declined
    mentee_response  smallint    NOT NULL DEFAULT 0 CHECK (mentee_response BETWEEN 0 AND 2),
    mentor_reason    text        NOT NULL DEFAULT '' CHECK (char_length(mentor_reason) <= 1000),
    mentee_reason    text        NOT NULL DEFAULT '' CHECK (char_length(mentee_reason) <= 1000),
    mentor_respond_time timestamptz,
    mentee_respond_time timestamptz,
    end_reason       text        NOT NULL DEFAULT '' CHECK (char_length(end_reason) <= 1000),
    create_time      timestamptz NOT NULL DEFAULT now(),
    start_time       timestamptz,
    end_time         timestamptz,
    update_time      timestamptz NOT NULL DEFAULT now(),
    -- Set by erasure: reasons and explanation cleared, the pair kept for aggregates.
    erase_time       timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX matches_by_programme ON matching.matches (tenant_id, programme_id, seq DESC);
CREATE INDEX matches_by_mentor ON matching.matches (tenant_id, mentor_id);
CREATE INDEX matches_by_mentee ON matching.matches (tenant_id, mentee_id);
-- A mentee has at most one live (PROPOSED, ACCEPTED, ACTIVE) match in a programme.
CREATE UNIQUE INDEX matches_live_mentee ON matching.matches (tenant_id, programme_id, mentee_id)
    WHERE status IN (1, 2, 4);

CREATE TABLE matching.pins (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    seq          bigserial   NOT NULL,
    programme_id uuid        NOT NULL,
    mentor_id    uuid        NOT NULL,
    mentee_id    uuid        NOT NULL,
    reason       text        NOT NULL DEFAULT '' CHECK (char_length(reason) <= 1000),
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, programme_id, mentee_id)   -- a mentee is pinned to one mentor
);
CREATE INDEX pins_by_programme ON matching.pins (tenant_id, programme_id, seq);

CREATE TABLE matching.exclusions (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    seq          bigserial   NOT NULL,
    programme_id uuid        NOT NULL,
    mentor_id    uuid        NOT NULL,
    mentee_id    uuid        NOT NULL,
    reason       text        NOT NULL DEFAULT '' CHECK (char_length(reason) <= 1000),
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, programme_id, mentor_id, mentee_id)
);
CREATE INDEX exclusions_by_programme ON matching.exclusions (tenant_id, programme_id, seq);

-- Events written with the change that causes them (include/tandem/outbox.h).
CREATE TABLE matching.outbox (
    tenant_id uuid NOT NULL, id uuid NOT NULL, seq bigserial NOT NULL,
    type text NOT NULL, resource_id uuid NOT NULL, ordering_key text NOT NULL,
    payload jsonb NOT NULL, source_service text NOT NULL,
    request_id text NOT NULL DEFAULT '', create_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id));
CREATE INDEX outbox_order ON matching.outbox (seq);

-- Idempotency-Key records (include/tandem/idempotency.h).
CREATE TABLE matching.idempotency_keys (
    tenant_id uuid NOT NULL, method text NOT NULL, key text NOT NULL,
    request_hash bytea NOT NULL, response bytea,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, method, key));
CREATE INDEX idempotency_keys_expiry ON matching.idempotency_keys (tenant_id, create_time);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['runs', 'proposals', 'matches', 'pins', 'exclusions', 'outbox',
                             'idempotency_keys'] LOOP
        EXECUTE format('ALTER TABLE matching.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE matching.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON matching.%I
            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;

-- The queue of run ids is deliberately cross-tenant (see the top of this file): the
-- policy says so explicitly instead of leaving RLS off.
ALTER TABLE matching.run_queue ENABLE ROW LEVEL SECURITY;
ALTER TABLE matching.run_queue FORCE ROW LEVEL SECURITY;
CREATE POLICY cross_tenant_queue ON matching.run_queue USING (true) WITH CHECK (true);

-- The service role: reads and writes rows, deletes only what the API (and erasure)
-- deletes.
GRANT SELECT, INSERT, UPDATE ON runs, matches TO @service_role@;
GRANT SELECT, INSERT, UPDATE, DELETE ON proposals TO @service_role@;
GRANT SELECT, INSERT, DELETE ON pins, exclusions TO @service_role@;
GRANT SELECT, INSERT, UPDATE, DELETE ON run_queue TO @service_role@;
GRANT INSERT ON outbox TO @service_role@;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO @service_role@;
