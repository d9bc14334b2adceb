DROP TABLE IF EXISTS scim_removed;
DROP INDEX IF EXISTS members_org_user_name_key;
DROP INDEX IF EXISTS members_org_email_key;
CREATE INDEX IF NOT EXISTS members_org_email_idx ON members (org_id, lower(email));
ALTER TABLE members DROP COLUMN IF EXISTS user_name;
