ALTER TABLE saml_requests DROP COLUMN outbound, DROP COLUMN submit_key;
ALTER TABLE scim_tokens DROP COLUMN submit_key;
DROP TABLE sso_results;
