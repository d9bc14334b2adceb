-- Issue 12: no query can use the GIN index on sessions.sso_orgs. The sessions of an
-- org's SSO are found as `? = ANY(sso_orgs)` (or NOT), which GIN's array operators
-- (@>, &&) do not serve: single logout and deprovisioning go through sessions_user_idx,
-- Require SSO and domain capture through the org's members. The index only cost every
-- session write (each sign-in, each session save) a GIN insertion and its pending-list
-- cleanups.
DROP INDEX IF EXISTS sessions_sso_orgs_idx;
