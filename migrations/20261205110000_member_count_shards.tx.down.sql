CREATE OR REPLACE FUNCTION members_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_member_counts AS c (org_id, shard, n)
        SELECT org_id, (random() * 15)::int, count(*) FROM new_members GROUP BY org_id
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION members_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO org_member_counts AS c (org_id, shard, n)
        SELECT d.org_id, (random() * 15)::int, -count(*) FROM old_members d
        WHERE EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.org_id) GROUP BY d.org_id
        ON CONFLICT (org_id, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;
