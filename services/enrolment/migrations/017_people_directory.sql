-- 017_people_directory.sql - a tenant's people directory (DirectoryService, fed by
-- the gateway's SCIM 2.0 front).
--
-- A person is the source of truth for the participants whose external_id is the
-- person's key (external_id, else user_name). The directory lives here, beside the
-- participants it governs, so a change and its propagation to every participant
-- (with the participant.* events) commit in one transaction - no second service,
-- no event to lose between them (docs/design.md, "The people directory").

CREATE TABLE enrolment.people (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    -- Creation order, the keyset of ListPeople.
    seq bigserial NOT NULL,
    user_name text NOT NULL CHECK (char_length(user_name) BETWEEN 1 AND 200),
    external_id text NOT NULL DEFAULT '' CHECK (char_length(external_id) <= 200),
    person_key text GENERATED ALWAYS AS (CASE WHEN external_id <> '' THEN external_id
                                              ELSE user_name END) STORED,
    given_name text NOT NULL DEFAULT '' CHECK (char_length(given_name) <= 200),
    family_name text NOT NULL DEFAULT '' CHECK (char_length(family_name) <= 200),
    formatted_name text NOT NULL DEFAULT '' CHECK (char_length(formatted_name) <= 200),
    display_name text NOT NULL DEFAULT '' CHECK (char_length(display_name) <= 200),
    -- [{"value", "type", "primary"}], checked by the service; at most 10.
    emails jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(emails) = 'array'
                                              AND jsonb_array_length(emails) <= 10),
    active boolean NOT NULL DEFAULT true,
    title text NOT NULL DEFAULT '' CHECK (char_length(title) <= 200),
    preferred_language text NOT NULL DEFAULT '' CHECK (char_length(preferred_language) <= 64),
    timezone text NOT NULL DEFAULT '' CHECK (char_length(timezone) <= 64),
    employee_number text NOT NULL DEFAULT '' CHECK (char_length(employee_number) <= 200),
    department text NOT NULL DEFAULT '' CHECK (char_length(department) <= 200),
    organization text NOT NULL DEFAULT '' CHECK (char_length(organization) <= 200),
    division text NOT NULL DEFAULT '' CHECK (char_length(division) <= 200),
    manager_id uuid,
    seniority_level integer CHECK (seniority_level BETWEEN 0 AND 10),
    practice_area text NOT NULL DEFAULT '' CHECK (char_length(practice_area) <= 200),
    office text NOT NULL DEFAULT '' CHECK (char_length(office) <= 200),
    years_qualified integer CHECK (years_qualified BETWEEN 0 AND 70),
    version bigint NOT NULL DEFAULT 1,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, person_key),
    CHECK (manager_id IS NULL OR manager_id <> id),
    -- The service clears the links to a person before deleting them (and
    -- propagates the reports' new chains), so this never fires on a delete.
    FOREIGN KEY (tenant_id, manager_id) REFERENCES enrolment.people (tenant_id, id)
);
-- userName is unique without regard to case (RFC 7643 section 4.1.1: caseExact false).
CREATE UNIQUE INDEX people_user_name ON enrolment.people (tenant_id, lower(user_name));
CREATE UNIQUE INDEX people_external_id ON enrolment.people (tenant_id, external_id)
    WHERE external_id <> '';
CREATE INDEX people_list ON enrolment.people (tenant_id, seq);
CREATE INDEX people_reports ON enrolment.people (tenant_id, manager_id)
    WHERE manager_id IS NOT NULL;

ALTER TABLE enrolment.people ENABLE ROW LEVEL SECURITY;
ALTER TABLE enrolment.people FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON enrolment.people
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

-- The keys of a person's managers, nearest first, at most 20 (a participant's
-- reporting_chain). Cycles are refused when links are written; the depth bound
-- keeps a read finite regardless.
CREATE FUNCTION enrolment.directory_chain(p_tenant uuid, p_person uuid) RETURNS text[]
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up(id, depth) AS (
        SELECT manager_id, 1 FROM enrolment.people
         WHERE tenant_id = p_tenant AND id = p_person AND manager_id IS NOT NULL
        UNION ALL
        SELECT m.manager_id, up.depth + 1 FROM up JOIN enrolment.people m
            ON m.tenant_id = p_tenant AND m.id = up.id
         WHERE m.manager_id IS NOT NULL AND up.depth < 20)
    SELECT COALESCE(array_agg(m.person_key ORDER BY up.depth), '{}')
      FROM up JOIN enrolment.people m ON m.tenant_id = p_tenant AND m.id = up.id
$$;

-- The person and everyone below them (their reports, transitively): whose
-- reporting_chain a change of this person's key or manager can change.
CREATE FUNCTION enrolment.directory_subtree(p_tenant uuid, p_person uuid) RETURNS SETOF uuid
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE down(id, depth) AS (
        SELECT p_person, 0
        UNION ALL
        SELECT r.id, down.depth + 1 FROM down JOIN enrolment.people r
            ON r.tenant_id = p_tenant AND r.manager_id = down.id
         WHERE down.depth < 1000)
    SELECT DISTINCT id FROM down
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON enrolment.people TO @service_role@;
GRANT EXECUTE ON FUNCTION enrolment.directory_chain(uuid, uuid),
    enrolment.directory_subtree(uuid, uuid) TO @service_role@;
