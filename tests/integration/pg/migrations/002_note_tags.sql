-- A second migration naming the service role through the tandem.service_role setting
-- (the form DO blocks use), with narrower privileges: tags are never updated.
CREATE TABLE note_tags (
    tenant_id uuid NOT NULL,
    note_id integer NOT NULL,
    tag text NOT NULL,
    PRIMARY KEY (tenant_id, note_id, tag),
    FOREIGN KEY (tenant_id, note_id) REFERENCES notes (tenant_id, id) ON DELETE CASCADE
);
ALTER TABLE note_tags ENABLE ROW LEVEL SECURITY;
ALTER TABLE note_tags FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON note_tags
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);
DO $$
BEGIN
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON note_tags TO %I',
                   current_setting('tandem.service_role'));
END
$$;
