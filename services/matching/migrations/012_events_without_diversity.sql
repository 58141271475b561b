-- 012_events_without_diversity.sql - match.* events already written lose what was
-- derived from diversity data.
--
-- Events reach webhooks, and nothing derived from diversity data may (API.md "Least
-- privilege in every answer"): new events leave out the explanation items of the
-- "background" criterion and carry score = the sum of the items kept
-- (mt_event_json). This rewrites the rows written before, not yet pruned, the same
-- way, so a delivery fanned out from them later carries none either. The table's
-- row-level security is forced for its owner too; it is lifted for this statement
-- only, inside the migration's transaction.
ALTER TABLE matching.outbox NO FORCE ROW LEVEL SECURITY;

WITH x AS (
    SELECT o.tenant_id, o.id,
           COALESCE((SELECT jsonb_agg(e.item ORDER BY e.ord)
                     FROM jsonb_array_elements(o.payload -> 'match' -> 'explanation')
                          WITH ORDINALITY AS e(item, ord)
                     WHERE e.item ->> 'criterion' IS DISTINCT FROM 'background'),
                    '[]'::jsonb) AS kept
    FROM matching.outbox o
    WHERE o.type LIKE 'match.%'
      AND jsonb_typeof(o.payload -> 'match' -> 'explanation') = 'array'
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(o.payload -> 'match' -> 'explanation') i
                  WHERE i ->> 'criterion' = 'background'))
UPDATE matching.outbox o
SET payload = jsonb_set(jsonb_set(o.payload, '{match,explanation}', x.kept), '{match,score}',
                        to_jsonb(round((SELECT COALESCE(sum((k ->> 'contribution')::numeric), 0)
                                        FROM jsonb_array_elements(x.kept) k), 2)))
FROM x
WHERE o.tenant_id = x.tenant_id AND o.id = x.id;

ALTER TABLE matching.outbox FORCE ROW LEVEL SECURITY;
