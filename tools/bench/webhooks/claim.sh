#!/usr/bin/env bash
# tools/bench/webhooks/claim.sh - what one claim of due webhook deliveries costs the
# database when one tenant has a large backlog (bench/RESULTS.md "Webhook claims").
#
# A throwaway PostgreSQL (deploy/lib.sh), gateway.webhook_queue as migrations 002,
# 014 and 015 make it, and a queue of 200,000 due deliveries of one tenant (20
# endpoints x 10,000 events, as after a large BatchEnrol) plus 100 tenants with 10
# each. Each statement claims 64 (the replica's in-flight limit) inside a transaction
# that is rolled back, RUNS times; the median of EXPLAIN ANALYZE's execution time is
# printed, with the rows it would claim and how many of them are the big tenant's:
#   before     the claim before fairness (oldest due first, any tenant; f61ec70^)
#   fair-scan  the first fair claim: a window over every due row (f61ec70)
#   fair       the claim of services/gateway/webhook_store.c now: a loose index scan
#              over tenants, at most the cap (8) of each
# The statements are copies of the C source at those commits.
#
#   tools/bench/webhooks/claim.sh [RUNS]     (default 5)
set -euo pipefail
source "$(dirname "$0")/../../../deploy/lib.sh"
RUNS=${1:-5}
D=$(mktemp -d /tmp/tandem-bench-claim.XXXXXX)
tdm_reserve_port PORT
tdm_pg_init "$D/data" trust >/dev/null
tdm_pg_start "$D/data" "$PORT" "$D" "$D/log" "-c fsync=off" >/dev/null
trap 'tdm_pg_stop "$D/data"; rm -rf "$D"' EXIT
P="psql -X -q -h 127.0.0.1 -p $PORT -U postgres postgres"
$P <<'SQL'
CREATE SCHEMA gateway;
CREATE TABLE gateway.webhook_queue (
    tenant_id uuid NOT NULL, delivery_id uuid NOT NULL, webhook_id uuid NOT NULL,
    ordering_key text NOT NULL, position bigint NOT NULL, next_attempt_time timestamptz NOT NULL,
    lease_until timestamptz, claim_id uuid, PRIMARY KEY (tenant_id, delivery_id));
CREATE INDEX webhook_queue_due ON gateway.webhook_queue (next_attempt_time);
CREATE INDEX webhook_queue_order ON gateway.webhook_queue (webhook_id, ordering_key, position);
CREATE INDEX webhook_queue_tenant_due ON gateway.webhook_queue (tenant_id, next_attempt_time, position);
CREATE INDEX webhook_queue_leased ON gateway.webhook_queue (tenant_id) WHERE lease_until IS NOT NULL;
-- one tenant with 20 endpoints and 10,000 events each (a BatchEnrol); 100 tenants with 10 each
INSERT INTO gateway.webhook_queue
SELECT t, gen_random_uuid(), w, 'k' || e, row_number() OVER (), now() - interval '1 minute'
FROM (SELECT '00000000-0000-0000-0000-000000000001'::uuid t) tt,
     (SELECT gen_random_uuid() w FROM generate_series(1, 20)) ww, generate_series(1, 10000) e;
INSERT INTO gateway.webhook_queue
SELECT t, gen_random_uuid(), gen_random_uuid(), 'k' || e, 1000000 + row_number() OVER (), now()
FROM (SELECT gen_random_uuid() t FROM generate_series(1, 100)) tt, generate_series(1, 10) e;
ANALYZE gateway.webhook_queue;
SQL
BEFORE="UPDATE gateway.webhook_queue q SET lease_until = now() + 30000 * interval '1 ms', claim_id = gen_random_uuid()
 FROM (SELECT a.tenant_id, a.delivery_id FROM gateway.webhook_queue a
  WHERE a.next_attempt_time <= now() AND (a.lease_until IS NULL OR a.lease_until < now())
  AND NOT EXISTS (SELECT 1 FROM gateway.webhook_queue b WHERE b.webhook_id = a.webhook_id
   AND b.ordering_key = a.ordering_key AND b.position < a.position)
  ORDER BY a.next_attempt_time, a.position LIMIT 64 FOR UPDATE SKIP LOCKED) c
 WHERE q.tenant_id = c.tenant_id AND q.delivery_id = c.delivery_id RETURNING q.tenant_id"
# The two fair claims differ only in how they number each tenant's due rows.
FAIR_HEAD="UPDATE gateway.webhook_queue q SET lease_until = now() + 30000 * interval '1 ms', claim_id = gen_random_uuid()
 FROM (SELECT a.tenant_id, a.delivery_id FROM gateway.webhook_queue a
  WHERE (a.tenant_id, a.delivery_id) IN (
   SELECT r.tenant_id, r.delivery_id FROM ("
FAIR_TAIL="   LEFT JOIN (SELECT l.tenant_id, count(*) AS busy FROM gateway.webhook_queue l
    WHERE l.lease_until >= now() GROUP BY l.tenant_id) f ON f.tenant_id = r.tenant_id
   WHERE r.turn <= 8 - coalesce(f.busy, 0)
   ORDER BY r.turn, r.next_attempt_time, r.position LIMIT 64)
  AND a.next_attempt_time <= now() AND (a.lease_until IS NULL OR a.lease_until < now())
  FOR UPDATE SKIP LOCKED) c
 WHERE q.tenant_id = c.tenant_id AND q.delivery_id = c.delivery_id RETURNING q.tenant_id"
FAIR_SCAN="$FAIR_HEAD
    SELECT d.tenant_id, d.delivery_id, d.next_attempt_time, d.position,
     row_number() OVER (PARTITION BY d.tenant_id ORDER BY d.next_attempt_time, d.position) AS turn
    FROM gateway.webhook_queue d WHERE d.next_attempt_time <= now()
    AND (d.lease_until IS NULL OR d.lease_until < now())
    AND NOT EXISTS (SELECT 1 FROM gateway.webhook_queue b
     WHERE b.webhook_id = d.webhook_id AND b.ordering_key = d.ordering_key
     AND b.position < d.position)) r
$FAIR_TAIL"
FAIR_TURNS=$(cat <<'SQL'
    WITH RECURSIVE tenants AS (
     (SELECT t.tenant_id FROM gateway.webhook_queue t WHERE t.next_attempt_time <= now()
      ORDER BY t.tenant_id LIMIT 1)
     UNION ALL
     SELECT (SELECT t.tenant_id FROM gateway.webhook_queue t WHERE t.tenant_id > p.tenant_id
             AND t.next_attempt_time <= now() ORDER BY t.tenant_id LIMIT 1)
     FROM tenants p WHERE p.tenant_id IS NOT NULL)
    SELECT e.tenant_id, e.delivery_id, e.next_attempt_time, e.position,
     row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.next_attempt_time, e.position) AS turn
    FROM tenants tn CROSS JOIN LATERAL (
     SELECT d.tenant_id, d.delivery_id, d.next_attempt_time, d.position
     FROM gateway.webhook_queue d WHERE d.tenant_id = tn.tenant_id
     AND d.next_attempt_time <= now() AND (d.lease_until IS NULL OR d.lease_until < now())
     AND NOT EXISTS (SELECT 1 FROM gateway.webhook_queue b
      WHERE b.webhook_id = d.webhook_id AND b.ordering_key = d.ordering_key
      AND b.position < d.position)
     ORDER BY d.next_attempt_time, d.position LIMIT 8) e) r
SQL
)
FAIR="$FAIR_HEAD$FAIR_TURNS
$FAIR_TAIL"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %12s %8s %14s\n' statement "median ms" claimed "big tenant's"
for name in BEFORE FAIR_SCAN FAIR; do
  sql=${!name}
  times=()
  for _ in $(seq "$RUNS"); do
    times+=("$($P -At -c "BEGIN" -c "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON, FORMAT JSON) $sql" \
      -c "ROLLBACK" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Execution Time"])')")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p")
  rows=$($P -At -c "BEGIN" -c "$sql" -c "ROLLBACK")
  printf '%-10s %12.1f %8d %14d\n' "$name" "$median" "$(grep -c . <<<"$rows")" \
    "$(grep -c '^00000000-0000-0000-0000-000000000001' <<<"$rows" || true)"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
