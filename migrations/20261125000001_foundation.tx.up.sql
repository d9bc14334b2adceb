CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    email          text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name           text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    password_hash  text,
    email_verified boolean NOT NULL DEFAULT false,
    is_active      boolean NOT NULL DEFAULT true,
    is_superuser   boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_email_trgm ON users USING gin (lower(email) gin_trgm_ops);
CREATE INDEX users_name_trgm ON users USING gin (lower(name) gin_trgm_ops);
COMMENT ON TABLE users IS 'Global accounts; email unique case-insensitively; password optional (argon2id).';

CREATE TABLE organizations (
    id           bigserial PRIMARY KEY,
    slug         text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,48}[a-z0-9]$|^[a-z0-9]$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    default_role text NOT NULL DEFAULT 'member' CHECK (default_role IN ('member', 'admin', 'manager', 'billing')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE organizations IS 'Tenants. Every org-owned row carries org_id.';

CREATE TABLE members (
    id                  bigserial PRIMARY KEY,
    org_id              bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id             bigint REFERENCES users (id) ON DELETE CASCADE,
    invite_email        text CHECK (length(invite_email) <= 254),
    role                text NOT NULL CHECK (role IN ('member', 'admin', 'manager', 'owner', 'billing')),
    joined_via          text NOT NULL DEFAULT 'invite' CHECK (joined_via IN ('creator', 'invite', 'sso', 'scim', 'cli')),
    invite_token_hash   text UNIQUE,
    invite_expires_at   timestamptz,
    invited_by_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    sso_linked          boolean NOT NULL DEFAULT false,
    sso_invalid         boolean NOT NULL DEFAULT false,
    idp_provisioned     boolean NOT NULL DEFAULT false,
    idp_role_restricted boolean NOT NULL DEFAULT false,
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (invite_email IS NULL))
);
CREATE UNIQUE INDEX members_org_user_key ON members (org_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX members_org_invite_key ON members (org_id, lower(invite_email)) WHERE invite_email IS NOT NULL;
CREATE INDEX members_user_idx ON members (user_id);
CREATE INDEX members_org_id_idx ON members (org_id, id);
COMMENT ON TABLE members IS 'Membership of a user in an org, or a pending invitation (invite_email set, user_id null).';

CREATE TABLE teams (
    id              bigserial PRIMARY KEY,
    org_id          bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    slug            text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]*$' AND length(slug) <= 64),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    idp_provisioned boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX teams_org_slug_key ON teams (org_id, slug);
CREATE UNIQUE INDEX teams_org_name_key ON teams (org_id, lower(name));
COMMENT ON TABLE teams IS 'Groups of members inside one org.';

CREATE TABLE team_members (
    team_id    bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    member_id  bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    org_id     bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, member_id)
);
CREATE INDEX team_members_member_idx ON team_members (member_id);
COMMENT ON TABLE team_members IS 'Which members belong to which team (same org on both sides).';

CREATE TABLE sessions (
    token      text PRIMARY KEY,
    data       bytea NOT NULL,
    expiry     timestamptz NOT NULL,
    user_id    bigint,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    user_agent text NOT NULL DEFAULT '',
    ip         text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE user_id IS NOT NULL;
COMMENT ON TABLE sessions IS 'scs sessions (hashed tokens). Revoked by setting expiry to now(); an expired row is never revived.';

CREATE TABLE password_resets (
    token_hash text PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id);
COMMENT ON TABLE password_resets IS 'Single-use password reset links, stored as SHA-256 of the token.';

CREATE TABLE audit_events (
    id            bigserial PRIMARY KEY,
    org_id        bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor_user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    actor_label   text NOT NULL,
    event         text NOT NULL,
    target_label  text NOT NULL DEFAULT '',
    details       jsonb NOT NULL DEFAULT '{}',
    ip            text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_org_idx ON audit_events (org_id, id DESC);
CREATE INDEX audit_events_org_event_idx ON audit_events (org_id, event, id DESC);
COMMENT ON TABLE audit_events IS 'Who did what to which org, when, from where.';

CREATE TABLE rate_limits (
    key          text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL
);
COMMENT ON TABLE rate_limits IS 'Fixed-window counters shared by all instances (login attempts, SCIM).';

CREATE TABLE dev_mails (
    id         bigserial PRIMARY KEY,
    recipient  text NOT NULL,
    subject    text NOT NULL,
    text_body  text NOT NULL,
    html_body  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE dev_mails IS 'Outbox shown at /_dev/mail when no SMTP server is configured.';
