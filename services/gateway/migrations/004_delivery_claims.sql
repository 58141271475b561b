-- 004_delivery_claims.sql - a delivery's outcome is written by the holder of its claim.
--
-- A claim used to be only a lease: whoever recorded an outcome while the delivery was
-- PENDING won, so a replica that was slow to record (a long GC-like stall, a frozen
-- node) could, after its lease had run out and another replica had claimed and sent
-- the delivery again, still record its own outcome - and a failure it recorded
-- released the other replica's claim, so a third replica sent it once more. Now each
-- claim gets a fresh claim_id and the outcome is recorded only by the attempt that
-- holds it (API.md "Many replicas, one outcome"), as matching runs are fenced.
ALTER TABLE gateway.webhook_queue ADD COLUMN claim_id uuid;
