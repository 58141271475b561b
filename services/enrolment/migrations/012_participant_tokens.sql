-- 012_participant_tokens.sql - participant tokens (IssueParticipantToken).
--
-- A token is shown once and kept only as its SHA-256, beside the participant it
-- acts as and the API key that minted it (the gateway refuses it once that key is
-- revoked). Verification joins the participant, so a withdrawn or erased person's
-- tokens stop at once. Rows hold no personal data; expired ones are pruned when the
-- participant is issued a new token.
CREATE TABLE enrolment.participant_tokens (
    tenant_id uuid NOT NULL,
    token_hash bytea NOT NULL CHECK (octet_length(token_hash) = 32),
    participant_id uuid NOT NULL,
    key_id text NOT NULL CHECK (char_length(key_id) <= 64),
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, participant_id) REFERENCES enrolment.participants (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX participant_tokens_participant
    ON enrolment.participant_tokens (tenant_id, participant_id, expire_time);

ALTER TABLE enrolment.participant_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment.participant_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON enrolment.participant_tokens
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, DELETE ON enrolment.participant_tokens TO @service_role@;
