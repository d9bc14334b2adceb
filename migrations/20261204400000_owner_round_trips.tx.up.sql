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

-- Issue 14: a form submitted twice (a double click, or Back and submit) acts once. The
-- owner's forms carry a random submit key; the row it made remembers it.
ALTER TABLE scim_tokens ADD COLUMN submit_key text;
CREATE UNIQUE INDEX scim_tokens_submit_key_idx ON scim_tokens (org_id, submit_key) WHERE submit_key IS NOT NULL;
COMMENT ON COLUMN scim_tokens.submit_key IS 'The form submission that generated the token: submitting that form again generates no second token.';
ALTER TABLE saml_requests ADD COLUMN submit_key text, ADD COLUMN outbound jsonb;
CREATE UNIQUE INDEX saml_requests_submit_key_idx ON saml_requests (org_id, user_id, purpose, submit_key) WHERE submit_key IS NOT NULL;
COMMENT ON COLUMN saml_requests.submit_key IS 'The owner''s form submission (activate, test) that started the request: a second submission of that form gets the same round trip.';
COMMENT ON COLUMN saml_requests.outbound IS 'The AuthnRequest sent (redirect URL or POST form), to send again to a repeated submission.';
