-- 021_survey_opened_event.sql - a webhook may subscribe to survey.opened (issue #18),
-- the eleventh event name (participant.updated, of SCIM, is the tenth): an endpoint
-- lists 1 to 11 of them.
ALTER TABLE gateway.webhooks DROP CONSTRAINT webhooks_events_check;
ALTER TABLE gateway.webhooks ADD CONSTRAINT webhooks_events_check
    CHECK (cardinality(events) BETWEEN 1 AND 11);
