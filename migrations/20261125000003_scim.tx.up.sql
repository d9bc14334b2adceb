CREATE TABLE scim_tokens (
    id            bigserial PRIMARY KEY,
    org_id        bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_hash    text NOT NULL UNIQUE,
    prefix        text NOT NULL,
    created_by_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX scim_tokens_org_idx ON scim_tokens (org_id);
COMMENT ON TABLE scim_tokens IS 'SCIM bearer tokens of an org, stored as SHA-256; at most two active for rotation.';

CREATE TABLE scim_requests (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_id    bigint REFERENCES scim_tokens (id) ON DELETE SET NULL,
    method      text NOT NULL,
    path        text NOT NULL,
    status      integer NOT NULL,
    duration_ms integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scim_requests_org_idx ON scim_requests (org_id, id DESC);
COMMENT ON TABLE scim_requests IS 'The provisioning log: every SCIM request of an org (never the token or the body).';

ALTER TABLE members
    ADD COLUMN external_id  text CHECK (length(external_id) <= 512),
    ADD COLUMN given_name   text NOT NULL DEFAULT '' CHECK (length(given_name) <= 200),
    ADD COLUMN family_name  text NOT NULL DEFAULT '' CHECK (length(family_name) <= 200),
    ADD COLUMN display_name text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200);
CREATE INDEX members_org_external_idx ON members (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX members_org_invite_email_idx ON members (org_id, lower(invite_email)) WHERE invite_email IS NOT NULL;

ALTER TABLE teams ADD COLUMN external_id text CHECK (length(external_id) <= 512);
CREATE INDEX teams_org_external_idx ON teams (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX team_members_team_idx ON team_members (team_id, member_id);
