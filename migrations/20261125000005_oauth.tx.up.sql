CREATE TABLE oauth_states (
    state      text PRIMARY KEY,
    org_id     bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('google', 'github')),
    purpose    text NOT NULL CHECK (purpose IN ('login', 'activate')),
    user_id    bigint REFERENCES users (id) ON DELETE CASCADE,
    next_path  text NOT NULL DEFAULT '',
    nonce      text NOT NULL,
    verifier   text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX oauth_states_expires_idx ON oauth_states (expires_at);
COMMENT ON TABLE oauth_states IS 'OAuth2/OIDC authorization requests (state, PKCE verifier, nonce): single use, 10 minutes.';
