DROP TABLE IF EXISTS sso_handoffs;
DROP TABLE IF EXISTS email_verifications;
ALTER TABLE organizations DROP COLUMN IF EXISTS idp_trusted_before;
ALTER TABLE users DROP COLUMN IF EXISTS created_by_org_id;
