-- One member per person per org (issue 10). The SCIM userName is kept as the IdP
-- sent it; (org, lower(userName)) and (org, lower(email)) are unique among members.

ALTER TABLE members ADD COLUMN user_name text CHECK (length(user_name) <= 512);
COMMENT ON COLUMN members.user_name IS 'The SCIM userName exactly as the IdP sent it (NULL: the member email is the userName); unique per org ignoring case.';

-- A joined member's email follows its account (it could be stale after an account
-- changed its address): joined rows are then unique per org like accounts are.
UPDATE members m SET email = u.email FROM users u WHERE u.id = m.user_id AND m.email IS DISTINCT FROM u.email;

-- Duplicates can only be a pending row (invitation / SCIM provisioned, user_id NULL)
-- and a joined row of the account with the same address. They are merged:
--  * pending row provisioned by SCIM: the IdP knows its id, so the joined account
--    moves onto it (teams of both kept, the owner role kept, the SCIM role kept when
--    the IdP set it); a deactivation by the IdP wins for non-owners (deprovisioning
--    always wins) — the membership is deactivated, never deleted;
--  * pending UI/CLI invitation: the person already joined; the stale invitation goes.
-- Each merge is written to the org's audit log (member.merged).
CREATE TEMP TABLE member_merges ON COMMIT DROP AS
SELECT p.id AS pending_id, j.id AS joined_id, p.org_id, p.idp_provisioned AS scim,
       j.user_id, j.role AS joined_role, j.active AS joined_active, j.sso_linked, j.sso_invalid,
       j.created_at AS joined_created, p.email AS email
FROM members p
JOIN members j ON j.org_id = p.org_id AND lower(j.email) = lower(p.email) AND j.user_id IS NOT NULL
WHERE p.user_id IS NULL;

INSERT INTO team_members (team_id, member_id, org_id)
SELECT tm.team_id, mm.pending_id, tm.org_id FROM member_merges mm JOIN team_members tm ON tm.member_id = mm.joined_id
WHERE mm.scim
ON CONFLICT DO NOTHING;

DELETE FROM members m USING member_merges mm WHERE mm.scim AND m.id = mm.joined_id;

UPDATE members p SET user_id = mm.user_id, invite_email = NULL, invite_token_hash = NULL, invite_expires_at = NULL,
    sso_linked = mm.sso_linked, sso_invalid = mm.sso_invalid,
    role = CASE WHEN mm.joined_role = 'owner' THEN 'owner' WHEN p.idp_role_restricted THEN p.role ELSE mm.joined_role END,
    active = CASE WHEN mm.joined_role = 'owner' THEN mm.joined_active ELSE p.active AND mm.joined_active END,
    created_at = least(p.created_at, mm.joined_created), updated_at = now()
FROM member_merges mm WHERE mm.scim AND p.id = mm.pending_id;

DELETE FROM members m USING member_merges mm WHERE NOT mm.scim AND m.id = mm.pending_id;

INSERT INTO audit_events (org_id, actor_label, event, target_label, details)
SELECT org_id, 'Migration', 'member.merged', email,
       jsonb_build_object('kept_member_id', CASE WHEN scim THEN pending_id ELSE joined_id END,
                          'removed_row_id', CASE WHEN scim THEN joined_id ELSE pending_id END,
                          'how', CASE WHEN scim THEN 'account moved onto the SCIM-provisioned member' ELSE 'stale pending invitation removed (the person had joined)' END)
FROM member_merges;

DROP INDEX members_org_email_idx;
CREATE UNIQUE INDEX members_org_email_key ON members (org_id, lower(email));
CREATE UNIQUE INDEX members_org_user_name_key ON members (org_id, lower(coalesce(user_name, email)));

-- People SCIM deleted: they stay out (SSO, just-in-time, invitation links) until the
-- IdP provisions them again (deprovisioning always wins).
CREATE TABLE scim_removed (
    id          bigserial PRIMARY KEY,
    org_id      bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
    user_name   text NOT NULL,
    email       text NOT NULL,
    external_id text,
    removed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scim_removed_user_name ON scim_removed (org_id, lower(user_name));
CREATE INDEX scim_removed_email ON scim_removed (org_id, lower(email));
CREATE INDEX scim_removed_external ON scim_removed (org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX scim_removed_user ON scim_removed (user_id) WHERE user_id IS NOT NULL;
COMMENT ON TABLE scim_removed IS 'Members the IdP deleted through SCIM: refused by SSO, just-in-time and invitation links until SCIM provisions them again.';
