-- How the IdP named the session of a sign-in that waits on the link page
-- (samlsp.NameRef, encoded: NameID with its Format and qualifiers, SessionIndex), so
-- that the session the link completes can send an SP-initiated LogoutRequest the IdP
-- matches (saml-idp, ADFS, Shibboleth and Okta need the SessionIndex).
ALTER TABLE pending_links ADD COLUMN name_ref text NOT NULL DEFAULT '';
