DROP INDEX saml_requests_request_idx;
ALTER TABLE auth_providers DROP COLUMN clock_skew_minutes, DROP COLUMN max_assertion_minutes;
