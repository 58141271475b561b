-- 003_erasure_reaches_the_outbox.sql - ErasePerson also erases the person from events.
--
-- participant.enrolled and participant.withdrawn carry the person's name, e-mail and
-- profile in their payload. ErasePerson, in its transaction, replaces the payload of
-- the person's participant.* rows by the ids and role alone, and appends an internal
-- person.erased event (never a webhook event) from which the gateway cancels the
-- deliveries it has not made yet (services/gateway/webhook_store.c). So the service
-- role may now read the three columns that find those rows and rewrite the payload;
-- it still cannot read a payload, nor delete a row.
GRANT SELECT (tenant_id, resource_id, type), UPDATE (payload) ON enrolment.outbox
    TO @service_role@;
