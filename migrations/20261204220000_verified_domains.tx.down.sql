ALTER TABLE organizations DROP COLUMN IF EXISTS domain_capture;
DROP TABLE IF EXISTS org_domains;
