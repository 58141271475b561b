-- 008_erasure_redacts_events.sql - ErasePerson reaches this service's events.
--
-- feedback's events (check_in.recorded, match.at_risk) carry the person's
-- ids and what they said (notes, topics) or what is said about them. The erasure, in its
-- transaction, replaces the payload of every event that names one of the person's
-- ids by {"erased": true}, which the gateway never fans out (include/tandem/
-- person_data.h). So the service role may now read the columns that find those
-- rows and rewrite the payload; it still cannot delete a row. (Numbered 008 so that
-- migrations added beside it in the same release keep their numbers.)
GRANT SELECT (tenant_id, payload), UPDATE (payload) ON feedback.outbox TO @service_role@;
