ALTER TABLE teams DROP COLUMN IF EXISTS external_id;
ALTER TABLE members DROP COLUMN IF EXISTS external_id, DROP COLUMN IF EXISTS given_name, DROP COLUMN IF EXISTS family_name, DROP COLUMN IF EXISTS display_name;
DROP TABLE IF EXISTS scim_requests, scim_tokens;
