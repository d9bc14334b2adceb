-- Verified domains (README "Verified domains"): an org proves it owns an email domain
-- with a DNS TXT record; a domain is verified by one org at most.
CREATE TABLE org_domains (
    id              bigserial PRIMARY KEY,
    org_id          bigint NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    domain          text NOT NULL CHECK (domain ~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' AND length(domain) <= 253),
    token           text NOT NULL,
    verified_at     timestamptz,
    check_until     timestamptz NOT NULL,
    last_checked_at timestamptz,
    lost_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, domain)
);
CREATE UNIQUE INDEX org_domains_verified_once ON org_domains (domain) WHERE verified_at IS NOT NULL;
CREATE INDEX org_domains_due ON org_domains (last_checked_at);
COMMENT ON TABLE org_domains IS 'Email domains an org claims; verified_at is set while its DNS TXT record _gatehouse-verification.<domain> carries the token. One verified org per domain.';

-- Domain capture: accounts at the org's verified domains sign in through its SSO.
ALTER TABLE organizations ADD COLUMN domain_capture boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN organizations.domain_capture IS 'Accounts at this org''s verified domains must sign in through its SSO (password logins go to the IdP).';
