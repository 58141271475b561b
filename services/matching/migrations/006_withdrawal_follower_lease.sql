-- 005_withdrawal_follower_lease.sql - one replica at a time follows enrolment's outbox.
--
-- Every replica of tandem-matching ran the withdrawal follower (withdrawals.c) on the
-- same rows: the same reads, the same match updates, the same cursor write, once per
-- replica and second. Now a replica follows only while it holds the cursor row's
-- lease: each pass renews it (holder = the replica's follower id, held_until a few
-- seconds ahead) or finds it held by another replica and skips; a replica that dies
-- leaves it to expire. The cursor moves only WHERE holder is the mover, so a replica
-- that lost the lease mid-pass cannot move it (its work, ending matches, is
-- idempotent and repeated by the new holder at worst). No tenant, no personal data.
ALTER TABLE matching.enrolment_cursor
    ADD COLUMN holder     uuid,
    ADD COLUMN held_until timestamptz;
