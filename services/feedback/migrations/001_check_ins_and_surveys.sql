-- Check-ins that pairs log, the surveys a programme runs with their responses, the
-- at-risk notices already sent, the outbox of events and the idempotency keys.
-- Every table is tenant-owned: tenant_id leads the primary key and row-level
-- security keys on app.tenant_id, which the pool sets at the start of every
-- transaction. Matches and participants belong to other services and are referred
-- to by id only (copied from MatchingService.GetMatch when a check-in is recorded).
--
-- Notes are private to the pair: they sit in their own column that reports and
-- listings for third parties never select. Erasure (GDPR) clears the person's ids,
-- notes, topics and free-text answers but keeps ratings, durations, progress and
-- scores, so aggregates stay the same while nothing links them to the person.

CREATE TABLE feedback.check_ins (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    match_id         uuid        NOT NULL,
    programme_id     uuid        NOT NULL,
    participant_id   uuid,                 -- the recorder; NULL once erased
    mentor_id        uuid,                 -- the pair, for exports; NULL once erased
    mentee_id        uuid,
    occurred_time    timestamptz NOT NULL,
    duration_minutes smallint    CHECK (duration_minutes BETWEEN 1 AND 600),
    topics           text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(topics) <= 20),
    rating           smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
    notes            text        NOT NULL DEFAULT '' CHECK (char_length(notes) <= 10000),
    create_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id)
);
-- ListCheckIns (latest first, keyset) and the latest check-in of each match.
CREATE INDEX check_ins_by_match
    ON feedback.check_ins (tenant_id, match_id, occurred_time DESC, create_time DESC, id DESC);
CREATE INDEX check_ins_by_programme ON feedback.check_ins (tenant_id, programme_id);
CREATE INDEX check_ins_by_mentor ON feedback.check_ins (tenant_id, mentor_id);
CREATE INDEX check_ins_by_mentee ON feedback.check_ins (tenant_id, mentee_id);

CREATE TABLE feedback.check_in_goal_progress (
    tenant_id     uuid     NOT NULL,
    check_in_id   uuid     NOT NULL,
    objective_key text     NOT NULL CHECK (char_length(objective_key) BETWEEN 1 AND 64),
    percent       smallint NOT NULL CHECK (percent BETWEEN 0 AND 100),
    PRIMARY KEY (tenant_id, check_in_id, objective_key),
    FOREIGN KEY (tenant_id, check_in_id) REFERENCES feedback.check_ins (tenant_id, id)
);

CREATE TABLE feedback.surveys (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT gen_random_uuid(),
    programme_id uuid        NOT NULL,
    title        text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description  text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    create_time  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX surveys_by_programme ON feedback.surveys (tenant_id, programme_id);

CREATE TABLE feedback.survey_questions (
    tenant_id   uuid     NOT NULL,
    survey_id   uuid     NOT NULL,
    question_id text     NOT NULL CHECK (char_length(question_id) BETWEEN 1 AND 64),
    position    smallint NOT NULL CHECK (position >= 0),
    text        text     NOT NULL CHECK (char_length(text) BETWEEN 1 AND 1000),
    kind        smallint NOT NULL CHECK (kind BETWEEN 1 AND 4), -- RATING_1_5, NPS_0_10, TEXT, CHOICE
    choices     text[]   NOT NULL DEFAULT '{}' CHECK (cardinality(choices) <= 20),
    required    boolean  NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, survey_id, question_id),
    FOREIGN KEY (tenant_id, survey_id) REFERENCES feedback.surveys (tenant_id, id)
);

CREATE TABLE feedback.survey_responses (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL DEFAULT gen_random_uuid(),
    survey_id      uuid        NOT NULL,
    programme_id   uuid        NOT NULL,
    participant_id uuid,                  -- NULL once the respondent is erased
    create_time    timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, survey_id) REFERENCES feedback.surveys (tenant_id, id)
);
-- One response per participant per survey (erased respondents no longer collide).
CREATE UNIQUE INDEX survey_responses_once
    ON feedback.survey_responses (tenant_id, survey_id, participant_id) WHERE participant_id IS NOT NULL;
CREATE INDEX survey_responses_by_programme ON feedback.survey_responses (tenant_id, programme_id);
CREATE INDEX survey_responses_by_participant ON feedback.survey_responses (tenant_id, participant_id);

CREATE TABLE feedback.survey_answers (
    tenant_id    uuid     NOT NULL,
    response_id  uuid     NOT NULL,
    programme_id uuid     NOT NULL,
    question_id  text     NOT NULL,
    kind         smallint NOT NULL CHECK (kind BETWEEN 1 AND 4), -- the question's, for the report
    score        smallint CHECK (score BETWEEN 0 AND 10),
    text         text     CHECK (char_length(text) <= 5000),
    choice       text     CHECK (char_length(choice) <= 200),
    PRIMARY KEY (tenant_id, response_id, question_id),
    FOREIGN KEY (tenant_id, response_id) REFERENCES feedback.survey_responses (tenant_id, id)
);
CREATE INDEX survey_answers_nps ON feedback.survey_answers (tenant_id, programme_id, response_id)
    INCLUDE (score) WHERE kind = 2;

-- Running totals per match and its latest check-in, kept in the transaction that
-- records each check-in, so the report and the at-risk rules read one row per match
-- instead of every check-in. "Latest" is by occurred_time, then create_time.
CREATE TABLE feedback.match_stats (
    tenant_id        uuid        NOT NULL,
    match_id         uuid        NOT NULL,
    programme_id     uuid        NOT NULL,
    check_ins        integer     NOT NULL,
    rating_sum       bigint      NOT NULL,
    last_time        timestamptz NOT NULL,
    last_create_time timestamptz NOT NULL,
    last_rating      smallint    NOT NULL,
    PRIMARY KEY (tenant_id, match_id)
);
CREATE INDEX match_stats_by_programme ON feedback.match_stats (tenant_id, programme_id);

-- Each match's latest reported percent per objective (the report's progress).
CREATE TABLE feedback.goal_progress_latest (
    tenant_id        uuid        NOT NULL,
    programme_id     uuid        NOT NULL,
    match_id         uuid        NOT NULL,
    objective_key    text        NOT NULL,
    percent          smallint    NOT NULL CHECK (percent BETWEEN 0 AND 100),
    occurred_time    timestamptz NOT NULL,
    create_time      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, match_id, objective_key)
);
CREATE INDEX goal_progress_latest_by_programme ON feedback.goal_progress_latest (tenant_id, programme_id);

-- match.at_risk is emitted once per match and reason: a notice row marks it sent.
CREATE TABLE feedback.at_risk_notices (
    tenant_id   uuid        NOT NULL,
    match_id    uuid        NOT NULL,
    reason      smallint    NOT NULL CHECK (reason BETWEEN 1 AND 3), -- AtRiskReason
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, match_id, reason)
);

-- Events written in the same transaction as their change (include/tandem/outbox.h).
CREATE TABLE feedback.outbox (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    seq            bigserial   NOT NULL,
    type           text        NOT NULL CHECK (char_length(type) BETWEEN 1 AND 64),
    resource_id    uuid        NOT NULL,
    ordering_key   text        NOT NULL CHECK (char_length(ordering_key) BETWEEN 1 AND 64),
    payload        jsonb       NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    source_service text        NOT NULL,
    request_id     text        NOT NULL DEFAULT '',
    create_time    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX outbox_order ON feedback.outbox (seq);

-- Idempotency keys (include/tandem/idempotency.h).
CREATE TABLE feedback.idempotency_keys (
    tenant_id    uuid        NOT NULL,
    method       text        NOT NULL,
    key          text        NOT NULL,
    request_hash bytea       NOT NULL CHECK (octet_length(request_hash) = 32),
    response     bytea,
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, method, key)
);
CREATE INDEX idempotency_keys_expiry ON feedback.idempotency_keys (tenant_id, create_time);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['check_ins', 'check_in_goal_progress', 'surveys', 'survey_questions',
                             'survey_responses', 'survey_answers', 'match_stats',
                             'goal_progress_latest', 'at_risk_notices', 'outbox',
                             'idempotency_keys'] LOOP
        EXECUTE format('ALTER TABLE feedback.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE feedback.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON feedback.%I
            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;

-- The service role: records and reads; UPDATE only for erasure (clearing ids, notes,
-- topics and free text); nothing is deleted through the API but expired keys.
GRANT SELECT, INSERT, UPDATE ON feedback.check_ins, feedback.survey_responses,
    feedback.survey_answers TO @service_role@;
GRANT SELECT, INSERT, UPDATE ON feedback.match_stats, feedback.goal_progress_latest
    TO @service_role@;
GRANT SELECT, INSERT ON feedback.check_in_goal_progress, feedback.surveys,
    feedback.survey_questions, feedback.at_risk_notices TO @service_role@;
GRANT INSERT ON feedback.outbox TO @service_role@;
GRANT SELECT, INSERT, UPDATE, DELETE ON feedback.idempotency_keys TO @service_role@;
