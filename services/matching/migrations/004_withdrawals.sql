-- 004_withdrawals.sql - a withdrawn participant's live matches end (withdrawals.c).
--
-- How far the follower has read enrolment's outbox: the (writing transaction id, seq)
-- of the last event taken, as in gateway.outbox_cursors. One row, no tenant and no
-- personal data; RLS is on with a policy saying so, like the other worker tables.
-- The read itself needs enrolment's grant (enrolment 005_withdrawal_follower.sql);
-- until enrolment has migrated the follower waits.
CREATE TABLE matching.enrolment_cursor (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_xact xid8    NOT NULL DEFAULT '0',
    last_seq  bigint  NOT NULL DEFAULT 0
);
INSERT INTO matching.enrolment_cursor DEFAULT VALUES;
ALTER TABLE matching.enrolment_cursor ENABLE ROW LEVEL SECURITY;
ALTER TABLE matching.enrolment_cursor FORCE ROW LEVEL SECURITY;
CREATE POLICY follower ON matching.enrolment_cursor USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE ON matching.enrolment_cursor TO @service_role@;
