-- Rate limits shared by every gateway replica (issue #16; API.md "Many replicas, one
-- outcome": a key's rate limit holds across replicas within 10 %).
--
-- One token bucket per API key, refilled at the key's rate up to its burst, from which
-- each replica leases tokens in small batches (services/gateway/auth_ratelimit.c,
-- ratelimit.h); a row is made on a key's first lease. Times are the database's own
-- clock, so replicas' clocks do not matter. TANDEM_RATE_LIMIT_MODE=replica does not
-- use this table.

CREATE TABLE gateway.rate_limits (
    key_id      uuid             PRIMARY KEY REFERENCES gateway.api_keys (id) ON DELETE CASCADE,
    tokens      double precision NOT NULL,
    refill_time timestamptz      NOT NULL
);

GRANT SELECT, INSERT, UPDATE ON gateway.rate_limits TO @service_role@;
