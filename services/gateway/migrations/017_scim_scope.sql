-- 017_scim_scope.sql - API keys may carry the `scim` scope (TDM_SCOPE_SCIM, bit 128):
-- the SCIM 2.0 front (/scim/v2) and the people directory behind it.
ALTER TABLE gateway.api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE gateway.api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (scopes > 0 AND scopes <= 255);
