-- A member's email (the account's, or the invited address while pending), kept by a
-- trigger so SCIM's userName filters use one index in orgs of 100,000 members.
ALTER TABLE members ADD COLUMN email text;

CREATE FUNCTION members_set_email() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.email := coalesce((SELECT u.email FROM users u WHERE u.id = NEW.user_id), NEW.invite_email);
    RETURN NEW;
END
$$;

CREATE TRIGGER members_email BEFORE INSERT OR UPDATE OF user_id, invite_email ON members
    FOR EACH ROW EXECUTE FUNCTION members_set_email();

UPDATE members m SET email = coalesce((SELECT u.email FROM users u WHERE u.id = m.user_id), m.invite_email);
ALTER TABLE members ALTER COLUMN email SET NOT NULL;
CREATE INDEX members_org_email_idx ON members (org_id, lower(email));
COMMENT ON COLUMN members.email IS 'Set by trigger: the user''s email, or the invited address while pending.';
