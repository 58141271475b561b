-- 008_anonymity_threshold_at_least_3.sql - the anonymity threshold is 3 to 1000.
--
-- A threshold of 2 let a report show a figure about two people, one of whom is the
-- reader often enough (API.md, "Anonymity that survives a determined reader").
-- Programmes stored with 2 are raised to 3, the nearest allowed value, and the
-- constraint follows the new range. (Numbered 008 so that migrations added beside
-- it in the same release keep their numbers.) Row-level security is lifted for the
-- owner for the one UPDATE that must see every tenant's rows, inside the migration's
-- transaction, and forced again before it ends.
ALTER TABLE enrolment.programmes NO FORCE ROW LEVEL SECURITY;
UPDATE enrolment.programmes SET anonymity_threshold = 3 WHERE anonymity_threshold < 3;
ALTER TABLE enrolment.programmes FORCE ROW LEVEL SECURITY;
ALTER TABLE enrolment.programmes DROP CONSTRAINT IF EXISTS programmes_anonymity_threshold_check;
ALTER TABLE enrolment.programmes ADD CONSTRAINT programmes_anonymity_threshold_check
    CHECK (anonymity_threshold BETWEEN 3 AND 1000);
