ALTER TABLE sessions DROP COLUMN IF EXISTS sso_orgs;
DROP TABLE IF EXISTS pending_links, sso_signins, saml_replay, saml_requests, auth_identities, auth_providers;
