CREATE INDEX IF NOT EXISTS sessions_sso_orgs_idx ON sessions USING gin (sso_orgs);
