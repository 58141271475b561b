-- 040_usage.sql - check-ins recorded per tenant and month, for billing (issue #18;
-- docs/operations.md "Usage").
--
-- A plain counter per (tenant, month, metric), incremented by a trigger in the
-- transaction that records the check-in, whichever replica writes it; a replayed
-- Idempotency-Key inserts nothing and so counts nothing. The counter is never
-- decremented: erasing a person later (which redacts or removes their check-ins)
-- does not change what the tenant used in past months, and it holds no personal
-- data at all. The month is that of the recording (usage_now(), UTC), not the
-- check-in's occurred_time: a check-in logged late is billed in the month it was
-- logged, so a closed month's figures never change.
--
-- usage_now(): the database's clock, moved by the session setting
-- tandem.usage_clock_offset_s when a test sets it in its connection string.

CREATE FUNCTION feedback.usage_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT now() + COALESCE(NULLIF(current_setting('tandem.usage_clock_offset_s', true), '')::bigint, 0)
                   * interval '1 second'
$$;

CREATE TABLE feedback.usage_counts (
    tenant_id uuid   NOT NULL,
    month     date   NOT NULL CHECK (extract(day FROM month) = 1),
    metric    text   NOT NULL CHECK (metric IN ('check_ins')),
    count     bigint NOT NULL CHECK (count >= 0),
    PRIMARY KEY (tenant_id, month, metric)
);

-- Per statement over its transition table: one upsert per tenant a statement wrote
-- check-ins for.
CREATE FUNCTION feedback.usage_count_check_ins() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feedback.usage_counts AS u (tenant_id, month, metric, count)
    SELECT n.tenant_id, date_trunc('month', feedback.usage_now() AT TIME ZONE 'UTC')::date,
           'check_ins', count(*)
      FROM usage_new n
     GROUP BY n.tenant_id
    ON CONFLICT (tenant_id, month, metric) DO UPDATE SET count = u.count + EXCLUDED.count;
    RETURN NULL;
END
$$;

CREATE TRIGGER usage_count_check_ins
    AFTER INSERT ON feedback.check_ins
    REFERENCING NEW TABLE AS usage_new
    FOR EACH STATEMENT EXECUTE FUNCTION feedback.usage_count_check_ins();

-- Check-ins recorded before this migration, by the month they were recorded in;
-- read by the owner across tenants before the new table's row-level security is on.
ALTER TABLE feedback.check_ins NO FORCE ROW LEVEL SECURITY;
INSERT INTO feedback.usage_counts (tenant_id, month, metric, count)
SELECT tenant_id, date_trunc('month', create_time AT TIME ZONE 'UTC')::date, 'check_ins', count(*)
  FROM feedback.check_ins
 GROUP BY 1, 2;
ALTER TABLE feedback.check_ins FORCE ROW LEVEL SECURITY;

ALTER TABLE feedback.usage_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback.usage_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON feedback.usage_counts
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

GRANT SELECT, INSERT, UPDATE ON feedback.usage_counts TO @service_role@;
