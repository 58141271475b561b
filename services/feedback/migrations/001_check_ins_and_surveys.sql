-- Check-ins that pairs log, and the surveys a programme runs with their responses.
-- Every table is tenant-owned: tenant_id leads the primary key and row-level
-- security keys on app.tenant_id, which the runtime sets at the start of every
-- transaction. Matches and participants belong to other services and are referred
-- to by id only.
--
-- Notes are private to the pair: they sit in their own column that reports and
-- listings for third parties never select. Erasure (GDPR) clears participant_id
-- and notes but keeps ratings, durations and answers, so aggregates stay the same.

CREATE TABLE feedback.check_ins (
    tenant_id        uuid        NOT NULL,
    id               uuid        NOT NULL,
    match_id         uuid        NOT NULL,
    programme_id     uuid        NOT NULL,
    participant_id   uuid,                 -- NULL once the recorder is erased
    occurred_time    timestamptz NOT NULL,
    duration_minutes smallint    CHECK (duration_minutes BETWEEN 1 AND 600),
    topics           text[]      NOT NULL DEFAULT '{}' CHECK (cardinality(topics) <= 50),
    rating           smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
    notes            text        CHECK (char_length(notes) <= 10000),
    create_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX check_ins_by_match ON feedback.check_ins (tenant_id, match_id, occurred_time DESC, id DESC);
CREATE INDEX check_ins_by_programme ON feedback.check_ins (tenant_id, programme_id);

CREATE TABLE feedback.check_in_goal_progress (
    tenant_id     uuid     NOT NULL,
    check_in_id   uuid     NOT NULL,
    objective_key text     NOT NULL CHECK (char_length(objective_key) BETWEEN 1 AND 100),
    percent       smallint NOT NULL CHECK (percent BETWEEN 0 AND 100),
    PRIMARY KEY (tenant_id, check_in_id, objective_key),
    FOREIGN KEY (tenant_id, check_in_id) REFERENCES feedback.check_ins (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE feedback.surveys (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL,
    programme_id uuid        NOT NULL,
    title        text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description  text        CHECK (char_length(description) <= 2000),
    create_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX surveys_by_programme ON feedback.surveys (tenant_id, programme_id, create_time DESC, id DESC);

CREATE TABLE feedback.survey_questions (
    tenant_id   uuid     NOT NULL,
    survey_id   uuid     NOT NULL,
    question_id text     NOT NULL CHECK (char_length(question_id) BETWEEN 1 AND 100),
    position    smallint NOT NULL CHECK (position >= 0),
    text        text     NOT NULL CHECK (char_length(text) BETWEEN 1 AND 1000),
    kind        smallint NOT NULL CHECK (kind BETWEEN 1 AND 4), -- RATING_1_5, NPS_0_10, TEXT, CHOICE
    choices     text[]   NOT NULL DEFAULT '{}' CHECK (cardinality(choices) <= 50),
    required    boolean  NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, survey_id, question_id),
    FOREIGN KEY (tenant_id, survey_id) REFERENCES feedback.surveys (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE feedback.survey_responses (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    survey_id      uuid        NOT NULL,
    programme_id   uuid        NOT NULL,
    participant_id uuid,                  -- NULL once the respondent is erased
    create_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, survey_id) REFERENCES feedback.surveys (tenant_id, id) ON DELETE CASCADE
);
-- One response per participant per survey (erased respondents no longer collide).
CREATE UNIQUE INDEX survey_responses_once ON feedback.survey_responses (tenant_id, survey_id, participant_id)
    WHERE participant_id IS NOT NULL;

CREATE TABLE feedback.survey_answers (
    tenant_id   uuid     NOT NULL,
    response_id uuid     NOT NULL,
    question_id text     NOT NULL,
    score       smallint CHECK (score BETWEEN 0 AND 10),
    text        text     CHECK (char_length(text) <= 5000),
    choice      text     CHECK (char_length(choice) <= 200),
    PRIMARY KEY (tenant_id, response_id, question_id),
    FOREIGN KEY (tenant_id, response_id) REFERENCES feedback.survey_responses (tenant_id, id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['check_ins', 'check_in_goal_progress', 'surveys', 'survey_questions',
                             'survey_responses', 'survey_answers'] LOOP
        EXECUTE format('ALTER TABLE feedback.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE feedback.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON feedback.%I
            USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
            WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)$p$, t);
    END LOOP;
END $$;

-- The service role: records and reads; UPDATE only for erasure (clearing the
-- recorder, respondent and notes); nothing is ever deleted through the API.
GRANT SELECT, INSERT, UPDATE ON check_ins, survey_responses TO @service_role@;
GRANT SELECT, INSERT ON check_in_goal_progress, surveys, survey_questions, survey_answers
    TO @service_role@;
