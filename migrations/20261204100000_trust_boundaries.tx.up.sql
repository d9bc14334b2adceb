-- Trust boundaries (SECURITY.md "Accounts and linking", "Powers").

-- An account an IdP created just in time reaches only that IdP's org until a person
-- proves its mailbox (then this is cleared and email_verified set).
ALTER TABLE users ADD COLUMN created_by_org_id bigint REFERENCES organizations(id) ON DELETE SET NULL;
COMMENT ON COLUMN users.created_by_org_id IS 'The org whose IdP created this account just in time; while email_verified is false the account reaches only that org.';
UPDATE users u SET created_by_org_id = (
    SELECT m.org_id FROM members m WHERE m.user_id = u.id AND m.joined_via = 'sso' ORDER BY m.id LIMIT 1)
WHERE u.password_hash IS NULL AND NOT u.email_verified;

-- Once an org has trusted an IdP, replacing or re-activating one is owner-only.
ALTER TABLE organizations ADD COLUMN idp_trusted_before boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN organizations.idp_trusted_before IS 'An SSO provider of this org was active once: configuring or activating another is owner-only.';
UPDATE organizations o SET idp_trusted_before = true
WHERE EXISTS (SELECT 1 FROM auth_providers p WHERE p.org_id = o.id AND p.status = 'active')
   OR EXISTS (SELECT 1 FROM audit_events e WHERE e.org_id = o.id AND e.event = 'sso.enabled');

-- Sign-up verification links (a mailbox proof).
CREATE TABLE email_verifications (
    token_hash text PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX email_verifications_user ON email_verifications (user_id);
COMMENT ON TABLE email_verifications IS 'Single-use links that prove a sign-up''s mailbox; stored as SHA-256.';

-- A validated SAML response waiting for the same-site GET that completes it in the
-- browser (the IdP''s cross-site POST carries no SameSite=Lax session cookie). Lives
-- two minutes; unlogged: losing it in a crash only means signing in again.
CREATE UNLOGGED TABLE sso_handoffs (
    token_hash  text PRIMARY KEY,
    org_id      bigint NOT NULL,
    relay_state text,
    payload     jsonb NOT NULL,
    expires_at  timestamptz NOT NULL
);
COMMENT ON TABLE sso_handoffs IS 'Validated SAML sign-ins between the ACS POST and the same-site GET that completes them; single use, 2 minutes.';

-- SCIM tokens act with their creator's power: the audit log names the creator.
COMMENT ON COLUMN scim_tokens.created_by_id IS 'The owner who generated the token; it stops working when they are no longer an owner.';
