-- Per-org SAML time policy (issue 11): the clock skew allowed between the IdP and us,
-- and the longest assertion lifetime accepted. Defaults: Sentry's 5 minutes of skew,
-- 8 hours of lifetime (ADFS, Entra and Keycloak token lifetimes).
ALTER TABLE auth_providers
    ADD COLUMN clock_skew_minutes integer NOT NULL DEFAULT 5
        CHECK (clock_skew_minutes BETWEEN 1 AND 10),
    ADD COLUMN max_assertion_minutes integer NOT NULL DEFAULT 480
        CHECK (max_assertion_minutes BETWEEN 5 AND 1440);
COMMENT ON COLUMN auth_providers.clock_skew_minutes IS 'clock skew allowed in SAML time checks (minutes)';
COMMENT ON COLUMN auth_providers.max_assertion_minutes IS 'longest SAML assertion lifetime accepted (minutes)';

-- An IdP that drops RelayState: the request is found by the signed InResponseTo.
CREATE INDEX saml_requests_request_idx ON saml_requests (org_id, request_id);
