-- Issue 12: the version of a provider's settings. The ACS validates with a provider it
-- may have read a moment ago (models/provider_cache.go); the completing transaction
-- accepts the sign-in only if the provider's settings_version is still the one the ACS
-- used. A trigger keeps it, so no writer can forget: every UPDATE that changes any
-- column, or any part of config, bumps it, except the bookkeeping that says nothing
-- about whom to trust: timestamps, the creator (set to NULL when that user is deleted),
-- and the metadata refresh's and certificate warnings' own records. A daily metadata
-- refresh that finds the same metadata therefore leaves sign-ins in flight alone.
ALTER TABLE auth_providers ADD COLUMN settings_version bigint NOT NULL DEFAULT 1;

CREATE FUNCTION auth_providers_settings_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (to_jsonb(NEW) - 'settings_version' - 'updated_at' - 'created_at' - 'created_by_id' - 'config')
           IS DISTINCT FROM (to_jsonb(OLD) - 'settings_version' - 'updated_at' - 'created_at' - 'created_by_id' - 'config')
       OR (NEW.config - 'fetched_at' - 'refreshed_at' - 'refresh_error' - 'refresh_failed_at' - 'next_refresh_at' - 'cert_warnings')
           IS DISTINCT FROM (OLD.config - 'fetched_at' - 'refreshed_at' - 'refresh_error' - 'refresh_failed_at' - 'next_refresh_at' - 'cert_warnings') THEN
        NEW.settings_version := OLD.settings_version + 1;
    ELSE
        NEW.settings_version := OLD.settings_version; -- never set by hand
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER auth_providers_settings_version BEFORE UPDATE ON auth_providers
    FOR EACH ROW EXECUTE FUNCTION auth_providers_settings_version();
