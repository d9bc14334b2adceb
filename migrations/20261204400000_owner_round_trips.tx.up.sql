-- Issue 14: the outcome of an owner's SSO round trip (Test Configuration, a failed
-- activation) is shown at a GET inside Settings › Auth, not at the ACS.
CREATE UNLOGGED TABLE sso_results (
    token_hash text PRIMARY KEY,
    org_id     bigint NOT NULL,
    user_id    bigint NOT NULL,
    flow       text NOT NULL,
    purpose    text NOT NULL CHECK (purpose IN ('test', 'activate')),
    payload    jsonb NOT NULL,
    expires_at timestamptz NOT NULL
);
COMMENT ON TABLE sso_results IS 'Results of an owner''s Test Configuration or failed activation, shown only to that user in the browser session that started it; 30 minutes.';
