-- A tenant-owned table written the way the services write theirs: tenant_id leads the
-- primary key, row-level security ENABLEd and FORCEd on app.tenant_id, privileges
-- granted to the service role through the runner's placeholder.
CREATE TABLE notes (
    tenant_id uuid NOT NULL,
    id integer NOT NULL,
    body text NOT NULL,
    seq bigserial NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notes
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO @service_role@;
