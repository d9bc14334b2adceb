CREATE TABLE auth_providers (
    id                    bigserial PRIMARY KEY,
    org_id                bigint NOT NULL UNIQUE REFERENCES organizations (id) ON DELETE CASCADE,
    kind                  text NOT NULL CHECK (kind IN ('saml2', 'okta', 'entra', 'onelogin', 'auth0', 'jumpcloud', 'google', 'github')),
    status                text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'active')),
    config                jsonb NOT NULL DEFAULT '{}',
    require_sso           boolean NOT NULL DEFAULT false,
    scim_enabled          boolean NOT NULL DEFAULT false,
    allow_idp_initiated   boolean NOT NULL DEFAULT true,
    allow_unsigned_logout boolean NOT NULL DEFAULT false,
    sso_session_hours     integer NOT NULL DEFAULT 168 CHECK (sso_session_hours BETWEEN 1 AND 2160),
    created_by_id         bigint REFERENCES users (id) ON DELETE SET NULL,
    activated_at          timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE auth_providers IS 'At most one sign-in provider per org; config holds the IdP registration and attribute mapping.';

CREATE TABLE auth_identities (
    id               bigserial PRIMARY KEY,
    provider_id      bigint NOT NULL REFERENCES auth_providers (id) ON DELETE CASCADE,
    org_id           bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idp_user_id      text NOT NULL CHECK (length(idp_user_id) BETWEEN 1 AND 512),
    name_id          text NOT NULL DEFAULT '',
    attributes       jsonb NOT NULL DEFAULT '{}',
    last_verified_at timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (provider_id, idp_user_id),
    UNIQUE (provider_id, user_id)
);
CREATE INDEX auth_identities_name_id_idx ON auth_identities (provider_id, name_id);
CREATE INDEX auth_identities_user_idx ON auth_identities (user_id);
COMMENT ON TABLE auth_identities IS 'Links a user to an org provider by the IdP''s stable user id (never by email).';

CREATE TABLE saml_requests (
    relay_state text PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    request_id  text NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('login', 'activate', 'test')),
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    next_path   text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX saml_requests_expires_idx ON saml_requests (expires_at);
COMMENT ON TABLE saml_requests IS 'SP-initiated request state keyed by an opaque RelayState: single use, 10 minutes.';

CREATE TABLE saml_replay (
    org_id       bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    issuer       text NOT NULL,
    assertion_id text NOT NULL,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, issuer, assertion_id)
);
CREATE INDEX saml_replay_expires_idx ON saml_replay (expires_at);
COMMENT ON TABLE saml_replay IS 'Assertions already consumed, shared by every instance; rows outlive the assertion.';

CREATE TABLE sso_signins (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason      text NOT NULL DEFAULT '',
    hint        text NOT NULL DEFAULT '',
    idp_user_id text NOT NULL DEFAULT '',
    email       text NOT NULL DEFAULT '',
    user_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    ip          text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sso_signins_org_idx ON sso_signins (org_id, id DESC);
COMMENT ON TABLE sso_signins IS 'Every SSO attempt per org: outcome, reason code and hint; never the assertion.';

CREATE TABLE pending_links (
    token_hash   text PRIMARY KEY,
    browser_hash text NOT NULL,
    org_id       bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider_id  bigint NOT NULL REFERENCES auth_providers (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idp_user_id  text NOT NULL,
    name_id      text NOT NULL DEFAULT '',
    email        text NOT NULL,
    attributes   jsonb NOT NULL DEFAULT '{}',
    next_path    text NOT NULL DEFAULT '',
    email_token_hash text UNIQUE,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE pending_links IS 'An SSO identity waiting for the owner of the matching account to prove it (signed in, password, or emailed link) in the same browser.';

ALTER TABLE sessions ADD COLUMN sso_orgs bigint[] NOT NULL DEFAULT '{}';
CREATE INDEX sessions_sso_orgs_idx ON sessions USING gin (sso_orgs);
