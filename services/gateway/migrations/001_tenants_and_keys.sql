-- Tenants and API keys: the gateway's own tables (schema gateway).
--
-- These are not tenant-owned data but the directory that decides which tenant a
-- request belongs to: a key must be found by its hash before any tenant is known,
-- so row-level security keyed on app.tenant_id cannot apply here. Only the gateway
-- role can read them, and secrets are stored only as SHA-256 hashes.

CREATE TABLE gateway.tenants (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    slug        text        NOT NULL CHECK (slug ~ '^[a-z0-9-]{2,63}$'),
    create_time timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);
-- Listing is oldest first, keyset-paginated on (create_time, id).
CREATE INDEX tenants_create_time_idx ON gateway.tenants (create_time, id);

CREATE TABLE gateway.api_keys (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The tenant the key was created under; NULL only for the bootstrap key.
    tenant_id      uuid        REFERENCES gateway.tenants (id),
    kind           smallint    NOT NULL CHECK (kind IN (1, 2)), -- 1 platform, 2 tenant
    display_name   text        NOT NULL CHECK (char_length(display_name) BETWEEN 1 AND 200),
    scopes         integer     NOT NULL CHECK (scopes > 0 AND scopes <= 127), -- TDM_SCOPE_* bits
    rate_rps       integer     CHECK (rate_rps BETWEEN 1 AND 1000000),   -- NULL: defaults
    rate_burst     integer     CHECK (rate_burst BETWEEN 1 AND 1000000), -- NULL: defaults
    secret_hash    bytea       NOT NULL CHECK (octet_length(secret_hash) = 32),
    secret_prefix  text        NOT NULL,
    create_time    timestamptz NOT NULL DEFAULT now(),
    last_used_time timestamptz,
    revoke_time    timestamptz,
    CONSTRAINT api_keys_secret_hash_key UNIQUE (secret_hash),
    CONSTRAINT api_keys_platform_or_tenant CHECK (kind = 1 OR tenant_id IS NOT NULL)
);
-- ListApiKeys: newest first per tenant.
CREATE INDEX api_keys_tenant_idx ON gateway.api_keys (tenant_id, create_time DESC, id DESC);

-- CreateTenant / CreateApiKey replay under Idempotency-Key (24 h).
CREATE TABLE gateway.idempotency (
    principal_id  uuid        NOT NULL,
    method        text        NOT NULL,
    key           text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 200),
    request_hash  bytea       NOT NULL,
    response      bytea       NOT NULL,
    create_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal_id, method, key)
);
CREATE INDEX idempotency_create_time_idx ON gateway.idempotency (create_time);

-- The service role reads and writes these; it never deletes a tenant or a key
-- (revocation is an update), and replaces idempotency rows in place.
GRANT SELECT, INSERT, UPDATE ON gateway.tenants, gateway.api_keys TO @service_role@;
GRANT SELECT, INSERT, UPDATE ON gateway.idempotency TO @service_role@;
