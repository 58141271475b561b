-- 010_erasure_reaches_reporting_chains.sql - an erased person leaves others' events.
--
-- A participant's reporting_chain holds their managers' external ids, and so does the
-- payload of their participant.* events. ErasePerson removes the erased person's
-- external id from every reporting chain, rows and events, in its transaction; to
-- find those events the service role may now read the payload of its own outbox
-- (it wrote every one of them). It still cannot delete a row.
GRANT SELECT (payload) ON enrolment.outbox TO @service_role@;
