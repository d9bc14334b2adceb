-- Members page: keyset paging over the member's own org-scoped columns (issue 12), not
-- a sort over users.
CREATE INDEX members_org_joined_email_idx ON members (org_id, lower(email), id) WHERE user_id IS NOT NULL;

-- SCIM totalResults without counting the org on every page: a count per org kept by a
-- trigger, in 16 shards so that concurrent member inserts and deletes of one org do not
-- queue on one counter row (a single row would be an org-wide lock again).
CREATE TABLE org_member_counts (
    org_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    shard smallint NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (org_id, shard)
);

-- Statement-level triggers over the transition tables: one upsert per org and
-- statement (a bulk insert of 300,000 members updates each counter once, not 300,000
-- times). A member never moves to another org (no code changes members.org_id).
CREATE FUNCTION members_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_member_counts AS c (org_id, shard, n)
        SELECT org_id, (random() * 15)::int, count(*) FROM new_members GROUP BY org_id
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION members_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An organization being deleted (ON DELETE CASCADE) takes its counts with it.
    INSERT INTO org_member_counts AS c (org_id, shard, n)
        SELECT d.org_id, (random() * 15)::int, -count(*) FROM old_members d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.org_id) GROUP BY d.org_id
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE TRIGGER members_count_insert AFTER INSERT ON members
    REFERENCING NEW TABLE AS new_members FOR EACH STATEMENT EXECUTE FUNCTION members_count_insert();
CREATE TRIGGER members_count_delete AFTER DELETE ON members
    REFERENCING OLD TABLE AS old_members FOR EACH STATEMENT EXECUTE FUNCTION members_count_delete();

INSERT INTO org_member_counts (org_id, shard, n) SELECT org_id, 0, count(*) FROM members GROUP BY org_id;
