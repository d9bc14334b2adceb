-- Issue 12: the replay cache's foreign key to organizations made every SSO sign-in
-- lock the org's row (FOR KEY SHARE) once more; with many concurrent sign-ins of one
-- org, each such lock writes a new MultiXact and WAL on that one row (an A/B run
-- without both of the sign-in's keys to organizations used about 4% less PostgreSQL
-- CPU per login; this is the one with no integrity to keep). Nothing joins replay
-- rows to their org: they are only ever inserted (a conflict is a replay),
-- organization ids are never reused, and maintenance purges every row once it
-- expires (models/maintenance.go). The sign-in log, which names people, keeps its
-- cascade.
ALTER TABLE saml_replay DROP CONSTRAINT IF EXISTS saml_replay_org_id_fkey;
