-- 009_person_hash_keyed.sql - no unkeyed person hash survives.
--
-- Until now an erased person was named, in their blanked participant rows and in
-- the audit, by SHA-256(tenant_id || ':' || external_id): anyone with a list of HR
-- ids could find who was erased by hashing each. From now on the name is
-- HMAC-SHA256(TANDEM_PERSON_HASH_KEY, tenant_id || external_id) (services/enrolment/
-- rows.c). The old hashes cannot be converted (the ids are gone), so they go:
-- - in participants, cleared: those people were erased already; a retried erasure
--   of one of them no longer reaches ids erased before this release;
-- - in the audit, replaced by random bytes: the rows still say when, by whom and in
--   which request an erasure or export happened, no longer of whom.
-- Row-level security is lifted for the owner for these statements only, inside the
-- migration's transaction, and forced again before it ends.
ALTER TABLE enrolment.participants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE enrolment.person_data_audit NO FORCE ROW LEVEL SECURITY;
UPDATE enrolment.participants SET person_hash = NULL WHERE person_hash IS NOT NULL;
UPDATE enrolment.person_data_audit
   SET person_hash = decode(md5(random()::text || clock_timestamp()::text)
                            || md5(random()::text || id::text), 'hex');
ALTER TABLE enrolment.participants FORCE ROW LEVEL SECURITY;
ALTER TABLE enrolment.person_data_audit FORCE ROW LEVEL SECURITY;
COMMENT ON COLUMN enrolment.person_data_audit.person_hash IS
    'HMAC-SHA256(TANDEM_PERSON_HASH_KEY, tenant_id || external_id); random for rows before 009';
