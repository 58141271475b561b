-- 002_webhooks.sql - WebhookService: endpoints and deliveries (tenant-owned, RLS), the
-- delivery queue and the outbox cursors (cross-tenant by design, see below).
-- How the worker uses them: services/gateway/README.md "Webhooks".

-- An endpoint. secret_sealed is the signing secret sealed with AES-256-GCM under
-- SHA-256(TANDEM_WEBHOOK_SECRET_KEY), bound to (tenant_id, id): version byte 1,
-- 12-byte nonce, ciphertext, 16-byte tag. Version 0 (no key configured) holds it in
-- clear; the gateway warns at start-up. It must be recoverable to sign, so it cannot
-- be hashed like an API key; it is never logged nor shown again after CreateWebhook.
CREATE TABLE gateway.webhooks (
    tenant_id     uuid        NOT NULL REFERENCES gateway.tenants (id),
    id            uuid        NOT NULL,
    seq           bigserial   NOT NULL,
    url           text        NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2048),
    events        text[]      NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 9),
    description   text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 200),
    secret_sealed bytea       NOT NULL CHECK (octet_length(secret_sealed) BETWEEN 1 AND 128),
    create_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
-- ListWebhooks: oldest first.
CREATE INDEX webhooks_list ON gateway.webhooks (tenant_id, seq);

-- One event for one endpoint over all its attempts. id is derived from (webhook,
-- event) (md5 as a UUID), so it is the same on every retry and a second fan-out of
-- the same event is a conflict, not a second delivery. body is the exact JSON sent
-- (it holds the event's personal data) and is cleared once the delivery is over
-- (SUCCEEDED or FAILED): the gateway keeps no copy of personal data longer than the
-- 24 h retry window.
CREATE TABLE gateway.webhook_deliveries (
    tenant_id         uuid        NOT NULL,
    id                uuid        NOT NULL,
    seq               bigserial   NOT NULL,
    webhook_id        uuid        NOT NULL,
    event_id          uuid        NOT NULL,
    event_type        text        NOT NULL CHECK (char_length(event_type) BETWEEN 1 AND 64),
    ordering_key      text        NOT NULL CHECK (char_length(ordering_key) BETWEEN 1 AND 64),
    source            text        NOT NULL,
    body              text,
    status            smallint    NOT NULL DEFAULT 1 CHECK (status BETWEEN 1 AND 3), -- PENDING, SUCCEEDED, FAILED
    attempt_count     integer     NOT NULL DEFAULT 0,
    last_status_code  integer     NOT NULL DEFAULT 0,
    last_error        text        NOT NULL DEFAULT '' CHECK (char_length(last_error) <= 1000),
    next_attempt_time timestamptz,
    last_attempt_time timestamptz,
    create_time       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT webhook_deliveries_once UNIQUE (tenant_id, webhook_id, event_id),
    FOREIGN KEY (tenant_id, webhook_id) REFERENCES gateway.webhooks (tenant_id, id)
        ON DELETE CASCADE
);
-- ListWebhookDeliveries: newest first.
CREATE INDEX webhook_deliveries_list ON gateway.webhook_deliveries (tenant_id, webhook_id, seq DESC);

-- The work list of pending deliveries: ids, times and ordering keys only, no
-- personal data. It is deliberately cross-tenant (a policy that says so, not RLS
-- off and not BYPASSRLS), so one statement can claim due work of every tenant; the
-- delivery itself is then read and updated in a transaction bound to its tenant.
CREATE TABLE gateway.webhook_queue (
    tenant_id         uuid        NOT NULL,
    delivery_id       uuid        NOT NULL,
    webhook_id        uuid        NOT NULL,
    ordering_key      text        NOT NULL,
    position          bigint      NOT NULL, -- the delivery's seq: order within a key
    next_attempt_time timestamptz NOT NULL,
    lease_until       timestamptz,          -- claimed by a worker until then
    PRIMARY KEY (tenant_id, delivery_id),
    FOREIGN KEY (tenant_id, delivery_id) REFERENCES gateway.webhook_deliveries (tenant_id, id)
        ON DELETE CASCADE
);
CREATE INDEX webhook_queue_due ON gateway.webhook_queue (next_attempt_time);
CREATE INDEX webhook_queue_order ON gateway.webhook_queue (webhook_id, ordering_key, position);

-- How far each source outbox has been fanned out: the (writing transaction id, seq)
-- of the last event taken. Rows are read only below the oldest running
-- transaction, so nothing can later commit behind the cursor.
CREATE TABLE gateway.outbox_cursors (
    source    text   PRIMARY KEY CHECK (source IN ('enrolment', 'matching', 'feedback')),
    last_xact xid8   NOT NULL DEFAULT '0',
    last_seq  bigint NOT NULL DEFAULT 0
);
INSERT INTO gateway.outbox_cursors (source) VALUES ('enrolment'), ('matching'), ('feedback');

DO $rls$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhooks', 'webhook_deliveries']
    LOOP
        EXECUTE format('ALTER TABLE gateway.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE gateway.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON gateway.%I '
                       'USING (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid) '
                       'WITH CHECK (tenant_id = NULLIF(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['webhook_queue', 'outbox_cursors']
    LOOP
        EXECUTE format('ALTER TABLE gateway.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE gateway.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY cross_tenant_worker ON gateway.%I USING (true) WITH CHECK (true)', t);
    END LOOP;
END
$rls$;

GRANT SELECT, INSERT, DELETE ON gateway.webhooks TO @service_role@;
GRANT SELECT, INSERT, UPDATE ON gateway.webhook_deliveries TO @service_role@;
GRANT SELECT, INSERT, UPDATE, DELETE ON gateway.webhook_queue TO @service_role@;
GRANT SELECT, UPDATE ON gateway.outbox_cursors TO @service_role@;
