DROP TRIGGER IF EXISTS auth_providers_settings_version ON auth_providers;
DROP FUNCTION IF EXISTS auth_providers_settings_version();
ALTER TABLE auth_providers DROP COLUMN IF EXISTS settings_version;
